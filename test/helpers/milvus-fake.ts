/**
 * An in-process Milvus stand-in for the adapter's contract tests: a real gRPC server on a loopback
 * port that serves `milvus.proto.milvus.MilvusService` from the protobuf definitions that
 * `@zilliz/milvus2-sdk-node` itself ships, so the real `MilvusClient` talks to it over the wire.
 *
 * It records every decoded request, can be told to fail the next calls of a method (with a Milvus
 * status or a gRPC error), and keeps enough state to answer the calls the kumiki adapter makes:
 * collections (schema, properties, indexes, aliases), rows, queries with `limit` (in primary-key
 * order), `count(*)`, deletes, and exact FLAT / sparse-inverted-index searches. Filters are
 * evaluated for the expression subset the adapter emits (`terms["t…"] == true`, comparisons with
 * template values, `pk in {…}`, `pk > {…}`, `and`/`or`/`not`). This models Milvus; it is not Milvus.
 *
 * Server behaviours it reproduces, with the Milvus (2.5/2.6, github.com/milvus-io/milvus) or knowhere
 * (github.com/zilliztech/knowhere, v2.5.x/v2.6.x) source each was read from (docs/adapters/milvus.md
 * lists them too):
 *
 * - `GetVersion` answers `version` (default `v2.6.0`; tests lower it).
 * - `DescribeCollection` on an alias answers with the alias in `collection_name` (the name asked
 *   about) and the collection's own name in `schema.name`; `aliases` are the collection's aliases
 *   (internal/proxy/task.go, describeCollectionTask).
 * - A JSON field value longer than 65,536 bytes fails the request with code 1100 (invalid parameter)
 *   (internal/proxy/validate_util.go `checkJSONFieldData`, `common.JSONMaxLength`).
 * - JSON comparisons: a missing key or a value of another JSON type compares false; `not` flips
 *   (internal/core/src/exec/expression/UnaryExpr.cpp). A JSON integer is parsed as int64 from its
 *   digits (so `JSON.stringify`'s 1152921504606847000 is not 2^60) and compared with an int64
 *   template value exactly, with a double one as doubles; strings compare byte by byte in UTF-8.
 * - Sparse inner-product search scores in float32 and keeps only records with a positive score (a
 *   record sharing an index but scoring 0 is left out): knowhere src/common/comp/brute_force.cc
 *   (`dist > 0`, growing segments) and src/index/sparse/sparse_inverted_index.h (`scores[i] != 0`,
 *   sealed segments).
 * - `CreateAlias` refuses an existing alias (1602) or a collection's name (1601); `AlterAlias` needs an
 *   existing alias (1600); `DropCollection` refuses a collection with aliases
 *   (internal/rootcoord/meta_table.go, codes in pkg/util/merr/errors.go).
 */
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import milvusProto from '@zilliz/milvus2-sdk-node/dist/milvus/proto-json/milvus.js';
import protobuf from 'protobufjs';

type Json = unknown;
export type Row = {
  pk: string;
  payload: Json;
  terms: Record<string, unknown>;
  dense?: number[];
  sparse?: Map<number, number>;
};
type Field = {
  name: string;
  data_type: string;
  type_params: { key: string; value: string }[];
  is_primary_key: boolean;
};
type Collection = {
  name: string;
  id: string;
  schema: { name: string; description: string; fields: Field[]; enable_dynamic_field: boolean } & Record<
    string,
    unknown
  >;
  properties: { key: string; value: string }[];
  consistencyLevel: string;
  indexes: Map<string, Record<string, string>>;
  rows: Map<string, Row>;
};
type Status = { error_code?: string; code?: number; reason?: string; retriable?: boolean };
export type Failure = { status: Status } | { grpc: { code: number; details: string } };
export type RecordedRequest = { method: string; request: Record<string, unknown> };

const LOADER = { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true } as const;
const root = protobuf.Root.fromJSON((milvusProto as unknown as { default?: object }).default ?? milvusProto);
const CollectionSchema = root.lookupType('milvus.proto.schema.CollectionSchema');
const PlaceholderGroup = root.lookupType('milvus.proto.common.PlaceholderGroup');
const OK: Status = { error_code: 'Success', code: 0, reason: '' };

