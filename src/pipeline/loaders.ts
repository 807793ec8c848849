/**
 * Turning content into SourceDocuments (runtime-neutral: no file system here; see loaders-node.ts).
 * Markdown and plain text stay as written (Markdown front matter becomes metadata), HTML becomes
 * text, JSON readable `path: value` lines, JSONL one document per line. Nothing is dropped silently:
 * content that cannot be read throws UnreadableSourceError naming the source, the reason and the
 * place, or, with `onUnsupported: 'skip'`, is reported to `onSkip` and left out.
 */
import * as z from 'zod';
import { InvalidArgumentError, UnreadableSourceError } from '../core/errors.js';
import { sha256Hex } from '../core/sha256.js';
import { type JsonObject, jsonObjectSchema } from '../core/types.js';
import { parseArgument } from '../core/validate.js';
import { FrontMatterError, parseFrontMatter } from './front-matter.js';
import { htmlToText } from './html.js';
import { invalidContent, isObject, jsonText, parseJson, unreadable, type Where } from './loaders-json.js';
import { markdownHeadings } from './markdown.js';
import type { SkippedSource, SourceDocument } from './types.js';

export const TEXT_PLAIN = 'text/plain';
export const TEXT_MARKDOWN = 'text/markdown';
export const TEXT_HTML = 'text/html';
export const APPLICATION_JSON = 'application/json';
export const APPLICATION_NDJSON = 'application/x-ndjson';
export const APPLICATION_PDF = 'application/pdf';
export const APPLICATION_DOCX = 'application/vnd.openxmlformats-officedocument.wordprocessingml.document';

/** File extensions (lower case, with the dot) and the content type each is read as. */
export const EXTENSION_CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.md': TEXT_MARKDOWN,
  '.markdown': TEXT_MARKDOWN,
  '.html': TEXT_HTML,
  '.htm': TEXT_HTML,
  '.json': APPLICATION_JSON,
  '.jsonl': APPLICATION_NDJSON,
  '.ndjson': APPLICATION_NDJSON,
  '.txt': TEXT_PLAIN,
  '.pdf': APPLICATION_PDF,
  '.docx': APPLICATION_DOCX,
};

/** Binary formats: read from bytes by their own loaders, never as text. */
const BYTE_LOADERS: Record<string, string> = {
  [APPLICATION_PDF]: 'pdfToDocument (kumiki/loaders/pdf)',
  [APPLICATION_DOCX]: 'docxToDocument (kumiki/loaders/docx)',
};

/** Other spellings of the supported types. */
const ALIASES: Record<string, string> = {
  'text/x-markdown': TEXT_MARKDOWN,
  'application/xhtml+xml': TEXT_HTML,
  'text/json': APPLICATION_JSON,
  'application/jsonl': APPLICATION_NDJSON,
  'application/x-jsonlines': APPLICATION_NDJSON,
  'application/jsonlines': APPLICATION_NDJSON,
  'application/ndjson': APPLICATION_NDJSON,
};

export type UnsupportedPolicy = 'error' | 'skip';

export type TextToDocumentOptions = {
  /** MIME type of `content`; default: guessed from the uri's extension (unknown → `text/plain`). */
  contentType?: string;
  /** Last modification time, ISO 8601. */
  modifiedAt?: string;
  /** App-defined fields copied into every chunk's payload. */
  metadata?: JsonObject;
  /** JSON and JSONL: use only these top-level fields (in this order) as the text. */
  textFields?: string[];
  /** JSONL: each line is a record whose `textField` (a string) is the text; other fields go to metadata. */
  textField?: string;
  /** JSONL records: the field that identifies a record (uri `…#<id>` instead of `…#L<line>`). */
  idField?: string;
  /** Markdown: read a leading `---` YAML block as metadata (and `title`); default true. */
  frontMatter?: boolean;
  /**
   * Content that cannot be read (binary, unsupported, unparsable): throw UnreadableSourceError
   * (default) or leave it out and report it to `onSkip`.
   */
  onUnsupported?: UnsupportedPolicy;
  /** Receives every source left out, with the reason and place; required with `onUnsupported: 'skip'`. */
  onSkip?: (skipped: SkippedSource) => void;
};

