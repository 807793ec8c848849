import type { Match, SearchOptions } from '../../src/index.js';
import { createMemoryStore } from '../../src/index.js';

/**
 * A memory store (with no collections: BM25 statistics start empty) whose search answers `matches`
 * (best first; or what a function of the search options returns) and records each call's options.
 */
export function scriptedStore(matches: Match[] | ((options: SearchOptions) => Match[])) {
  const searches: SearchOptions[] = [];
  const search = async (options: SearchOptions): Promise<Match[]> => {
    searches.push(options);
    return (typeof matches === 'function' ? matches(options) : matches).slice(0, options.limit);
  };
  const store = new Proxy(createMemoryStore(), {
    get: (target, key) => (key === 'search' ? search : Reflect.get(target, key)),
  });
  return { store, searches };
}
