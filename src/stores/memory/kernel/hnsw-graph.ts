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

/** Rows a graph can hold: layer-0 links are 24-bit row ids, and 0xffffff marks a link to drop. */
export const MAX_GRAPH_ROWS = 0xffffff;

export class HnswGraph {
  readonly m: number;
  readonly m0: number;
  readonly efConstruction: number;
  /** Bytes of a layer-0 list: [count u32, link u24 × m0], padded to a multiple of 4. */
  protected readonly listBytes: number;
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
    this.listBytes = 4 + Math.ceil((3 * this.m0) / 4) * 4;
    this.levels = new Uint8Array(capacity);
    this.upperAt = new Int32Array(capacity).fill(-1);
    this.upper = new Uint32Array(Math.max(64, capacity >> 2) * (this.m + 1));
    this.memory = memory;
    memory.attachGraph(this.listBytes);
  }

  /** Per row, the mark of the last walk that visited it (a view into the arena, as the layer-0 lists). */
  protected get visited(): Uint32Array {
    return this.memory.graphMemory().visited;
  }

  /** Bytes the graph's links hold. */
  get bytes(): number {
    return this.levels.byteLength + this.size * this.listBytes + this.upperAt.byteLength + this.upperUsed * 4;
  }

  /** Whether deletes have worn the graph enough that a rebuild pays. */
  get worn(): boolean {
    return this.removed > 1000 && this.removed * 5 > this.size;
  }

  private reserve(rows: number): void {
    this.memory.reserve(rows);
    if (rows <= this.levels.length) return;
    const capacity = Math.max(rows, Math.ceil(this.levels.length * 1.5));
    const levels = new Uint8Array(capacity);
    levels.set(this.levels);
    const upperAt = new Int32Array(capacity).fill(-1);
    upperAt.set(this.upperAt);
    this.levels = levels;
    this.upperAt = upperAt;
  }

  /** How many links `row` has at `level`. */
  protected degree(row: number, level: number): number {
    if (level > 0) return this.upper[(this.upperAt[row] as number) + (level - 1) * (this.m + 1)] as number;
    return this.memory.graphMemory().counts[(row * this.listBytes) >>> 2] as number;
  }

  /** Link `j` (from 0) of `row` at `level`. */
  protected neighbour(row: number, level: number, j: number): number {
    if (level > 0) return this.upper[(this.upperAt[row] as number) + (level - 1) * (this.m + 1) + 1 + j] as number;
    const lists = this.memory.graphMemory().lists;
    const at = row * this.listBytes + 4 + 3 * j;
    return (lists[at] as number) | ((lists[at + 1] as number) << 8) | ((lists[at + 2] as number) << 16);
  }

  protected setDegree(row: number, level: number, count: number): void {
    if (level > 0) this.upper[(this.upperAt[row] as number) + (level - 1) * (this.m + 1)] = count;
    else this.memory.graphMemory().counts[(row * this.listBytes) >>> 2] = count;
  }

  protected setNeighbour(row: number, level: number, j: number, link: number): void {
    if (level > 0) {
      this.upper[(this.upperAt[row] as number) + (level - 1) * (this.m + 1) + 1 + j] = link;
      return;
    }
    const lists = this.memory.graphMemory().lists;
    const at = row * this.listBytes + 4 + 3 * j;
    lists[at] = link;
    lists[at + 1] = link >>> 8;
    lists[at + 2] = link >>> 16;
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
    if (row >= MAX_GRAPH_ROWS) throw new Error(`an HNSW graph holds at most ${MAX_GRAPH_ROWS} rows`);
    this.reserve(row + 1);
    if (row >= this.size) this.size = row + 1;
    this.levels[row] = level;
    this.setDegree(row, 0, 0);
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
    this.setDegree(row, level, links.length);
    for (let j = 0; j < links.length; j++) this.setNeighbour(row, level, j, links[j] as number);
  }

  /** Removes `row` from its neighbours' lists (its own lists are left to the caller to overwrite). */
  protected unlink(row: number): void {
    const top = this.levels[row] as number;
    for (let l = 0; l <= top; l++) {
      const degree = this.degree(row, l);
      for (let j = 0; j < degree; j++) {
        const node = this.neighbour(row, l, j);
        if (node >= this.size || node === row) continue;
        this.replaceLink(node, l, row, undefined);
      }
    }
  }

  /** In the list of `node` at `level`, replaces `from` with `to` (or removes it). */
  private replaceLink(node: number, level: number, from: number, to: number | undefined): void {
    if (level > (this.levels[node] as number)) return;
    const degree = this.degree(node, level);
    for (let j = 0; j < degree; j++) {
      if (this.neighbour(node, level, j) !== from) continue;
      if (to === undefined) {
        this.setNeighbour(node, level, j, this.neighbour(node, level, degree - 1));
        this.setDegree(node, level, degree - 1);
      } else {
        this.setNeighbour(node, level, j, to);
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
      const bytes = this.listBytes;
      this.memory.graphMemory().lists.copyWithin(row * bytes, last * bytes, (last + 1) * bytes);
      for (let l = 0; l <= top; l++) {
        const degree = this.degree(row, l);
        for (let j = 0; j < degree; j++) {
          const node = this.neighbour(row, l, j);
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

  /** The graph as arrays (copies), for snapshots; layer 0 as [count, link × m0] u32 words per row. */
  exportState(): HnswState {
    const n = this.size;
    const links0 = new Uint32Array(n * (this.m0 + 1));
    for (let row = 0, at = 0; row < n; row++) {
      links0[at++] = this.degree(row, 0);
      for (let j = 0; j < this.m0; j++) links0[at++] = this.neighbour(row, 0, j);
    }
    return {
      m: this.m,
      efConstruction: this.efConstruction,
      entry: this.entry,
      maxLevel: this.maxLevel,
      size: n,
      removed: this.removed,
      levels: this.levels.slice(0, n),
      links0,
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
    this.reserve(n);
    this.levels.set(state.levels);
    for (let row = 0, at = 0; row < n; row++) {
      const degree = state.links0[at++] as number;
      if (degree > this.m0) throw new Error(`row ${row} has ${degree} links, more than ${this.m0}`);
      this.setDegree(row, 0, degree);
      // A link no 24-bit row id can name is one to drop (as links past the end are).
      for (let j = 0; j < this.m0; j++)
        this.setNeighbour(row, 0, j, Math.min(state.links0[at++] as number, MAX_GRAPH_ROWS));
    }
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
