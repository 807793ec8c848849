import type { JsonObject } from '../core/types.js';

/** One source as loaded: a file, a URL's body, a string the app passed in. */
export type SourceDocument = {
  /** Stable identity of the source (e.g. `file:///abs/path.md`); the ledger is keyed by it. */
  uri: string;
  /** Plain text (HTML already turned into text, JSON into readable lines). */
  text: string;
  /** MIME type of the original content: `text/plain`, `text/markdown`, `text/html`, `application/json`. */
  contentType: string;
  /** Last modification time (ISO 8601), when known. */
  modifiedAt?: string;
  /** A title, when the format has one (HTML `<title>`, first Markdown heading). */
  title?: string;
  /** App-defined fields copied into every chunk's payload under `metadata`. */
  metadata?: JsonObject;
};

/** A piece of a source's text, with its character offsets in `SourceDocument.text`. */
export type Chunk = {
  index: number;
  text: string;
  start: number;
  end: number;
  /** Nearest Markdown heading above the chunk, when the source is Markdown. */
  heading?: string;
};

/**
 * Cuts text into chunks. `settings` identify the splitter's behaviour completely (kind, version,
 * sizes, unit, tokenizer id): the ledger records them, and a change re-ingests every source.
 */
export type Splitter = {
  readonly settings: JsonObject;
  split(document: SourceDocument): Chunk[];
};
