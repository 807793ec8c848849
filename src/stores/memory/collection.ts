import { InvalidArgumentError } from '../../core/errors.js';
import type { Filter } from '../../core/filter.js';
import type { CollectionInfo } from '../../core/store.js';
import {
  checkDenseVector,
  type DenseVectorInput,
  type JsonObject,
  type JsonValue,
  type Match,
  type RecordId,
  type SparseVector,
  type StoredRecord,
  type VectorRecord,
} from '../../core/types.js';
import { checkRecordVectors } from '../kernel/checks.js';
import { AnnIndex, type AnnSettings } from './ann.js';
import { type FilterPlanNode, maskRows } from './filters.js';
import { VectorArena } from './kernel/arena.js';
import type { RowViews } from './kernel/arena-memory.js';
import type { Kernel } from './kernel/kernel.js';
import { PayloadIndexes } from './payload-indexes.js';
import { cloneJson, compareIds, toSparseRow } from './records.js';
import { type SparseColumns, SparseIndex } from './sparse-index.js';
import { TopMatches } from './top-matches.js';

export type CollectionMeta = Omit<CollectionInfo, 'count' | 'version'>;

/** A document kept with the collection and the data version it was written at. */
export type StateEntry = { value: JsonValue; version: number };

/** The error for the vector of record `index`, which the arena refused: what the upsert schema says of it. */
function badVector(index: number, vector: DenseVectorInput): InvalidArgumentError {
  const checked = checkDenseVector(vector);
  const [path, message] = checked.ok
    ? ['', 'vector values must be finite numbers within float32 range']
    : [checked.path.map((part) => `.${part}`).join(''), checked.message];
  return new InvalidArgumentError({ argument: 'records', issues: [{ path: `${index}.vector${path}`, message }] });
}

/** What `restore` needs to undo a write or delete: the records stored before, and the ids that were not. */
type Captured = { present: Map<RecordId, VectorRecord>; absent: RecordId[] };

/** Puts back what a write or delete changed (used when the snapshot holding it cannot be saved). */
export type Undo = () => void;

/** How a search, count, scroll or delete finds the records a filter selects (see `explain`). */
export type QueryPlan = {
  /** The filter, each field clause marked `index` (answered by a payload index) or `scan`. */
  filter: FilterPlanNode;
  /** What dense search does with the records that match. */
  dense: string;
};

/** How a collection keeps and searches its records (from `createMemoryStore`'s options). */
export type CollectionOptions = {
  quantized: boolean;
  /** `false`: int8 codes only, no float rows (`quantization: 'int8-only'`). */
  floats?: boolean;
  /** The data version it starts at (a loaded snapshot's). */
  version?: number;
  kernel?: Kernel;
  autoIndex?: boolean;
  ann?: AnnSettings | undefined;
};

