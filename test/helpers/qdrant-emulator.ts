/**
 * A small in-memory stand-in for the Qdrant server, for the contract tests: just the operations the
 * kumiki adapter uses, answered in the shapes of the OpenAPI document (the contract server validates
 * every answer). It is not a Qdrant: the live suite is the real check. Each behaviour below was read
 * in Qdrant's source at tag v1.18.0 (github.com/qdrant/qdrant); docs/adapters/qdrant.md lists them:
 *
 * - `GET /` reports the version (`version`, default 1.18.0; tests lower it) (src/actix/mod.rs `index`).
 * - JSON paths walk objects only and quote keys with `"…"` (lib/segment/src/json_path).
 * - Field conditions test each element of an array (one level) and never match across JSON types:
 *   integer `match` needs a JSON integer (serde `as_i64`), `range` any number; `is_empty` holds for
 *   missing, null and [] (lib/segment/src/payload_storage/condition_checker.rs, query_checker.rs).
 * - A `range` on a key with an `integer` payload index is answered from the index: each bound is cast
 *   with Rust's `as i64` (truncation toward zero, saturating) and only JSON integers are in the index
 *   (lib/segment/src/index/field_index/numeric_index/mod.rs `T::from_f64`, numeric_point.rs).
 * - Cosine vectors (stored and queried) are normalized in float32, except when their squared length
 *   is below `f32::EPSILON` or within 1e-6 of 1, which are left as they are
 *   (lib/segment/src/spaces/simple.rs `cosine_preprocess`, spaces/tools.rs).
 * - Euclid scores are distances; sparse scores are dot products over shared indices; `order_by`
 *   needs a range index on its key.
 * - `update_aliases` applies its actions one by one and keeps what was applied when a later action
 *   fails; `create_alias` needs an existing collection and an alias name that is no collection, and
 *   overwrites an existing alias; `delete_alias` of a missing alias is no error
 *   (lib/storage/src/content_manager/toc/collection_meta_ops.rs `update_aliases`, alias_mapping.rs).
 */
import type { ContractReply, ContractRequest } from './qdrant-contract.js';

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };
type SparseVector = { indices: number[]; values: number[] };
type Point = { id: string; vector: Record<string, number[] | SparseVector>; payload: JsonObject };
type VectorParams = { size: number; distance: 'Cosine' | 'Dot' | 'Euclid' | 'Manhattan' };
type Collection = {
  vectors: Record<string, VectorParams>;
  sparse: Record<string, unknown>;
  metadata: JsonObject | undefined;
  indexes: Map<string, string>;
  points: Map<string, Point>;
  raw: JsonObject;
};
type Condition = Record<string, unknown>;
type Filter = { must?: Condition | Condition[]; should?: Condition | Condition[]; must_not?: Condition | Condition[] };

const ok = (result: unknown): ContractReply => ({ status: 200, body: { time: 0.0001, status: 'ok', result } });
const fail = (status: number, error: string): ContractReply => ({ status, body: { status: { error }, time: 0.0001 } });
const list = <T>(value: T | T[] | undefined | null): T[] =>
  value == null ? [] : Array.isArray(value) ? value : [value];

/** Qdrant's JSON path grammar: raw keys (letters, digits, `_`, `-`) or `"quoted"` keys, joined by dots. */
export function parseKey(key: string): string[] {
  const segments: string[] = [];
  let rest = key;
  while (rest.length > 0) {
    const quoted = /^"([^"\\]*)"/.exec(rest);
    const raw = /^[\p{L}\p{N}_-]+/u.exec(rest);
    const match = quoted ?? raw;
    if (!match) throw new Error(`Invalid json path: '${key}'`);
    segments.push(quoted ? (quoted[1] as string) : match[0]);
    rest = rest.slice(match[0].length);
    if (rest.startsWith('.')) rest = rest.slice(1);
    else if (rest.length > 0) throw new Error(`Invalid json path: '${key}'`);
  }
  return segments;
}

function valueGet(payload: JsonObject, key: string): Json[] {
  let current: Json | undefined = payload;
  for (const segment of parseKey(key)) {
    if (typeof current !== 'object' || current === null || Array.isArray(current)) return [];
    if (!Object.hasOwn(current, segment)) return [];
    current = current[segment];
  }
  return current === undefined ? [] : [current];
}

