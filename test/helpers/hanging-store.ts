/**
 * A keyv store (a Map) whose reads never answer: for tests of what an abort does to a cache call that
 * waits on its store. `waiting` resolves once `reads` reads are waiting.
 */
export function hangingStore(reads = 1): { store: Map<string, unknown>; waiting: Promise<void> } {
  let count = 0;
  let reached: () => void = () => {};
  const waiting = new Promise<void>((resolve) => {
    reached = resolve;
  });
  const store = Object.assign(new Map<string, unknown>(), {
    get: () => {
      count++;
      if (count === reads) reached();
      return new Promise(() => {});
    },
  });
  return { store, waiting };
}
