/**
 * VectorArena: dense vectors of one dimensionality kept in a WebAssembly memory, searched exactly
 * (and optionally through int8 codes with float re-scoring) by the SIMD128 kernel in kernel.wat.
 * An int8-only arena (`floats: false`) keeps just the codes: every score is an int8 score.
 *
 * Runs in every runtime with WebAssembly SIMD (Node 20, current browsers, edge workers): no Node
 * built-ins. The module is compiled once per process, lazily; each arena owns one instance and one
 * memory (arena-memory.ts). Rows are dense (0..size-1); the memory store maps its ids onto rows.
 */
import { ArenaMemory, type RowViews } from './arena-memory.js';
import { selectTopK, type TopK } from './heaps.js';
import type { KernelExports } from './kernel.js';
import { quantize } from './quantize.js';

export type { VectorArenaOptions } from './arena-memory.js';
export type { TopK };

export type KernelMetric = 'cosine' | 'dot' | 'euclidean';
export type ArenaSearchOptions = {
  metric: KernelMetric;
  k: number;
  /** Candidate rows; all rows when absent. */
  rows?: Uint32Array;
  /** How many entries of `rows` to use (default rows.length). */
  rowCount?: number;
  /** Score with int8 codes, then re-score the best k * rescore exactly (arena must be quantized). */
  quantized?: boolean;
  /** Over-fetch factor for int8 search (default 4). */
  rescore?: number;
};

const METRIC_CODE: Record<KernelMetric, number> = { cosine: 0, dot: 1, euclidean: 2 };
const DEFAULT_RESCORE = 4;

export class VectorArena extends ArenaMemory {
  private queryNorm = 0;
  private queryScale = 0;
  private queryMetric = 0;

  /** Rows in use: 0..size-1. */
  get size(): number {
    return this.count;
  }

  /**
   * Writes `vector` at `row` (row === size appends, growing the memory as needed). Keeps the float32
   * values (every -0 made 0) and the row norm and, when quantized, the int8 codes and scale; an
   * int8-only arena keeps the codes, the scale and the norm of the dequantized values (the input is
   * checked in the float query slot). Returns false, with the row's old contents lost and its norm
   * and codes not written, when a value is not a finite float32 (NaN, ±Infinity, or a number beyond
   * float32's range): the caller restores it.
   */
  write(row: number, vector: ArrayLike<number>): boolean {
    this.assertLive();
    if (!Number.isInteger(row) || row < 0 || row > this.count) {
      throw new Error(`VectorArena.write: row ${row} is outside 0..${this.count}`);
    }
    const dims = this.dimensions;
    if (vector.length !== dims) {
      throw new Error(`VectorArena.write: vector has ${vector.length} values, expected ${dims}`);
    }
    if (row === this.count && row === this.capacity) this.reserve(row + 1);
    const f32 = this.f32;
    const at = this.floats ? this.layout.data + row * this.stride : 0;
    const base = at >>> 2;
    if (vector instanceof Float32Array) f32.set(vector, base);
    else for (let i = 0; i < dims; i++) f32[base + i] = vector[i]!;
    const sumSquares = this.kernel.prepare_row(at, dims);
    if (!Number.isFinite(sumSquares)) return false;
    if (row === this.count) this.count = row + 1;
    if (!this.floats) {
      this.quantizeRow(row, 0);
      this.storeCodeNorm(row);
      return true;
    }
    if (dims & 3) f32.fill(0, base + dims, base + (this.stride >>> 2));
    f32[(this.layout.norms >>> 2) + row] = Math.sqrt(sumSquares);
    if (this.quantized) this.quantizeRow(row, base);
    return true;
  }

  /** Writes the int8 codes and scale of `row` from the float values at f32 index `from`. */
  private quantizeRow(row: number, from: number): void {
    const f32 = this.f32;
    const dims = this.dimensions;
    let maxAbs = 0;
    for (let i = 0; i < dims; i++) maxAbs = Math.max(maxAbs, Math.abs(f32[from + i]!));
    const codeBase = this.layout.codes + row * this.codeStride;
    f32[(this.layout.scales >>> 2) + row] = quantize(f32, from, dims, maxAbs, this.i8, codeBase, this.codeStride);
  }

  /** Writes the dequantized values of `row` (code × scale, as float32) to `out` from index `at`. */
  private dequantize(row: number, out: Float32Array, at: number): void {
    const i8 = this.i8;
    const codes = this.layout.codes + row * this.codeStride;
    const scale = this.f32[(this.layout.scales >>> 2) + row]!;
    for (let i = 0; i < this.dimensions; i++) out[at + i] = i8[codes + i]! * scale;
  }

