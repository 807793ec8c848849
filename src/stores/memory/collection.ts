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
import { matchesFilter } from '../../filter/evaluate.js';
import { checkRecordVectors } from '../kernel/checks.js';
import { VectorArena } from './kernel/arena.js';

export type CollectionMeta = Omit<CollectionInfo, 'count' | 'version'>;

/** A document kept with the collection and the data version it was written at. */
export type StateEntry = { value: JsonValue; version: number };

/** Puts back what a write or delete changed (used when the snapshot holding it cannot be saved). */
export type Undo = () => void;

type SparseRow = { indices: Uint32Array; values: Float32Array };
type Posting = { rows: Uint32Array; values: Float32Array; length: number };

/** Map key of an id: `1` and `"1"` are distinct. */
export const idKey = (id: RecordId): string => (typeof id === 'number' ? `n${id}` : `s${id}`);

/** Id order used by `scroll`: integers ascending, then strings by UTF-16 code unit. */
export function compareIds(a: RecordId, b: RecordId): number {
  if (typeof a === 'number') return typeof b === 'number' ? a - b : -1;
  if (typeof b === 'number') return 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

function toSparseRow(vector: SparseVector): SparseRow {
  const order = Array.from({ length: vector.indices.length }, (_, i) => i).sort(
    (a, b) => (vector.indices[a] as number) - (vector.indices[b] as number),
  );
  return {
    indices: Uint32Array.from(order, (i) => vector.indices[i] as number),
    values: Float32Array.from(order, (i) => vector.values[i] as number),
  };
}

/**
 * One collection of the memory store. Rows are kept dense (0..size-1) so the vector arena can scan
 * them contiguously; deleting swaps the last row into the hole.
 */
export class MemoryCollection {
  readonly meta: CollectionMeta;
  private readonly arena: VectorArena | undefined;
  private ids: RecordId[] = [];
  private payloads: JsonObject[] = [];
  private sparseRows: (SparseRow | undefined)[] = [];
  private readonly rowOf = new Map<string, number>();
  private sortedIds: RecordId[] | undefined;
  private postings: Map<number, Posting> | undefined;
  /** Writes and deletes committed so far (saved with the data). */
  version: number;
  readonly states = new Map<string, StateEntry>();

  constructor(meta: CollectionMeta, options: { quantized: boolean; version?: number }) {
    this.meta = meta;
    this.version = options.version ?? 0;
    this.arena =
      meta.dimensions === undefined
        ? undefined
        : new VectorArena({ dimensions: meta.dimensions, quantized: options.quantized });
  }

  get size(): number {
    return this.ids.length;
  }

  info(): CollectionInfo {
    return { ...this.meta, count: this.size, version: this.version };
  }

  /** Checks a whole batch before touching anything, so a bad record leaves the collection unchanged. */
  checkRecords(records: readonly VectorRecord[]): void {
    records.forEach((record, index) => {
      checkRecordVectors(this.meta, record, index, 'memory');
    });
  }

  /** Writes records that passed `checkRecords`. Later duplicates of an id win. Returns how to undo it. */
  write(records: readonly VectorRecord[]): Undo {
    const before = this.capture(records.map((record) => record.id));
    for (const record of records) {
      const key = idKey(record.id);
      let row = this.rowOf.get(key);
      if (row === undefined) {
        row = this.ids.length;
        this.rowOf.set(key, row);
        this.ids.push(record.id);
        this.payloads.push({});
        this.sparseRows.push(undefined);
        this.sortedIds = undefined;
      }
      this.payloads[row] = structuredClone(record.payload ?? {});
      if (record.sparseVector !== undefined || this.sparseRows[row] !== undefined) this.postings = undefined;
      this.sparseRows[row] = record.sparseVector === undefined ? undefined : toSparseRow(record.sparseVector);
      if (this.arena && record.vector) this.arena.write(row, record.vector);
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
      const sparse = this.sparseRows[row];
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
    const ids = 'ids' in target ? target.ids : this.matchingRows(target.filter).map((row) => this.ids[row] as RecordId);
    const before = this.capture(ids);
    return { deleted: this.deleteIds(ids), undo: () => this.restore(before) };
  }

  count(filter: Filter | undefined): number {
    return filter === undefined ? this.size : this.matchingRows(filter).length;
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
    const records: StoredRecord[] = [];
    for (let i = start; i < sorted.length; i++) {
      const row = this.rowOf.get(idKey(sorted[i] as RecordId)) as number;
      if (options.filter && !matchesFilter(options.filter, this.payloads[row] as JsonObject)) continue;
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
    if (options.filter) {
      rows = Uint32Array.from(this.matchingRows(options.filter));
      if (rows.length === 0) return [];
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
      matches.push({ ...this.recordAt(top.rows[i] as number, options.includeVectors), score: top.scores[i] as number });
    }
    return matches;
  }

  /**
   * Exact sparse dot product with every record that shares at least one index with the query, over an
   * inverted index that is rebuilt lazily after writes (read-mostly workloads build it once).
   */
  searchSparse(options: {
    vector: SparseVector;
    limit: number;
    filter: Filter | undefined;
    includeVectors: boolean;
  }): Match[] {
    this.postings ??= this.buildPostings();
    const scores = new Float64Array(this.size);
    const touched = new Uint8Array(this.size);
    const candidates: number[] = [];
    for (let i = 0; i < options.vector.indices.length; i++) {
      const posting = this.postings.get(options.vector.indices[i] as number);
      if (!posting) continue;
      const weight = options.vector.values[i] as number;
      for (let j = 0; j < posting.rows.length; j++) {
        const row = posting.rows[j] as number;
        scores[row] = (scores[row] as number) + weight * (posting.values[j] as number);
        if (touched[row] === 0) {
          touched[row] = 1;
          candidates.push(row);
        }
      }
    }
    const kept = options.filter
      ? candidates.filter((row) => matchesFilter(options.filter as Filter, this.payloads[row] as JsonObject))
      : candidates;
    kept.sort(
      (a, b) =>
        (scores[b] as number) - (scores[a] as number) || compareIds(this.ids[a] as RecordId, this.ids[b] as RecordId),
    );
    return kept
      .slice(0, options.limit)
      .map((row) => ({ ...this.recordAt(row, options.includeVectors), score: scores[row] as number }));
  }

  private buildPostings(): Map<number, Posting> {
    const counts = new Map<number, number>();
    for (const sparse of this.sparseRows) {
      if (!sparse) continue;
      for (const index of sparse.indices) counts.set(index, (counts.get(index) ?? 0) + 1);
    }
    const postings = new Map<number, Posting>();
    for (const [index, count] of counts) {
      postings.set(index, { rows: new Uint32Array(count), values: new Float32Array(count), length: 0 });
    }
    this.sparseRows.forEach((sparse, row) => {
      if (!sparse) return;
      for (let j = 0; j < sparse.indices.length; j++) {
        const posting = postings.get(sparse.indices[j] as number) as Posting;
        posting.rows[posting.length] = row;
        posting.values[posting.length] = sparse.values[j] as number;
        posting.length++;
      }
    });
    return postings;
  }

  /** Every row, for snapshots. */
  *rows(): Generator<{
    id: RecordId;
    payload: JsonObject;
    vector: Float32Array | undefined;
    sparse: SparseRow | undefined;
  }> {
    for (let row = 0; row < this.size; row++) {
      yield {
        id: this.ids[row] as RecordId,
        payload: this.payloads[row] as JsonObject,
        vector: this.arena?.read(row),
        sparse: this.sparseRows[row],
      };
    }
  }

  dispose(): void {
    this.arena?.dispose();
  }

  private matchingRows(filter: Filter): number[] {
    const rows: number[] = [];
    for (let row = 0; row < this.size; row++) {
      if (matchesFilter(filter, this.payloads[row] as JsonObject)) rows.push(row);
    }
    return rows;
  }

  private recordAt(row: number, includeVectors: boolean): StoredRecord {
    const record: StoredRecord = {
      id: this.ids[row] as RecordId,
      payload: structuredClone(this.payloads[row] as JsonObject),
    };
    if (includeVectors) {
      if (this.arena) record.vector = this.arena.read(row);
      const sparse = this.sparseRows[row];
      if (sparse) record.sparseVector = { indices: sparse.indices.slice(), values: sparse.values.slice() };
    }
    return record;
  }

  private removeRow(row: number): void {
    const last = this.size - 1;
    this.rowOf.delete(idKey(this.ids[row] as RecordId));
    if (row !== last) {
      const movedId = this.ids[last] as RecordId;
      this.ids[row] = movedId;
      this.payloads[row] = this.payloads[last] as JsonObject;
      this.sparseRows[row] = this.sparseRows[last];
      this.arena?.move(last, row);
      this.rowOf.set(idKey(movedId), row);
    }
    this.ids.pop();
    this.payloads.pop();
    this.sparseRows.pop();
    this.arena?.truncate(last);
    this.sortedIds = undefined;
    this.postings = undefined;
  }
}