/** Methods whose response is a bare `common.Status`. */
const STATUS_METHODS = new Set([
  'CreateCollection',
  'DropCollection',
  'CreateIndex',
  'LoadCollection',
  'CreateAlias',
  'AlterAlias',
  'DropAlias',
]);

const fail = (code: number, reason: string): Status => ({ error_code: 'UnexpectedError', code, reason });
/** `common.JSONMaxLength`'s default. */
const MAX_JSON_BYTES = 65_536;

/** Milvus compares strings (VarChar and JSON strings) byte by byte in UTF-8. */
function compareBytes(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/** A JSON or template number as Milvus holds it: an exact int64, or a double. */
type MilvusNumber = { int: bigint } | { double: number };
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/**
 * How Milvus reads a number the SDK wrote with `JSON.stringify`: integer digits that fit int64 are an
 * exact int64 (String() gives back the digits JSON.stringify wrote), anything else a double.
 */
function jsonNumber(value: number): MilvusNumber {
  if (Number.isInteger(value) && Math.abs(value) < 1e21) {
    const digits = BigInt(String(value));
    if (digits >= INT64_MIN && digits <= INT64_MAX) return { int: digits };
  }
  return { double: value };
}

function compareNumbers(a: MilvusNumber, b: MilvusNumber): number {
  if ('int' in a && 'int' in b) return a.int < b.int ? -1 : a.int > b.int ? 1 : 0;
  const x = 'int' in a ? Number(a.int) : a.double;
  const y = 'int' in b ? Number(b.int) : b.double;
  return x < y ? -1 : x > y ? 1 : 0;
}

function templateValue(value: Record<string, unknown> | undefined): unknown {
  if (!value) throw new Error('missing template value');
  switch (value.val) {
    case 'bool_val':
      return value.bool_val;
    case 'int64_val':
      return { int: BigInt(String(value.int64_val)) } satisfies MilvusNumber;
    case 'float_val':
      return { double: Number(value.float_val) } satisfies MilvusNumber;
    case 'string_val':
      return value.string_val;
    case 'array_val': {
      const array = value.array_val as Record<string, { data: unknown[] }>;
      const kind = (array as unknown as { data: string }).data;
      return (array[kind]?.data ?? []).map((item) => (kind === 'long_data' ? Number(item) : item));
    }
    default:
      throw new Error(`unsupported template value ${String(value.val)}`);
  }
}

type Token = { kind: 'ident' | 'string' | 'template' | 'op' | 'word' | 'punct'; text: string };

function tokenize(expr: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < expr.length) {
    const char = expr[i] as string;
    if (char === ' ') {
      i++;
    } else if (char === '"') {
      let text = '';
      i++;
      while (expr[i] !== '"') {
        if (i >= expr.length) throw new Error(`unterminated string in ${expr}`);
        if (expr[i] === '\\') i++;
        text += expr[i++];
      }
      i++;
      tokens.push({ kind: 'string', text });
    } else if (char === '{') {
      const end = expr.indexOf('}', i);
      tokens.push({ kind: 'template', text: expr.slice(i + 1, end) });
      i = end + 1;
    } else if ('()[]'.includes(char)) {
      tokens.push({ kind: 'punct', text: char });
      i++;
    } else if ('=<>!'.includes(char)) {
      const two = expr.slice(i, i + 2);
      const text = ['==', '>=', '<=', '!='].includes(two) ? two : char;
      tokens.push({ kind: 'op', text });
      i += text.length;
    } else {
      const match = /^[A-Za-z_][A-Za-z0-9_]*/.exec(expr.slice(i));
      if (!match) throw new Error(`cannot parse ${JSON.stringify(expr.slice(i))} in ${expr}`);
      const word = match[0];
      tokens.push({ kind: ['and', 'or', 'not', 'in', 'true', 'false'].includes(word) ? 'word' : 'ident', text: word });
      i += word.length;
    }
  }
  return tokens;
}

type Predicate = (row: Row) => boolean;

