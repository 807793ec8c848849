import * as z from 'zod';
import { MAX_ID_BYTES } from '../core/json.js';
import type { Metric, Store } from '../core/store.js';
import { parseArgument } from '../core/validate.js';
import { collectionTests } from './store/collections.js';
import { filterTests } from './store/filters.js';
import { propertyTests } from './store/property.js';
import { recordTests } from './store/records.js';
import { searchTests } from './store/search.js';
import type { StoreSuite } from './store/shared.js';

export { checkRanking, referenceScore } from './store/shared.js';

/** The test registration function of your runner: vitest's or node:test's `test`, jest's `it`. */
export type TestFunction = (name: string, fn: () => Promise<void>, timeoutMs?: number) => unknown;

export type StoreConformanceOptions = {
  /** Prefix of the test names, default `store conformance`. */
  name?: string;
  /** Metrics to exercise; default: all the store declares. */
  metrics?: readonly Metric[];
  /** Records in the large-batch test; default 5,000. */
  largeBatch?: number;
  /** fast-check runs of each property; default 60. */
  numRuns?: number;
  /** Per-test timeout passed to the runner, default 60 s. */
  timeoutMs?: number;
  /** Seed for fast-check, to replay a failure. */
  seed?: number;
  /** The longest string id the store accepts, in UTF-8 bytes; default `MAX_ID_BYTES` (less for wrappers that prefix ids). */
  maxIdBytes?: number;
};

type StoreFactory = () => Store | Promise<Store>;

const optionsSchema = z
  .object({
    name: z.string().min(1).optional(),
    metrics: z
      .array(z.enum(['cosine', 'dot', 'euclidean']))
      .min(1)
      .optional(),
    largeBatch: z.number().int().min(1).optional(),
    numRuns: z.number().int().min(1).optional(),
    maxIdBytes: z.number().int().min(16).max(MAX_ID_BYTES).optional(),
    timeoutMs: z.number().int().positive().optional(),
    seed: z.number().int().optional(),
  })
  .strict();

async function withStore(factory: StoreFactory, body: (store: Store) => Promise<void>): Promise<void> {
  const store = await factory();
  try {
    await body(store);
  } finally {
    await store.dispose();
  }
}

/**
 * Registers the Store conformance suite with your test runner, in the style of keyv's
 * `storageTestSuite`. Every kumiki Store adapter runs it; so can third-party ones.
 *
 * ```ts
 * import { test } from 'vitest';
 * import { storeConformance } from 'kumiki/testing';
 * storeConformance(test, () => createMemoryStore());
 * ```
 */
export function storeConformance(
  test: TestFunction,
  factory: StoreFactory,
  options: StoreConformanceOptions = {},
): void {
  parseArgument(z.function(), test, "test (the runner's test function, e.g. vitest's `test`)");
  parseArgument(z.function(), factory, 'factory (a function returning a fresh Store)');
  parseArgument(optionsSchema, options, 'storeConformance options');
  const prefix = options.name ?? 'store conformance';
  const timeout = options.timeoutMs ?? 60_000;
  const numRuns = options.numRuns ?? 100;
  const maxIdBytes = options.maxIdBytes ?? MAX_ID_BYTES;
  const t = (name: string, fn: (store: Store) => Promise<void>) =>
    test(`${prefix}: ${name}`, () => withStore(factory, fn), timeout);
  const metricsOf = (store: Store) => options.metrics ?? store.capabilities.metrics;

  const suite: StoreSuite = {
    t,
    metricsOf,
    numRuns,
    maxIdBytes,
    largeBatch: options.largeBatch,
    seed: options.seed,
  };
  collectionTests(suite);
  recordTests(suite);
  filterTests(suite);
  searchTests(suite);
  propertyTests(suite);
}
