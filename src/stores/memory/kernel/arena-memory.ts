/**
 * The WebAssembly memory behind a VectorArena, and where everything lives in it. Memory layout (byte
 * offsets, all 16-aligned), recomputed when capacity grows:
 *   [float query | i16 query | float rows (unless int8-only) | norms | int8 codes | int8 scales |
 *    graph links | visit marks | found | accepted | candidate rows | scores]
 * The three graph regions are empty until an HNSW graph attaches (`attachGraph`): per row, its layer-0
 * list of links and a visit mark, and room for (capacity + 1) (score, row) pairs of beam results
 * followed by a list's rows as u32 (the neighbours a walk scores next), and a byte per row: 1 for
 * the rows a filtered walk may return.
 * Growing the memory detaches its buffer, so the typed views over it are refreshed after every growth.
 */
import { type Kernel, type KernelExports, type KernelMemory, PAGE, resolveKernel } from './kernel.js';

export type VectorArenaOptions = {
  dimensions: number;
  /** Rows to reserve up front (default 64). */
  initialCapacity?: number;
  /** Also keep int8 codes so that searches may pass `quantized: true`. */
  quantized?: boolean;
  /**
   * `false`: keep only the int8 codes (with `quantized: true`), their scales and norms, no float rows;
   * every score is an int8 score and `read` returns the dequantized values. Default `true`.
   */
  floats?: boolean;
  /** The kernel to run on (default: `resolveKernel('auto')`). */
  kernel?: Kernel;
};

/** An arena's rows as byte views (see `ArenaMemory.rowViews`). */
export type RowViews = { floats: Uint8Array; norms: Uint8Array; codes?: Uint8Array; scales?: Uint8Array };

const MAX_PAGES = 65536; // 4 GiB, the wasm32 limit
const DEFAULT_CAPACITY = 64;

const align16 = (bytes: number): number => Math.ceil(bytes / 16) * 16;

type Layout = {
  data: number;
  norms: number;
  codes: number;
  scales: number;
  links: number;
  visited: number;
  found: number;
  accept: number;
  rows: number;
  scores: number;
  end: number;
};

/** Allocation and layout of an arena's memory: capacity, scratch room and views (see VectorArena). */
export class ArenaMemory {
  readonly dimensions: number;
  readonly quantized: boolean;
  /** Whether float rows are kept (else only int8 codes: see VectorArenaOptions.floats). */
  readonly floats: boolean;
  /** Bytes per float row (dimensions padded to a multiple of 4 floats). */
  protected readonly stride: number;
  /** Bytes per int8 row (dimensions padded to a multiple of 16). */
  protected readonly codeStride: number;
  protected readonly queryI16: number;
  private readonly headerBytes: number;
  private memory: KernelMemory;
  /** Which kernel runs this arena's searches. */
  readonly kernelName: Kernel['name'];
  protected kernel: KernelExports;
  protected capacity: number;
  protected scratchCapacity: number;
  protected layout: Layout;
  /** Rows in use: 0..count-1. */
  protected count = 0;
  /** Bytes of graph links per row (0: no graph attached). */
  protected linkBytes = 0;
  private graphViews:
    | { layout: Layout; buffer: ArrayBuffer; lists: Uint8Array; counts: Uint32Array; visited: Uint32Array }
    | undefined;
  private disposed = false;
  // Views over memory.buffer; refreshed whenever the memory grows (growth detaches the old buffer).
  private buffer!: ArrayBuffer;
  protected f32!: Float32Array;
  protected u32!: Uint32Array;
  protected i8!: Int8Array;
  protected i16!: Int16Array;
  protected u8!: Uint8Array;

  constructor(options: VectorArenaOptions) {
    const { dimensions } = options;
    if (!Number.isInteger(dimensions) || dimensions < 1) {
      throw new Error(`VectorArena dimensions must be a positive integer, got ${dimensions}`);
    }
    this.dimensions = dimensions;
    this.quantized = options.quantized === true;
    this.floats = options.floats !== false;
    if (!this.floats && !this.quantized) throw new Error('VectorArena: floats: false needs quantized: true');
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
    this.refreshViews();
  }

  /** Bytes of WebAssembly memory this arena holds (rows, codes, scratch and growth headroom). */
  get memoryBytes(): number {
    return this.memory.buffer.byteLength;
  }

  /** Releases the memory (the arena is unusable afterwards). */
  dispose(): void {
    this.disposed = true;
    this.count = 0;
    this.memory = { buffer: new ArrayBuffer(0), grow: () => 0 };
    this.refreshViews();
    this.kernel = undefined as unknown as KernelExports;
  }