  /** Int8-only: stores the norm of the dequantized values of `row` (summed by the kernel, as `write` sums). */
  private storeCodeNorm(row: number): void {
    this.dequantize(row, this.f32, 0);
    this.f32[(this.layout.norms >>> 2) + row] = Math.sqrt(this.kernel.prepare_row(0, this.dimensions));
  }

  /** A copy of the stored (float32) values of `row`; int8-only, the dequantized values. */
  read(row: number): Float32Array {
    this.assertLive();
    this.assertRow(row, 'read');
    if (!this.floats) {
      const out = new Float32Array(this.dimensions);
      this.dequantize(row, out, 0);
      return out;
    }
    const base = (this.layout.data + row * this.stride) >>> 2;
    return this.f32.slice(base, base + this.dimensions);
  }

  /** Copies row `from` over row `to` (both < size). */
  move(from: number, to: number): void {
    this.assertLive();
    this.assertRow(from, 'move');
    this.assertRow(to, 'move');
    if (from === to) return;
    const { data, norms, codes, scales } = this.layout;
    const u8 = this.u8;
    if (this.floats) u8.copyWithin(data + to * this.stride, data + from * this.stride, data + (from + 1) * this.stride);
    this.f32[(norms >>> 2) + to] = this.f32[(norms >>> 2) + from]!;
    if (this.quantized) {
      u8.copyWithin(codes + to * this.codeStride, codes + from * this.codeStride, codes + (from + 1) * this.codeStride);
      this.f32[(scales >>> 2) + to] = this.f32[(scales >>> 2) + from]!;
    }
  }

  /** Drops rows >= size. */
  truncate(size: number): void {
    this.assertLive();
    if (!Number.isInteger(size) || size < 0 || size > this.count) {
      throw new Error(`VectorArena.truncate: size ${size} is outside 0..${this.count}`);
    }
    this.count = size;
  }

  /**
   * Top-k rows by score (higher is closer), best first; ties go to the lower row. An int8-only arena
   * scores every candidate with its codes (no re-scoring: the scores are int8 scores).
   */
  search(query: ArrayLike<number>, options: ArenaSearchOptions): TopK {
    this.assertLive();
    const dims = this.dimensions;
    if (query.length !== dims) {
      throw new Error(`VectorArena.search: query has ${query.length} values, expected ${dims}`);
    }
    const metric = METRIC_CODE[options.metric];
    if (metric === undefined) throw new Error(`VectorArena.search: unknown metric ${String(options.metric)}`);
    if (options.quantized === true && !this.quantized) {
      throw new Error('VectorArena.search: quantized search needs an arena built with quantized: true');
    }
    const k = Math.floor(options.k);
    const candidates = options.rows;
    let count = this.count;
    if (candidates !== undefined) {
      count = options.rowCount ?? candidates.length;
      if (!Number.isInteger(count) || count < 0 || count > candidates.length) {
        throw new Error(`VectorArena.search: rowCount ${count} is outside 0..${candidates.length}`);
      }
    }
    if (!(k > 0) || count === 0) return { rows: new Uint32Array(0), scores: new Float32Array(0) };
    if (count > this.scratchCapacity) this.growScratch(count);

    const { rows: rowsPtr, scores: scoresPtr } = this.layout;
    if (candidates !== undefined) {
      const u32 = this.u32;
      const at = rowsPtr >>> 2;
      const limit = this.count;
      for (let i = 0; i < count; i++) {
        const r = candidates[i]!;
        if (r >= limit) throw new Error(`VectorArena.search: candidate row ${r} is outside 0..${limit - 1}`);
        u32[at + i] = r;
      }
    }
    const queryNorm = this.loadQuery(query);
    const rowsArg = candidates === undefined ? 0 : rowsPtr;

    const rescore = Math.max(1, options.rescore ?? DEFAULT_RESCORE);
    const shortlist = Math.ceil(k * rescore);
    const int8Only = !this.floats;
    if (int8Only || (options.quantized === true && shortlist < count)) {
      const queryScale = this.loadQueryCodes();
      const { codes, scales, norms } = this.layout;
      this.kernel.score_i8(
        metric,
        this.queryI16,
        codes,
        this.codeStride,
        rowsArg,
        count,
        scales,
        norms,
        queryScale,
        queryNorm,
        scoresPtr,
      );
      const approx = selectTopK(
        this.f32,
        scoresPtr >>> 2,
        count,
        candidates === undefined ? undefined : this.u32,
        rowsPtr >>> 2,
        int8Only ? k : shortlist,
      );
      if (int8Only) return approx;
      this.u32.set(approx.rows, rowsPtr >>> 2);
      this.kernel.score_f32(metric, 0, this.layout.data, this.stride, rowsPtr, shortlist, norms, queryNorm, scoresPtr);
      return selectTopK(this.f32, scoresPtr >>> 2, shortlist, this.u32, rowsPtr >>> 2, k);
    }
    const { data, norms } = this.layout;
    this.kernel.score_f32(metric, 0, data, this.stride, rowsArg, count, norms, queryNorm, scoresPtr);
    return selectTopK(
      this.f32,
      scoresPtr >>> 2,
      count,
      candidates === undefined ? undefined : this.u32,
      rowsPtr >>> 2,
      k,
    );
  }

