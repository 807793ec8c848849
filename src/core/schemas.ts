import * as z from 'zod';
import type { Catalog } from './catalog.js';
import type { DenseEmbedder, SparseEmbedder } from './embedder.js';
import type { ModelRunner } from './runner.js';
import type { Store } from './store.js';
import { implementing } from './validate.js';

export const storeSchema = implementing<Store>('store must be a kumiki Store', {
  methods: ['createCollection', 'openCollection', 'upsert', 'get', 'delete', 'count', 'scroll', 'search'],
});
export const denseEmbedderSchema = implementing<DenseEmbedder>('embedder must be a dense Embedder', {
  fields: { kind: 'dense' },
  methods: ['embed'],
});
export const sparseEmbedderSchema = implementing<SparseEmbedder>(
  'sparseEmbedder must be a sparse Embedder (e.g. createBm25Encoder())',
  { fields: { kind: 'sparse' }, methods: ['embed'] },
);
export const runnerSchema = implementing<ModelRunner>('runner must be a kumiki ModelRunner', {
  methods: ['stream', 'generate'],
});
export const catalogSchema = implementing<Catalog>('catalog must be a kumiki Catalog', {
  methods: ['recordRun', 'addLineage'],
});
export const abortSignalSchema = z.custom<AbortSignal>(
  (value) => value instanceof AbortSignal,
  'must be an AbortSignal',
);
/** The last argument of a Catalog or Cache call: `{ abortSignal? }` and nothing else. */
export const callOptionsSchema = z.object({ abortSignal: abortSignalSchema.optional() }).strict();

/** What `Embedder.embed` takes: at most `maxBatchSize` strings, the role and an optional signal. */
export const embedOptionsSchema = (maxBatchSize: number) =>
  z.object({
    values: z
      .array(z.string(), { error: 'values must be an array of strings' })
      .max(maxBatchSize, `at most ${maxBatchSize} values per call (maxBatchSize); split larger inputs`),
    role: z.enum(['query', 'document'], { error: "role must be 'query' or 'document'" }),
    abortSignal: z.instanceof(AbortSignal, { error: 'abortSignal must be an AbortSignal' }).optional(),
  });