/** Decodes the `schema` bytes of a CreateCollection request. */
export function decodeCollectionSchema(bytes: Buffer): Collection['schema'] {
  return CollectionSchema.toObject(CollectionSchema.decode(bytes), LOADER) as Collection['schema'];
}

/** Decodes the `placeholder_group` bytes of a Search request. */
export function decodePlaceholders(bytes: Buffer): { tag: string; type: string; values: Buffer[] }[] {
  return (
    PlaceholderGroup.toObject(PlaceholderGroup.decode(bytes), LOADER) as {
      placeholders: { tag: string; type: string; values: Buffer[] }[];
    }
  ).placeholders;
}

/** A stored JS number read as Milvus reads its JSON; template numbers are already `MilvusNumber`s. */
const numeric = (value: unknown): unknown => (typeof value === 'number' ? jsonNumber(value) : value);

/**
 * Parses the expression subset the adapter emits into a row predicate. Template values come decoded
 * from the request (numbers as `MilvusNumber`s) or, in direct calls, as the adapter's `exprValues`
 * (a JS number is then what the SDK sends: an integer as int64, anything else as a double).
 */
export function compileExpression(expr: string, values: Record<string, unknown>): Predicate {
  if (expr.trim() === '') return () => true;
  const tokens = tokenize(expr);
  let at = 0;
  const peek = () => tokens[at];
  const take = (text?: string): Token => {
    const token = tokens[at++];
    if (!token || (text !== undefined && token.text !== text)) {
      throw new Error(`expected ${text ?? 'a token'} at ${at} in ${expr}`);
    }
    return token;
  };
  const operand = (): ((row: Row) => unknown) => {
    const token = take();
    if (token.kind === 'template') {
      if (!(token.text in values)) throw new Error(`template variable ${token.text} not found`);
      const raw = values[token.text];
      const value = typeof raw === 'number' ? (Number.isInteger(raw) ? { int: BigInt(raw) } : { double: raw }) : raw;
      return () => value;
    }
    if (token.kind === 'word' && (token.text === 'true' || token.text === 'false')) {
      const value = token.text === 'true';
      return () => value;
    }
    if (token.kind === 'string') return () => token.text;
    if (token.kind !== 'ident') throw new Error(`unexpected ${token.text} in ${expr}`);
    const keys: string[] = [];
    while (peek()?.text === '[') {
      take('[');
      keys.push(take().text);
      take(']');
    }
    const field = token.text;
    return (row) => {
      let value: unknown = (row as unknown as Record<string, unknown>)[field];
      for (const key of keys) {
        if (typeof value !== 'object' || value === null || Array.isArray(value) || !Object.hasOwn(value, key)) {
          return undefined;
        }
        value = (value as Record<string, unknown>)[key];
      }
      return value;
    };
  };
  const comparison = (): Predicate => {
    const left = operand();
    const op = take();
    const right = operand();
    if (op.text === 'in') {
      return (row) => (right(row) as unknown[]).includes(left(row));
    }
    if (op.text === '==') {
      // `== true` on the terms, the only equality the adapter sends.
      return (row) => left(row) === right(row);
    }
    return (row) => {
      const a = numeric(left(row));
      const b = numeric(right(row));
      // A missing key, or a value of another JSON type, never compares true (segcore at<T> fails).
      if (a === undefined || typeof a !== typeof b) return false;
      const order =
        typeof a === 'string'
          ? compareBytes(a, b as string)
          : typeof a === 'object'
            ? compareNumbers(a as MilvusNumber, b as MilvusNumber)
            : 0;
      switch (op.text) {
        case '>':
          return order > 0;
        case '>=':
          return order >= 0;
        case '<':
          return order < 0;
        case '<=':
          return order <= 0;
        default:
          throw new Error(`operator ${op.text} is not used by the adapter`);
      }
    };
  };
  const primary = (): Predicate => {
    if (peek()?.text === '(') {
      take('(');
      const inner = disjunction();
      take(')');
      return inner;
    }
    return comparison();
  };
  const unary = (): Predicate => {
    if (peek()?.text === 'not') {
      take('not');
      const inner = unary();
      return (row) => !inner(row);
    }
    return primary();
  };
  const conjunction = (): Predicate => {
    const parts = [unary()];
    while (peek()?.text === 'and') {
      take('and');
      parts.push(unary());
    }
    return (row) => parts.every((part) => part(row));
  };
  const disjunction = (): Predicate => {
    const parts = [conjunction()];
    while (peek()?.text === 'or') {
      take('or');
      parts.push(conjunction());
    }
    return (row) => parts.some((part) => part(row));
  };
  const predicate = disjunction();
  if (at !== tokens.length) throw new Error(`trailing tokens in ${expr}`);
  return predicate;
}