/** serde_json's `as_i64`: JSON integers only (JavaScript writes integral numbers below 1e21 as integers). */
const asI64 = (value: number) => (Number.isInteger(value) && Math.abs(value) < 1e21 ? value : undefined);

function checkMatch(condition: Condition, value: Json, integerIndex = false): boolean {
  const match = condition.match as { value?: unknown; any?: unknown[] } | undefined;
  const range = condition.range as { gt?: number; gte?: number; lt?: number; lte?: number } | undefined;
  if (match && 'value' in match) {
    const wanted = match.value;
    if (typeof wanted === 'boolean') return value === wanted;
    if (typeof wanted === 'string') return value === wanted;
    return typeof value === 'number' && asI64(value) === wanted;
  }
  if (match && 'any' in match) {
    const values = match.any as unknown[];
    if (typeof value === 'string') return values.some((wanted) => wanted === value);
    if (typeof value === 'number') return asI64(value) !== undefined && values.some((wanted) => wanted === value);
    return false;
  }
  if (range && integerIndex) {
    // Answered from the integer index: only JSON integers are in it, and the bounds are truncated.
    if (typeof value !== 'number' || asI64(value) === undefined) return false;
    const bound = (x: number | undefined) => (x == null ? undefined : asI64Bound(x));
    const [gt, gte, lt, lte] = [bound(range.gt), bound(range.gte), bound(range.lt), bound(range.lte)];
    return (
      (gt === undefined || value > gt) &&
      (gte === undefined || value >= gte) &&
      (lt === undefined || value < lt) &&
      (lte === undefined || value <= lte)
    );
  }
  if (range) {
    if (typeof value !== 'number') return false;
    return (
      (range.gt == null || value > range.gt) &&
      (range.gte == null || value >= range.gte) &&
      (range.lt == null || value < range.lt) &&
      (range.lte == null || value <= range.lte)
    );
  }
  throw new Error(`emulator: unsupported field condition ${JSON.stringify(condition)}`);
}

function checkCondition(condition: Condition, point: Point, indexes: Map<string, string>): boolean {
  if ('is_empty' in condition) {
    const values = valueGet(point.payload, (condition.is_empty as { key: string }).key);
    return values.every((value) => value === null || (Array.isArray(value) && value.length === 0));
  }
  if ('key' in condition) {
    const integerIndex = indexes.get(condition.key as string) === 'integer';
    return valueGet(point.payload, condition.key as string).some((value) =>
      Array.isArray(value)
        ? value.some((item) => checkMatch(condition, item, integerIndex))
        : checkMatch(condition, value, integerIndex),
    );
  }
  if ('has_id' in condition) return (condition.has_id as string[]).includes(point.id);
  return checkFilter(condition as Filter, point, indexes);
}

function checkFilter(filter: Filter | undefined | null, point: Point, indexes: Map<string, string>): boolean {
  if (!filter) return true;
  const should = list(filter.should);
  return (
    list(filter.must).every((condition) => checkCondition(condition, point, indexes)) &&
    (should.length === 0 || should.some((condition) => checkCondition(condition, point, indexes))) &&
    !list(filter.must_not).some((condition) => checkCondition(condition, point, indexes))
  );
}

const f32 = Math.fround;
const F32_EPSILON = 2 ** -23;

/** Qdrant's `cosine_preprocess`: float32 arithmetic, tiny and already-unit vectors left alone. */
function normalize(vector: number[]): number[] {
  const values = vector.map(f32);
  let squared = 0;
  for (const x of values) squared = f32(squared + f32(x * x));
  if (squared < F32_EPSILON || Math.abs(squared - 1) <= 1e-6) return values;
  const norm = f32(Math.sqrt(squared));
  return values.map((x) => f32(x / norm));
}

/** Rust's `f64 as i64`: truncation toward zero, saturating at the i64 range. */
function asI64Bound(value: number): number {
  if (value >= 2 ** 63) return 2 ** 63;
  if (value <= -(2 ** 63)) return -(2 ** 63);
  return Math.trunc(value);
}

