/**
 * `kumiki/node`: SourceDocuments from files and folders (Node only). Files are found in a
 * deterministic order and read one at a time, as the caller iterates; every file not read is listed
 * in `skipped` with its reason (or, with `strict`, throws).
 */
import type { Dirent, Stats } from 'node:fs';
import { lstat, readdir, readFile, realpath, stat } from 'node:fs/promises';
import { basename, extname, relative, resolve, sep } from 'node:path';
import * as z from 'zod';
import { KumikiError, MissingDependencyError, UnreadableSourceError } from '../core/errors.js';
import { type JsonObject, jsonObjectSchema } from '../core/types.js';
import { parseArgument } from '../core/validate.js';
import { docxToDocument } from './docx.js';
import { FrontMatterError, parseFrontMatter } from './front-matter.js';
import {
  APPLICATION_DOCX,
  APPLICATION_JSON,
  APPLICATION_NDJSON,
  APPLICATION_PDF,
  EXTENSION_CONTENT_TYPES,
  skippedOf,
  TEXT_MARKDOWN,
  TEXT_PLAIN,
  type TextToDocumentOptions,
  textToDocumentOptionsShape,
  textToDocuments,
} from './loaders.js';
import { guard, matcher, reportFsError, translateFsError, uriOf } from './loaders-files.js';
import { parseJson } from './loaders-json.js';
import { pdfToDocument } from './pdf.js';
import type { SkippedSource, SourceDocument } from './types.js';

const COMPONENT = 'loaders';
const DEFAULT_MAX_FILE_BYTES = 10 * 1024 * 1024;
/** Folders and files never walked into by default: dependencies, git data, dot-folders and dot-files. */
export const DEFAULT_EXCLUDE: readonly string[] = ['node_modules', '.*'];
/** The extensions kumiki reads (text formats, PDF, DOCX); other files are skipped as `unsupported-type`. */
export const SUPPORTED_EXTENSIONS: readonly string[] = Object.keys(EXTENSION_CONTENT_TYPES);
/** `report.pdf.meta.json` beside `report.pdf` holds metadata for every chunk of `report.pdf`. */
export const SIDECAR_SUFFIX = '.meta.json';

/** A file about to be loaded, as the `fileMetadata` hook sees it. */
export type LoadedFile = {
  /** Absolute path. */
  path: string;
  /** `file://` URL of the path: the document's uri. */
  uri: string;
  /** Path below the folder given, `/`-separated (the file name for a file given directly). */
  relativePath: string;
  size: number;
  /** Last modification time, ISO 8601. */
  modifiedAt: string;
  /** The content type it is read as (from its extension). */
  contentType: string;
  /** What the file says about itself: its Markdown front matter, then its sidecar's fields over them. */
  metadata: JsonObject;
};

/** Where a load stands, after each file. */
export type LoadProgress = {
  /** Files handled so far (read or skipped). */
  files: number;
  /** Documents produced so far (a JSONL file gives one per line). */
  documents: number;
  /** Entries in `skipped` so far. */
  skipped: number;
  /** Bytes read so far. */
  bytes: number;
  /** The file just handled. */
  path: string;
};

export type LoadPathOptions = Pick<
  TextToDocumentOptions,
  'metadata' | 'textFields' | 'textField' | 'idField' | 'frontMatter'