  /**
   * Loads a query for `scoreRows` (the graph index scores candidates a few at a time). Another
   * `search` or `beginQuery` replaces it.
   */
  beginQuery(query: ArrayLike<number>, metric: KernelMetric): void {
    this.assertLive();
    this.queryNorm = this.loadQuery(query);
    if (!this.floats) this.queryScale = this.loadQueryCodes();
    this.queryMetric = METRIC_CODE[metric];
  }

  /** Loads stored row `row` as the query (see `beginQuery`); int8-only, its codes as i16. */
  beginRowQuery(row: number, metric: KernelMetric): void {
    this.assertRow(row, 'beginRowQuery');
    const { data, norms, codes, scales } = this.layout;
    if (this.floats) {
      const base = (data + row * this.stride) >>> 2;
      this.f32.copyWithin(0, base, base + (this.stride >>> 2));
    } else {
      const at = codes + row * this.codeStride;
      this.i16.set(this.i8.subarray(at, at + this.codeStride), this.queryI16 >>> 1);
      this.queryScale = this.f32[(scales >>> 2) + row]!;
    }
    this.queryNorm = this.f32[(norms >>> 2) + row]!;
    this.queryMetric = METRIC_CODE[metric];
  }

  /** Scores of `count` rows (from `rows`) against the loaded query, into `out` (int8-only: int8 scores). */
  scoreRows(rows: Uint32Array, count: number, out: Float32Array): void {
    if (count === 0) return;
    if (count > this.scratchCapacity) this.growScratch(count);
    const { rows: rowsPtr, scores, data, norms, codes, scales } = this.layout;
    const u32 = this.u32;
    const at = rowsPtr >>> 2;
    for (let i = 0; i < count; i++) u32[at + i] = rows[i]!;
    const metric = this.queryMetric;
    if (this.floats) this.kernel.score_f32(metric, 0, data, this.stride, rowsPtr, count, norms, this.queryNorm, scores);
    else {
      const { queryI16, codeStride, queryScale, queryNorm } = this;
      this.kernel.score_i8(
        metric,
        queryI16,
        codes,
        codeStride,
        rowsPtr,
        count,
        scales,
        norms,
        queryScale,
        queryNorm,
        scores,
      );
    }
    const f32 = this.f32;
    const from = scores >>> 2;
    for (let i = 0; i < count; i++) out[i] = f32[from + i]!;
  }

  /** Whether the kernel walks the attached graph itself (WebAssembly; see `walk` and `connect`). */
  get walks(): boolean {
    return this.kernel.walk !== undefined;
  }

  /**
   * The kernel's layer-0 beam search for the loaded query over the attached graph (`walks` only):
   * from `count` entry rows (with their scores), the best `ef` rows of 0..size-1 other than `exclude`
   * (and, with `accept`, whose byte there is 1), visited with `mark`; returns how many, kept best
   * first for `found` and `connect`.
   */
  walk(
    entries: Uint32Array,
    entryScores: Float64Array,
    count: number,
    ef: number,
    exclude: number,
    mark: number,
    size: number,
    accept?: Uint8Array,
  ): number {
    const { norms, links, visited, found, rows } = this.layout;
    const { data, stride, scales } = this.graphRows();
    if (accept) this.u8.set(accept.subarray(0, size), this.layout.accept);
    const u32 = this.u32;
    const f32 = this.f32;
    for (let i = 0, at = found >>> 2; i < count; i++, at += 2) {
      f32[at] = entryScores[i]!;
      u32[at + 1] = entries[i]!;
    }
    const walk = this.kernel.walk as NonNullable<KernelExports['walk']>;
    return walk(
      this.queryMetric,
      this.floats ? 0 : this.queryI16,
      data,
      stride,
      norms,
      this.queryNorm,
      scales,
      this.queryScale,
      links,
      this.linkBytes,
      size,
      visited,
      mark,
      ef,
      exclude,
      found,
      count,
      rows,
      found + 8 * (this.capacity + 1),
      accept ? this.layout.accept : 0,
    );
  }

  /** The first `count` rows `walk` found, best first, with their scores. */
  found(count: number): { rows: Uint32Array; scores: Float64Array } {
    const rows = new Uint32Array(count);
    const scores = new Float64Array(count);
    const u32 = this.u32;
    const f32 = this.f32;
    for (let i = 0, at = this.layout.found >>> 2; i < count; i++, at += 2) {
      scores[i] = f32[at]!;
      rows[i] = u32[at + 1]!;
    }
    return { rows, scores };
  }

