/**
 * The checks every Store makes, whatever its backend: reopening a collection, embedding spaces, record
 * and query vectors; and scroll cursors. Internal: not part of the public surface.
 */
import {
  ConflictError,
  DimensionMismatchError,
  EmbeddingSpaceMismatchError,
  InvalidArgumentError,
} from '../../core/errors.js';
import { diffSpaces, type EmbeddingSpace, fingerprint } from '../../core/fingerprint.js';
import type { Metric } from '../../core/store.js';
import {
  type DenseVectorInput,
  type RecordId,
  recordIdSchema,
  type SparseVector,
  type VectorRecord,
} from '../../core/types.js';

/** Scroll cursors are the last id returned, as JSON: stable across writes and backends. */
export function encodeCursor(id: RecordId): string {
  return JSON.stringify(id);
}

/** Reads a cursor from `encodeCursor`; a forged one is an `InvalidArgumentError`. */
export function decodeCursor(cursor: string): RecordId {
  let value: unknown;
  try {
    value = JSON.parse(cursor);
  } catch {
    value = undefined;
  }
  const parsed = recordIdSchema.safeParse(value);
  if (!parsed.success) {
    throw new InvalidArgumentError({
      argument: 'scroll options',
      issues: [
        {
          path: 'cursor',
          message: 'cursor is not one this store returned; pass nextCursor from the previous page unchanged',
        },
      ],
    });
  }
  return parsed.data;
}

/**
 * `createCollection` on an existing collection: refused unless `ifExists: 'open'`, and then only when
 * dimensions, metric and sparse support agree (the caller checks the embedding spaces next).
 */
export function checkReopen(
  existing: { dimensions?: number | null | undefined; metric: Metric; sparse: boolean },
  config: { name: string; ifExists?: 'error' | 'open'; dimensions?: number; metric?: Metric; sparse?: boolean },
  component: string,
): void {
  if (config.ifExists !== 'open') {
    throw new ConflictError({
      message: `Collection "${config.name}" already exists. Pass ifExists: 'open' to open it, or delete it first.`,
      component,
    });
  }
  if (config.dimensions !== undefined && config.dimensions !== existing.dimensions) {
    throw new DimensionMismatchError({
      expected: existing.dimensions ?? 0,
      actual: config.dimensions,
      context: `Collection "${config.name}" exists with other dimensions`,
      component,
    });
  }
  if ((config.metric ?? 'cosine') !== existing.metric || (config.sparse ?? true) !== existing.sparse) {
    throw new ConflictError({
      message: `Collection "${config.name}" exists with metric ${existing.metric} and sparse ${existing.sparse}, not metric ${config.metric ?? 'cosine'} and sparse ${config.sparse ?? true}.`,
      component,
    });
  }
}

/** What the shared checks need to know about a collection. */
export type CollectionShape = { name: string; dimensions?: number | null | undefined; sparse: boolean };

/** The fingerprint of an embedding space given as a space or as its fingerprint already. */
export function toFingerprint(space: EmbeddingSpace | string | undefined): string | undefined {
  return space === undefined || typeof space === 'string' ? space : fingerprint(space);
}

/**
 * Refuses an embedding space other than the one a collection recorded, naming the fields that differ
 * when both spaces are known. `given` undefined means "not checked".
 */
export function checkEmbeddingSpace(
  recorded: { collection: string; fingerprint: string | null | undefined; space: EmbeddingSpace | null | undefined },
  given: EmbeddingSpace | string | undefined,
  kind: 'dense' | 'sparse',
  component: string,
): void {
  const actual = toFingerprint(given);
  const expected = recorded.fingerprint ?? undefined;
  if (actual === undefined || actual === expected) return;
  throw new EmbeddingSpaceMismatchError({
    collection: recorded.collection,
    expected: expected ?? `(no ${kind} embedding space recorded)`,
    actual,
    ...(expected === undefined ? { missing: kind } : {}),
    ...(recorded.space && typeof given === 'object' ? { differences: diffSpaces(recorded.space, given) } : {}),
    component,
  });
}

/** Checks one record of an upsert batch against the collection's vectors: dimensions, presence, sparse support. */
export function checkRecordVectors(
  collection: CollectionShape,
  record: VectorRecord,
  index: number,
  component: string,
): void {
  const dims = collection.dimensions ?? undefined;
  // The happy path builds no message: this runs for every record of every upsert.
  if (dims !== undefined && record.vector !== undefined && record.vector.length === dims) {
    if (record.sparseVector === undefined || collection.sparse) return;
  }
  const where = `record ${index} (id ${JSON.stringify(record.id)})`;
  const problem = (path: string, message: string) =>
    new InvalidArgumentError({ argument: 'records', issues: [{ path: `${index}.${path}`, message }] });
  if (dims !== undefined) {
    if (record.vector === undefined) {
      throw problem(
        'vector',
        `${where} has no vector; collection "${collection.name}" stores ${dims}-dimensional vectors`,
      );
    }
    if (record.vector.length !== dims) {
      throw new DimensionMismatchError({
        expected: dims,
        actual: record.vector.length,
        context: `Upsert into "${collection.name}", ${where}`,
        component,
      });
    }
  } else if (record.vector !== undefined) {
    throw problem(
      'vector',
      `${where} has a dense vector but collection "${collection.name}" was created without dimensions`,
    );
  }
  if (record.sparseVector !== undefined && !collection.sparse) {
    throw problem(
      'sparseVector',
      `${where} has a sparse vector but collection "${collection.name}" was created with sparse: false`,
    );
  }
}

/** Checks a search's query vectors against the collection: dense dimensions and sparse support. */
export function checkSearchVectors(
  collection: CollectionShape,
  vector: DenseVectorInput | undefined,
  sparseVector: SparseVector | undefined,
  component: string,
): void {
  if (vector) {
    const dims = collection.dimensions ?? undefined;
    if (dims === undefined) {
      throw new InvalidArgumentError({
        argument: 'search options',
        issues: [
          {
            path: 'vector',
            message: `collection "${collection.name}" has no dense vectors; search it with sparseVector`,
          },
        ],
      });
    }
    if (dims !== vector.length) {
      throw new DimensionMismatchError({
        expected: dims,
        actual: vector.length,
        context: `Search in "${collection.name}"`,
        component,
      });
    }
  }
  if (sparseVector && !collection.sparse) {
    throw new InvalidArgumentError({
      argument: 'search options',
      issues: [{ path: 'sparseVector', message: `collection "${collection.name}" was created with sparse: false` }],
    });
  }
}
