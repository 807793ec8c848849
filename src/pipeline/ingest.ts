import { z } from 'zod';
import type { Catalog, DatasetRef } from '../core/catalog.js';
import type { DenseEmbedder, SparseEmbedder } from '../core/embedder.js';
import { InvalidArgumentError, throwIfAborted } from '../core/errors.js';
import { type EmbeddingSpace, fingerprint } from '../core/fingerprint.js';
import {
  abortSignalSchema,
  catalogSchema,
  denseEmbedderSchema,
  sparseEmbedderSchema,
  storeSchema,
} from '../core/schemas.js';
import { sha256Hex } from '../core/sha256.js';
import type { Metric, Store } from '../core/store.js';
import type { JsonObject, SparseVector, VectorRecord } from '../core/types.js';
import { parseArgument } from '../core/validate.js';
import { functionSchema } from '../http/credentials.js';
import { mapLimit } from '../stores/shared.js';
import { createMemoryLedger, type Ledger, type LedgerEntry } from './ledger.js';
import { createRecursiveSplitter } from './splitter.js';
import { withSpan } from './telemetry.js';
import type { Chunk, SourceDocument, Splitter } from './types.js';

export type IngestPhase = 'recover' | 'scan' | 'embed' | 'write' | 'prune' | 'catalog' | 'done';

export type IngestProgress = {
  phase: IngestPhase;
  /** Sources read so far. */
  sources: number;
  /** Sources expected, when the caller said (`total`). */
  total: number | undefined;
  unchanged: number;
  chunksEmbedded: number;
  chunksWritten: number;
};

export type IngestReport = {
  runId: string;
  collection: string;
  added: number;
  updated: number;
  unchanged: number;
  /** Sources removed by `prune`. */
  deleted: number;
  chunksWritten: number;
  chunksDeleted: number;
  /** Calls made to the embedders (dense and sparse together). */
  embeddingCalls: number;
  durationMs: number;
};

export type IngestOptions = {
  store: Store;
  /** Collection (or alias) to write; created with the embedders' spaces when missing. */
  collection: string;
  documents: Iterable<SourceDocument> | AsyncIterable<SourceDocument>;
  embedder?: DenseEmbedder;
  /** A sparse embedder (e.g. `createBm25Encoder()`); BM25 statistics are kept in step with what is written. */
  sparseEmbedder?: SparseEmbedder;
  /** Default: `createRecursiveSplitter()` sized in the dense embedder's tokens when it has a tokenizer. */
  splitter?: Splitter;
  /** Default: an in-memory ledger (a new process re-ingests everything); use `createFileLedger` to persist. */
  ledger?: Ledger;
  catalog?: Catalog;
  /** Name of the store in catalog entries (`<storeName>/<collection>`), default the store's provider. */
  storeName?: string;
  /** Remove sources the ledger knows but this run did not see. Default false. */
  prune?: boolean;
  /** Metric of a collection created by ingest, default cosine. */
  metric?: Metric;
  /** Texts per embedding call, default min(64, embedder.maxBatchSize). */
  batchSize?: number;
  /** Embedding calls in flight, default 2 (1 for embedders without parallel calls). */
  concurrency?: number;
  /** Chunks gathered before a write: the unit of work between ledger commits. Default 256. */
  writeBatchChunks?: number;
  /** Number of sources expected, for progress reporting. */
  total?: number;
  runId?: string;
  onProgress?: (progress: IngestProgress) => void;
  abortSignal?: AbortSignal;
};

const documentSchema = z
  .object({
    uri: z.string().min(1, 'uri must not be empty'),
    text: z.string(),
    contentType: z.string().min(1),
    modifiedAt: z.string().optional(),
    title: z.string().optional(),
    metadata: z.record(z.string(), z.unknown()).optional(),
  })
  .strict();

