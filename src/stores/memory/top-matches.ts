/**
 * The best `limit` (row, score) pairs offered, by score descending and then by `tie` ascending: a
 * bounded heap whose root is the worst pair kept.
 */
export class TopMatches {
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
