import type { Filter } from '../../core/filter.js';
import type { CollectionInfo } from '../../core/store.js';
import type {
  JsonObject,
  JsonValue,
  Match,
  RecordId,
  SparseVector,
  StoredRecord,
  VectorRecord,
} from '../../core/types.js';
import { checkRecordVectors } from '../kernel/checks.js';
import { CompiledFilter, type FilterPlanNode, fieldsOf, maskRows, PayloadIndex } from './filters.js';
import { VectorArena } from './kernel/arena.js';
import { Hnsw, type HnswState } from './kernel/hnsw.js';
import type { Kernel } from './kernel/kernel.js';
import { SparseIndex, type SparseRow } from './sparse-index.js';

export type CollectionMeta = Omit<CollectionInfo, 'count' | 'version'>;

/** A document kept with the collection and the data version it was written at. */
export type StateEntry = { value: JsonValue; version: number };

/** Puts back what a write or delete changed (used when the snapshot holding it cannot be saved). */
export type Undo = () => void;

/** How a search, count, scroll or delete finds the records a filter selects (see `explain`). */
export type QueryPlan = {
  /** The filter, each field clause marked `index` (answered by a payload index) or `scan`. */
  filter: FilterPlanNode;
  /** What dense search does with the records that match. */
  dense: string;
};

/** A collection's records as columns (snapshots). */
export type CollectionColumns = {
  ids: readonly RecordId[];
  payloads: readonly JsonObject[];
  dense: { floats: Uint8Array; norms: Uint8Array; codes?: Uint8Array; scales?: Uint8Array } | undefined;
  /** Per row the number of sparse entries, then every row's indices and values in row order. */
  sparse: { lengths: Uint32Array; indices: Uint32Array; values: Float32Array } | undefined;
};

/** Approximate dense search settings (`createMemoryStore({ ann })`). */
export type AnnSettings = {
  /** Graph links per node (layer 0 keeps twice as many). */
  m: number;
  /** Candidates weighed while inserting. */
  efConstruction: number;
  /** Beam width of a search: the recall/speed knob. */
  ef: number;
  /** Collections smaller than this are searched exactly. */
  minRecords: number;
  /** A filter selecting less than this share of the records is searched exactly over its matches. */
  exactBelow: number;
};

/** Payload indexes built on their own once a field was filtered on this often… */
const AUTO_INDEX_USES = 2;
/** …in a collection at least this large… */
const AUTO_INDEX_MIN_RECORDS = 1000;
/** …up to this many per collection. */
const AUTO_INDEX_LIMIT = 16;

/** Map key of an id: `1` and `"1"` are distinct. */
export const idKey = (id: RecordId): string => (typeof id === 'number' ? `n${id}` : `s${id}`);