  /**
   * Links `row` on layer 0 from the `count` rows `walk` found for it: up to `m` chosen by the HNSW
   * heuristic, each linking back (lists pruned to `max`) — what hnsw.ts does in JavaScript.
   */
  connect(row: number, count: number, m: number, max: number, size: number): void {
    const { norms, links, found, rows } = this.layout;
    const { data, stride, scales } = this.graphRows();
    const connect = this.kernel.connect as NonNullable<KernelExports['connect']>;
    connect(
      this.queryMetric,
      data,
      stride,
      norms,
      scales,
      links,
      this.linkBytes,
      size,
      row,
      found,
      count,
      m,
      max,
      rows,
    );
  }

  /** What the kernel's graph steps score: the float rows, or int8-only the codes (with their scales). */
  private graphRows(): { data: number; stride: number; scales: number } {
    const { data, codes, scales } = this.layout;
    return this.floats ? { data, stride: this.stride, scales: 0 } : { data: codes, stride: this.codeStride, scales };
  }

  /** Bytes per stored float row (dimensions padded with zeros to a multiple of 4 floats). */
  get rowBytes(): number {
    return this.stride;
  }

  /**
   * The stored rows as byte views for snapshots (little-endian, as WebAssembly memory is): float rows
   * (`rowBytes` each), norms (f32) and, when quantized, int8 codes (dimensions padded to 16) and
   * scales (f32). Valid until the next change to the arena; copy them out at once. An int8-only arena
   * hands out its dequantized values as the float rows (a new buffer).
   */
  exportRows(): RowViews {
    this.assertLive();
    const views = this.rowViews(this.count);
    if (this.floats) return views;
    const values = new Float32Array((this.count * this.stride) >>> 2);
    for (let row = 0; row < this.count; row++) this.dequantize(row, values, row * (this.stride >>> 2));
    return { ...views, floats: new Uint8Array(values.buffer) };
  }

  /**
   * Replaces every row with `count` rows exported by `exportRows` (codes and scales are recomputed
   * when this arena is quantized and they are not given). An int8-only arena keeps no float rows and
   * recomputes every norm from the codes, as `write` does.
   */
  importRows(
    count: number,
    rows: { floats: Uint8Array; norms: Uint8Array; codes?: Uint8Array | undefined; scales?: Uint8Array | undefined },
  ): void {
    this.assertLive();
    if (rows.floats.length !== count * this.stride || rows.norms.length !== count * 4) {
      throw new Error(`VectorArena.importRows: sections do not hold ${count} rows of ${this.dimensions} dimensions`);
    }
    this.count = 0;
    this.reserve(count);
    const { data, norms, codes, scales } = this.layout;
    if (this.floats) this.place(rows.floats, data);
    this.place(rows.norms, norms);
    this.count = count;
    if (!this.quantized) return;
    if (
      rows.codes &&
      rows.scales &&
      rows.codes.length === count * this.codeStride &&
      rows.scales.length === count * 4
    ) {
      this.place(rows.codes, codes);
      this.place(rows.scales, scales);
    } else {
      for (let row = 0; row < count; row++) {
        if (this.floats) this.quantizeRow(row, (data + row * this.stride) >>> 2);
        else {
          this.u8.set(rows.floats.subarray(row * this.stride, (row + 1) * this.stride), 0);
          this.quantizeRow(row, 0);
        }
      }
    }
    if (!this.floats) for (let row = 0; row < count; row++) this.storeCodeNorm(row);
  }

  /** Copies the query (zero-padded) to offset 0 and returns its norm. */
  private loadQuery(query: ArrayLike<number>): number {
    const f32 = this.f32;
    const dims = this.dimensions;
    let sumSquares = 0;
    for (let i = 0; i < dims; i++) {
      f32[i] = query[i]!;
      const v = f32[i]!;
      sumSquares += v * v;
    }
    f32.fill(0, dims, this.stride >>> 2);
    return Math.sqrt(sumSquares);
  }

  /** Quantizes the loaded float query into sign-extended i16 codes; returns the query scale. */
  private loadQueryCodes(): number {
    const f32 = this.f32;
    const dims = this.dimensions;
    let maxAbs = 0;
    for (let i = 0; i < dims; i++) {
      const a = Math.abs(f32[i]!);
      if (a > maxAbs) maxAbs = a;
    }
    return quantize(f32, 0, dims, maxAbs, this.i16, this.queryI16 >>> 1, this.codeStride);
  }

  private assertRow(row: number, op: string): void {
    if (!Number.isInteger(row) || row < 0 || row >= this.count) {
      throw new Error(`VectorArena.${op}: row ${row} is outside 0..${this.count - 1}`);
    }
  }
}