/** A collection's records as columns (snapshots). */
export type CollectionColumns = {
  ids: readonly RecordId[];
  payloads: readonly JsonObject[];
  dense: { floats: Uint8Array; norms: Uint8Array; codes?: Uint8Array; scales?: Uint8Array } | undefined;
  sparse: SparseColumns | undefined;
};

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
  /** Row of each id (a Map tells `1` from `"1"`, as ids must be told apart). */
  private readonly rowOf = new Map<RecordId, number>();
  private sortedIds: RecordId[] | undefined;
  /** Payload indexes by field, declared or automatic. */
  readonly indexes: PayloadIndexes;
  /** Approximate dense search (with `ann`). */
  readonly ann: AnnIndex | undefined;
  /** Writes and deletes committed so far (saved with the data). */
  version: number;
  readonly states = new Map<string, StateEntry>();

  constructor(meta: CollectionMeta, options: CollectionOptions) {
    this.meta = meta;
    this.version = options.version ?? 0;
    this.indexes = new PayloadIndexes(options.autoIndex ?? true);
    this.arena =
      meta.dimensions === undefined
        ? undefined
        : new VectorArena({
            dimensions: meta.dimensions,
            quantized: options.quantized,
            floats: options.floats !== false,
            ...(options.kernel ? { kernel: options.kernel } : {}),
          });
    this.ann = options.ann && new AnnIndex(options.ann, this.arena, meta.metric);
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

  /** Builds a payload index on `field` (kept up to date from then on). Returns whether it was new. */
  createIndex(field: string, declared: boolean): boolean {
    return this.indexes.create(field, declared, this.payloads);
  }

  /** Checks a whole batch before touching anything, so a bad record leaves the collection unchanged. */
  checkRecords(records: readonly VectorRecord[]): void {
    records.forEach((record, index) => {
      checkRecordVectors(this.meta, record, index, 'memory');
    });
  }

  /**
   * Writes records that passed `checkRecords` (their payloads, copies made by validation, are kept
   * as they are). Later duplicates of an id win. Returns how to undo it. Dense vectors are checked
   * here, as they are copied into the arena (the memory store's upsert leaves Float32Arrays to this
   * check): at one with a value that is not a finite float32, everything written is undone and an
   * `InvalidArgumentError` is thrown.
   */
  write(records: readonly VectorRecord[]): Undo {
    // What the undo needs is taken as the loop reaches each id: rows from `stored` on were
    // appended by this write, so an id found there was absent before, and is listed once.
    const before: Captured = { present: new Map(), absent: [] };
    const stored = this.ids.length;
    const arena = this.arena;
    if (arena) arena.reserve(this.size + records.length);
    for (let index = 0; index < records.length; index++) {
      const record = records[index] as VectorRecord;
      let row = this.rowOf.get(record.id);
      const fresh = row === undefined;
      if (row === undefined) {
        row = this.ids.length;
        before.absent.push(record.id);
      } else if (row < stored && !before.present.has(record.id)) {
        before.present.set(record.id, this.keptAt(row));
      }
      const appended = arena !== undefined && row === arena.size;
      if (arena && record.vector && !arena.write(row, record.vector)) {
        this.restore(before);
        throw badVector(index, record.vector);
      }
      const payload = record.payload ?? EMPTY;
      if (fresh) {
        this.rowOf.set(record.id, row);
        this.ids.push(record.id);
        this.payloads.push(payload);
        this.sortedIds = undefined;
      } else this.payloads[row] = payload;
      this.indexes.set(row, payload);
      if (record.sparseVector !== undefined || this.sparse.get(row) !== undefined) {
        this.sparse.set(row, record.sparseVector === undefined ? undefined : toSparseRow(record.sparseVector));
      }
      if (arena && record.vector) this.ann?.written(row, appended);
    }
    return () => this.restore(before);
  }

  /** The current state of these ids: the records of those stored, and the ids of those not. */
  private capture(ids: readonly RecordId[]): Captured {
    const before: Captured = { present: new Map(), absent: [] };
    for (const id of ids) {
      const row = this.rowOf.get(id);
      if (row === undefined) before.absent.push(id);
      else if (!before.present.has(id)) before.present.set(id, this.keptAt(row));
    }
    return before;
  }

  /** The record at `row` for an undo: its payload and sparse vector as kept, its vector a copy. */
  private keptAt(row: number): VectorRecord {
    const sparse = this.sparse.get(row);
    return {
      id: this.ids[row] as RecordId,
      payload: this.payloads[row] as JsonObject,
      ...(this.arena ? { vector: this.arena.read(row) } : {}),
      ...(sparse ? { sparseVector: sparse } : {}),
    };
  }

  private restore({ present, absent }: Captured): void {
    this.deleteIds(absent);
    this.write([...present.values()]);
  }

  has(id: RecordId): boolean {
    return this.rowOf.has(id);
  }

  get(ids: readonly RecordId[], includeVectors: boolean): StoredRecord[] {
    const records: StoredRecord[] = [];
    for (const id of ids) {
      const row = this.rowOf.get(id);
      if (row !== undefined) records.push(this.recordAt(row, includeVectors));
    }
    return records;
  }

  deleteIds(ids: readonly RecordId[]): number {
    let deleted = 0;
    for (const id of ids) {
      const row = this.rowOf.get(id);
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
    const compiled = this.indexes.compile(filter);
    return {
      filter: compiled.plan,
      dense: this.arena
        ? `${compiled.indexed ? 'payload indexes' : 'a scan of the payloads'} select the matching records; ${
            this.ann && this.size >= this.ann.settings.minRecords
              ? `when they are fewer than ${Math.round(this.ann.settings.exactBelow * 100)}% of the records the kernel scores only those, else the HNSW graph is searched keeping only matches`
              : 'the kernel scores only those'
          }`
        : 'no dense vectors',
    };
  }

  /** A byte per row, 1 where `filter` matches; counts the use of each field towards automatic indexes. */
  private select(filter: Filter): Uint8Array {
    return this.indexes.select(filter, this.payloads);
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
      const row = this.rowOf.get(sorted[i] as RecordId) as number;
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
    const found = this.ann?.search(options.vector, options.limit, this.size, mask, rows?.length ?? this.size);
    if (found) {
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

  /** The collection's data as columns, for snapshots (views into live memory: copy them out at once). */
  exportColumns(): CollectionColumns {
    return {
      ids: this.ids,
      payloads: this.payloads,
      dense: this.arena?.exportRows(),
      sparse: this.sparse.exportColumns(this.size),
    };
  }

  /**
   * Room in the kernel memory for `count` dense rows of `rowBytes` each, for a snapshot to read them
   * into before `importColumns` takes them in place; undefined when the rows would not fit as they are
   * or the arena keeps no float rows (see `VectorArena.receiveRows`).
   */
  receiveRows(count: number, rowBytes: number): RowViews | undefined {
    return this.arena?.rowBytes === rowBytes ? this.arena.receiveRows(count) : undefined;
  }

  /** Loads columns from a snapshot into this (empty) collection. */
  importColumns(columns: CollectionColumns, rowBytes: number): void {
    const n = columns.ids.length;
    this.ids = columns.ids.slice();
    this.payloads = columns.payloads.slice();
    for (let row = 0; row < n; row++) this.rowOf.set(this.ids[row] as RecordId, row);
    if (this.rowOf.size !== n) throw new Error('the snapshot lists an id twice');
    if (this.arena) {
      if (!columns.dense || rowBytes !== this.arena.rowBytes) throw new Error('the snapshot lacks the dense rows');
      this.arena.importRows(n, columns.dense);
    }
    if (columns.sparse) this.sparse.importColumns(n, columns.sparse);
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
    this.rowOf.delete(this.ids[row] as RecordId);
    this.sparse.clear(row);
    this.ann?.removed(row, last);
    if (row !== last) {
      const movedId = this.ids[last] as RecordId;
      this.ids[row] = movedId;
      this.payloads[row] = this.payloads[last] as JsonObject;
      this.sparse.move(last, row);
      this.arena?.move(last, row);
      this.indexes.move(last, row);
      this.rowOf.set(movedId, row);
    }
    this.ids.pop();
    this.payloads.pop();
    this.arena?.truncate(last);
    this.indexes.truncate(last);
    this.sortedIds = undefined;
  }
}

/** The payload of records written without one: shared, as stored payloads are replaced, never changed. */
const EMPTY: JsonObject = Object.freeze({}) as JsonObject;
