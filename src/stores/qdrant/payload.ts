/**
 * The payload layout of a kumiki point in Qdrant:
 *
 * ```json
 * { "data": { …the caller's payload… },
 *   "kumiki": { "id": "doc-1", "s0": 123, …, "s7": 0 } }
 * ```
 *
 * `data` holds the caller's payload verbatim, so filters address `data.<field>` and can never reach
 * kumiki's own keys; `kumiki` holds the original id (a JSON number or string, so its type survives)
 * and the sort keys from ids.ts. Payloads hold no `-0` (the Store boundary turns it into `0`); the
 * `z` list of negative-zero paths that older versions wrote is ignored.
 */
import type { JsonObject, RecordId } from '../../core/types.js';
import { DATA_KEY, META_KEY } from './filter.js';
import { orderFields } from './ids.js';

/** A point as Qdrant returns it (records and scored points). */
export type WirePoint = {
  id: string | number;
  payload?: Record<string, unknown> | null;
  vector?: unknown;
  score?: number;
};

export type WirePayload = {
  [DATA_KEY]: JsonObject;
  [META_KEY]: { id: RecordId } & Record<string, unknown>;
};

/** The Qdrant payload of a record. */
export function toWirePayload(id: RecordId, payload: JsonObject | undefined): WirePayload {
  return { [DATA_KEY]: payload ?? {}, [META_KEY]: { id, ...orderFields(id) } };
}

/** The kumiki id and payload of a point; `undefined` when the point carries no kumiki id. */
export function fromWirePayload(payload: unknown): { id: RecordId; payload: JsonObject } | undefined {
  if (typeof payload !== 'object' || payload === null) return undefined;
  const meta = (payload as Record<string, unknown>)[META_KEY] as { id?: unknown } | undefined;
  const id = normalizeNumbers(meta?.id);
  if (typeof id !== 'string' && typeof id !== 'number') return undefined;
  const data = normalizeNumbers((payload as Record<string, unknown>)[DATA_KEY] ?? {}) as JsonObject;
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