> & {
  /**
   * Files to load under a folder: extensions (`.md`) or globs (`*` within a name, `**` across
   * folders, `?`); a glob without `/` matches the file name, one with `/` the path below the folder.
   * Default: every file (those of unsupported types are skipped and listed). Files named directly
   * are always loaded.
   */
  include?: string[];
  /** Names or globs of folders and files to leave out; default `node_modules` and names starting with `.`. */
  exclude?: string[];
  /** Walk sub-folders; default true. */
  recursive?: boolean;
  /** Larger files are skipped (`too-big`); default 10 MiB. */
  maxFileBytes?: number;
  /** Only `utf8` (invalid UTF-8 in a text format is skipped as `encoding`). */
  encoding?: 'utf8';
  /** Follow symbolic links (each real folder walked once); default false: links are skipped and listed. */
  followSymlinks?: boolean;
  /** Read `<file>.meta.json` beside a file as metadata for it (and not as a document); default true. */
  sidecars?: boolean;
  /**
   * Metadata for each file, from the app (owner, tenant, ACL, tags): called before the file is
   * converted; its fields go over the file's own (front matter, sidecar) and under `metadata`.
   */
  fileMetadata?: (file: LoadedFile) => JsonObject | undefined | Promise<JsonObject | undefined>;
  /** Make every skip an UnreadableSourceError (a missing optional library: MissingDependencyError); default false. */
  strict?: boolean;
  /** Receives each skipped file (or JSONL line, or link) as it happens; they are also in `skipped`. */
  onSkip?: (skipped: SkippedSource) => void;
  /** Called after each file is handled. */
  onProgress?: (progress: LoadProgress) => void;
};

/** What `loadPath` returns: the documents, and what was left out of them. */
export type LoadedDocuments = AsyncIterable<SourceDocument> & {
  /** Everything the current (or last) iteration did not read, in the order met. */
  readonly skipped: readonly SkippedSource[];
  /** How many files an iteration will handle (read or skip), found by walking the folders without reading. */
  countFiles(): Promise<number>;
};

const patternSchema = z.string().min(1, 'patterns must not be empty');
const functionOf = <T>(message: string) => z.custom<T>((value) => typeof value === 'function', message);
const optionsSchema = z
  .object({
    metadata: textToDocumentOptionsShape.metadata,
    textFields: textToDocumentOptionsShape.textFields,
    textField: textToDocumentOptionsShape.textField,
    idField: textToDocumentOptionsShape.idField,
    frontMatter: textToDocumentOptionsShape.frontMatter,
    include: z.array(patternSchema).optional(),
    exclude: z.array(patternSchema).optional(),
    recursive: z.boolean().optional(),
    maxFileBytes: z.number().int('maxFileBytes must be an integer').min(1, 'maxFileBytes must be positive').optional(),
    encoding: z.literal('utf8', { error: "encoding must be 'utf8'" }).optional(),
    followSymlinks: z.boolean().optional(),
    sidecars: z.boolean().optional(),
    fileMetadata: functionOf<LoadPathOptions['fileMetadata']>('fileMetadata must be a function').optional(),
    strict: z.boolean().optional(),
    onSkip: textToDocumentOptionsShape.onSkip,
    onProgress: functionOf<LoadPathOptions['onProgress']>('onProgress must be a function').optional(),
  })
  .strict()
  .superRefine((value, context) => {
    if (value.idField !== undefined && value.textField === undefined) {
      context.addIssue({ code: 'custom', path: ['idField'], message: 'idField needs textField (JSONL records)' });
    }
  });

const pathsSchema = z.union(
  [z.string().min(1, 'a path must not be empty'), z.array(z.string().min(1, 'a path must not be empty')).min(1)],
  { error: 'paths must be a path or a non-empty array of paths' },
);

const byCodeUnits = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
const utf8 = new TextDecoder('utf-8', { fatal: true });
const STRICT_HINT =
  'In strict mode every file that is not read is an error; without it such files are skipped and listed';

/** A file the walk found: read it (or skip it) next. */
type Candidate = { path: string; stats: Stats; relativePath: string; sidecar: string | undefined; named: boolean };

/**
 * Loads files and folders as SourceDocuments (uri `file://` + absolute path, `modifiedAt` from the
 * mtime), walking folders in sorted order and reading one file per step of the iteration. Text
 * formats, PDF (with `unpdf`) and DOCX (with `mammoth`) are read; every other file, and every file
 * that cannot be read, is listed in `skipped` with its reason and the run goes on (`strict: true`
 * throws instead). A missing path throws NotFoundError naming it; JSONL files give one document
 * per line.
 */
