/**
 * VectorArena: dense vectors of one dimensionality kept in a WebAssembly memory, searched exactly
 * (and optionally through int8 codes with float re-scoring) by the SIMD128 kernel in kernel.wat.
 *
 * Runs in every runtime with WebAssembly SIMD (Node 20, current browsers, edge workers): no Node
 * built-ins. The module is compiled once per process, lazily; each arena owns one instance and one
 * memory. Rows are dense (0..size-1); the memory store maps its ids onto rows.
 *
 * Memory layout (byte offsets, all 16-aligned), recomputed when capacity grows:
 *   [float query | i16 query | float rows | norms | int8 codes | int8 scales | candidate rows | scores]
 */
import { type Kernel, type KernelExports, type KernelMemory, PAGE, resolveKernel } from './kernel.js';

export type KernelMetric = 'cosine' | 'dot' | 'euclidean';
/** Best first; length min(k, candidates). */
export type TopK = { rows: Uint32Array; scores: Float32Array };

export type VectorArenaOptions = {
  dimensions: number;
  /** Rows to reserve up front (default 64). */
  initialCapacity?: number;
  /** Also keep int8 codes so that searches may pass `quantized: true`. */
  quantized?: boolean;
  /** The kernel to run on (default: `resolveKernel('auto')`). */
  kernel?: Kernel;
};

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

const MAX_PAGES = 65536; // 4 GiB, the wasm32 limit
const METRIC_CODE: Record<KernelMetric, number> = { cosine: 0, dot: 1, euclidean: 2 };
const DEFAULT_CAPACITY = 64;
const DEFAULT_RESCORE = 4;

const align16 = (bytes: number): number => Math.ceil(bytes / 16) * 16;

type Layout = {
  data: number;
  norms: number;
  codes: number;
  scales: number;
  rows: number;
  scores: number;
  end: number;
};

export class VectorArena {
  readonly dimensions: number;
  readonly quantized: boolean;
  /** Bytes per float row (dimensions padded to a multiple of 4 floats). */
  private readonly stride: number;
  /** Bytes per int8 row (dimensions padded to a multiple of 16). */
  private readonly codeStride: number;
  private readonly queryI16: number;
  private readonly headerBytes: number;
  private memory: KernelMemory;
  /** Which kernel runs this arena's searches. */
  readonly kernelName: Kernel['name'];
  private kernel: KernelExports;
  private capacity: number;
  private scratchCapacity: number;
  private layout: Layout;
  private count = 0;
  private disposed = false;
  private queryNorm = 0;
  private queryMetric = 0;
  // Views over memory.buffer; refreshed whenever the memory grows (growth detaches the old buffer).
  private buffer: ArrayBuffer;
  private f32: Float32Array;
  private u32: Uint32Array;
  private i8: Int8Array;
  private i16: Int16Array;
  private u8: Uint8Array;

  constructor(options: VectorArenaOptions) {
    const { dimensions } = options;
    if (!Number.isInteger(dimensions) || dimensions < 1) {
      throw new Error(`VectorArena dimensions must be a positive integer, got ${dimensions}`);
    }
    this.dimensions = dimensions;
    this.quantized = options.quantized === true;
    this.stride = Math.ceil(dimensions / 4) * 16;
    this.codeStride = Math.ceil(dimensions / 16) * 16;
    this.queryI16 = this.stride;
    this.headerBytes = this.queryI16 + 2 * this.codeStride;
    this.capacity = Math.max(1, Math.floor(options.initialCapacity ?? DEFAULT_CAPACITY));
    this.scratchCapacity = this.capacity;
    this.layout = this.computeLayout(this.capacity, this.scratchCapacity);
    const kernel = options.kernel ?? resolveKernel();
    this.kernelName = kernel.name;
    // No declared maximum: the engine's own cap applies (4 GiB for wasm32 in current engines).
    this.memory = kernel.memory(this.pagesFor(this.layout.end));
    this.kernel = kernel.instantiate(this.memory);
    this.buffer = this.memory.buffer;
    this.f32 = new Float32Array(this.buffer);
    this.u32 = new Uint32Array(this.buffer);
    this.i8 = new Int8Array(this.buffer);
    this.i16 = new Int16Array(this.buffer);
    this.u8 = new Uint8Array(this.buffer);
  }

  /** Rows in use: 0..size-1. */
  get size(): number {
    return this.count;
  }

  /** Bytes of WebAssembly memory this arena holds (rows, codes, scratch and growth headroom). */
  get memoryBytes(): number {
    return this.memory.buffer.byteLength;
  }