export type QdrantEmulator = {
  handle(request: ContractRequest): ContractReply;
  collections: Map<string, Collection>;
  aliases: Map<string, string>;
  /** The version `GET /` reports. */
  version: string;
};

export function createQdrantEmulator(): QdrantEmulator {
  const collections = new Map<string, Collection>();
  const aliases = new Map<string, string>();
  let operationId = 0;

  const resolve = (name: string) => collections.get(aliases.get(name) ?? name);
  const notFound = (name: string) => fail(404, `Not found: Collection \`${name}\` doesn't exist!`);

  const pointOut = (point: Point, withPayload: unknown, withVector: unknown) => {
    const vectorNames =
      withVector === true
        ? Object.keys(point.vector)
        : Array.isArray(withVector)
          ? (withVector as string[]).filter((name) => name in point.vector)
          : [];
    return {
      id: point.id,
      payload: withPayload === false ? null : point.payload,
      vector: vectorNames.length > 0 ? Object.fromEntries(vectorNames.map((name) => [name, point.vector[name]])) : null,
    };
  };

  const collectionInfo = (collection: Collection) => ({
    status: 'green',
    optimizer_status: 'ok',
    indexed_vectors_count: 0,
    points_count: collection.points.size,
    segments_count: 1,
    config: {
      params: {
        vectors: collection.raw.vectors ?? {},
        shard_number: 1,
        replication_factor: 1,
        write_consistency_factor: 1,
        on_disk_payload: true,
        ...(collection.raw.sparse_vectors ? { sparse_vectors: collection.raw.sparse_vectors } : {}),
      },
      hnsw_config: { m: 16, ef_construct: 100, full_scan_threshold: 10000, max_indexing_threads: 0, on_disk: false },
      optimizer_config: {
        deleted_threshold: 0.2,
        vacuum_min_vector_number: 1000,
        default_segment_number: 0,
        max_segment_size: null,
        memmap_threshold: null,
        indexing_threshold: 10000,
        flush_interval_sec: 5,
        max_optimization_threads: null,
      },
      wal_config: { wal_capacity_mb: 32, wal_segments_ahead: 0 },
      quantization_config: null,
      metadata: collection.metadata ?? null,
    },
    payload_schema: Object.fromEntries(
      [...collection.indexes].map(([field, type]) => [field, { data_type: type, points: collection.points.size }]),
    ),
  });

  const score = (params: VectorParams, query: number[], stored: number[]) => {
    let dot = 0;
    let distance = 0;
    const q = params.distance === 'Cosine' ? normalize(query) : query;
    for (let i = 0; i < q.length; i++) {
      const a = q[i] as number;
      const b = stored[i] as number;
      dot += a * b;
      distance += (a - b) * (a - b);
    }
    return params.distance === 'Euclid' ? f32(Math.sqrt(distance)) : f32(dot);
  };

  const query = (collection: Collection, search: Record<string, unknown>) => {
    const using = search.using as string;
    const limit = (search.limit as number | undefined) ?? 10;
    const candidates = [...collection.points.values()].filter((point) =>
      checkFilter(search.filter as Filter, point, collection.indexes),
    );
    const scored: { point: Point; score: number }[] = [];
    const params = collection.vectors[using];
    if (params) {
      const q = search.query as number[];
      if (q.length !== params.size)
        throw new Error(`Wrong input: Vector dimension error: expected dim: ${params.size}, got ${q.length}`);
      for (const point of candidates) {
        const stored = point.vector[using];
        if (Array.isArray(stored)) scored.push({ point, score: score(params, q, stored) });
      }
      scored.sort((a, b) => (params.distance === 'Euclid' ? a.score - b.score : b.score - a.score));
    } else if (using in collection.sparse) {
      const q = search.query as SparseVector;
      const weights = new Map(q.indices.map((index, i) => [index, q.values[i] as number]));
      for (const point of candidates) {
        const stored = point.vector[using] as SparseVector | undefined;
        if (!stored) continue;
        let total = 0;
        let shared = false;
        stored.indices.forEach((index, i) => {
          const weight = weights.get(index);
          if (weight !== undefined) {
            total += weight * (stored.values[i] as number);
            shared = true;
          }
        });
        if (shared) scored.push({ point, score: f32(total) });
      }
      scored.sort((a, b) => b.score - a.score);
    } else throw new Error(`Wrong input: Not existing vector name error: ${using}`);
    return {
      points: scored.slice(0, limit).map(({ point, score: value }) => ({
        ...pointOut(point, search.with_payload ?? false, search.with_vector ?? false),
        version: 0,
        score: value,
      })),
    };
  };

  const handlers: Record<string, (request: ContractRequest) => ContractReply> = {
    root: () => ({ status: 200, body: { title: 'qdrant - vector search engine', version: emulator.version } }),
    get_collections: () => ok({ collections: [...collections.keys()].map((name) => ({ name })) }),
    get_collection: ({ pathParams }) => {
      const collection = resolve(pathParams.collection_name as string);
      return collection ? ok(collectionInfo(collection)) : notFound(pathParams.collection_name as string);
    },
    create_collection: ({ pathParams, body }) => {
      const name = pathParams.collection_name as string;
      if (collections.has(name) || aliases.has(name))
        return fail(409, `Wrong input: Collection \`${name}\` already exists!`);
      const raw = body as JsonObject;
      collections.set(name, {
        vectors: (raw.vectors ?? {}) as Record<string, VectorParams>,
        sparse: (raw.sparse_vectors ?? {}) as Record<string, unknown>,
        metadata: raw.metadata as JsonObject | undefined,
        indexes: new Map(),
        points: new Map(),
        raw,
      });
      return ok(true);
    },
    delete_collection: ({ pathParams }) => {
      const name = pathParams.collection_name as string;
      const existed = collections.delete(name);
      for (const [alias, target] of aliases) if (target === name) aliases.delete(alias);
      return ok(existed);
    },
    create_field_index: ({ pathParams, body }) => {
      const collection = resolve(pathParams.collection_name as string);
      if (!collection) return notFound(pathParams.collection_name as string);
      const { field_name, field_schema } = body as { field_name: string; field_schema: string };
      parseKey(field_name);
      collection.indexes.set(field_name, field_schema);
      return ok({ operation_id: operationId++, status: 'completed' });
    },
    update_aliases: ({ body }) => {
      // One by one, each kept: a failing action leaves the earlier ones applied.
      for (const action of (body as { actions: Record<string, Record<string, string>>[] }).actions) {
        if (action.delete_alias) aliases.delete(action.delete_alias.alias_name as string);
        if (action.create_alias) {
          const { alias_name, collection_name } = action.create_alias as {
            alias_name: string;
            collection_name: string;
          };
          if (!collections.has(collection_name)) return notFound(collection_name);
          if (collections.has(alias_name))
            return fail(409, `Wrong input: Collection \`${alias_name}\` already exists!`);
          aliases.set(alias_name, collection_name);
        }
      }
      return ok(true);
    },
    get_collections_aliases: () =>
      ok({ aliases: [...aliases].map(([alias_name, collection_name]) => ({ alias_name, collection_name })) }),
    upsert_points: ({ pathParams, body }) => {
      const collection = resolve(pathParams.collection_name as string);
      if (!collection) return notFound(pathParams.collection_name as string);
      const points = (body as { points: { id: string; vector: Record<string, unknown>; payload?: JsonObject }[] })
        .points;
      for (const point of points) {
        const vector: Record<string, number[] | SparseVector> = {};
        for (const [name, value] of Object.entries(point.vector)) {
          const params = collection.vectors[name];
          if (params) {
            const dense = value as number[];
            if (dense.length !== params.size) {
              return fail(
                400,
                `Wrong input: Vector dimension error: expected dim: ${params.size}, got ${dense.length}`,
              );
            }
            vector[name] = params.distance === 'Cosine' ? normalize(dense) : dense.map(f32);
          } else if (name in collection.sparse) {
            const sparse = value as SparseVector;
            vector[name] = { indices: [...sparse.indices], values: sparse.values.map(f32) };
          } else return fail(400, `Wrong input: Not existing vector name error: ${name}`);
        }
        collection.points.set(point.id, { id: point.id, vector, payload: structuredClone(point.payload ?? {}) });
      }
      return ok({ operation_id: operationId++, status: 'completed' });
    },
    get_points: ({ pathParams, body }) => {
      const collection = resolve(pathParams.collection_name as string);
      if (!collection) return notFound(pathParams.collection_name as string);
      const { ids, with_payload, with_vector } = body as {
        ids: string[];
        with_payload?: unknown;
        with_vector?: unknown;
      };
      return ok(
        ids.flatMap((id) => {
          const point = collection.points.get(id);
          return point ? [pointOut(point, with_payload ?? true, with_vector ?? false)] : [];
        }),
      );
    },
    delete_points: ({ pathParams, body }) => {
      const collection = resolve(pathParams.collection_name as string);
      if (!collection) return notFound(pathParams.collection_name as string);
      const selector = body as { points?: string[]; filter?: Filter };
      if (selector.points) for (const id of selector.points) collection.points.delete(id);
      else
        for (const [id, point] of collection.points)
          if (checkFilter(selector.filter, point, collection.indexes)) collection.points.delete(id);
      return ok({ operation_id: operationId++, status: 'completed' });
    },
    count_points: ({ pathParams, body }) => {
      const collection = resolve(pathParams.collection_name as string);
      if (!collection) return notFound(pathParams.collection_name as string);
      const filter = (body as { filter?: Filter } | undefined)?.filter;
      return ok({
        count: [...collection.points.values()].filter((point) => checkFilter(filter, point, collection.indexes)).length,
      });
    },
    scroll_points: ({ pathParams, body }) => {
      const collection = resolve(pathParams.collection_name as string);
      if (!collection) return notFound(pathParams.collection_name as string);
      const request = body as {
        filter?: Filter;
        limit?: number;
        offset?: string;
        order_by?: { key: string; direction?: string };
        with_payload?: unknown;
        with_vector?: unknown;
      };
      const limit = request.limit ?? 10;
      const matching = [...collection.points.values()].filter((point) =>
        checkFilter(request.filter, point, collection.indexes),
      );
      const out = (point: Point) => pointOut(point, request.with_payload ?? true, request.with_vector ?? false);
      if (request.order_by) {
        const key = request.order_by.key;
        const type = collection.indexes.get(key);
        if (type !== 'integer' && type !== 'float') {
          return fail(
            400,
            `Bad request: No range index for \`order_by\` key: \`${key}\`. Please create one to use \`order_by\`.`,
          );
        }
        const ordered = matching
          .map((point) => ({ point, value: valueGet(point.payload, key)[0] }))
          .filter((entry): entry is { point: Point; value: number } => typeof entry.value === 'number')
          .sort((a, b) => a.value - b.value);
        return ok({
          points: ordered.slice(0, limit).map(({ point, value }) => ({ ...out(point), order_value: value })),
          next_page_offset: null,
        });
      }
      const sorted = matching.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
      const start =
        request.offset === undefined ? 0 : sorted.findIndex((point) => point.id >= (request.offset as string));
      const page = start < 0 ? [] : sorted.slice(start, start + limit);
      const next = start < 0 ? undefined : sorted[start + limit];
      return ok({ points: page.map(out), next_page_offset: next ? next.id : null });
    },
    query_batch_points: ({ pathParams, body }) => {
      const collection = resolve(pathParams.collection_name as string);
      if (!collection) return notFound(pathParams.collection_name as string);
      try {
        return ok(
          (body as { searches: Record<string, unknown>[] }).searches.map((search) => query(collection, search)),
        );
      } catch (error) {
        return fail(400, (error as Error).message);
      }
    },
  };

  const emulator: QdrantEmulator = {
    collections,
    aliases,
    version: '1.18.0',
    handle(request) {
      const handler = handlers[request.operationId];
      if (!handler) return fail(501, `emulator: ${request.operationId} is not implemented`);
      try {
        return handler(request);
      } catch (error) {
        return fail(400, `Wrong input: ${(error as Error).message}`);
      }
    },
  };
  return emulator;
}