const optionsSchema = z
  .object({
    store: storeSchema,
    collection: z.string().min(1, 'collection must not be empty'),
    documents: z.custom<IngestOptions['documents']>(
      (value) =>
        typeof value === 'object' && value !== null && (Symbol.iterator in value || Symbol.asyncIterator in value),
      'documents must be an iterable or async iterable of SourceDocument (see loadPath, fromStrings)',
    ),
    embedder: denseEmbedderSchema.optional(),
    sparseEmbedder: sparseEmbedderSchema.optional(),
    splitter: z
      .custom<Splitter>(
        (value) => typeof value === 'object' && value !== null && typeof (value as Splitter).split === 'function',
        'splitter must have split() and settings (see createRecursiveSplitter)',
      )
      .optional(),
    ledger: z
      .custom<Ledger>(
        (value) => typeof value === 'object' && value !== null && typeof (value as Ledger).write === 'function',
        'ledger must be a Ledger (createMemoryLedger, createFileLedger)',
      )
      .optional(),
    catalog: catalogSchema.optional(),
    storeName: z.string().min(1).optional(),
    prune: z.boolean().optional(),
    metric: z.enum(['cosine', 'dot', 'euclidean']).optional(),
    batchSize: z.number().int().min(1).max(10_000).optional(),
    concurrency: z.number().int().min(1).max(64).optional(),
    writeBatchChunks: z.number().int().min(1).max(1_000_000).optional(),
    total: z.number().int().min(0).optional(),
    runId: z.string().min(1).optional(),
    onProgress: functionSchema<IngestOptions['onProgress']>('onProgress must be a function').optional(),
    abortSignal: abortSignalSchema.optional(),
  })
  .strict()
  .refine((options) => options.embedder || options.sparseEmbedder, {
    message: 'give an embedder, a sparseEmbedder or both',
    path: ['embedder'],
  });

/** A sparse embedder that keeps corpus statistics (the BM25 encoder). */
type StatisticalEmbedder = SparseEmbedder & {
  addDocuments(texts: readonly string[]): void;
  removeDocuments(texts: readonly string[]): void;
};
const keepsStatistics = (embedder: SparseEmbedder | undefined): embedder is StatisticalEmbedder =>
  typeof (embedder as Partial<StatisticalEmbedder> | undefined)?.addDocuments === 'function' &&
  typeof (embedder as Partial<StatisticalEmbedder> | undefined)?.removeDocuments === 'function';

type Work = { document: SourceDocument; key: string; contentHash: string; chunks: Chunk[]; ids: string[] };

/** Chunk ids are derived from the source and its version key, so rewriting a version is idempotent. */
export const chunkId = (source: string, key: string, index: number) =>
  `${sha256Hex(`${source}\n${key}`).slice(0, 32)}-${index}`;

const newRunId = () =>
  `run-${new Date().toISOString().replace(/[-:.]/g, '')}-${sha256Hex(String(Math.random())).slice(0, 8)}`;

/**
 * Loads sources into a collection: splits them, embeds the chunks and writes them, keeping a ledger
 * per source so that a re-run only does the work that changed.
 *
 * - Unchanged sources (same text, chunker settings, embedding spaces, title, metadata) cost nothing.
 * - A changed source's new chunks are written before its old ones are deleted.
 * - `prune: true` removes the chunks of sources this run did not see.
 * - Killed at any point, the next run ends in exactly the state a clean run would have left: the
 *   ledger records intent before each write and cleans up whatever an interrupted write left.
 * - With a `catalog`, the run, its sources, the collection's fields and the embedding model go to it
 *   with lineage source → collection and model → collection.
 */