  /**
   * Writes `vector` at `row` (row === size appends, growing the memory as needed). Keeps the float32
   * values and the row norm and, when quantized, the int8 codes and scale.
   */
  write(row: number, vector: ArrayLike<number>): void {
    this.assertLive();
    if (!Number.isInteger(row) || row < 0 || row > this.count) {
      throw new Error(`VectorArena.write: row ${row} is outside 0..${this.count}`);
    }
    const dims = this.dimensions;
    if (vector.length !== dims) {
      throw new Error(`VectorArena.write: vector has ${vector.length} values, expected ${dims}`);
    }
    if (row === this.count) {
      if (row === this.capacity) this.reserve(row + 1);
      this.count = row + 1;
    }
    const f32 = this.f32;
    const base = (this.layout.data + row * this.stride) >>> 2;
    let sumSquares = 0;
    let maxAbs = 0;
    if (vector instanceof Float32Array) f32.set(vector, base);
    else for (let i = 0; i < dims; i++) f32[base + i] = vector[i]!;
    for (let i = 0; i < dims; i++) {
      const v = f32[base + i]!;
      sumSquares += v * v;
      const a = Math.abs(v);
      if (a > maxAbs) maxAbs = a;
    }
    f32.fill(0, base + dims, base + (this.stride >>> 2));
    f32[(this.layout.norms >>> 2) + row] = Math.sqrt(sumSquares);
    if (this.quantized) this.quantizeRow(row, maxAbs);
  }

  /** Writes the int8 codes and scale of a stored float row. */
  private quantizeRow(row: number, knownMaxAbs?: number): void {
    const f32 = this.f32;
    const dims = this.dimensions;
    const base = (this.layout.data + row * this.stride) >>> 2;
    let maxAbs = knownMaxAbs ?? 0;
    if (knownMaxAbs === undefined) for (let i = 0; i < dims; i++) maxAbs = Math.max(maxAbs, Math.abs(f32[base + i]!));
    const scale = maxAbs > 0 ? maxAbs / 127 : 0;
    f32[(this.layout.scales >>> 2) + row] = scale;
    const stored = f32[(this.layout.scales >>> 2) + row]!;
    const inv = stored > 0 ? 1 / stored : 0;
    const codeBase = this.layout.codes + row * this.codeStride;
    const i8 = this.i8;
    for (let i = 0; i < dims; i++) i8[codeBase + i] = clampCode(Math.round(f32[base + i]! * inv));
    i8.fill(0, codeBase + dims, codeBase + this.codeStride);
  }

  /** A copy of the stored (float32) values of `row`. */
  read(row: number): Float32Array {
    this.assertLive();
    this.assertRow(row, 'read');
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
    u8.copyWithin(data + to * this.stride, data + from * this.stride, data + (from + 1) * this.stride);
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

  /** Top-k rows by score (higher is closer), best first; ties go to the lower row. */
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
    if (options.quantized === true && shortlist < count) {
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
        shortlist,
      );
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
    this.queryMetric = METRIC_CODE[metric];
  }

  /** Loads stored row `row` as the query (see `beginQuery`). */
  beginRowQuery(row: number, metric: KernelMetric): void {
    this.assertRow(row, 'beginRowQuery');
    const base = (this.layout.data + row * this.stride) >>> 2;
    this.f32.copyWithin(0, base, base + (this.stride >>> 2));
    this.queryNorm = this.f32[(this.layout.norms >>> 2) + row]!;
    this.queryMetric = METRIC_CODE[metric];
  }

  /** Exact scores of `count` rows (from `rows`) against the loaded query, into `out`. */
  scoreRows(rows: Uint32Array, count: number, out: Float32Array): void {
    if (count === 0) return;
    if (count > this.scratchCapacity) this.growScratch(count);
    const { rows: rowsPtr, scores, data, norms } = this.layout;
    const u32 = this.u32;
    const at = rowsPtr >>> 2;
    for (let i = 0; i < count; i++) u32[at + i] = rows[i]!;
    this.kernel.score_f32(this.queryMetric, 0, data, this.stride, rowsPtr, count, norms, this.queryNorm, scores);
    const f32 = this.f32;
    const from = scores >>> 2;
    for (let i = 0; i < count; i++) out[i] = f32[from + i]!;
  }

  /** Releases the memory (the arena is unusable afterwards). */
  dispose(): void {
    this.disposed = true;
    this.count = 0;
    const empty = new ArrayBuffer(0);
    this.buffer = empty;
    this.f32 = new Float32Array(empty);
    this.u32 = new Uint32Array(empty);
    this.i8 = new Int8Array(empty);
    this.i16 = new Int16Array(empty);
    this.u8 = new Uint8Array(empty);
    this.memory = { buffer: empty, grow: () => 0 };
    this.kernel = undefined as unknown as KernelExports;
  }

