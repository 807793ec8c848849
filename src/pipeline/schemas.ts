import { z } from 'zod';
import type { Catalog } from '../core/catalog.js';
import type { DenseEmbedder, SparseEmbedder } from '../core/embedder.js';
import type { ModelRunner } from '../core/runner.js';
import type { Store } from '../core/store.js';

const object = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null;

export const storeSchema = z.custom<Store>(
  (value) => object(value) && typeof value.search === 'function' && typeof value.upsert === 'function',
  'store must be a kumiki Store',
);
export const denseEmbedderSchema = z.custom<DenseEmbedder>(
  (value) => object(value) && value.kind === 'dense' && typeof value.embed === 'function',
  'embedder must be a dense Embedder',
);
export const sparseEmbedderSchema = z.custom<SparseEmbedder>(
  (value) => object(value) && value.kind === 'sparse' && typeof value.embed === 'function',
  'sparseEmbedder must be a sparse Embedder (e.g. createBm25Encoder())',
);
export const runnerSchema = z.custom<ModelRunner>(
  (value) => object(value) && typeof value.stream === 'function' && typeof value.generate === 'function',
  'runner must be a kumiki ModelRunner',
);
export const catalogSchema = z.custom<Catalog>(
  (value) => object(value) && typeof value.recordRun === 'function' && typeof value.addLineage === 'function',
  'catalog must be a kumiki Catalog',
);
export const abortSignalSchema = z.custom<AbortSignal>(
  (value) => value instanceof AbortSignal,
  'must be an AbortSignal',
);