export function loadPath(paths: string | string[], options: LoadPathOptions = {}): LoadedDocuments {
  const given = parseArgument(pathsSchema, paths, 'paths');
  const parsed = parseArgument(optionsSchema, options, 'loadPath options');
  const roots = [...new Set((Array.isArray(given) ? given : [given]).map((path) => resolve(path)))].sort(byCodeUnits);
  const include = parsed.include ? matcher(parsed.include, true) : () => true;
  const exclude = matcher(parsed.exclude ?? DEFAULT_EXCLUDE, false);
  const recursive = parsed.recursive ?? true;
  const followSymlinks = parsed.followSymlinks ?? false;
  const sidecars = parsed.sidecars ?? true;
  const maxFileBytes = parsed.maxFileBytes ?? DEFAULT_MAX_FILE_BYTES;
  const strict = parsed.strict ?? false;
  /** The conversion options for a type: the JSON ones go to JSON and JSONL files only. */
  const convertFor = (contentType: string): TextToDocumentOptions => ({
    ...(parsed.textFields === undefined || (contentType !== APPLICATION_JSON && contentType !== APPLICATION_NDJSON)
      ? {}
      : { textFields: parsed.textFields }),
    ...(parsed.textField === undefined || contentType !== APPLICATION_NDJSON ? {} : { textField: parsed.textField }),
    ...(parsed.idField === undefined || contentType !== APPLICATION_NDJSON ? {} : { idField: parsed.idField }),
    ...(parsed.frontMatter === undefined ? {} : { frontMatter: parsed.frontMatter }),
  });

  let skipped: SkippedSource[] = [];
  let progress: LoadProgress = { files: 0, documents: 0, skipped: 0, bytes: 0, path: '' };

  /** Lists a source not read, or (strict) throws. */
  const skip = (entry: SkippedSource, cause?: unknown): void => {
    if (strict) {
      const { uri, message, ...place } = entry;
      throw new UnreadableSourceError({
        source: uri,
        detail: message,
        hint: STRICT_HINT,
        ...place,
        component: COMPONENT,
        ...(cause === undefined ? {} : { cause }),
      });
    }
    skipped.push(entry);
    progress.skipped++;
    parsed.onSkip?.(entry);
  };

  /** The files to handle, in order; links and unreadable folders go to `report`. */
  async function* walkRoots(report: (entry: SkippedSource, cause?: unknown) => void): AsyncGenerator<Candidate> {
    const visited = new Set<string>();
    const seen = new Set<string>();
    const fsFailure = (path: string, error: unknown) => reportFsError(report, path, error);

    async function* walk(folder: string, root: string): AsyncGenerator<Candidate> {
      let entries: Dirent[];
      try {
        if (followSymlinks) {
          const real = await realpath(folder);
          if (visited.has(real)) return;
          visited.add(real);
        }
        entries = await readdir(folder, { withFileTypes: true });
      } catch (error) {
        if (folder === root) throw translateFsError(error, folder);
        fsFailure(folder, error);
        return;
      }
      entries.sort((a, b) => byCodeUnits(a.name, b.name));
      const files = new Set(entries.filter((entry) => !entry.isDirectory()).map((entry) => entry.name));
      for (const entry of entries) {
        const path = resolve(folder, entry.name);
        const relativePath = relative(root, path).split(sep).join('/');
        if (exclude(entry.name, relativePath)) continue;
        // A folder named like a sidecar is walked like any other.
        const sidecar = sidecars && entry.name.endsWith(SIDECAR_SUFFIX) && files.has(entry.name);
        if (sidecar && files.has(entry.name.slice(0, -SIDECAR_SUFFIX.length))) {
          continue; // read with the file it describes
        }
        let stats: Stats | undefined;
        if (entry.isSymbolicLink()) {
          if (!followSymlinks) {
            report({ uri: uriOf(path), reason: 'link', message: 'symbolic link not followed (followSymlinks: false)' });
            continue;
          }
          stats = await stat(path).catch(() => undefined);
          if (stats === undefined) {
            report({ uri: uriOf(path), reason: 'link', message: 'broken symbolic link' });
            continue;
          }
        }
        const isFolder = stats ? stats.isDirectory() : entry.isDirectory();
        const isFile = stats ? stats.isFile() : entry.isFile();
        if (isFolder) {
          if (recursive) yield* walk(path, root);
        } else if (isFile && include(entry.name, relativePath) && !seen.has(path)) {
          try {
            stats ??= await stat(path);
          } catch (error) {
            fsFailure(path, error);
            continue;
          }
          seen.add(path);
          const sidecar = sidecars && files.has(entry.name + SIDECAR_SUFFIX) ? path + SIDECAR_SUFFIX : undefined;
          yield { path, stats, relativePath, sidecar, named: false };
        }
      }
    }

    for (const root of roots) {
      const linkStats = await guard(root, () => lstat(root));
      const stats = linkStats.isSymbolicLink() ? await guard(root, () => stat(root)) : linkStats;
      if (stats.isDirectory()) {
        yield* walk(root, root);
      } else if (stats.isFile()) {
        if (seen.has(root)) continue;
        seen.add(root);
        const sidecar = sidecars ? root + SIDECAR_SUFFIX : undefined;
        const hasSidecar = sidecar !== undefined && (await stat(sidecar).catch(() => undefined))?.isFile() === true;
        yield {
          path: root,
          stats,
          relativePath: basename(root),
          sidecar: hasSidecar ? sidecar : undefined,
          named: true,
        };
      } else {
        report({ uri: uriOf(root), reason: 'unsupported-type', message: 'not a regular file or folder' });
      }
    }
  }

  /** A sidecar's fields; its problems skip the file it describes (metadata such as an ACL must not be lost). */
  async function readSidecar(candidate: Candidate, uri: string): Promise<JsonObject | undefined> {
    const path = candidate.sidecar;
    if (path === undefined) return {};
    let text: string;
    try {
      text = utf8.decode(await readFile(path));
    } catch (error) {
      const translated = translateFsError(error, path);
      const why = KumikiError.isInstance(translated) ? translated.message : 'it is not valid UTF-8 text';
      skip({ uri, reason: 'unreadable', message: `its sidecar ${path} cannot be read: ${why}` }, error);
      return undefined;
    }
    let fields: unknown;
    try {
      fields = parseJson(text, uriOf(path));
    } catch (error) {
      if (!UnreadableSourceError.isInstance(error)) throw error;
      const { line, column } = error;
      skip(
        {
          uri,
          reason: 'parse-error',
          message: `its sidecar ${basename(path)}: ${error.detail}`,
          ...(line === undefined ? {} : { line }),
          ...(column === undefined ? {} : { column }),
        },
        error,
      );
      return undefined;
    }
    const checked = jsonObjectSchema.safeParse(fields);
    if (!checked.success || typeof fields !== 'object' || fields === null || Array.isArray(fields)) {
      skip({ uri, reason: 'invalid-content', message: `its sidecar ${basename(path)} must hold a JSON object` });
      return undefined;
    }
    return checked.data;
  }

  /** The metadata of a file: its own (front matter, sidecar), the hook's over it, the caller's over all. */
  async function metadataOf(file: LoadedFile): Promise<JsonObject | undefined> {
    let added: JsonObject | undefined;
    if (parsed.fileMetadata) {
      const returned = await parsed.fileMetadata(file);
      if (returned !== undefined) {
        added = parseArgument(z.optional(jsonObjectSchema), returned, `fileMetadata(${file.path}) result`);
      }
    }
    const merged = { ...file.metadata, ...added, ...parsed.metadata };
    return Object.keys(merged).length === 0 ? undefined : merged;
  }

  async function readOne(candidate: Candidate): Promise<SourceDocument[]> {
    const { path, stats } = candidate;
    const uri = uriOf(path);
    const extension = extname(path).toLowerCase();
    const contentType = EXTENSION_CONTENT_TYPES[extension] ?? (candidate.named ? TEXT_PLAIN : undefined);
    if (contentType === undefined) {
      const what = extension === '' ? 'files without an extension' : `${extension} files`;
      skip({
        uri,
        reason: 'unsupported-type',
        message: `no loader for ${what} (kumiki reads ${SUPPORTED_EXTENSIONS.join(' ')})`,
      });
      return [];
    }
    if (stats.size > maxFileBytes) {
      skip({
        uri,
        reason: 'too-big',
        message: `file is ${stats.size} bytes, more than maxFileBytes (${maxFileBytes}); raise maxFileBytes`,
      });
      return [];
    }
    let bytes: Buffer;
    try {
      bytes = await readFile(path);
    } catch (error) {
      reportFsError(skip, path, error);
      return [];
    }
    progress.bytes += bytes.length;
    const modifiedAt = stats.mtime.toISOString();
    const own = await readSidecar(candidate, uri);
    if (own === undefined) return [];
    const file = (metadata: JsonObject): LoadedFile => ({
      path,
      uri,
      relativePath: candidate.relativePath,
      size: stats.size,
      modifiedAt,
      contentType,
      metadata,
    });

    if (contentType === APPLICATION_PDF || contentType === APPLICATION_DOCX) {
      const metadata = await metadataOf(file(own));
      const load = contentType === APPLICATION_PDF ? pdfToDocument : docxToDocument;
      try {
        return [await load(uri, bytes, { modifiedAt, ...(metadata === undefined ? {} : { metadata }) })];
      } catch (error) {
        if (UnreadableSourceError.isInstance(error)) {
          skip(skippedOf(error), error);
          return [];
        }
        if (MissingDependencyError.isInstance(error) && !strict) {
          skip({ uri, reason: 'missing-dependency', message: error.message }, error);
          return [];
        }
        throw error;
      }
    }

    if (bytes.includes(0)) {
      skip({ uri, reason: 'binary', message: 'binary content (contains NUL bytes)' });
      return [];
    }
    let content: string;
    try {
      content = utf8.decode(bytes);
    } catch {
      skip({ uri, reason: 'encoding', message: 'not valid UTF-8 text' });
      return [];
    }
    let fields: JsonObject = own;
    if (contentType === TEXT_MARKDOWN && parsed.frontMatter !== false) {
      try {
        const { metadata } = parseFrontMatter(content.replace(/^\ufeff/, '').replace(/\r\n?/g, '\n'));
        fields = { ...metadata, ...own };
      } catch (error) {
        if (!(error instanceof FrontMatterError)) throw error;
        skip({ uri, reason: 'parse-error', message: error.message, line: error.line }, error);
        return [];
      }
    }
    const metadata = await metadataOf(file(fields));
    return textToDocuments(uri, content, {
      ...convertFor(contentType),
      contentType,
      modifiedAt,
      // Front matter is read again by the conversion (for the title); the sidecar and hook fields go over it.
      ...(metadata === undefined ? {} : { metadata }),
      onUnsupported: 'skip',
      onSkip: (entry) => skip(entry),
    });
  }

  return {
    get skipped() {
      return skipped;
    },
    async countFiles() {
      let count = 0;
      for await (const _ of walkRoots(() => undefined)) count++;
      return count;
    },
    async *[Symbol.asyncIterator]() {
      skipped = [];
      progress = { files: 0, documents: 0, skipped: 0, bytes: 0, path: '' };
      for await (const candidate of walkRoots(skip)) {
        const documents = await readOne(candidate);
        progress.files++;
        progress.documents += documents.length;
        progress.path = candidate.path;
        parsed.onProgress?.({ ...progress });
        yield* documents;
      }
    },
  };
}