  /** Bytes per stored float row (dimensions padded with zeros to a multiple of 4 floats). */
  get rowBytes(): number {
    return this.stride;
  }

  /**
   * The stored rows as byte views for snapshots (little-endian, as WebAssembly memory is): float rows
   * (`rowBytes` each), norms (f32) and, when quantized, int8 codes (dimensions padded to 16) and
   * scales (f32). Valid until the next change to the arena; copy them out at once.
   */
  exportRows(): { floats: Uint8Array; norms: Uint8Array; codes?: Uint8Array; scales?: Uint8Array } {
    this.assertLive();
    const { data, norms, codes, scales } = this.layout;
    const n = this.count;
    const u8 = this.u8;
    return {
      floats: u8.subarray(data, data + n * this.stride),
      norms: u8.subarray(norms, norms + 4 * n),
      ...(this.quantized
        ? { codes: u8.subarray(codes, codes + n * this.codeStride), scales: u8.subarray(scales, scales + 4 * n) }
        : {}),
    };
  }

  /**
   * Replaces every row with `count` rows exported by `exportRows` (codes and scales are recomputed
   * when this arena is quantized and they are not given).
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
    this.u8.set(rows.floats, data);
    this.u8.set(rows.norms, norms);
    this.count = count;
    if (!this.quantized) return;
    if (
      rows.codes &&
      rows.scales &&
      rows.codes.length === count * this.codeStride &&
      rows.scales.length === count * 4
    ) {
      this.u8.set(rows.codes, codes);
      this.u8.set(rows.scales, scales);
      return;
    }
    for (let row = 0; row < count; row++) this.quantizeRow(row);
  }

  /** Ensures room for at least `rows` rows (grows capacity geometrically). */
  reserve(rows: number): void {
    this.assertLive();
    if (rows <= this.capacity) return;
    const capacity = Math.max(rows, Math.ceil(this.capacity * 1.5), DEFAULT_CAPACITY);
    const scratch = Math.max(this.scratchCapacity, capacity);
    const next = this.computeLayout(capacity, scratch);
    this.ensureBytes(next.end);
    const prev = this.layout;
    const u8 = this.u8;
    const n = this.count;
    // Regions only move up; move the highest first so nothing is overwritten before it is copied.
    if (this.quantized) {
      u8.copyWithin(next.scales, prev.scales, prev.scales + 4 * n);
      u8.copyWithin(next.codes, prev.codes, prev.codes + this.codeStride * n);
    }
    u8.copyWithin(next.norms, prev.norms, prev.norms + 4 * n);
    u8.copyWithin(next.data, prev.data, prev.data + this.stride * n);
    this.capacity = capacity;
    this.scratchCapacity = scratch;
    this.layout = next;
  }

  private growScratch(rows: number): void {
    const scratch = Math.max(rows, Math.ceil(this.scratchCapacity * 1.5));
    const next = this.computeLayout(this.capacity, scratch);
    this.ensureBytes(next.end);
    this.scratchCapacity = scratch;
    this.layout = next;
  }

  private computeLayout(capacity: number, scratch: number): Layout {
    const data = align16(this.headerBytes);
    const norms = align16(data + capacity * this.stride);
    const codes = align16(norms + 4 * capacity);
    const scales = this.quantized ? align16(codes + capacity * this.codeStride) : codes;
    const rows = this.quantized ? align16(scales + 4 * capacity) : scales;
    const scores = align16(rows + 4 * scratch);
    const end = align16(scores + 4 * scratch);
    return { data, norms, codes, scales, rows, scores, end };
  }

  private pagesFor(bytes: number): number {
    const pages = Math.ceil(bytes / PAGE);
    if (pages > MAX_PAGES) {
      throw new Error(`VectorArena: ${bytes} bytes exceed the 4 GiB WebAssembly memory limit`);
    }
    return Math.max(1, pages);
  }

  private ensureBytes(bytes: number): void {
    const needed = this.pagesFor(bytes);
    const current = this.memory.buffer.byteLength / PAGE;
    if (needed > current) {
      // Grow geometrically so appends stay amortized O(1) even in page terms.
      const target = Math.min(MAX_PAGES, Math.max(needed, Math.ceil(current * 1.25)));
      try {
        this.memory.grow(target - current);
      } catch (error) {
        // Retry with just what is needed before giving up.
        try {
          this.memory.grow(needed - current);
        } catch {
          throw new Error(`VectorArena: cannot grow WebAssembly memory to ${needed * PAGE} bytes`, { cause: error });
        }
      }
      this.refreshViews();
    }
  }