function sparseFromBytes(bytes: Buffer): Map<number, number> {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const map = new Map<number, number>();
  for (let offset = 0; offset < bytes.byteLength; offset += 8) {
    map.set(view.getUint32(offset, true), view.getFloat32(offset + 4, true));
  }
  return map;
}

function sparseToBytes(map: Map<number, number>): Buffer {
  const bytes = Buffer.alloc(map.size * 8);
  let offset = 0;
  for (const [index, value] of [...map].sort((a, b) => a[0] - b[0])) {
    bytes.writeUInt32LE(index, offset);
    bytes.writeFloatLE(value, offset + 4);
    offset += 8;
  }
  return bytes;
}

function keyValues(list: unknown): Record<string, string> {
  return Object.fromEntries(((list as { key: string; value: string }[]) ?? []).map(({ key, value }) => [key, value]));
}

export type FakeMilvus = {
  /** `127.0.0.1:<port>` */
  address: string;
  /** What `GetVersion` answers. */
  version: string;
  requests: RecordedRequest[];
  collections: Map<string, Collection>;
  aliases: Map<string, string>;
  /** The next `times` calls of `method` fail with `failure` (then the method works again). */
  failNext(method: string, failure: Failure, times?: number): void;
  /** Requests of one method, decoded. */
  calls(method: string): Record<string, unknown>[];
  close(): Promise<void>;
};

