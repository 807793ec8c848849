/**
 * The links of an HNSW graph (hnsw.ts) as typed arrays indexed by row: allocation, unlinking and the
 * swap-remove of rows, and the arrays snapshots save. Nothing here scores vectors. Layer 0 and the
 * visit marks live in the arena's memory (`attachGraph`), where the WebAssembly kernel walks them.
 */
import type { ArenaMemory } from './arena-memory.js';

/** The graph as plain arrays, for snapshots. */
export type HnswState = {
  m: number;
  efConstruction: number;
  entry: number;
  maxLevel: number;
  size: number;
  removed: number;
  levels: Uint8Array;
  links0: Uint32Array;
  upperAt: Int32Array;
  upper: Uint32Array;
};

export class HnswGraph {
  readonly m: number;
  readonly m0: number;
  readonly efConstruction: number;
  protected levels: Uint8Array;
  /** Per row, where its upper layers start in `upper` (-1: none); each layer is [count, link × m]. */
  protected upperAt: Int32Array;
  private upper: Uint32Array;
  private upperUsed = 0;
  protected entry = -1;
  protected maxLevel = -1;
  size = 0;
  /** Rows deleted since the graph was built. */
  removed = 0;
  private visitMark = 0;
  private readonly memory: ArenaMemory;

  constructor(memory: ArenaMemory, options: { m?: number; efConstruction?: number }, capacity: number) {
    this.m = Math.max(2, Math.floor(options.m ?? 16));
    this.m0 = 2 * this.m;
    this.efConstruction = Math.max(this.m, Math.floor(options.efConstruction ?? 200));
    this.levels = new Uint8Array(capacity);
    this.upperAt = new Int32Array(capacity).fill(-1);
    this.upper = new Uint32Array(Math.max(64, capacity >> 2) * (this.m + 1));
    this.memory = memory;
    memory.attachGraph(this.m0 + 1);
  }

  /** Layer 0: per row, [count, link × m0] (a view into the arena: take it again after the arena grows). */
  protected get links0(): Uint32Array {
    return this.memory.graphMemory().links;
  }

  /** Per row, the mark of the last walk that visited it (a view, like `links0`). */
  protected get visited(): Uint32Array {
    return this.memory.graphMemory().visited;
  }

  /** Bytes the graph's links hold. */
  get bytes(): number {
    return this.levels.byteLength + this.size * (this.m0 + 1) * 4 + this.upperAt.byteLength + this.upperUsed * 4;
  }

  /** Whether deletes have worn the graph enough that a rebuild pays. */
  get worn(): boolean {
    return this.removed > 1000 && this.removed * 5 > this.size;
  }

  private reserve(rows: number): void {
    if (rows <= this.levels.length) return;
    const capacity = Math.max(rows, Math.ceil(this.levels.length * 1.5));
    this.memory.reserve(rows);
    const levels = new Uint8Array(capacity);
    levels.set(this.levels);
    const upperAt = new Int32Array(capacity).fill(-1);
    upperAt.set(this.upperAt);
    this.levels = levels;
    this.upperAt = upperAt;
  }

  /** Offset of the [count, links…] list of `row` at `level` in `links0` (level 0) or `upper`. */
  protected listAt(row: number, level: number): number {
    return level === 0 ? row * (this.m0 + 1) : (this.upperAt[row] as number) + (level - 1) * (this.m + 1);
  }

  protected list(level: number): Uint32Array {
    return level === 0 ? this.links0 : this.upper;
  }

  protected nextMark(): number {
    if (++this.visitMark === 0xffffffff) {
      this.visited.fill(0);
      this.visitMark = 1;
    }
    return this.visitMark;
  }

  /** Makes `row` a node of `level` layers with no links yet. */
  protected addNode(row: number, level: number): void {
    this.reserve(row + 1);
    if (row >= this.size) this.size = row + 1;
    this.levels[row] = level;
    this.links0[row * (this.m0 + 1)] = 0;
    if (level > 0) {
      const words = level * (this.m + 1);
      if (this.upperUsed + words > this.upper.length) {
        const grown = new Uint32Array(Math.max(this.upperUsed + words, this.upper.length * 2));
        grown.set(this.upper);
        this.upper = grown;
      }
      this.upperAt[row] = this.upperUsed;
      for (let l = 0; l < level; l++) this.upper[this.upperUsed + l * (this.m + 1)] = 0;
      this.upperUsed += words;
    } else {
      this.upperAt[row] = -1;
    }
  }