export async function ingest(options: IngestOptions): Promise<IngestReport> {
  const parsed = parseArgument(optionsSchema, options, 'ingest options');
  const started = performance.now();
  const startedAt = new Date().toISOString();
  const runId = parsed.runId ?? newRunId();
  const { store, collection, abortSignal } = parsed;
  const signal = abortSignal ? { abortSignal } : {};
  const ledger = parsed.ledger ?? createMemoryLedger();
  const dense = parsed.embedder;
  const sparse = parsed.sparseEmbedder;
  const report: IngestReport = {
    runId,
    collection,
    added: 0,
    updated: 0,
    unchanged: 0,
    deleted: 0,
    chunksWritten: 0,
    chunksDeleted: 0,
    embeddingCalls: 0,
    durationMs: 0,
  };
  let sources = 0;
  let chunksEmbedded = 0;
  const progress = (phase: IngestPhase) =>
    parsed.onProgress?.({
      phase,
      sources,
      total: parsed.total,
      unchanged: report.unchanged,
      chunksEmbedded,
      chunksWritten: report.chunksWritten,
    });

  return withSpan('kumiki.ingest', { 'kumiki.collection': collection, 'kumiki.ingest.run': runId }, async (span) => {
    const [denseSpace, sparseSpace] = await Promise.all([dense?.space(), sparse?.space()]);
    const denseFingerprint = denseSpace ? fingerprint(denseSpace) : undefined;
    const sparseFingerprint = sparseSpace ? fingerprint(sparseSpace) : undefined;
    const splitter =
      parsed.splitter ?? createRecursiveSplitter(dense?.tokenizer ? { tokenizer: await dense.tokenizer() } : {});
    const collectionRef: DatasetRef = {
      kind: 'collection',
      name: `${parsed.storeName ?? store.provider}/${collection}`,
    };
    const catalog = parsed.catalog;
    const runBase = {
      id: runId,
      startedAt,
      output: collectionRef,
      chunker: splitter.settings,
      ...(denseFingerprint ? { embeddingFingerprint: denseFingerprint } : {}),
      ...(dense ? { embeddingModel: dense.modelId } : sparse ? { embeddingModel: sparse.modelId } : {}),
    };
    await catalog?.recordRun({ ...runBase, status: 'running', inputs: [] });
    const changedSources: DatasetRef[] = [];
    const known = new Map<string, LedgerEntry>();
    try {
      await ensureCollection(store, collection, denseSpace, sparseSpace, parsed.metric, abortSignal);

      for (const entry of await ledger.entries()) if (entry.collection === collection) known.set(entry.source, entry);

      progress('recover');
      await recover(known);

      const seen = new Set<string>();
      let batch: Work[] = [];
      let batchChunks = 0;
      progress('scan');
      for await (const item of parsed.documents) {
        throwIfAborted(abortSignal, 'ingest');
        const document = parseArgument(documentSchema, item, `document ${sources}`) as SourceDocument;
        if (seen.has(document.uri)) {
          throw new InvalidArgumentError({
            argument: 'documents',
            issues: [
              {
                path: String(sources),
                message: `source "${document.uri}" appears twice in one ingest; uris must be unique`,
              },
            ],
          });
        }
        seen.add(document.uri);
        sources++;
        const contentHash = sha256Hex(document.text);
        const key = sha256Hex(
          JSON.stringify([
            contentHash,
            splitter.settings,
            denseFingerprint ?? null,
            sparseFingerprint ?? null,
            document.title ?? null,
            document.contentType,
            document.metadata ?? null,
          ]),
        );
        if (known.get(document.uri)?.key === key) {
          report.unchanged++;
          progress('scan');
          continue;
        }
        const chunks = splitter.split(document);
        batch.push({
          document,
          key,
          contentHash,
          chunks,
          ids: chunks.map((chunk) => chunkId(document.uri, key, chunk.index)),
        });
        batchChunks += chunks.length;
        if (batchChunks >= (parsed.writeBatchChunks ?? 256)) {
          await write(batch);
          batch = [];
          batchChunks = 0;
        }
      }
      if (batch.length > 0) await write(batch);

      if (parsed.prune) {
        progress('prune');
        for (const entry of known.values()) {
          if (seen.has(entry.source)) continue;
          await deleteChunks(entry.chunkIds);
          await ledger.write({ remove: [{ collection, source: entry.source }] });
          report.deleted++;
        }
      }

      report.durationMs = Math.round(performance.now() - started);
      if (catalog) {
        progress('catalog');
        await recordCatalog(catalog, changedSources);
      }
      for (const [name, value] of Object.entries(report))
        if (typeof value === 'number') span.setAttribute(`kumiki.ingest.${name}`, value);
      progress('done');
      return report;
    } catch (error) {
      await catalog
        ?.recordRun({
          ...runBase,
          status: 'failed',
          inputs: changedSources,
          finishedAt: new Date().toISOString(),
          error: error instanceof Error ? error.message : String(error),
        })
        .catch(() => undefined);
      throw error;
    }

    /** Deletes whatever an interrupted run left: versions being written and superseded ones. */
    async function recover(entries: Map<string, LedgerEntry>) {
      for (const entry of [...entries.values()]) {
        if (!entry.pending && !entry.stale) continue;
        const committed = new Set(entry.chunkIds);
        const leftovers = [...(entry.pending?.chunkIds ?? []), ...(entry.stale ?? [])].filter(
          (id) => !committed.has(id),
        );
        await deleteChunks([...new Set(leftovers)]);
        const { pending: _pending, stale: _stale, ...clean } = entry;
        if (clean.key === '') {
          await ledger.write({ remove: [{ collection, source: entry.source }] });
          entries.delete(entry.source);
        } else {
          await ledger.write({ put: [clean] });
          entries.set(entry.source, clean);
        }
      }
    }

    async function write(works: Work[]) {
      await withSpan('kumiki.ingest.batch', { 'kumiki.ingest.sources': works.length }, async () => {
        const empty = (source: string, contentHash: string): LedgerEntry => ({
          collection,
          source,
          key: '',
          contentHash,
          chunkIds: [],
          runId,
          ingestedAt: startedAt,
        });
        // 1. Intent: these ids may appear in the store from now on.
        await ledger.write({
          put: works.map((work) => ({
            ...(known.get(work.document.uri) ?? empty(work.document.uri, work.contentHash)),
            pending: { key: work.key, chunkIds: work.ids },
          })),
        });
        // 2. Embed and write the new chunks.
        const texts = works.flatMap((work) => work.chunks.map((chunk) => chunk.text));
        progress('embed');
        const [denseVectors, sparseVectors] = await Promise.all([
          dense ? embedAll(dense, texts) : undefined,
          sparse ? embedSparse(sparse, texts) : undefined,
        ]);
        const records: VectorRecord[] = [];
        let offset = 0;
        for (const work of works) {
          for (const [i, chunk] of work.chunks.entries()) {
            const vector = denseVectors?.[offset];
            const sparseVector = sparseVectors?.[offset];
            records.push({
              id: work.ids[i] as string,
              ...(vector ? { vector } : {}),
              ...(sparseVector ? { sparseVector } : {}),
              payload: chunkPayload(work, chunk, runId, startedAt),
            });
            offset++;
          }
        }
        progress('write');
        if (records.length > 0) {
          await withSpan(
            'kumiki.store.upsert',
            {
              'kumiki.store.provider': store.provider,
              'kumiki.collection': collection,
              'kumiki.records': records.length,
            },
            () => store.upsert({ collection, records, ...signal }),
          );
        }
        report.chunksWritten += records.length;
        // 3. Commit: the new version is the source's; superseded chunk ids are stale until deleted.
        const committed = works.map((work) => {
          const previous = known.get(work.document.uri);
          const keep = new Set(work.ids);
          const stale = [...(previous?.chunkIds ?? [])].filter((id) => !keep.has(id));
          if (previous && previous.key !== '') report.updated++;
          else report.added++;
          changedSources.push({ kind: 'source', name: work.document.uri });
          const entry: LedgerEntry = {
            collection,
            source: work.document.uri,
            key: work.key,
            contentHash: work.contentHash,
            chunkIds: work.ids,
            runId,
            ingestedAt: startedAt,
          };
          return stale.length > 0 ? { ...entry, stale } : entry;
        });
        await ledger.write({ put: committed });
        // 4. Delete what the new versions replaced, then clear the stale lists.
        const stale = committed.flatMap((entry) => entry.stale ?? []);
        if (stale.length > 0) {
          await deleteChunks(stale);
          await ledger.write({
            put: committed.filter((entry) => entry.stale).map(({ stale: _stale, ...entry }) => entry),
          });
        }
        for (const entry of committed) {
          const { stale: _stale, ...clean } = entry;
          known.set(entry.source, clean);
        }
        progress('write');
      });
    }

    async function embedAll(embedder: DenseEmbedder, texts: string[]): Promise<Float32Array[]> {
      return (await embedBatches<Float32Array>(embedder, texts)).flat();
    }

    async function embedSparse(embedder: SparseEmbedder, texts: string[]): Promise<SparseVector[]> {
      // BM25 weights depend on corpus statistics: count the new texts before weighting them.
      if (keepsStatistics(embedder)) embedder.addDocuments(texts);
      try {
        return (await embedBatches<SparseVector>(embedder, texts)).flat();
      } catch (error) {
        if (keepsStatistics(embedder)) embedder.removeDocuments(texts);
        throw error;
      }
    }

    async function embedBatches<T>(embedder: DenseEmbedder | SparseEmbedder, texts: string[]): Promise<T[][]> {
      const size = Math.min(parsed.batchSize ?? 64, embedder.maxBatchSize);
      const batches: string[][] = [];
      for (let i = 0; i < texts.length; i += size) batches.push(texts.slice(i, i + size));
      const parallel = embedder.supportsParallelCalls ? (parsed.concurrency ?? 2) : 1;
      return mapLimit(batches, parallel, (values) =>
        withSpan(
          'kumiki.embed',
          {
            'kumiki.embedder.provider': embedder.provider,
            'kumiki.embedder.model': embedder.modelId,
            'kumiki.embed.count': values.length,
          },
          async () => {
            throwIfAborted(abortSignal, 'ingest');
            report.embeddingCalls++;
            const { vectors } = await embedder.embed({ values, role: 'document', ...signal });
            if (vectors.length !== values.length) {
              throw new InvalidArgumentError({
                argument: 'embedder',
                issues: [
                  {
                    path: '',
                    message: `${embedder.provider} returned ${vectors.length} vectors for ${values.length} texts`,
                  },
                ],
              });
            }
            if (embedder === (dense ?? sparse)) chunksEmbedded += values.length;
            progress('embed');
            return vectors as T[];
          },
        ),
      );
    }

    async function deleteChunks(ids: string[]) {
      if (ids.length === 0) return;
      await withSpan(
        'kumiki.store.delete',
        { 'kumiki.store.provider': store.provider, 'kumiki.collection': collection, 'kumiki.records': ids.length },
        async () => {
          if (keepsStatistics(sparse)) {
            const gone = await store.get({ collection, ids, ...signal });
            sparse.removeDocuments(gone.map((record) => String(record.payload.text ?? '')));
          }
          const { deleted } = await store.delete({ collection, ids, ...signal });
          report.chunksDeleted += deleted;
        },
      );
    }

    async function recordCatalog(target: Catalog, changed: DatasetRef[]) {
      await withSpan('kumiki.catalog.record', { 'kumiki.catalog.provider': target.provider }, async () => {
        await target.registerDataset({
          ...collectionRef,
          description: `Chunks written by kumiki ingest into ${collection}`,
          fields: CHUNK_FIELDS,
          properties: {
            ...(denseFingerprint ? { embeddingFingerprint: denseFingerprint } : {}),
            ...(sparseFingerprint ? { sparseFingerprint } : {}),
          },
        });
        const edges = changed.map((source) => ({ upstream: source, downstream: collectionRef, via: runId }));
        // Several at a time: the local catalog saves them in groups, DataHub receives parallel requests.
        await mapLimit(changed, 16, (source) => target.registerDataset({ ...source }));
        // The model's edge is recorded by runs that wrote or removed something, not by no-op runs.
        const wrote = changed.length > 0 || report.deleted > 0;
        for (const [space, print] of [
          [denseSpace, denseFingerprint],
          [sparseSpace, sparseFingerprint],
        ] as const) {
          if (!space || !print || !wrote) continue;
          const model: DatasetRef = { kind: 'model', name: print };
          await target.registerDataset({
            ...model,
            description: `${space.provider} ${space.model}`,
            properties: spaceProperties(space),
          });
          edges.push({ upstream: model, downstream: collectionRef, via: runId });
        }
        await target.addLineage(edges);
        await target.recordRun({
          ...runBase,
          status: 'succeeded',
          inputs: changed,
          finishedAt: new Date().toISOString(),
          stats: { ...report, sources },
        });
      });
    }
  });
}