export async function startFakeMilvus(): Promise<FakeMilvus> {
  const definition = protoLoader.fromJSON(
    (milvusProto as unknown as { default?: object }).default ?? (milvusProto as object),
    LOADER,
  );
  const service = (definition['milvus.proto.milvus.MilvusService'] as unknown as grpc.ServiceDefinition) ?? undefined;
  const requests: RecordedRequest[] = [];
  const collections = new Map<string, Collection>();
  const aliases = new Map<string, string>();
  const failures = new Map<string, { failure: Failure; times: number }>();
  let nextId = 1000n;

  const lookup = (name: string): Collection | undefined => collections.get(aliases.get(name) ?? name);
  const notFound = (name: string) => fail(100, `collection not found[collection=${name}]`);

  const fieldData = (collection: Collection, rows: Row[], names: string[]) =>
    names.map((name) => {
      const field = collection.schema.fields.find((candidate) => candidate.name === name);
      if (!field) throw new Error(`no field ${name}`);
      switch (field.data_type) {
        case 'VarChar':
          return { type: 'VarChar', field_name: name, scalars: { string_data: { data: rows.map((row) => row.pk) } } };
        case 'JSON':
          return {
            type: 'JSON',
            field_name: name,
            scalars: {
              json_data: {
                data: rows.map((row) => Buffer.from(JSON.stringify(name === 'payload' ? row.payload : row.terms))),
              },
            },
          };
        case 'FloatVector': {
          const dim = Number(keyValues(field.type_params).dim);
          return {
            type: 'FloatVector',
            field_name: name,
            vectors: { dim, float_vector: { data: rows.flatMap((row) => row.dense ?? []) } },
          };
        }
        case 'SparseFloatVector': {
          const contents = rows.map((row) => sparseToBytes(row.sparse ?? new Map()));
          const dim = Math.max(0, ...rows.flatMap((row) => [...(row.sparse?.keys() ?? [])].map((index) => index + 1)));
          return {
            type: 'SparseFloatVector',
            field_name: name,
            vectors: { dim, sparse_float_vector: { dim, contents } },
          };
        }
        default:
          throw new Error(`unsupported field type ${field.data_type}`);
      }
    });

  const filterRows = (collection: Collection, request: Record<string, unknown>, exprKey: 'expr' | 'dsl') => {
    const values = Object.fromEntries(
      Object.entries((request.expr_template_values as Record<string, Record<string, unknown>>) ?? {}).map(
        ([key, value]) => [key, templateValue(value)],
      ),
    );
    const predicate = compileExpression(String(request[exprKey] ?? ''), values);
    return [...collection.rows.values()].filter(predicate);
  };

  type Handler = (request: Record<string, unknown>) => Record<string, unknown>;
  const handlers: Record<string, Handler> = {
    Connect: () => ({ status: OK, server_info: { build_tags: 'fake' }, identifier: '1' }),
    GetVersion: () => ({ status: OK, version: fake.version }),
    CreateCollection: (request) => {
      const name = String(request.collection_name);
      if (collections.has(name) || aliases.has(name)) return fail(65535, `collection ${name} already exists`);
      const schema = decodeCollectionSchema(request.schema as Buffer);
      collections.set(name, {
        name,
        id: String(nextId++),
        schema,
        properties: (request.properties as Collection['properties']) ?? [],
        consistencyLevel: String(request.consistency_level),
        indexes: new Map(),
        rows: new Map(),
      });
      return OK;
    },
    DescribeCollection: (request) => {
      const name = String(request.collection_name);
      const collection = lookup(name);
      if (!collection) return { status: notFound(name) };
      return {
        status: OK,
        // The collection's own name is in the schema; collection_name echoes the name asked about.
        schema: { ...collection.schema, name: collection.name },
        collectionID: collection.id,
        collection_name: name,
        aliases: [...aliases].filter(([, target]) => target === collection.name).map(([alias]) => alias),
        properties: collection.properties,
        consistency_level: collection.consistencyLevel,
        db_name: 'default',
        update_timestamp: '1',
      };
    },
    ShowCollections: () => ({
      status: OK,
      collection_names: [...collections.keys()],
      collection_ids: [...collections.values()].map((collection) => collection.id),
      created_timestamps: [...collections.keys()].map(() => '1'),
      created_utc_timestamps: [...collections.keys()].map(() => '1'),
      inMemory_percentages: [...collections.keys()].map(() => '100'),
    }),
    DropCollection: (request) => {
      const name = String(request.collection_name);
      if (!collections.has(name)) return notFound(name);
      if ([...aliases.values()].includes(name)) return fail(65535, `collection ${name} has aliases`);
      collections.delete(name);
      return OK;
    },
    CreateIndex: (request) => {
      const collection = lookup(String(request.collection_name));
      if (!collection) return notFound(String(request.collection_name));
      collection.indexes.set(String(request.field_name), keyValues(request.extra_params));
      return OK;
    },
    LoadCollection: () => OK,
    GetLoadingProgress: () => ({ status: OK, progress: '100', refresh_progress: '100' }),
    GetLoadState: () => ({ status: OK, state: 'LoadStateLoaded' }),
    Upsert: (request) => {
      const collection = lookup(String(request.collection_name));
      if (!collection) return { status: notFound(String(request.collection_name)) };
      const count = Number(request.num_rows);
      const columns = new Map(
        (request.fields_data as Record<string, unknown>[]).map((column) => [String(column.field_name), column]),
      );
      const strings = (name: string) =>
        ((columns.get(name)?.scalars as Record<string, { data: unknown[] }>)?.string_data?.data ?? []) as string[];
      const jsonBytes = (name: string) =>
        (columns.get(name)?.scalars as Record<string, { data: Buffer[] }>)?.json_data?.data ?? [];
      for (const name of ['payload', 'terms']) {
        const long = jsonBytes(name).find((bytes) => bytes.length > MAX_JSON_BYTES);
        if (long) {
          return {
            status: fail(
              1100,
              `the length (${long.length}) of json field (${name}) exceeds max length (${MAX_JSON_BYTES}): invalid parameter[expected=valid length json string][actual=length exceeds max length]`,
            ),
          };
        }
      }
      const json = (name: string) => jsonBytes(name).map((bytes) => JSON.parse(bytes.toString('utf8')));
      const pks = strings('pk');
      const payloads = json('payload');
      const terms = json('terms');
      const denseColumn = columns.get('dense')?.vectors as
        | { dim: string; float_vector: { data: number[] } }
        | undefined;
      const sparseColumn = columns.get('sparse')?.vectors as
        | { sparse_float_vector: { contents: Buffer[] } }
        | undefined;
      if (new Set(pks).size !== pks.length) return { status: fail(1100, 'duplicate primary keys in one request') };
      for (let i = 0; i < count; i++) {
        const pk = pks[i] as string;
        const row: Row = { pk, payload: payloads[i], terms: terms[i] };
        if (denseColumn) {
          const dim = Number(denseColumn.dim);
          row.dense = denseColumn.float_vector.data.slice(i * dim, (i + 1) * dim);
        }
        if (sparseColumn) row.sparse = sparseFromBytes(sparseColumn.sparse_float_vector.contents[i] as Buffer);
        collection.rows.set(pk, row);
      }
      return {
        status: OK,
        IDs: { str_id: { data: pks } },
        succ_index: pks.map((_, i) => i),
        upsert_cnt: String(count),
      };
    },
    Delete: (request) => {
      const collection = lookup(String(request.collection_name));
      if (!collection) return { status: notFound(String(request.collection_name)) };
      const doomed = filterRows(collection, request, 'expr');
      for (const row of doomed) collection.rows.delete(row.pk);
      return { status: OK, IDs: { str_id: { data: doomed.map((row) => row.pk) } }, delete_cnt: String(doomed.length) };
    },
    Query: (request) => {
      const collection = lookup(String(request.collection_name));
      if (!collection) return { status: notFound(String(request.collection_name)) };
      const rows = filterRows(collection, request, 'expr');
      const outputs = request.output_fields as string[];
      if (outputs.includes('count(*)')) {
        return {
          status: OK,
          fields_data: [
            { type: 'Int64', field_name: 'count(*)', scalars: { long_data: { data: [String(rows.length)] } } },
          ],
          output_fields: ['count(*)'],
        };
      }
      const limit = keyValues(request.query_params).limit;
      const sorted = rows.sort((a, b) => compareBytes(a.pk, b.pk));
      const page = limit === undefined ? sorted : sorted.slice(0, Number(limit));
      return { status: OK, fields_data: fieldData(collection, page, outputs), output_fields: outputs };
    },
    Search: (request) => {
      const collection = lookup(String(request.collection_name));
      if (!collection) return { status: notFound(String(request.collection_name)) };
      const params = keyValues(request.search_params);
      const field = params.anns_field as string;
      const topk = Number(params.topk);
      const index = collection.indexes.get(field) ?? {};
      const metric = index.metric_type as string;
      if (params.metric_type && params.metric_type !== metric) {
        return {
          status: fail(
            1100,
            `metric type not match: invalid parameter[expected=${metric}][actual=${params.metric_type}]`,
          ),
        };
      }
      const query = decodePlaceholders(request.placeholder_group as Buffer)[0]?.values[0] as Buffer;
      const candidates = filterRows(collection, request, 'dsl');
      let scored: { row: Row; score: number }[];
      if (field === 'sparse') {
        const weights = sparseFromBytes(query);
        scored = candidates.flatMap((row) => {
          // float32 arithmetic; only positive scores are kept (knowhere), shared indices or not.
          let score = 0;
          for (const [position, weight] of weights) {
            const value = row.sparse?.get(position);
            if (value !== undefined) score = Math.fround(score + Math.fround(weight * value));
          }
          return score > 0 ? [{ row, score }] : [];
        });
      } else {
        const vector = Array.from(
          new Float32Array(query.buffer.slice(query.byteOffset, query.byteOffset + query.byteLength)),
        );
        scored = candidates.map((row) => {
          const stored = row.dense ?? [];
          let dot = 0;
          let normA = 0;
          let normB = 0;
          let squared = 0;
          for (let i = 0; i < vector.length; i++) {
            const a = vector[i] as number;
            const b = stored[i] as number;
            dot += a * b;
            normA += a * a;
            normB += b * b;
            squared += (a - b) * (a - b);
          }
          const score =
            metric === 'L2'
              ? squared
              : metric === 'IP'
                ? dot
                : normA === 0 || normB === 0
                  ? 0
                  : dot / Math.sqrt(normA * normB);
          return { row, score };
        });
      }
      const ascending = metric === 'L2';
      scored.sort((a, b) => (ascending ? a.score - b.score : b.score - a.score) || compareBytes(a.row.pk, b.row.pk));
      const top = scored.slice(0, topk);
      const outputs = (request.output_fields as string[]).filter((name) => name !== '*');
      return {
        status: OK,
        results: {
          num_queries: '1',
          top_k: String(topk),
          fields_data: fieldData(
            collection,
            top.map((hit) => hit.row),
            outputs,
          ),
          scores: top.map((hit) => hit.score),
          ids: { str_id: { data: top.map((hit) => hit.row.pk) } },
          topks: [String(top.length)],
          output_fields: outputs,
          primary_field_name: 'pk',
        },
        collection_name: collection.name,
      };
    },
    CreateAlias: (request) => {
      const alias = String(request.alias);
      const target = String(request.collection_name);
      if (aliases.has(alias)) return fail(1602, `alias already exist[alias=${alias}]`);
      if (collections.has(alias)) return fail(1601, `alias and collection name conflict[alias=${alias}]`);
      if (!collections.has(target)) return notFound(target);
      aliases.set(alias, target);
      return OK;
    },
    AlterAlias: (request) => {
      const alias = String(request.alias);
      const target = String(request.collection_name);
      if (!aliases.has(alias)) return fail(1600, `alias not found[alias=${alias}]`);
      if (!collections.has(target)) return notFound(target);
      aliases.set(alias, target);
      return OK;
    },
    DropAlias: (request) => {
      const alias = String(request.alias);
      aliases.delete(alias);
      return OK;
    },
    DescribeAlias: (request) => {
      const alias = String(request.alias);
      const target = aliases.get(alias);
      if (target === undefined) return { status: fail(1600, `alias not found[alias=${alias}]`) };
      return { status: OK, db_name: 'default', alias, collection: target };
    },
    ListAliases: (request) => {
      const name = String(request.collection_name ?? '');
      return {
        status: OK,
        db_name: 'default',
        collection_name: name,
        aliases: [...aliases].filter(([, target]) => name === '' || target === name).map(([alias]) => alias),
      };
    },
  };

  const implementation: grpc.UntypedServiceImplementation = {};
  for (const [method, handler] of Object.entries(handlers)) {
    implementation[method] = (
      call: grpc.ServerUnaryCall<Record<string, unknown>, unknown>,
      callback: grpc.sendUnaryData<unknown>,
    ) => {
      requests.push({ method, request: call.request });
      const pending = failures.get(method);
      if (pending) {
        if (--pending.times <= 0) failures.delete(method);
        if ('grpc' in pending.failure) {
          callback({ code: pending.failure.grpc.code, details: pending.failure.grpc.details } as grpc.ServiceError);
          return;
        }
        const status = { error_code: 'UnexpectedError', ...pending.failure.status };
        callback(null, STATUS_METHODS.has(method) ? status : { status });
        return;
      }
      try {
        callback(null, handler(call.request));
      } catch (error) {
        callback({ code: grpc.status.INTERNAL, details: String(error) } as grpc.ServiceError);
      }
    };
  }

  const server = new grpc.Server();
  server.addService(service, implementation);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, bound) =>
      error ? reject(error) : resolve(bound),
    ),
  );

  const fake: FakeMilvus = {
    address: `127.0.0.1:${port}`,
    version: 'v2.6.0',
    requests,
    collections,
    aliases,
    failNext(method, failure, times = 1) {
      failures.set(method, { failure, times });
    },
    calls(method) {
      return requests.filter((entry) => entry.method === method).map((entry) => entry.request);
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.tryShutdown(() => resolve());
      }),
  };
  return fake;
}
