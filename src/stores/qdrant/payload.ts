/**
 * The payload layout of a kumiki point in Qdrant:
 *
 * ```json
 * { "data": { …the caller's payload… },
 *   "kumiki": { "id": "doc-1", "s0": 123, …, "s7": 0, "z": [["score"]] } }
 * ```
 *
 * `data` holds the caller's payload verbatim, so filters address `data.<field>` and can never reach
 * kumiki's own keys; `kumiki` holds the original id (a JSON number or string, so its type survives),
 * the sort keys from ids.ts, and the paths of negative zeros (JSON has no `-0`, kumiki payloads do).
 */
import type { JsonObject, JsonValue, RecordId } from '../../core/types.js';
import { DATA_KEY, META_KEY } from './filter.js';
import { orderFields } from './ids.js';

export type Path = (string | number)[];

/** A point as Qdrant returns it (records and scored points). */
export type WirePoint = {
  id: string | number;
  payload?: Record<string, unknown> | null;
  vector?: unknown;
  score?: number;
};

export type WirePayload = {
  [DATA_KEY]: JsonObject;
  [META_KEY]: { id: RecordId; z?: Path[] } & Record<string, unknown>;
};

/** The Qdrant payload of a record. */
export function toWirePayload(id: RecordId, payload: JsonObject | undefined): WirePayload {
  const data = payload ?? {};
  const zeros: Path[] = [];
  collectNegativeZeros(data, [], zeros);
  return {
    [DATA_KEY]: data,
    [META_KEY]: { id, ...orderFields(id), ...(zeros.length > 0 ? { z: zeros } : {}) },
  };
}

function collectNegativeZeros(value: JsonValue, path: Path, out: Path[]): void {
  if (Object.is(value, -0)) out.push([...path]);
  else if (Array.isArray(value)) {
    value.forEach((item, index) => {
      collectNegativeZeros(item, [...path, index], out);
    });
  } else if (typeof value === 'object' && value !== null) {
    for (const [key, item] of Object.entries(value)) collectNegativeZeros(item, [...path, key], out);
  }
}

/** The kumiki id and payload of a point; `undefined` when the point carries no kumiki id. */
export function fromWirePayload(payload: unknown): { id: RecordId; payload: JsonObject } | undefined {
  if (typeof payload !== 'object' || payload === null) return undefined;
  const meta = (payload as Record<string, unknown>)[META_KEY] as { id?: unknown; z?: unknown } | undefined;
  const id = normalizeNumbers(meta?.id);
  if (typeof id !== 'string' && typeof id !== 'number') return undefined;
  const data = normalizeNumbers((payload as Record<string, unknown>)[DATA_KEY] ?? {}) as JsonObject;
  if (Array.isArray(meta?.z)) for (const path of meta.z as Path[]) setNegativeZero(data, path);
  return { id, payload: data };
}

/** The client parses integers beyond 2^53 as BigInt on runtimes with `JSON.rawJSON`; kumiki payloads hold numbers. */
function normalizeNumbers(value: unknown): unknown {
  if (typeof value === 'bigint') return Number(value);
  if (Array.isArray(value)) return value.map(normalizeNumbers);
  if (typeof value === 'object' && value !== null) {
    // fromEntries defines own properties, so a "__proto__" key stays a key.
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, normalizeNumbers(item)]));
  }
  return value;
}

function setNegativeZero(root: JsonObject, path: Path): void {
  let current: unknown = root;
  for (let i = 0; i < path.length - 1; i++) {
    if (typeof current !== 'object' || current === null) return;
    current = (current as Record<string | number, unknown>)[path[i] as string | number];
  }
  const last = path.at(-1);
  if (last === undefined || typeof current !== 'object' || current === null) return;
  const container = current as Record<string | number, unknown>;
  if (container[last] === 0) container[last] = -0;
}
