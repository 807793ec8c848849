/**
 * How records become Qdrant points and back: named dense (and exact-copy) and sparse vectors, the
 * payload with kumiki's id, checks against integer payload indexes, and scores made higher-is-closer.
 */
import { ConflictError, InvalidArgumentError } from '../../core/errors.js';
import type { JsonValue, Match, StoredRecord, VectorRecord } from '../../core/types.js';
import { checkRecordVectors } from '../kernel/checks.js';
import { COMPONENT, DENSE, DENSE_ORIGINAL, type Description, SPARSE, toCollection } from './client.js';
import { DATA_KEY } from './filter.js';
import { pointIdOf } from './ids.js';
import { fromWirePayload, toWirePayload, type WirePoint } from './payload.js';

export const checkRecords = (description: Description, records: readonly VectorRecord[]): void => {
  const integerFields = [...description.integerKeys].flatMap((key) => {
    const path = dataPath(key);
    return path ? [{ key, path }] : [];
  });
  records.forEach((record, index) => {
    checkRecordVectors(toCollection(description), record, index, COMPONENT);
    for (const { key, path } of integerFields) {
      const bad = valuesAt(record.payload ?? {}, path).find(
        (value) => typeof value === 'number' && !Number.isSafeInteger(value),
      );
      if (bad !== undefined) {
        throw new InvalidArgumentError({
          argument: 'records',
          issues: [
            {
              path: `${index}.payload.${path.join('.')}`,
              message: `record ${index} (id ${JSON.stringify(record.id)}) holds ${String(bad)} at "${path.join('.')}", which collection "${description.name}" indexes as integer (${key}); Qdrant's integer index holds only integers, so range filters would never find this record. Store integers between -(2^53 - 1) and 2^53 - 1 there, or index the field as 'float'`,
            },
          ],
        });
      }
    }
  });
};

export const toPoint = (description: Description, record: VectorRecord) => {
  const vector: Record<string, number[] | { indices: number[]; values: number[] }> = {};
  if (record.vector) {
    const values = Array.from(record.vector);
    vector[DENSE] = description.metric === 'cosine' ? unitLength(values) : values;
    if (description.original) vector[DENSE_ORIGINAL] = values;
  }
  if (record.sparseVector) {
    vector[SPARSE] = {
      indices: Array.from(record.sparseVector.indices),
      values: Array.from(record.sparseVector.values),
    };
  }
  return { id: pointIdOf(record.id), vector, payload: toWirePayload(record.id, record.payload) };
};

export const withVectorOf = (description: Description, includeVectors: boolean): boolean | string[] => {
  if (!includeVectors) return false;
  const names: string[] = [];
  if (description.dimensions !== undefined) names.push(description.original ? DENSE_ORIGINAL : DENSE);
  if (description.sparse) names.push(SPARSE);
  return names;
};

export const toRecord = (description: Description, point: WirePoint, includeVectors: boolean): StoredRecord => {
  const decoded = fromWirePayload(point.payload);
  if (!decoded) {
    throw new ConflictError({
      message: `Point ${String(point.id)} in "${description.name}" has no kumiki id; was it written by another tool?`,
      component: COMPONENT,
    });
  }
  const record: StoredRecord = { id: decoded.id, payload: decoded.payload };
  if (includeVectors && typeof point.vector === 'object' && point.vector !== null) {
    const vectors = point.vector as Record<string, unknown>;
    const dense = vectors[description.original ? DENSE_ORIGINAL : DENSE];
    if (Array.isArray(dense)) record.vector = Float32Array.from(dense as number[]);
    const sparse = vectors[SPARSE] as { indices?: number[]; values?: number[] } | undefined;
    if (sparse?.indices && sparse.values) {
      record.sparseVector = { indices: Uint32Array.from(sparse.indices), values: Float32Array.from(sparse.values) };
    }
  }
  return record;
};

export const toMatches = (description: Description, points: WirePoint[], includeVectors: boolean): Match[] =>
  points.map((point) => ({
    ...toRecord(description, point, includeVectors),
    // Qdrant reports Euclidean *distance*; kumiki scores are higher-is-closer.
    score: description.metric === 'euclidean' && point.score !== undefined ? -point.score : (point.score ?? 0),
  }));

/**
 * The vector scaled to length 1 (an all-zero vector stays as it is). Cosine collections get unit
 * vectors from kumiki: Qdrant normalizes in float32 and skips vectors whose squared length is below
 * `f32::EPSILON` (lib/segment/src/spaces/simple.rs `cosine_preprocess`, spaces/tools.rs), so a
 * vector shorter than about 3.5e-4 would be scored by raw dot product.
 */
export function unitLength(values: number[]): number[] {
  let squared = 0;
  for (const value of values) squared += Math.fround(value) * Math.fround(value);
  const norm = Math.sqrt(squared);
  return norm === 0 ? values : values.map((value) => Math.fround(value) / norm);
}

/** The kumiki field path of a Qdrant payload key under `data` (`data.meta."my key"` → `['meta', 'my key']`). */
function dataPath(key: string): string[] | undefined {
  const segments: string[] = [];
  const pattern = /"([^"\\]*)"|([^."]+)/y;
  let at = 0;
  while (at < key.length) {
    pattern.lastIndex = at;
    const match = pattern.exec(key);
    if (!match) return undefined;
    segments.push(match[1] ?? (match[2] as string));
    at = pattern.lastIndex;
    if (key[at] === '.') at++;
    else if (at < key.length) return undefined;
  }
  return segments[0] === DATA_KEY && segments.length > 1 ? segments.slice(1) : undefined;
}

/** The values a payload index sees at a path: objects walked, one level of array flattened. */
function valuesAt(payload: Record<string, JsonValue>, path: string[]): JsonValue[] {
  let current: JsonValue | undefined = payload;
  for (const segment of path) {
    if (typeof current !== 'object' || current === null || Array.isArray(current)) return [];
    if (!Object.hasOwn(current, segment)) return [];
    current = current[segment];
  }
  if (current === undefined) return [];
  return Array.isArray(current) ? current : [current];
}