/** The payload fields of every chunk ingest writes (described to catalogs as the collection's schema). */
export const CHUNK_FIELDS = [
  { name: 'text', type: 'string', description: 'the chunk text' },
  { name: 'source', type: 'string', description: 'URI of the source document' },
  { name: 'title', type: 'string', description: 'title of the source, when it has one' },
  { name: 'heading', type: 'string', description: 'nearest heading above the chunk' },
  { name: 'chunk', type: 'number', description: 'position of the chunk in its source' },
  { name: 'start', type: 'number', description: 'character offset of the chunk in the source text' },
  { name: 'end', type: 'number', description: 'character offset just after the chunk' },
  { name: 'contentType', type: 'string', description: 'MIME type of the source' },
  { name: 'modifiedAt', type: 'string', description: 'modification time of the source (ISO 8601)' },
  { name: 'sourceHash', type: 'string', description: 'SHA-256 of the source text' },
  { name: 'runId', type: 'string', description: 'ingestion run that wrote the chunk' },
  { name: 'ingestedAt', type: 'string', description: 'start time of that run (ISO 8601)' },
  { name: 'metadata', type: 'object', description: 'fields the application attached to the source' },
];

function chunkPayload(work: Work, chunk: Chunk, runId: string, ingestedAt: string): JsonObject {
  const { document } = work;
  return {
    text: chunk.text,
    source: document.uri,
    ...(document.title !== undefined ? { title: document.title } : {}),
    ...(chunk.heading !== undefined ? { heading: chunk.heading } : {}),
    chunk: chunk.index,
    start: chunk.start,
    end: chunk.end,
    contentType: document.contentType,
    ...(document.modifiedAt !== undefined ? { modifiedAt: document.modifiedAt } : {}),
    sourceHash: work.contentHash,
    runId,
    ingestedAt,
    ...(document.metadata !== undefined ? { metadata: document.metadata } : {}),
  };
}

function spaceProperties(space: EmbeddingSpace): JsonObject {
  return {
    provider: space.provider,
    model: space.model,
    ...(space.kind !== undefined ? { kind: space.kind } : {}),
    ...(space.dimensions !== undefined ? { dimensions: space.dimensions } : {}),
    ...(space.revision !== undefined ? { revision: space.revision } : {}),
  };
}

async function ensureCollection(
  store: Store,
  collection: string,
  denseSpace: EmbeddingSpace | undefined,
  sparseSpace: EmbeddingSpace | undefined,
  metric: Metric | undefined,
  abortSignal: AbortSignal | undefined,
) {
  await withSpan(
    'kumiki.store.createCollection',
    { 'kumiki.store.provider': store.provider, 'kumiki.collection': collection },
    () =>
      store.createCollection({
        name: collection,
        ifExists: 'open',
        ...(denseSpace
          ? { dimensions: denseSpace.dimensions, embeddingSpace: denseSpace, metric: metric ?? 'cosine' }
          : {}),
        ...(sparseSpace ? { sparse: true, sparseEmbeddingSpace: sparseSpace } : {}),
        ...(abortSignal ? { abortSignal } : {}),
      }),
  );
}
