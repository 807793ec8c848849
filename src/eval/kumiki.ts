/** kumiki's own rows of an evaluation: a test collection ingested with `ingest()`, its queries ranked with `retrieve()`. */
import { performance } from 'node:perf_hooks';
import { createBm25Encoder } from '../bm25/index.js';
import type { DenseEmbedder } from '../core/embedder.js';
import { InvalidArgumentError } from '../core/errors.js';
import type { GroupBy } from '../pipeline/documents.js';
import { ingest } from '../pipeline/ingest.js';
import { fromIterable } from '../pipeline/loaders.js';
import { type RetrievalMode, type RetrieveOptions, retrieve } from '../pipeline/retrieve.js';
import { createRecursiveSplitter } from '../pipeline/splitter.js';
import type { SourceDocument, Splitter } from '../pipeline/types.js';
import { createMemoryStore } from '../stores/memory/index.js';
import { collectionText, type TestCollection } from './collection.js';

export const KUMIKI = 'kumiki (ingest + retrieve, memory store)';

/** Where an evaluation reports the units of work it does (a document indexed, a query answered). */
export type Progress = { advance(units: number, phase: string): void };
const noProgress: Progress = { advance() {} };

/** One system's rankings (query id → document ids, best first) and its mean time per query. */
export type Ranked = { rankings: Map<string, string[]>; queryMs: number };

/** A collection ingested into a memory store, ready for `rankQueries`. */
export type EvaluationIndex = Awaited<ReturnType<typeof indexCollection>>;

/**
 * Ingests every document of `collection` (`uri: <name>:<id>`, text: title and text, its title) into a
 * fresh memory-store collection with a new BM25 encoder and `embedder` if given: split by ingest's
 * default splitter, or kept whole (`chunking: 'whole'`; a document split anyway throws).
 */
export async function indexCollection(
  collection: TestCollection,
  options: {
    embedder?: DenseEmbedder;
    chunking?: 'default' | 'whole';
    progress?: Progress;
    abortSignal?: AbortSignal;
  } = {},
) {
  const { embedder, abortSignal } = options;
  const progress = options.progress ?? noProgress;
  const prefix = `${collection.name}:`;
  const sources: SourceDocument[] = collection.documents.map((document) => ({
    uri: `${prefix}${document.id}`,
    text: collectionText(document),
    contentType: 'text/plain',
    ...(document.title ? { title: document.title } : {}),
  }));
  const longest = Math.max(1, ...sources.map((source) => source.text.length));
  const splitter =
    options.chunking === 'whole'
      ? wholeDocuments(createRecursiveSplitter({ unit: 'characters', chunkSize: longest, chunkOverlap: 0 }))
      : undefined;
  const sparseEmbedder = createBm25Encoder();
  const store = createMemoryStore();
  const name = 'evaluation';
  const phase = `${KUMIKI} ${embedder ? 'dense + BM25' : 'BM25'}${options.chunking === 'whole' ? ', whole documents' : ''}: indexing`;
  let reported = 0;
  const started = performance.now();
  try {
    const report = await ingest({
      store,
      collection: name,
      documents: fromIterable(sources),
      sparseEmbedder,
      ...(embedder ? { embedder } : {}),
      ...(splitter ? { splitter } : {}),
      // One write batch: BM25 document weights use the corpus statistics at the time they are
      // computed, so every document must be counted before the first one is weighted.
      writeBatchChunks: 1_000_000,
      total: sources.length,
      onProgress: ({ sources: read }) => {
        if (read > reported) progress.advance(read - reported, phase);
        reported = read;
      },
      ...(abortSignal ? { abortSignal } : {}),
    });
    return {
      store,
      collection: name,
      prefix,
      sparseEmbedder,
      embedder,
      chunks: report.chunksWritten,
      indexMs: performance.now() - started,
      dispose: () => store.dispose(),
    };
  } catch (error) {
    await store.dispose();
    throw error;
  }
}

/** Refuses to split: every document must be exactly one chunk (or none, when it has no text). */
function wholeDocuments(splitter: Splitter): Splitter {
  return {
    settings: splitter.settings,
    split(document) {
      const chunks = splitter.split(document);
      if (chunks.length > 1) {
        throw new InvalidArgumentError({
          argument: 'dataDirectory',
          issues: [
            { path: document.uri, message: `the document was split into ${chunks.length} chunks; expected one` },
          ],
        });
      }
      return chunks;
    },
  };
}

/** Retrieval options an evaluation may vary (everything else is the query's and the index's). */
export type RankingOptions = Pick<RetrieveOptions, 'expansion' | 'fusion' | 'minScore'> & {
  /** How sources are ranked, default `'source'`; `false` ranks chunks and keeps each source's first. */
  groupBy?: GroupBy | false;
};

/**
 * Ranks the judged queries (or those in `queries`) with `retrieve()`: sources (`groupBy: 'source'`
 * unless `retrieve.groupBy` says otherwise; `false`: chunks, each source at its best chunk), `limit`
 * per query, document ids best first.
 */
export async function rankQueries(
  collection: TestCollection,
  index: EvaluationIndex,
  options: {
    mode: RetrievalMode;
    limit?: number;
    queries?: ReadonlySet<string> | undefined;
    retrieve?: RankingOptions;
    progress?: Progress;
    abortSignal?: AbortSignal;
  },
): Promise<Ranked> {
  const rankings = new Map<string, string[]>();
  const progress = options.progress ?? noProgress;
  const phase = `${KUMIKI} ${options.mode}: querying`;
  const queries = collection.queries.filter((query) => options.queries === undefined || options.queries.has(query.id));
  const started = performance.now();
  const { groupBy = 'source', ...retrieveOptions } = options.retrieve ?? {};
  for (const { id, text } of queries) {
    const base = {
      store: index.store,
      collection: index.collection,
      query: text,
      mode: options.mode,
      sparseEmbedder: index.sparseEmbedder,
      ...(index.embedder ? { embedder: index.embedder } : {}),
      limit: options.limit ?? 1000,
      ...retrieveOptions,
      ...(options.abortSignal ? { abortSignal: options.abortSignal } : {}),
    };
    let sources: string[] = [];
    if (text.trim().length > 0) {
      sources =
        groupBy === false
          ? // Chunks, best first (as many as retrieve returns), each source at its first chunk.
            [...new Set((await retrieve({ ...base, limit: 1000 })).map((chunk) => chunk.citation.source))].slice(
              0,
              base.limit,
            )
          : (await retrieve({ ...base, groupBy })).map((document) => document.source);
    }
    rankings.set(
      id,
      sources.map((source) => source.slice(index.prefix.length)),
    );
    progress.advance(1, phase);
  }
  return { rankings, queryMs: (performance.now() - started) / Math.max(1, queries.length) };
}
