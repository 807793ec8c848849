/**
 * Finds stop sequences in generated text as it streams, in kumiki rather than in node-llama-cpp:
 * node-llama-cpp's own stop triggers drop the text before a stop sequence that begins inside a token
 * (` was` cut at `a` gives `w`, not ` w`). Text that could still be the start of a stop sequence is
 * held back until the next chunk shows whether it is, so emitted text never contains one.
 */
export class StopScanner {
  readonly #stops: readonly string[];
  readonly #holdback: number;
  #text = '';
  #emitted = 0;
  #stoppedAt: number | undefined;

  constructor(stops: readonly string[]) {
    this.#stops = stops;
    this.#holdback = Math.max(0, ...stops.map((stop) => stop.length - 1));
  }

  /** Whether a stop sequence was found: generation should end. */
  get stopped(): boolean {
    return this.#stoppedAt !== undefined;
  }

  /** The generated text, cut before the first stop sequence. */
  get text(): string {
    return this.#stoppedAt === undefined ? this.#text : this.#text.slice(0, this.#stoppedAt);
  }

  /** Adds generated text; returns the part now known to precede any stop sequence. */
  push(chunk: string): string {
    if (this.#stoppedAt !== undefined) return '';
    this.#text += chunk;
    // A stop sequence starting before #emitted would have been found when that text was emitted.
    let first = -1;
    for (const stop of this.#stops) {
      const index = this.#text.indexOf(stop, this.#emitted);
      if (index >= 0 && (first < 0 || index < first)) first = index;
    }
    if (first >= 0) this.#stoppedAt = first;
    return this.#take(first >= 0 ? first : Math.max(this.#emitted, this.#text.length - this.#holdback));
  }

  /** At the end of generation: the text still held back (none after a stop). */
  flush(): string {
    return this.#stoppedAt === undefined ? this.#take(this.#text.length) : '';
  }

  #take(end: number): string {
    const out = this.#text.slice(this.#emitted, end);
    this.#emitted = end;
    return out;
  }
}