  /** Sets the links of `row` at `level`. */
  protected setLinks(row: number, level: number, links: ArrayLike<number>): void {
    const list = this.list(level);
    const at = this.listAt(row, level);
    list[at] = links.length;
    for (let j = 0; j < links.length; j++) list[at + 1 + j] = links[j] as number;
  }

  /** Removes `row` from its neighbours' lists (its own lists are left to the caller to overwrite). */
  protected unlink(row: number): void {
    const top = this.levels[row] as number;
    for (let l = 0; l <= top; l++) {
      const list = this.list(l);
      const at = this.listAt(row, l);
      const degree = list[at] as number;
      for (let j = 1; j <= degree; j++) {
        const node = list[at + j] as number;
        if (node >= this.size || node === row) continue;
        this.replaceLink(node, l, row, undefined);
      }
    }
  }

  /** In the list of `node` at `level`, replaces `from` with `to` (or removes it). */
  private replaceLink(node: number, level: number, from: number, to: number | undefined): void {
    if (level > (this.levels[node] as number)) return;
    const list = this.list(level);
    const at = this.listAt(node, level);
    const degree = list[at] as number;
    for (let j = 1; j <= degree; j++) {
      if (list[at + j] !== from) continue;
      if (to === undefined) {
        list[at + j] = list[at + degree] as number;
        list[at] = degree - 1;
      } else {
        list[at + j] = to;
      }
      return;
    }
  }

  /** A new entry point after the old one went: the highest-level row (a scan; deletes of it are rare). */
  protected electEntry(except = -1): void {
    this.entry = -1;
    this.maxLevel = -1;
    for (let row = 0; row < this.size; row++) {
      if (row === except) continue;
      const level = this.levels[row] as number;
      if (level > this.maxLevel) {
        this.maxLevel = level;
        this.entry = row;
      }
    }
  }

  /**
   * The collection removed `row` and moved its last row, `last`, into it (`row === last`: nothing
   * moved). Call before the arena truncates.
   */
  remove(row: number, last: number): void {
    this.unlink(row);
    const lostEntry = this.entry === row;
    if (row !== last) {
      // The moved row keeps its links; whoever links to it now finds it at `row`.
      const top = this.levels[last] as number;
      this.levels[row] = top;
      this.upperAt[row] = this.upperAt[last] as number;
      this.links0.copyWithin(row * (this.m0 + 1), last * (this.m0 + 1), (last + 1) * (this.m0 + 1));
      for (let l = 0; l <= top; l++) {
        const list = this.list(l);
        const at = this.listAt(row, l);
        const degree = list[at] as number;
        for (let j = 1; j <= degree; j++) {
          const node = list[at + j] as number;
          if (node < this.size && node !== last) this.replaceLink(node, l, last, row);
        }
      }
      if (this.entry === last) this.entry = row;
    }
    this.upperAt[last] = -1;
    this.levels[last] = 0;
    this.size = last;
    this.removed++;
    if (lostEntry) this.electEntry();
  }

  /** The graph as arrays (copies), for snapshots. */
  exportState(): HnswState {
    const n = this.size;
    return {
      m: this.m,
      efConstruction: this.efConstruction,
      entry: this.entry,
      maxLevel: this.maxLevel,
      size: n,
      removed: this.removed,
      levels: this.levels.slice(0, n),
      links0: this.links0.slice(0, n * (this.m0 + 1)),
      upperAt: this.upperAt.slice(0, n),
      upper: this.upper.slice(0, this.upperUsed),
    };
  }

  /** Takes the arrays of `exportState` (checked against each other first) into this empty graph. */
  protected loadState(state: HnswState): void {
    const n = state.size;
    if (
      state.levels.length !== n ||
      state.upperAt.length !== n ||
      state.links0.length !== n * (this.m0 + 1) ||
      state.entry >= n ||
      (n > 0 && state.entry < 0)
    ) {
      throw new Error('the graph arrays disagree with each other');
    }
    this.memory.reserve(n);
    this.levels.set(state.levels);
    this.links0.set(state.links0);
    this.upperAt.set(state.upperAt);
    this.upper = state.upper.length > 0 ? state.upper.slice() : new Uint32Array(64);
    this.upperUsed = state.upper.length;
    this.entry = state.entry;
    this.maxLevel = state.maxLevel;
    this.size = n;
    this.removed = state.removed;
    for (let row = 0; row < n; row++) {
      const at = state.upperAt[row] as number;
      const level = state.levels[row] as number;
      if ((level === 0) !== at < 0 || at + level * (this.m + 1) > this.upperUsed) {
        throw new Error(`row ${row} has an upper-layer offset outside the graph`);
      }
    }
  }
}