/** Id order used by `scroll`: integers ascending, then strings by UTF-16 code unit. */
export function compareIds(a: RecordId, b: RecordId): number {
  if (typeof a === 'number') return typeof b === 'number' ? a - b : -1;
  if (typeof b === 'number') return 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** A copy of a sparse vector with its indices ascending (sorted only when they are not already). */
export function toSparseRow(vector: SparseVector): SparseRow {
  const n = vector.indices.length;
  let sorted = true;
  for (let i = 1; i < n && sorted; i++) sorted = (vector.indices[i - 1] as number) < (vector.indices[i] as number);
  if (sorted) return { indices: Uint32Array.from(vector.indices), values: Float32Array.from(vector.values) };
  const order = Array.from({ length: n }, (_, i) => i).sort(
    (a, b) => (vector.indices[a] as number) - (vector.indices[b] as number),
  );
  return {
    indices: Uint32Array.from(order, (i) => vector.indices[i] as number),
    values: Float32Array.from(order, (i) => vector.values[i] as number),
  };
}

/** A deep copy of a JSON value (payloads are validated trees, at most 64 levels deep). */
export function cloneJson<T extends JsonValue>(value: T): T {
  if (typeof value !== 'object' || value === null) return value;
  if (Array.isArray(value)) {
    const copy = new Array(value.length);
    for (let i = 0; i < value.length; i++) copy[i] = cloneJson(value[i] as JsonValue);
    return copy as T;
  }
  const copy: JsonObject = {};
  for (const key of Object.keys(value)) copy[key] = cloneJson((value as JsonObject)[key] as JsonValue);
  return copy as T;
}

/**
 * One collection of the memory store. Rows are kept dense (0..size-1) so the vector arena can scan
 * them contiguously; deleting swaps the last row into the hole. Payload indexes and the sparse
 * inverted index follow every write.
 */
export class MemoryCollection {
  readonly meta: CollectionMeta;
  private readonly arena: VectorArena | undefined;
  private ids: RecordId[] = [];
  private payloads: JsonObject[] = [];
  private readonly sparse = new SparseIndex();
  private readonly rowOf = new Map<string, number>();
  private sortedIds: RecordId[] | undefined;
  /** Payload indexes by field. */
  private readonly indexes = new Map<string, PayloadIndex>();
  /** Fields indexed because they were declared (`createPayloadIndex`), saved with the collection. */
  readonly declaredIndexes = new Set<string>();
  private readonly autoIndex: boolean;
  private readonly ann: AnnSettings | undefined;
  /** The HNSW graph, once built (at the first dense search of a large enough collection). */
  private graph: Hnsw | undefined;
  private readonly fieldUses = new Map<string, number>();
  /** Writes and deletes committed so far (saved with the data). */
  version: number;
  readonly states = new Map<string, StateEntry>();

  constructor(
    meta: CollectionMeta,
    options: {
      quantized: boolean;
      version?: number;
      kernel?: Kernel;
      autoIndex?: boolean;
      ann?: AnnSettings | undefined;
    },
  ) {
    this.meta = meta;
    this.ann = options.ann;
    this.version = options.version ?? 0;
    this.autoIndex = options.autoIndex ?? true;
    this.arena =
      meta.dimensions === undefined
        ? undefined
        : new VectorArena({
            dimensions: meta.dimensions,
            quantized: options.quantized,
            ...(options.kernel ? { kernel: options.kernel } : {}),
          });
  }

  get size(): number {
    return this.ids.length;
  }

  /** Bytes per stored dense row (0 without dense vectors). */
  get rowBytes(): number {
    return this.arena?.rowBytes ?? 0;
  }

  info(): CollectionInfo {
    return { ...this.meta, count: this.size, version: this.version };
  }

  /** Fields with a payload index, and whether each was declared or chosen automatically. */
  payloadIndexes(): { field: string; source: 'declared' | 'automatic' }[] {
    return [...this.indexes.keys()].map((field) => ({
      field,
      source: this.declaredIndexes.has(field) ? 'declared' : 'automatic',
    }));
  }

  /** Builds a payload index on `field` (kept up to date from then on). Returns whether it was new. */
  createIndex(field: string, declared: boolean): boolean {
    if (declared) this.declaredIndexes.add(field);
    if (this.indexes.has(field)) return false;
    const index = new PayloadIndex(field);
    for (let row = 0; row < this.size; row++) index.set(row, this.payloads[row] as JsonObject);
    this.indexes.set(field, index);
    return true;
  }

  /** Drops a payload index; returns whether there was one. */
  dropIndex(field: string): boolean {
    this.declaredIndexes.delete(field);
    this.fieldUses.delete(field);
    return this.indexes.delete(field);
  }

  /** Checks a whole batch before touching anything, so a bad record leaves the collection unchanged. */
  checkRecords(records: readonly VectorRecord[]): void {
    records.forEach((record, index) => {
      checkRecordVectors(this.meta, record, index, 'memory');
    });
  }

  /**
   * Writes records that passed `checkRecords` (their payloads, copies made by validation, are kept
   * as they are). Later duplicates of an id win. Returns how to undo it.
   */
  write(records: readonly VectorRecord[]): Undo {
    const before = this.capture(records.map((record) => record.id));
    if (this.arena) this.arena.reserve(this.size + records.length);
    for (const record of records) {
      const key = idKey(record.id);
      let row = this.rowOf.get(key);
      if (row === undefined) {
        row = this.ids.length;
        this.rowOf.set(key, row);
        this.ids.push(record.id);
        this.payloads.push(EMPTY);
        this.sortedIds = undefined;
      }
      const payload = record.payload ?? {};
      this.payloads[row] = payload;
      for (const index of this.indexes.values()) index.set(row, payload);
      if (record.sparseVector !== undefined || this.sparse.get(row) !== undefined) {
        this.sparse.set(row, record.sparseVector === undefined ? undefined : toSparseRow(record.sparseVector));
      }
      if (this.arena && record.vector) {
        const fresh = row === this.arena.size;
        this.arena.write(row, record.vector);
        if (this.graph) {
          if (fresh) this.graph.insert(row);
          else this.graph.reinsert(row);
        }
      }
    }
    return () => this.restore(before);
  }

  /** The current state of these ids: their records, or `undefined` for ids not stored. */
  private capture(ids: readonly RecordId[]): Map<string, { id: RecordId; record: VectorRecord | undefined }> {
    const before = new Map<string, { id: RecordId; record: VectorRecord | undefined }>();
    for (const id of ids) {
      const key = idKey(id);
      if (before.has(key)) continue;
      const row = this.rowOf.get(key);
      if (row === undefined) {
        before.set(key, { id, record: undefined });
        continue;
      }
      const sparse = this.sparse.get(row);
      before.set(key, {
        id,
        record: {
          id,
          payload: this.payloads[row] as JsonObject,
          ...(this.arena ? { vector: this.arena.read(row) } : {}),
          ...(sparse ? { sparseVector: sparse } : {}),
        },
      });
    }
    return before;
  }

  private restore(before: Map<string, { id: RecordId; record: VectorRecord | undefined }>): void {
    const absent: RecordId[] = [];
    const present: VectorRecord[] = [];
    for (const { id, record } of before.values()) {
      if (record) present.push(record);
      else absent.push(id);
    }
    this.deleteIds(absent);
    this.write(present);
  }

  has(id: RecordId): boolean {
    return this.rowOf.has(idKey(id));
  }

  get(ids: readonly RecordId[], includeVectors: boolean): StoredRecord[] {
    const records: StoredRecord[] = [];
    for (const id of ids) {
      const row = this.rowOf.get(idKey(id));
      if (row !== undefined) records.push(this.recordAt(row, includeVectors));
    }
    return records;
  }

  deleteIds(ids: readonly RecordId[]): number {
    let deleted = 0;
    for (const id of ids) {
      const row = this.rowOf.get(idKey(id));
      if (row === undefined) continue;
      this.removeRow(row);
      deleted++;
    }
    return deleted;
  }

  /** Deletes these ids (or the records matching a filter); returns the count and how to undo it. */
  delete(target: { ids: readonly RecordId[] } | { filter: Filter }): { deleted: number; undo: Undo } {
    const ids =
      'ids' in target
        ? target.ids
        : Array.from(maskRows(this.select(target.filter)), (row) => this.ids[row] as RecordId);
    const before = this.capture(ids);
    return { deleted: this.deleteIds(ids), undo: () => this.restore(before) };
  }

  count(filter: Filter | undefined): number {
    if (filter === undefined) return this.size;
    const mask = this.select(filter);
    let count = 0;
    for (let row = 0; row < mask.length; row++) count += mask[row] as number;
    return count;
  }

  /** How a filter would be evaluated now (without building indexes or counting uses). */
  plan(filter: Filter): QueryPlan {
    const compiled = new CompiledFilter(filter, this.indexes);
    return {
      filter: compiled.plan,
      dense: this.arena
        ? `${compiled.indexed ? 'payload indexes' : 'a scan of the payloads'} select the matching records; ${
            this.ann && this.size >= this.ann.minRecords
              ? `when they are fewer than ${Math.round(this.ann.exactBelow * 100)}% of the records the kernel scores only those, else the HNSW graph is searched keeping only matches`
              : 'the kernel scores only those'
          }`
        : 'no dense vectors',
    };
  }

  /** A byte per row, 1 where `filter` matches; counts the use of each field towards automatic indexes. */
  private select(filter: Filter): Uint8Array {
    if (this.autoIndex) {
      for (const field of fieldsOf(filter)) {
        if (this.indexes.has(field)) continue;
        const uses = (this.fieldUses.get(field) ?? 0) + 1;
        this.fieldUses.set(field, uses);
        const automatic = this.indexes.size - this.declaredIndexes.size;
        if (uses >= AUTO_INDEX_USES && this.size >= AUTO_INDEX_MIN_RECORDS && automatic < AUTO_INDEX_LIMIT) {
          this.createIndex(field, false);
        }
      }
    }
    return new CompiledFilter(filter, this.indexes).mask(this.size, this.payloads);
  }

  /** Records after `after` in id order that match `filter`, at most `limit`; `more` says whether any remain. */
  scroll(options: {
    filter: Filter | undefined;
    limit: number;
    after: RecordId | undefined;
    includeVectors: boolean;
  }): {
    records: StoredRecord[];
    more: boolean;
  } {
    this.sortedIds ??= [...this.ids].sort(compareIds);
    const sorted = this.sortedIds;
    let start = 0;
    if (options.after !== undefined) {
      const after = options.after;
      let lo = 0;
      let hi = sorted.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (compareIds(sorted[mid] as RecordId, after) <= 0) lo = mid + 1;
        else hi = mid;
      }
      start = lo;
    }
    const mask = options.filter ? this.select(options.filter) : undefined;
    const records: StoredRecord[] = [];
    for (let i = start; i < sorted.length; i++) {
      const row = this.rowOf.get(idKey(sorted[i] as RecordId)) as number;
      if (mask && mask[row] === 0) continue;
      if (records.length === options.limit) return { records, more: true };
      records.push(this.recordAt(row, options.includeVectors));
    }
    return { records, more: false };
  }

  searchDense(options: {
    vector: ArrayLike<number>;
    limit: number;
    filter: Filter | undefined;
    includeVectors: boolean;
    quantized: boolean;
    rescore: number;
  }): Match[] {
    if (!this.arena || this.size === 0) return [];
    let rows: Uint32Array | undefined;
    let mask: Uint8Array | undefined;
    if (options.filter) {
      mask = this.select(options.filter);
      rows = maskRows(mask);
      if (rows.length === 0) return [];
    }
    const graph = this.annGraph();
    if (graph && this.ann && (!rows || this.graphPays(rows.length, options.limit))) {
      // Graph search; under a filter the walk goes through every row but only matches are kept, with
      // a wider beam the rarer they are.
      const selectivity = rows ? rows.length / this.size : 1;
      const ef = Math.ceil(Math.max(this.ann.ef, options.limit) / Math.sqrt(selectivity));
      const keep = mask;
      const found = graph.search(options.vector, options.limit, ef, keep ? (row) => keep[row] === 1 : undefined);
      return Array.from(found.rows, (row, i) =>
        this.matchAt(row, Math.fround(found.scores[i] as number), options.includeVectors),
      );
    }
    const top = this.arena.search(options.vector, {
      metric: this.meta.metric,
      k: options.limit,
      ...(rows ? { rows } : {}),
      quantized: options.quantized,
      rescore: options.rescore,
    });
    const matches: Match[] = [];
    for (let i = 0; i < top.rows.length; i++) {
      matches.push(this.matchAt(top.rows[i] as number, top.scores[i] as number, options.includeVectors));
    }
    return matches;
  }

  /**
   * Exact sparse dot product with every record that shares at least one index with the query, over
   * the inverted index that writes keep current; the best `limit` are selected without sorting the rest.
   */
  searchSparse(options: {
    vector: SparseVector;
    limit: number;
    filter: Filter | undefined;
    includeVectors: boolean;
  }): Match[] {
    const mask = options.filter ? this.select(options.filter) : undefined;
    const ids = this.ids;
    const top = new TopMatches(options.limit, (a, b) => compareIds(ids[a] as RecordId, ids[b] as RecordId));
    this.sparse.search(options.vector, (row, score) => {
      if (mask === undefined || mask[row] === 1) top.offer(row, score);
    });
    return top.sorted().map(({ row, score }) => this.matchAt(row, score, options.includeVectors));
  }

  /**
   * Whether a filtered search should walk the graph rather than score the `matches` exactly: the
   * walk scores about ef × 2m rows per accepted hit density, so it pays only when the filter keeps
   * many records (and never below `exactBelow`).
   */
  private graphPays(matches: number, limit: number): boolean {
    const ann = this.ann as AnnSettings;
    const selectivity = matches / this.size;
    if (selectivity < ann.exactBelow) return false;
    const ef = Math.max(ann.ef, limit) / Math.sqrt(selectivity);
    return matches > ef * 2 * ann.m * 2;
  }

  /** The HNSW graph when approximate search applies (built now if needed, rebuilt when worn). */
  private annGraph(): Hnsw | undefined {
    const ann = this.ann;
    if (!ann || !this.arena || this.size < ann.minRecords) return undefined;
    if (!this.graph || this.graph.worn || this.graph.size !== this.size) {
      const graph = new Hnsw(this.arena, this.meta.metric, { m: ann.m, efConstruction: ann.efConstruction }, this.size);
      for (let row = 0; row < this.size; row++) graph.insert(row);
      this.graph = graph;
    }
    return this.graph;
  }

  /** The graph's arrays, when it is built, for snapshots. */
  annState(): HnswState | undefined {
    return this.graph?.exportState();
  }

  /** Adopts a graph saved with the data (ignored when settings differ: it is rebuilt when needed). */
  importAnnState(state: HnswState): void {
    if (!this.ann || !this.arena || state.m !== this.ann.m || state.efConstruction !== this.ann.efConstruction) return;
    if (state.size !== this.size) throw new Error('the saved graph does not cover every record');
    this.graph = Hnsw.fromState(this.arena, this.meta.metric, state);
  }

  /** What the approximate index holds, for `describe()`. */
  annInfo(): { built: boolean; bytes: number } | undefined {
    if (!this.ann) return undefined;
    return { built: this.graph !== undefined, bytes: this.graph?.bytes ?? 0 };
  }

  /** The collection's data as columns, for snapshots (views into live memory: copy them out at once). */
  exportColumns(): CollectionColumns {
    const sparseLengths = new Uint32Array(this.size);
    let total = 0;
    for (let row = 0; row < this.size; row++) {
      const length = this.sparse.get(row)?.indices.length ?? 0;
      sparseLengths[row] = length;
      total += length;
    }
    const indices = new Uint32Array(total);
    const values = new Float32Array(total);
    let at = 0;
    for (let row = 0; row < this.size; row++) {
      const vector = this.sparse.get(row);
      if (!vector) continue;
      indices.set(vector.indices, at);
      values.set(vector.values, at);
      at += vector.indices.length;
    }
    return {
      ids: this.ids,
      payloads: this.payloads,
      dense: this.arena?.exportRows(),
      sparse: total > 0 ? { lengths: sparseLengths, indices, values } : undefined,
    };
  }

  /** Loads columns from a snapshot into this (empty) collection. */
  importColumns(columns: CollectionColumns, rowBytes: number): void {
    const n = columns.ids.length;
    this.ids = columns.ids.slice();
    this.payloads = columns.payloads.slice();
    for (let row = 0; row < n; row++) this.rowOf.set(idKey(this.ids[row] as RecordId), row);
    if (this.rowOf.size !== n) throw new Error('the snapshot lists an id twice');
    if (this.arena) {
      if (!columns.dense || rowBytes !== this.arena.rowBytes) throw new Error('the snapshot lacks the dense rows');
      this.arena.importRows(n, columns.dense);
    }
    if (columns.sparse) {
      const { lengths, indices, values } = columns.sparse;
      let at = 0;
      for (let row = 0; row < n; row++) {
        const length = lengths[row] as number;
        if (length === 0) continue;
        this.sparse.set(row, { indices: indices.slice(at, at + length), values: values.slice(at, at + length) });
        at += length;
      }
    }
    this.sortedIds = undefined;
  }

  dispose(): void {
    this.arena?.dispose();
  }

  private matchAt(row: number, score: number, includeVectors: boolean): Match {
    const match = this.recordAt(row, includeVectors) as Match;
    match.score = score;
    return match;
  }

  private recordAt(row: number, includeVectors: boolean): StoredRecord {
    const record: StoredRecord = {
      id: this.ids[row] as RecordId,
      payload: cloneJson(this.payloads[row] as JsonObject),
    };
    if (includeVectors) {
      if (this.arena) record.vector = this.arena.read(row);
      const sparse = this.sparse.get(row);
      if (sparse) record.sparseVector = { indices: sparse.indices.slice(), values: sparse.values.slice() };
    }
    return record;
  }

  private removeRow(row: number): void {
    const last = this.size - 1;
    this.rowOf.delete(idKey(this.ids[row] as RecordId));
    this.sparse.clear(row);
    this.graph?.remove(row, last);
    if (row !== last) {
      const movedId = this.ids[last] as RecordId;
      this.ids[row] = movedId;
      this.payloads[row] = this.payloads[last] as JsonObject;
      this.sparse.move(last, row);
      this.arena?.move(last, row);
      for (const index of this.indexes.values()) index.move(last, row);
      this.rowOf.set(idKey(movedId), row);
    }
    this.ids.pop();
    this.payloads.pop();
    this.arena?.truncate(last);
    for (const index of this.indexes.values()) index.truncate(last);
    this.sortedIds = undefined;
  }
}