  /** Ensures room for at least `rows` rows (grows capacity geometrically). */
  reserve(rows: number): void {
    this.assertLive();
    if (rows <= this.capacity) return;
    const capacity = Math.max(rows, Math.ceil(this.capacity * 2), DEFAULT_CAPACITY);
    const scratch = Math.max(this.scratchCapacity, capacity);
    const next = this.computeLayout(capacity, scratch);
    this.ensureBytes(next.end);
    const prev = this.layout;
    const u8 = this.u8;
    const n = this.count;
    // Regions only move up; move the highest first so nothing is overwritten before it is copied.
    u8.copyWithin(next.links, prev.links, prev.links + this.linkBytes * n);
    if (this.quantized) {
      u8.copyWithin(next.scales, prev.scales, prev.scales + 4 * n);
      u8.copyWithin(next.codes, prev.codes, prev.codes + this.codeStride * n);
    }
    u8.copyWithin(next.norms, prev.norms, prev.norms + 4 * n);
    // The rows start right after the fixed-size query slots, so they never move.
    // Visit marks are not kept: a zero never equals a walk's mark.
    u8.fill(0, next.visited, next.found);
    this.capacity = capacity;
    this.scratchCapacity = scratch;
    this.layout = next;
  }

  /**
   * Empties the arena and makes room for `count` rows, returned as the views `importRows` reads
   * (see `rowViews`): a snapshot read straight into them is imported without being copied again.
   * Undefined for an arena without float rows (int8-only), which quantizes rows as it imports them.
   */
  receiveRows(count: number): RowViews | undefined {
    if (!this.floats) return undefined;
    this.count = 0;
    this.reserve(count);
    return this.rowViews(count);
  }

  /**
   * Rows 0..n-1 as byte views into this memory: float rows, norms (f32) and, when quantized, int8
   * codes and scales (f32). They hold until the memory next grows.
   */
  protected rowViews(n: number): RowViews {
    const { data, norms, codes, scales } = this.layout;
    const u8 = this.u8;
    return {
      floats: u8.subarray(data, data + n * this.stride),
      norms: u8.subarray(norms, norms + 4 * n),
      ...(this.quantized
        ? { codes: u8.subarray(codes, codes + n * this.codeStride), scales: u8.subarray(scales, scales + 4 * n) }
        : {}),
    };
  }

  /** Copies `bytes` to offset `at`, unless they are already there (rows read in through `receiveRows`). */
  protected place(bytes: Uint8Array, at: number): void {
    if (bytes.buffer !== this.buffer || bytes.byteOffset !== at) this.u8.set(bytes, at);
  }

  /**
   * Gives every row `bytes` (a multiple of 4) of graph links (its HNSW layer-0 list) and a visit mark
   * in this memory, where the kernel's graph walk reads them. Each new graph calls it: its marks
   * start clean, and it overwrites the lists of an earlier graph as it adds rows.
   */
  attachGraph(bytes: number): void {
    this.assertLive();
    if (bytes !== this.linkBytes) {
      this.linkBytes = bytes;
      // The kernel's link pruning keeps a list plus one as (score, row) pairs in the scratch rows.
      const scratch = Math.max(this.scratchCapacity, bytes);
      const next = this.computeLayout(this.capacity, scratch);
      this.ensureBytes(next.end);
      this.u8.fill(0, next.links, next.visited);
      this.scratchCapacity = scratch;
      this.layout = next;
    }
    // A new graph counts its walks from 1 again: no mark of an earlier graph may equal one of them.
    this.u8.fill(0, this.layout.visited, this.layout.found);
  }

  /**
   * The attached graph's lists (`bytes` per row, for `capacity` rows) as bytes and as u32 words, and
   * the visit marks: views that hold until the arena next grows (take them again after any write).
   */
  graphMemory(): { lists: Uint8Array; counts: Uint32Array; visited: Uint32Array } {
    const cached = this.graphViews;
    if (cached && cached.layout === this.layout && cached.buffer === this.buffer) return cached;
    const { links, visited, found } = this.layout;
    const views = {
      layout: this.layout,
      buffer: this.buffer,
      lists: new Uint8Array(this.buffer, links, visited - links),
      counts: new Uint32Array(this.buffer, links, (visited - links) >>> 2),
      visited: new Uint32Array(this.buffer, visited, (found - visited) >>> 2),
    };
    this.graphViews = views;
    return views;
  }

  protected growScratch(rows: number): void {
    const scratch = Math.max(rows, Math.ceil(this.scratchCapacity * 1.5));
    const next = this.computeLayout(this.capacity, scratch);
    this.ensureBytes(next.end);
    this.scratchCapacity = scratch;
    this.layout = next;
  }

  private computeLayout(capacity: number, scratch: number): Layout {
    const data = align16(this.headerBytes);
    const norms = align16(data + (this.floats ? capacity * this.stride : 0));
    const codes = align16(norms + 4 * capacity);
    const scales = this.quantized ? align16(codes + capacity * this.codeStride) : codes;
    const links = this.quantized ? align16(scales + 4 * capacity) : scales;
    const graph = this.linkBytes > 0;
    const visited = align16(links + capacity * this.linkBytes);
    const found = align16(visited + (graph ? 4 * capacity : 0));
    const accept = align16(found + (graph ? 8 * (capacity + 1) + 16 + 2 * this.linkBytes : 0));
    const rows = align16(accept + (graph ? capacity : 0));
    const scores = align16(rows + 4 * scratch);
    const end = align16(scores + 4 * scratch);
    return { data, norms, codes, scales, links, visited, found, accept, rows, scores, end };
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

  protected assertLive(): void {
    if (this.disposed) throw new Error('VectorArena has been disposed');
  }
}
