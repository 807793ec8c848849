/**
 * The heaps behind best-k selection: `selectTopK` over a score buffer the kernel wrote (exact search)
 * and `Heap`, the growable candidate and result queues of the HNSW walk.
 */

/** Best first; length min(k, candidates). */
export type TopK = { rows: Uint32Array; scores: Float32Array };

/** A binary heap of (score, row) whose root has the lowest key; keys are scores or their negation. */
export class Heap {
  keys = new Float64Array(64);
  rows = new Uint32Array(64);
  size = 0;
  push(key: number, row: number): void {
    if (this.size === this.keys.length) {
      const keys = new Float64Array(this.size * 2);
      keys.set(this.keys);
      const rows = new Uint32Array(this.size * 2);
      rows.set(this.rows);
      this.keys = keys;
      this.rows = rows;
    }
    let i = this.size++;
    const { keys, rows } = this;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (keys[parent]! <= key) break;
      keys[i] = keys[parent]!;
      rows[i] = rows[parent]!;
      i = parent;
    }
    keys[i] = key;
    rows[i] = row;
  }
  /** Removes the root (read `keys[0]`/`rows[0]` first). */
  pop(): void {
    const n = --this.size;
    if (n === 0) return;
    const { keys, rows } = this;
    const key = keys[n]!;
    const row = rows[n]!;
    let i = 0;
    for (;;) {
      let child = 2 * i + 1;
      if (child >= n) break;
      if (child + 1 < n && keys[child + 1]! < keys[child]!) child++;
      if (keys[child]! >= key) break;
      keys[i] = keys[child]!;
      rows[i] = rows[child]!;
      i = child;
    }
    keys[i] = key;
    rows[i] = row;
  }
  clear(): void {
    this.size = 0;
  }
}

/**
 * Bounded min-heap selection of the k best (score desc, row asc) among scores[at..at+count).
 * Row ids come from rows[rowsAt + i] when `rows` is given, else they are i. NaN scores rank last.
 */
export function selectTopK(
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