const fieldName = z.string().min(1, 'field names must not be empty');

export const textToDocumentOptionsShape = {
  contentType: z.string().min(1, 'contentType must be a MIME type such as text/markdown').optional(),
  modifiedAt: z.iso.datetime({ offset: true, error: 'modifiedAt must be an ISO 8601 date-time' }).optional(),
  metadata: z.optional(jsonObjectSchema),
  textFields: z.array(fieldName).min(1, 'textFields must name at least one field').optional(),
  textField: fieldName.optional(),
  idField: fieldName.optional(),
  frontMatter: z.boolean().optional(),
  onUnsupported: z.enum(['error', 'skip'], { error: "onUnsupported must be 'error' or 'skip'" }).optional(),
  onSkip: z
    .custom<(skipped: SkippedSource) => void>((value) => typeof value === 'function', 'onSkip must be a function')
    .optional(),
};

/** Options of the loaders that read bytes (PDF, DOCX). */
export type ByteLoaderOptions = Pick<TextToDocumentOptions, 'metadata' | 'modifiedAt'>;

const byteLoaderOptionsSchema = z
  .object({ metadata: textToDocumentOptionsShape.metadata, modifiedAt: textToDocumentOptionsShape.modifiedAt })
  .strict();
/** By tag, not `instanceof`: bytes may come from another realm (a vm context, an iframe). */
const tagOf = (value: unknown) => Object.prototype.toString.call(value);
const bytesSchema = z.custom<Uint8Array | ArrayBuffer>(
  (value) => tagOf(value) === '[object Uint8Array]' || tagOf(value) === '[object ArrayBuffer]',
  'bytes must be a Uint8Array (a Buffer is one) or an ArrayBuffer',
);

/** Checks the arguments of a loader that reads bytes; `bytes` comes back as a view (not a copy). */
export function parseByteLoaderArguments(
  uri: string,
  bytes: Uint8Array | ArrayBuffer,
  options: ByteLoaderOptions,
  loader: string,
): { uri: string; bytes: Uint8Array; options: ByteLoaderOptions } {
  const data = parseArgument(bytesSchema, bytes, 'bytes');
  return {
    uri: parseArgument(uriSchema, uri, 'uri'),
    bytes: tagOf(data) === '[object ArrayBuffer]' ? new Uint8Array(data as ArrayBuffer) : (data as Uint8Array),
    options: parseArgument(byteLoaderOptionsSchema, options, `${loader} options`),
  };
}

/** Shared checks: skipping needs someone to tell, and idField only makes sense with textField. */
export function checkSkipOptions(
  value: { onUnsupported?: UnsupportedPolicy; onSkip?: unknown; idField?: string; textField?: string },
  context: z.core.$RefinementCtx,
): void {
  if (value.onUnsupported === 'skip' && value.onSkip === undefined) {
    context.addIssue({
      code: 'custom',
      path: ['onSkip'],
      message: "onUnsupported: 'skip' needs an onSkip callback, so that skipped sources are reported",
    });
  }
  if (value.idField !== undefined && value.textField === undefined) {
    context.addIssue({ code: 'custom', path: ['idField'], message: 'idField needs textField (JSONL records)' });
  }
}

const optionsSchema = z.object(textToDocumentOptionsShape).strict().superRefine(checkSkipOptions);
const uriSchema = z.string().min(1, 'uri must not be empty');
const contentSchema = z.string({ error: 'content must be a string (decode bytes as UTF-8 first)' });