  private refreshViews(): void {
    if (this.buffer === this.memory.buffer) return;
    this.buffer = this.memory.buffer;
    this.f32 = new Float32Array(this.buffer);
    this.u32 = new Uint32Array(this.buffer);
    this.i8 = new Int8Array(this.buffer);
    this.i16 = new Int16Array(this.buffer);
    this.u8 = new Uint8Array(this.buffer);
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
    const scale = Math.fround(maxAbs > 0 ? maxAbs / 127 : 0);
    const inv = scale > 0 ? 1 / scale : 0;
    const i16 = this.i16;
    const at = this.queryI16 >>> 1;
    for (let i = 0; i < dims; i++) i16[at + i] = clampCode(Math.round(f32[i]! * inv));
    i16.fill(0, at + dims, at + this.codeStride);
    return scale;
  }

  private assertRow(row: number, op: string): void {
    if (!Number.isInteger(row) || row < 0 || row >= this.count) {
      throw new Error(`VectorArena.${op}: row ${row} is outside 0..${this.count - 1}`);
    }
  }

  private assertLive(): void {
    if (this.disposed) throw new Error('VectorArena has been disposed');
  }
}

function clampCode(code: number): number {
  return Math.min(127, Math.max(-127, code));
}

/**
 * Bounded min-heap selection of the k best (score desc, row asc) among scores[at..at+count).
 * Row ids come from rows[rowsAt + i] when `rows` is given, else they are i. NaN scores rank last.
 */
function selectTopK(
  scores: Float32Array,
  at: number,
  count: number,
  rows: Uint32Array | undefined,
  rowsAt: number,
  k: number,
): TopK {
  const size = Math.min(k, count);
  const hs = new Float64Array(size);
  const hr = new Uint32Array(size);
  let n = 0;
  // Fill the heap with the first `size` candidates.
  for (; n < size; n++) {
    let s = scores[at + n]!;
    if (Number.isNaN(s)) s = Number.NEGATIVE_INFINITY;
    const r = rows === undefined ? n : rows[rowsAt + n]!;
    siftUp(hs, hr, n, s, r);
  }
  if (size === 0) return { rows: hr, scores: new Float32Array(0) };
  let minScore = hs[0]!;
  for (let i = size; i < count; i++) {
    const s = scores[at + i]!;
    if (!(s >= minScore)) continue; // worse than the worst kept (or NaN)
    const r = rows === undefined ? i : rows[rowsAt + i]!;
    if (s === minScore && r > hr[0]!) continue;
    siftDown(hs, hr, size, s, r);
    minScore = hs[0]!;
  }
  // Pop the worst first, filling from the back.
  const outRows = new Uint32Array(size);
  const outScores = new Float32Array(size);
  for (let end = size - 1; end >= 0; end--) {
    outRows[end] = hr[0]!;
    outScores[end] = hs[0]!;
    if (end > 0) siftDown(hs, hr, end, hs[end]!, hr[end]!);
  }
  return { rows: outRows, scores: outScores };
}

/** True when (sa, ra) ranks below (sb, rb). */
function worse(sa: number, ra: number, sb: number, rb: number): boolean {
  return sa < sb || (sa === sb && ra > rb);
}

/** Inserts (s, r) at position n of a heap of n entries whose root is the worst entry. */
function siftUp(hs: Float64Array, hr: Uint32Array, n: number, s: number, r: number): void {
  let i = n;
  while (i > 0) {
    const parent = (i - 1) >> 1;
    const ps = hs[parent]!;
    const pr = hr[parent]!;
    if (!worse(s, r, ps, pr)) break;
    hs[i] = ps;
    hr[i] = pr;
    i = parent;
  }
  hs[i] = s;
  hr[i] = r;
}

/** Replaces the root of a heap of n entries with (s, r) and restores the heap order. */
function siftDown(hs: Float64Array, hr: Uint32Array, n: number, s: number, r: number): void {
  let i = 0;
  for (;;) {
    let child = 2 * i + 1;
    if (child >= n) break;
    const right = child + 1;
    if (right < n && worse(hs[right]!, hr[right]!, hs[child]!, hr[child]!)) child = right;
    const cs = hs[child]!;
    const cr = hr[child]!;
    if (!worse(cs, cr, s, r)) break;
    hs[i] = cs;
    hr[i] = cr;
    i = child;
  }
  hs[i] = s;
  hr[i] = r;
}
