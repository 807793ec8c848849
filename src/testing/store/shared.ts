/** Helpers shared by the areas of the Store conformance suite. */
import type { Filter } from '../../core/filter.js';
import type { Metric, Store } from '../../core/store.js';
import type { Match, RecordId, SparseVector } from '../../core/types.js';
import { check, close, equal, rejectsWith } from '../assert.js';

/** What each area of the suite registers its tests with. */
export type StoreSuite = {
  /** Registers a test that gets a fresh store (disposed afterwards). */
  t: (name: string, fn: (store: Store) => Promise<void>) => void;
  metricsOf: (store: Store) => readonly Metric[];
  numRuns: number;
  maxIdBytes: number;
  largeBatch: number | undefined;
  seed: number | undefined;
};

let collectionCounter = 0;
export const uniqueName = (label: string) =>
  `kc_${label}_${Date.now().toString(36)}_${(collectionCounter++).toString(36)}`;

export function randomVector(random: () => number, dims: number): number[] {
  return Array.from({ length: dims }, () => Math.round((random() * 2 - 1) * 1000) / 1000);
}

export function randomSparse(random: () => number, vocabulary: number, terms: number): SparseVector {
  const indices = new Set<number>();
  while (indices.size < terms) indices.add(Math.floor(random() * vocabulary));
  const list = [...indices];
  return { indices: list, values: list.map(() => Math.round(random() * 1000) / 100 + 0.01) };
}

/** Reference similarity: higher is closer, as every Store must report it. */
export function referenceScore(metric: Metric, a: ArrayLike<number>, b: ArrayLike<number>): number {
  let dot = 0;
  let normA = 0;
  let normB = 0;
  let distance = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i] as number;
    const y = b[i] as number;
    dot += x * y;
    normA += x * x;
    normB += y * y;
    distance += (x - y) * (x - y);
  }
  if (metric === 'dot') return dot;
  if (metric === 'euclidean') return -Math.sqrt(distance);
  return normA === 0 || normB === 0 ? 0 : dot / Math.sqrt(normA * normB);
}

export function sparseDot(query: SparseVector, doc: SparseVector): number | undefined {
  const weights = new Map<number, number>();
  for (let i = 0; i < query.indices.length; i++) weights.set(query.indices[i] as number, query.values[i] as number);
  let score = 0;
  let shared = false;
  for (let i = 0; i < doc.indices.length; i++) {
    const weight = weights.get(doc.indices[i] as number);
    if (weight !== undefined) {
      score += weight * (doc.values[i] as number);
      shared = true;
    }
  }
  return shared ? score : undefined;
}

export const idKey = (id: RecordId) => `${typeof id}:${id}`;
export const sortIds = (ids: RecordId[]) =>
  [...ids].sort((a, b) => {
    if (typeof a === 'number') return typeof b === 'number' ? a - b : -1;
    if (typeof b === 'number') return 1;
    return a < b ? -1 : a > b ? 1 : 0;
  });

/**
 * Compares a ranking with the expected one, tolerating float error and any order among ties:
 * same length, scores equal position by position, and the same ids except where a tie straddles
 * the cut-off.
 */
export function checkRanking(
  actual: readonly Match[],
  expected: readonly { id: RecordId; score: number }[],
  what: string,
  tolerance = 1e-4,
): void {
  equal(actual.length, expected.length, `${what}: number of matches`);
  actual.forEach((match, i) => {
    close(match.score, (expected[i] as { score: number }).score, `${what}: score at rank ${i + 1}`, tolerance);
  });
  for (let i = 1; i < actual.length; i++) {
    check(
      (actual[i] as Match).score <= (actual[i - 1] as Match).score + tolerance,
      `${what}: matches must be sorted best first`,
    );
  }
  const last = expected.at(-1)?.score;
  if (last === undefined) return;
  const clearlyIn = (score: number) => score > last + tolerance * Math.max(1, Math.abs(last));
  const expectedSure = expected.filter((m) => clearlyIn(m.score)).map((m) => idKey(m.id));
  const actualIds = new Set(actual.map((m) => idKey(m.id)));
  for (const id of expectedSure) check(actualIds.has(id), `${what}: expected ${id} among the matches`);
}

/**
 * Whether the store can express a filter natively: `explain` succeeds, or throws
 * `UnsupportedFilterError` (any other error fails the suite).
 */
export async function supports(store: Store, collection: string, filter: Filter): Promise<boolean> {
  try {
    await store.explain({ collection, filter });
    return true;
  } catch (error) {
    check(
      typeof error === 'object' && error !== null && (error as Error).name === 'UnsupportedFilterError',
      `explain may only fail with UnsupportedFilterError, got ${String(error)}`,
    );
    return false;
  }
}

/** A filter the store cannot express must be refused the same way by every method, writing nothing. */
export async function expectRefusal(
  store: Store,
  collection: string,
  filter: Filter,
  what: string,
  vector: number[] = [1, 0],
): Promise<void> {
  await rejectsWith(() => store.scroll({ collection, filter }), 'UnsupportedFilterError', `${what} via scroll`);
  await rejectsWith(() => store.count({ collection, filter }), 'UnsupportedFilterError', `${what} via count`);
  await rejectsWith(() => store.search({ collection, vector, filter }), 'UnsupportedFilterError', `${what} via search`);
  await rejectsWith(() => store.delete({ collection, filter }), 'UnsupportedFilterError', `${what} via delete`);
}
