import * as z from 'zod';
import type { DenseEmbedder } from '../core/embedder.js';
import { ConflictError, InvalidArgumentError, throwIfAborted } from '../core/errors.js';
import { abortSignalSchema, denseEmbedderSchema, storeSchema } from '../core/schemas.js';
import type { Metric, Store } from '../core/store.js';
import type { StoredRecord, VectorRecord } from '../core/types.js';
import { parseArgument } from '../core/validate.js';

export type ReembedOptions = {
  store: Store;
  /** The alias applications read through; it points at the current collection and is switched at the end. */
  alias: string;
  /** Name of the collection to build; it must not exist yet. */
  target: string;
  /** The new model. The target collection is created with its embedding space. */
  embedder: DenseEmbedder;
  /** The text to embed for a record, usually a payload field: `(record) => String(record.payload.text)`. */
  text: (record: StoredRecord) => string;
  /** Metric of the new collection; default: the current collection's. */
  metric?: Metric;
  /** Records read and embedded per step; default 64 (capped by the embedder's `maxBatchSize`). */
  batchSize?: number;
  onProgress?: (progress: { done: number; total: number }) => void;
  abortSignal?: AbortSignal;
};

export type ReembedResult = { previous: string; current: string; records: number };

const optionsSchema = z
  .object({
    store: storeSchema,
    alias: z.string().min(1),
    target: z.string().min(1),
    embedder: denseEmbedderSchema,
    text: z.custom<ReembedOptions['text']>(
      (value) => typeof value === 'function',
      'text must be a function of a record',
    ),
    metric: z.enum(['cosine', 'dot', 'euclidean']).optional(),
    batchSize: z.number().int().min(1).max(10_000).optional(),
    onProgress: z.custom<ReembedOptions['onProgress']>((value) => typeof value === 'function').optional(),
    abortSignal: abortSignalSchema.optional(),
  })
  .strict();

/**
 * Blue/green re-embedding: builds `target` beside the collection `alias` points at, embedding every
 * record's text with the new model (payloads and sparse vectors are copied as they are), checks that
 * every record arrived, then switches the alias in one atomic step. Readers never see a half-built
 * collection or a mix of two embedding spaces; the previous collection is kept for rollback
 * (`setAlias` back to it) until you delete it.
 *
 * Records written to the previous collection while this runs may be missed: pause writers, or re-run
 * your ingest against the alias afterwards.
 */
export async function reembed(options: ReembedOptions): Promise<ReembedResult> {
  const { store, alias, target, embedder, text, onProgress, abortSignal, ...rest } = parseArgument(
    optionsSchema,
    options,
    'reembed options',
  );
  if (!store.capabilities.aliases || !store.setAlias) {
    throw new InvalidArgumentError({
      argument: 'reembed options',
      issues: [{ path: 'store', message: `the ${store.provider} store has no aliases, which reembed switches` }],
    });
  }
  const current = await store.openCollection({ name: alias });
  if (current.name === alias) {
    throw new InvalidArgumentError({
      argument: 'reembed options',
      issues: [
        {
          path: 'alias',
          message: `"${alias}" is a collection, not an alias; point an alias at it first with setAlias`,
        },
      ],
    });
  }
  if ((await store.listCollections()).some((collection) => collection.name === target)) {
    throw new ConflictError({ message: `Collection "${target}" already exists; reembed builds a new collection.` });
  }
  const space = await embedder.space();
  await store.createCollection({
    name: target,
    dimensions: space.dimensions,
    metric: rest.metric ?? current.metric,
    sparse: current.sparse,
    embeddingSpace: space,
    ...(current.sparseFingerprint ? { sparseEmbeddingSpace: current.sparseFingerprint } : {}),
  });
  const batchSize = Math.min(rest.batchSize ?? 64, embedder.maxBatchSize);
  const total = current.count;
  let done = 0;
  let cursor: string | undefined;
  do {
    throwIfAborted(abortSignal, 'reembed');
    const page = await store.scroll({
      collection: current.name,
      limit: batchSize,
      includeVectors: true,
      ...(cursor ? { cursor } : {}),
    });
    if (page.records.length > 0) {
      const { vectors } = await embedder.embed({
        values: page.records.map(text),
        role: 'document',
        ...(abortSignal ? { abortSignal } : {}),
      });
      const records: VectorRecord[] = page.records.map((record, i) => ({
        id: record.id,
        payload: record.payload,
        vector: vectors[i] as Float32Array,
        ...(record.sparseVector ? { sparseVector: record.sparseVector } : {}),
      }));
      await store.upsert({ collection: target, records, ...(abortSignal ? { abortSignal } : {}) });
      done += records.length;
      onProgress?.({ done, total });
    }
    cursor = page.nextCursor;
  } while (cursor);
  const built = await store.count({ collection: target });
  if (built !== done) {
    throw new ConflictError({
      message: `Collection "${target}" holds ${built} records after re-embedding ${done}; the alias "${alias}" was not switched.`,
    });
  }
  throwIfAborted(abortSignal, 'reembed');
  await store.setAlias({ alias, collection: target });
  return { previous: current.name, current: target, records: done };
}
