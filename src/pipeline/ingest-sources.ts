/** The sources of an ingest: each one checked, versioned (unchanged or not), split into chunks with stable ids. */
import * as z from 'zod';
import { InvalidArgumentError } from '../core/errors.js';
import { sha256Hex } from '../core/sha256.js';
import type { JsonObject } from '../core/types.js';
import { parseArgument } from '../core/validate.js';
import type { LedgerEntry } from './ledger.js';
import type { Chunk, SourceDocument, Splitter } from './types.js';

const documentSchema = z
  .object({
    uri: z.string().min(1, 'uri must not be empty'),
    text: z.string(),
    contentType: z.string().min(1),
    modifiedAt: z.string().optional(),
    title: z.string().optional(),
    metadata: z.record(z.string(), z.unknown()).optional(),
    pageStarts: z.array(z.number().int().min(0)).optional(),
  })
  .strict();

/** A changed source on its way to the store: its version key, its chunks and their ids. */
export type Work = { document: SourceDocument; key: string; contentHash: string; chunks: Chunk[]; ids: string[] };

/** Chunk ids are derived from the source and its version key, so rewriting a version is idempotent. */
const chunkId = (source: string, key: string, index: number) =>
  `${sha256Hex(`${source}\n${key}`).slice(0, 32)}-${index}`;

/**
 * Checks one item of `documents` (the `index`-th read) and that its uri was not seen before in this
 * run, and adds it to `seen`.
 */
export function readSource(item: unknown, index: number, seen: Set<string>): SourceDocument {
  const document = parseArgument(documentSchema, item, `document ${index}`) as SourceDocument;
  if (seen.has(document.uri)) {
    throw new InvalidArgumentError({
      argument: 'documents',
      issues: [
        {
          path: String(index),
          message: `source "${document.uri}" appears twice in one ingest; uris must be unique`,
        },
      ],
    });
  }
  seen.add(document.uri);
  return document;
}

/**
 * A source's version: the hash of its text and the key of everything its chunks depend on (text,
 * chunker settings, embedding spaces, title, content type, metadata, page starts). Same key: unchanged.
 */
export function sourceVersion(
  document: SourceDocument,
  settings: Splitter['settings'],
  fingerprints: { dense: string | undefined; sparse: string | undefined },
): { key: string; contentHash: string } {
  const contentHash = sha256Hex(document.text);
  const key = sha256Hex(
    JSON.stringify([
      contentHash,
      settings,
      fingerprints.dense ?? null,
      fingerprints.sparse ?? null,
      document.title ?? null,
      document.contentType,
      document.metadata ?? null,
      ...(document.pageStarts === undefined ? [] : [document.pageStarts]),
    ]),
  );
  return { key, contentHash };
}

/** Splits a changed source into the chunks its version will write. */
export function sourceWork(
  document: SourceDocument,
  version: { key: string; contentHash: string },
  splitter: Splitter,
): Work {
  const chunks = splitter.split(document);
  return {
    document,
    ...version,
    chunks,
    ids: chunks.map((chunk) => chunkId(document.uri, version.key, chunk.index)),
  };
}

/**
 * The sources the ledger knows but this run did not see, to prune. A source the loader could not
 * read this time (loadPath(...).skipped) is not gone: it keeps what was ingested before, rather than
 * losing it to a parse error or a missing library; `warning` names those.
 */
export function unseenSources(
  known: ReadonlyMap<string, LedgerEntry>,
  seen: ReadonlySet<string>,
  documents: unknown,
): { gone: LedgerEntry[]; warning: string | undefined } {
  const unread = unreadSources(documents);
  const kept = [...known.values()].filter((entry) => !seen.has(entry.source) && unread.has(entry.source));
  const warning =
    kept.length > 0
      ? `${kept.length} source(s) the loader could not read this time were kept as last ingested, not pruned: ${kept
          .slice(0, 5)
          .map((entry) => entry.source)
          .join(', ')}${kept.length > 5 ? ', …' : ''}`
      : undefined;
  const gone = [...known.values()].filter((entry) => !seen.has(entry.source) && !unread.has(entry.source));
  return { gone, warning };
}

/** The sources a loader listed as not read (`loadPath(...).skipped`: `{ uri }` entries), if it lists them. */
function unreadSources(documents: unknown): Set<string> {
  const skipped = (documents as { skipped?: unknown }).skipped;
  if (!Array.isArray(skipped)) return new Set();
  return new Set(
    skipped.map((entry) => (entry as { uri?: unknown })?.uri).filter((uri): uri is string => typeof uri === 'string'),
  );
}

/** The payload of one chunk written by ingest (fields: `CHUNK_FIELDS`). */
export function chunkPayload(
  work: Work,
  chunk: Chunk,
  written: { runId: string; ingestedAt: string; ledger: string },
): JsonObject {
  const { document } = work;
  return {
    text: chunk.text,
    source: document.uri,
    ...(document.title !== undefined ? { title: document.title } : {}),
    ...(chunk.heading !== undefined ? { heading: chunk.heading } : {}),
    ...(chunk.page !== undefined ? { page: chunk.page, pageEnd: chunk.pageEnd ?? chunk.page } : {}),
    chunk: chunk.index,
    start: chunk.start,
    end: chunk.end,
    contentType: document.contentType,
    ...(document.modifiedAt !== undefined ? { modifiedAt: document.modifiedAt } : {}),
    sourceHash: work.contentHash,
    runId: written.runId,
    ingestedAt: written.ingestedAt,
    ledger: written.ledger,
    ...(document.metadata !== undefined ? { metadata: document.metadata } : {}),
  };
}
