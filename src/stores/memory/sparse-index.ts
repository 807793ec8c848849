/**
 * The memory store's inverted index for sparse vectors, kept up to date by every write and delete.
 *
 * Each stored sparse vector gets a slot (an append-only number that never moves, unlike the
 * collection's rows); postings list (slot, value) pairs per index. Replacing or deleting a record
 * retires its slot, and the retired entries are skipped until they outnumber the live ones, when the
 * postings are rebuilt without them. So an upsert costs about its own size and a search about the
 * postings it reads, whatever the order they come in.
 */

/** A sparse vector as the collection keeps it: indices strictly ascending. */
export type SparseRow = { indices: Uint32Array; values: Float32Array };

/**
 * Rows' sparse vectors as columns (snapshots): per row the number of entries, then every row's
 * indices and values in row order.
 */
export type SparseColumns = { lengths: Uint32Array; indices: Uint32Array; values: Float32Array };

type Posting = { slots: Uint32Array; values: Float32Array; length: number };

const DEAD = -1;

export class SparseIndex {
  private postings = new Map<number, Posting>();
  /** slot → row (DEAD once retired). */
  private slotRow: Int32Array = new Int32Array(64);
  private slotVector: (SparseRow | undefined)[] = [];
  private slots = 0;
  private entries = 0;
  private deadEntries = 0;
  /** row → slot (-1: no sparse vector). */
  private rowSlot: Int32Array = new Int32Array(64).fill(DEAD);

  /** Sets (or, with `undefined`, clears) the sparse vector of a row. */
  set(row: number, vector: SparseRow | undefined): void {
    this.clear(row);
    if (vector === undefined) return;
    if (row >= this.rowSlot.length) this.rowSlot = growInt32(this.rowSlot, row + 1, DEAD);
    const slot = this.slots++;
    if (slot >= this.slotRow.length) this.slotRow = growInt32(this.slotRow, slot + 1, DEAD);
    this.slotRow[slot] = row;
    this.slotVector[slot] = vector;
    this.rowSlot[row] = slot;
    this.append(slot, vector);
  }

  /** The sparse vector of a row. */
  get(row: number): SparseRow | undefined {
    const slot = row < this.rowSlot.length ? (this.rowSlot[row] as number) : DEAD;
    return slot === DEAD ? undefined : this.slotVector[slot];
  }

  /** The vectors of rows 0..size-1 as columns (`undefined` when none has one). */
  exportColumns(size: number): SparseColumns | undefined {
    const lengths = new Uint32Array(size);
    let total = 0;
    for (let row = 0; row < size; row++) {
      const length = this.get(row)?.indices.length ?? 0;
      lengths[row] = length;
      total += length;
    }
    const indices = new Uint32Array(total);
    const values = new Float32Array(total);
    let at = 0;
    for (let row = 0; row < size; row++) {
      const vector = this.get(row);
      if (!vector) continue;
      indices.set(vector.indices, at);
      values.set(vector.values, at);
      at += vector.indices.length;
    }
    return total > 0 ? { lengths, indices, values } : undefined;
  }

  /** Sets the vectors of rows 0..size-1 from `exportColumns`. */
  importColumns(size: number, { lengths, indices, values }: SparseColumns): void {
    let at = 0;
    for (let row = 0; row < size; row++) {
      const length = lengths[row] as number;
      if (length === 0) continue;
      this.set(row, { indices: indices.slice(at, at + length), values: values.slice(at, at + length) });
      at += length;
    }
  }

  /** Row `from` now lives at `to` (the collection moved it); `to`'s own vector must be cleared first. */
  move(from: number, to: number): void {
    const slot = from < this.rowSlot.length ? (this.rowSlot[from] as number) : DEAD;
    if (to < this.rowSlot.length) this.rowSlot[to] = slot;
    if (slot === DEAD) return;
    this.rowSlot[from] = DEAD;
    this.slotRow[slot] = to;
  }

  /** Retires the vector of a row, if it has one. */
  clear(row: number): void {
    const slot = row < this.rowSlot.length ? (this.rowSlot[row] as number) : DEAD;
    if (slot === DEAD) return;
    this.rowSlot[row] = DEAD;
    this.slotRow[slot] = DEAD;
    const vector = this.slotVector[slot] as SparseRow;
    this.slotVector[slot] = undefined;
    this.deadEntries += vector.indices.length;
    if (this.deadEntries > 1024 && this.deadEntries > this.entries - this.deadEntries) this.compact();
  }

  /**
   * Dot products of `query` with every stored vector sharing an index with it: calls `visit(row,
   * score)` once per such row, in no particular order.
   */
  search(
    query: { indices: ArrayLike<number>; values: ArrayLike<number> },
    visit: (row: number, score: number) => void,
  ): void {
    const scores = new Float64Array(this.slots);
    const touched = new Uint32Array(this.slots);
    let count = 0;
    const seen = new Uint8Array(this.slots);
    for (let i = 0; i < query.indices.length; i++) {
      const posting = this.postings.get(query.indices[i] as number);
      if (!posting) continue;
      const weight = query.values[i] as number;
      const { slots, values, length } = posting;
      for (let j = 0; j < length; j++) {
        const slot = slots[j] as number;
        scores[slot] = (scores[slot] as number) + weight * (values[j] as number);
        if (seen[slot] === 0) {
          seen[slot] = 1;
          touched[count++] = slot;
        }
      }
    }
    const slotRow = this.slotRow;
    for (let i = 0; i < count; i++) {
      const slot = touched[i] as number;
      const row = slotRow[slot] as number;
      if (row !== DEAD) visit(row, scores[slot] as number);
    }
  }

  private append(slot: number, vector: SparseRow): void {
    const { indices, values } = vector;
    for (let j = 0; j < indices.length; j++) {
      const index = indices[j] as number;
      let posting = this.postings.get(index);
      if (!posting) {
        posting = { slots: new Uint32Array(4), values: new Float32Array(4), length: 0 };
        this.postings.set(index, posting);
      }
      if (posting.length === posting.slots.length) {
        const slots = new Uint32Array(posting.length * 2);
        slots.set(posting.slots);
        const grown = new Float32Array(posting.length * 2);
        grown.set(posting.values);
        posting.slots = slots;
        posting.values = grown;
      }
      posting.slots[posting.length] = slot;
      posting.values[posting.length] = values[j] as number;
      posting.length++;
    }
    this.entries += indices.length;
  }

  /** Rebuilds the postings from the live vectors, renumbering their slots densely. */
  private compact(): void {
    const vectors: { row: number; vector: SparseRow }[] = [];
    for (let slot = 0; slot < this.slots; slot++) {
      const row = this.slotRow[slot] as number;
      if (row !== DEAD) vectors.push({ row, vector: this.slotVector[slot] as SparseRow });
    }
    this.postings = new Map();
    this.slotVector = [];
    this.slots = 0;
    this.entries = 0;
    this.deadEntries = 0;
    this.slotRow.fill(DEAD);
    this.rowSlot.fill(DEAD);
    for (const { row, vector } of vectors) this.set(row, vector);
  }
}

function growInt32(array: Int32Array, size: number, fill: number): Int32Array {
  const grown = new Int32Array(Math.max(size, array.length * 2)).fill(fill);
  grown.set(array);
  return grown;
}