const EMPTY: JsonObject = Object.freeze({}) as JsonObject;

/**
 * The best `limit` (row, score) pairs offered, by score descending and then by `tie` ascending: a
 * bounded heap whose root is the worst pair kept.
 */
class TopMatches {
  private readonly rows: number[] = [];
  private readonly scores: number[] = [];
  constructor(
    private readonly limit: number,
    private readonly tie: (a: number, b: number) => number,
  ) {}

  /** True when (sa, ra) ranks below (sb, rb). */
  private worse(sa: number, ra: number, sb: number, rb: number): boolean {
    return sa < sb || (sa === sb && this.tie(ra, rb) > 0);
  }

  offer(row: number, score: number): void {
    const { rows, scores } = this;
    if (rows.length < this.limit) {
      let i = rows.length;
      rows.push(row);
      scores.push(score);
      while (i > 0) {
        const parent = (i - 1) >> 1;
        if (!this.worse(score, row, scores[parent] as number, rows[parent] as number)) break;
        rows[i] = rows[parent] as number;
        scores[i] = scores[parent] as number;
        i = parent;
      }
      rows[i] = row;
      scores[i] = score;
      return;
    }
    if (rows.length === 0 || !this.worse(scores[0] as number, rows[0] as number, score, row)) return;
    this.siftDown(row, score, rows.length);
  }

  private siftDown(row: number, score: number, n: number): void {
    const { rows, scores } = this;
    let i = 0;
    for (;;) {
      let child = 2 * i + 1;
      if (child >= n) break;
      const right = child + 1;
      if (
        right < n &&
        this.worse(scores[right] as number, rows[right] as number, scores[child] as number, rows[child] as number)
      ) {
        child = right;
      }
      if (!this.worse(scores[child] as number, rows[child] as number, score, row)) break;
      rows[i] = rows[child] as number;
      scores[i] = scores[child] as number;
      i = child;
    }
    rows[i] = row;
    scores[i] = score;
  }

  /** The pairs kept, best first. */
  sorted(): { row: number; score: number }[] {
    const out = this.rows.map((row, i) => ({ row, score: this.scores[i] as number }));
    return out.sort((a, b) => b.score - a.score || this.tie(a.row, b.row));
  }
}