/** The content type a uri's extension suggests; `text/plain` when unknown. */
export function guessContentType(uri: string): string {
  const path = uri.replace(/[?#].*$/, '').toLowerCase();
  const dot = path.lastIndexOf('.');
  if (dot === -1 || dot < path.lastIndexOf('/')) return TEXT_PLAIN;
  return EXTENSION_CONTENT_TYPES[path.slice(dot)] ?? TEXT_PLAIN;
}

/** `text/HTML; charset=utf-8` → `text/html`; aliases → the canonical type. */
function normalizeContentType(contentType: string): string {
  const base = (contentType.split(';')[0] as string).trim().toLowerCase();
  return ALIASES[base] ?? base;
}

/** Options that do not fit the content's type: the caller's mistake, not the content's. */
function invalid(uri: string, message: string): InvalidArgumentError {
  return new InvalidArgumentError({ argument: 'content', issues: [{ path: '', message: `${uri}: ${message}` }] });
}

/** The skipped entry an UnreadableSourceError stands for. */
export function skippedOf(error: UnreadableSourceError): SkippedSource {
  return {
    uri: error.source,
    reason: error.reason,
    message: error.detail,
    ...(error.line === undefined ? {} : { line: error.line }),
    ...(error.column === undefined ? {} : { column: error.column }),
    ...(error.page === undefined ? {} : { page: error.page }),
  };
}

const SKIP_HINT = "Pass onUnsupported: 'skip' (with onSkip) to leave such sources out and have them reported";

/** At the end of a source: an unreadable one is reported and skipped, or thrown with the way past it. */
function settle(error: unknown, options: TextToDocumentOptions): void {
  if (!UnreadableSourceError.isInstance(error)) throw error;
  if (options.onUnsupported === 'skip') {
    options.onSkip?.(skippedOf(error));
    return;
  }
  throw new UnreadableSourceError({
    source: error.source,
    reason: error.reason,
    detail: error.detail,
    hint: SKIP_HINT,
    ...(error.line === undefined ? {} : { line: error.line }),
    ...(error.column === undefined ? {} : { column: error.column }),
    ...(error.page === undefined ? {} : { page: error.page }),
    cause: error.cause,
  });
}

/** First level-one heading outside code fences. */
function markdownTitle(text: string): string | undefined {
  for (const heading of markdownHeadings(text)) if (heading.level === 1) return heading.text;
  return undefined;
}

function base(uri: string, contentType: string, text: string, options: TextToDocumentOptions): SourceDocument {
  return {
    uri,
    text,
    contentType,
    ...(options.modifiedAt === undefined ? {} : { modifiedAt: options.modifiedAt }),
    ...(options.metadata === undefined ? {} : { metadata: options.metadata }),
  };
}

function jsonlDocuments(uri: string, text: string, options: TextToDocumentOptions): SourceDocument[] {
  const documents: SourceDocument[] = [];
  const seen = new Map<string, number>();
  const lines = text.split('\n');
  for (const [index, raw] of lines.entries()) {
    const line = raw.trim();
    if (line === '') continue;
    const number = index + 1;
    try {
      documents.push(jsonlDocument(uri, line, number, seen, options));
    } catch (error) {
      // One bad line is one source: skipped (or thrown) on its own.
      settle(error, options);
    }
  }
  return documents;
}

function jsonlDocument(
  uri: string,
  line: string,
  number: number,
  seen: Map<string, number>,
  options: TextToDocumentOptions,
): SourceDocument {
  const lineUri = `${uri}#L${number}`;
  const where: Where = { uri: lineUri, line: number };
  const value = parseJson(line, lineUri, number);
  if (options.textField === undefined) {
    return base(lineUri, APPLICATION_NDJSON, jsonText(value, options.textFields, where), options);
  }
  if (!isObject(value)) throw invalidContent(where, 'textField needs each line to be a JSON object');
  const { [options.textField]: body, ...rest } = value;
  if (typeof body !== 'string') {
    throw invalidContent(
      where,
      `field "${options.textField}" (textField) must be a string, found ${JSON.stringify(body)}`,
    );
  }
  let recordUri = lineUri;
  if (options.idField !== undefined) {
    const id = value[options.idField];
    if (typeof id !== 'string' && typeof id !== 'number') {
      throw invalidContent(where, `field "${options.idField}" (idField) must be a string or number`);
    }
    const previous = seen.get(String(id));
    if (previous !== undefined) {
      throw invalidContent(where, `id ${JSON.stringify(id)} (idField) repeats the record on line ${previous}`);
    }
    seen.set(String(id), number);
    recordUri = `${uri}#${encodeURIComponent(String(id))}`;
  }
  return base(recordUri, APPLICATION_NDJSON, body, { ...options, metadata: { ...rest, ...options.metadata } });
}

/** Markdown: front matter (unless turned off) becomes metadata under the caller's; its `title` wins. */
function markdownDocument(uri: string, text: string, options: TextToDocumentOptions): SourceDocument {
  let body = text;
  let fields: JsonObject | undefined;
  if (options.frontMatter !== false) {
    try {
      ({ metadata: fields, body } = parseFrontMatter(text));
    } catch (error) {
      if (!(error instanceof FrontMatterError)) throw error;
      throw unreadable({ uri, reason: 'parse-error', message: error.message, line: error.line }, error);
    }
  }
  const metadata = fields === undefined ? options.metadata : { ...fields, ...options.metadata };
  const title = typeof fields?.title === 'string' ? fields.title : markdownTitle(body);
  return {
    ...base(uri, TEXT_MARKDOWN, body, { ...options, ...(metadata === undefined ? {} : { metadata }) }),
    ...(title === undefined ? {} : { title }),
  };
}

/**
 * Converts content to SourceDocuments by content type (given, or guessed from the uri's extension).
 * JSONL gives one document per non-blank line (a bad line is one skipped source); every other type
 * one document, or none when skipped.
 */
export function textToDocuments(uri: string, content: string, options: TextToDocumentOptions = {}): SourceDocument[] {
  const checkedUri = parseArgument(uriSchema, uri, 'uri');
  const checkedContent = parseArgument(contentSchema, content, 'content');
  const parsed = parseArgument(optionsSchema, options, 'textToDocuments options');
  const contentType = normalizeContentType(parsed.contentType ?? guessContentType(checkedUri));
  if (parsed.textField !== undefined && contentType !== APPLICATION_NDJSON) {
    throw invalid(checkedUri, 'textField and idField apply to JSONL only; use textFields for JSON');
  }
  if (parsed.textFields !== undefined && contentType !== APPLICATION_JSON && contentType !== APPLICATION_NDJSON) {
    throw invalid(checkedUri, 'textFields applies to JSON and JSONL only');
  }
  try {
    return convert(checkedUri, checkedContent, contentType, parsed);
  } catch (error) {
    settle(error, parsed);
    return [];
  }
}

function convert(uri: string, content: string, contentType: string, options: TextToDocumentOptions): SourceDocument[] {
  if (content.includes('\u0000')) {
    throw unreadable({ uri, reason: 'binary', message: 'binary content (contains NUL bytes)' });
  }
  const text = content.replace(/^\ufeff/, '').replace(/\r\n?/g, '\n');
  if (contentType === APPLICATION_NDJSON) return jsonlDocuments(uri, text, options);
  if (contentType === APPLICATION_JSON) {
    return [base(uri, contentType, jsonText(parseJson(text, uri), options.textFields, { uri }), options)];
  }
  if (contentType === TEXT_HTML) {
    const { text: converted, title } = htmlToText(text);
    return [{ ...base(uri, contentType, converted, options), ...(title === undefined ? {} : { title }) }];
  }
  if (contentType === TEXT_MARKDOWN) return [markdownDocument(uri, text, options)];
  if (contentType.startsWith('text/')) return [base(uri, contentType, text, options)];
  const loader = BYTE_LOADERS[contentType];
  const message = loader
    ? `${contentType} is a binary format: read its bytes with ${loader}`
    : `unsupported content type ${contentType}`;
  throw unreadable({ uri, reason: 'unsupported-type', message });
}

/**
 * Converts content that is exactly one document (not JSONL). Binary or unsupported content always
 * throws InvalidArgumentError here; use `textToDocuments` for JSONL and for skipping.
 */
export function textToDocument(uri: string, content: string, options: TextToDocumentOptions = {}): SourceDocument {
  const parsed = parseArgument(optionsSchema, options, 'textToDocument options');
  const contentType = normalizeContentType(parsed.contentType ?? guessContentType(String(uri)));
  if (contentType === APPLICATION_NDJSON || parsed.onUnsupported === 'skip') {
    throw new InvalidArgumentError({
      argument: 'textToDocument options',
      issues: [
        {
          path: '',
          message: `${String(uri)}: JSONL and onUnsupported: 'skip' can give zero or many documents; use textToDocuments`,
        },
      ],
    });
  }
  const [document] = textToDocuments(uri, content, parsed);
  return document as SourceDocument;
}

/** A document given as text, with optional identity and fields (becomes `text/plain`). */
export type TextItem = {
  uri?: string;
  text: string;
  metadata?: JsonObject;
  title?: string;
  modifiedAt?: string;
};

const noNul = (text: string) => !text.includes('\u0000');
const binaryMessage = 'text contains NUL bytes (binary content); decode it to text first';
const textItemSchema = z
  .object({
    uri: uriSchema.optional(),
    text: z.string({ error: 'text must be a string' }).refine(noNul, binaryMessage),
    metadata: z.optional(jsonObjectSchema),
    title: z.string().optional(),
    modifiedAt: textToDocumentOptionsShape.modifiedAt,
  })
  .strict();
const documentSchema = textItemSchema.extend({
  uri: uriSchema,
  contentType: z.string().min(1, 'contentType must be a MIME type'),
  pageStarts: z.array(z.number().int().min(0)).optional(),
});
const stringItemSchema = z.string().refine(noNul, binaryMessage);

/** Content-addressed uri of a text given without one: `string:` + 16 hex digits of its SHA-256. */
export function stringUri(text: string): string {
  return `string:${sha256Hex(text).slice(0, 16)}`;
}

/** Checks one item (string, SourceDocument when it has a contentType, else a TextItem) and builds its document. */
function checkItem(item: unknown, index: number, argument: string): SourceDocument {
  const withIndex = (value: unknown) => ({ [index]: value });
  if (typeof item === 'string') {
    const text = parseArgument(z.object({ [index]: stringItemSchema }), withIndex(item), argument)[index] as string;
    return { uri: stringUri(text), text, contentType: TEXT_PLAIN };
  }
  if (typeof item !== 'object' || item === null) {
    throw new InvalidArgumentError({
      argument,
      issues: [{ path: String(index), message: 'each item must be a string, a SourceDocument or { uri?, text, … }' }],
    });
  }
  const schema = 'contentType' in item ? documentSchema : textItemSchema;
  const { uri, ...rest } = parseArgument(z.object({ [index]: schema }), withIndex(item), argument)[index] as z.output<
    typeof textItemSchema
  >;
  return { contentType: TEXT_PLAIN, ...rest, uri: uri ?? stringUri(rest.text) };
}

/**
 * Documents from strings (uri `string:<sha256, 16 hex>`, `text/plain`) or `{ uri?, text, … }` items.
 * Every item is checked before the first is yielded; a bad one throws InvalidArgumentError naming its index.
 */
export function fromStrings(items: readonly (string | TextItem)[]): AsyncIterable<SourceDocument> {
  const list = parseArgument(z.array(z.unknown(), { error: 'items must be an array' }), items, 'fromStrings items');
  const documents = list.map((item, index) => checkItem(item, index, 'fromStrings items'));
  return {
    async *[Symbol.asyncIterator]() {
      yield* documents;
    },
  };
}

const iterableSchema = z.custom<Iterable<unknown> | AsyncIterable<unknown>>(
  (value) =>
    typeof value === 'object' &&
    value !== null &&
    (Symbol.asyncIterator in value || Symbol.iterator in value) &&
    typeof (value as Record<symbol, unknown>)[
      Symbol.asyncIterator in value ? Symbol.asyncIterator : Symbol.iterator
    ] === 'function',
  'items must be an Iterable or AsyncIterable (an array, a generator, a stream of documents)',
);

/**
 * Documents from any (async) iterable of strings, SourceDocuments (passed through as they are) or
 * `{ uri?, text, … }` items, lazily: each item is checked when reached; a bad one throws
 * InvalidArgumentError naming its index.
 */
export function fromIterable(
  items: Iterable<string | SourceDocument | TextItem> | AsyncIterable<string | SourceDocument | TextItem>,
): AsyncIterable<SourceDocument> {
  const source = parseArgument(iterableSchema, items, 'fromIterable items');
  return {
    async *[Symbol.asyncIterator]() {
      let index = 0;
      for await (const item of source) yield checkItem(item, index++, 'fromIterable items');
    },
  };
}
