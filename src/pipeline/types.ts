import type { SkipReason } from '../core/errors.js';
import type { JsonObject } from '../core/types.js';

export type { SkipReason };

/** One source as loaded: a file, a URL's body, a string the app passed in. */
export type SourceDocument = {
  /** Stable identity of the source (e.g. `file:///abs/path.md`); the ledger is keyed by it. */
  uri: string;
  /** Plain text (HTML already turned into text, JSON into readable lines, PDF pages joined). */
  text: string;
  /**
   * MIME type of the original content: `text/plain`, `text/markdown`, `text/html`, `application/json`,
   * `application/pdf`, the DOCX type.
   */
  contentType: string;
  /** Last modification time (ISO 8601), when known. */
  modifiedAt?: string;
  /** A title, when the format has one (HTML `<title>`, first Markdown heading, PDF title). */
  title?: string;
  /** App-defined fields copied into every chunk's payload under `metadata`. */
  metadata?: JsonObject;
  /**
   * Paged formats (PDF): where each page starts in `text`. Page n (1-based) starts at offset
   * `pageStarts[n - 1]`; the offsets start at 0 and never decrease (a page without text starts where
   * the next one does). Chunks of such a document carry `page` and `pageEnd`.
   */
  pageStarts?: number[];
};

/** A piece of a source's text, with its character offsets in `SourceDocument.text`. */
export type Chunk = {
  index: number;
  text: string;
  start: number;
  end: number;
  /** Nearest Markdown heading above the chunk, when the source has headings (Markdown, HTML, DOCX). */
  heading?: string;
  /** Paged sources: the page (1-based) the chunk starts on. */
  page?: number;
  /** Paged sources: the page the chunk ends on (equal to `page` unless the chunk spans pages). */
  pageEnd?: number;
};

/**
 * Cuts text into chunks. `settings` identify the splitter's behaviour completely (kind, version,
 * sizes, unit, tokenizer id): the ledger records them, and a change re-ingests every source.
 */
export type Splitter = {
  readonly settings: JsonObject;
  split(document: SourceDocument): Chunk[];
};

/** A source a loader did not read, and why. Never dropped silently: loaders list or throw every one. */
export type SkippedSource = {
  /** The source's uri (`file:///…` for files; `…#L<n>` for a JSONL line). */
  uri: string;
  reason: SkipReason;
  /** What was wrong, in words (e.g. `invalid JSON at line 3, column 8 (Unexpected token ])`). */
  message: string;
  /** Where in the file, when known (1-based). */
  line?: number;
  column?: number;
  page?: number;
};
