/**
 * The document side of retrieve (src/pipeline/documents.ts) on a memory store: groupBy defaults,
 * grouping chunk hits, putting sources back together from their stored chunks (versions, titles,
 * filters, pages of the scroll, batches of sources), source statistics and scoring whole sources.
 */
import { describe, expect, test } from 'vitest';
import type { SparseEmbedder } from '../src/core/embedder.js';
import { AbortedError, InvalidArgumentError } from '../src/core/errors.js';
import type { Filter } from '../src/core/filter.js';
import type { Store } from '../src/core/store.js';
import type { JsonObject, Match, SparseVector } from '../src/core/types.js';
import { createBm25Encoder, createMemoryStore } from '../src/index.js';
import {
  groupChunks,
  loadSourceTexts,
  reassemble,
  resolveGrouping,
  scoreSources,
  sourceStatistics,
} from '../src/pipeline/documents.js';
import { resetStatistics } from '../src/pipeline/statistics.js';

/** A memory store holding `payloads` (one sparse-only record each) that records every scroll's options. */
async function storeWith(payloads: JsonObject[]) {
  const scrolls: { filter?: Filter; cursor?: string }[] = [];
  const memory = createMemoryStore();
  await memory.createCollection({ name: 'kb' });
  for (let i = 0; i < payloads.length; i += 500) {
    await memory.upsert({
      collection: 'kb',
      records: payloads.slice(i, i + 500).map((payload, j) => ({
        id: `r${i + j}`,
        sparseVector: { indices: new Uint32Array([1]), values: new Float32Array([1]) },
        payload,
      })),
    });
  }
  let failures = 0;
  const store = new Proxy(memory, {
    get: (target, key) =>
      key === 'scroll'
        ? async (options: Parameters<Store['scroll']>[0]) => {
            scrolls.push({
              ...(options.filter ? { filter: options.filter } : {}),
              ...(options.cursor ? { cursor: options.cursor } : {}),
            });
            if (failures > 0) {
              failures--;
              throw new Error('store down');
            }
            return target.scroll(options);
          }
        : Reflect.get(target, key),
  }) as Store;
  return { store, scrolls, failNext: (count: number) => (failures = count) };
}

const texts = async (store: Store, sources: string[], options: Partial<Parameters<typeof loadSourceTexts>[0]> = {}) =>
  Object.fromEntries(
    await loadSourceTexts({
      store,
      collection: 'kb',
      sources,
      versions: new Map(),
      into: new Map(),
      titleWeight: 0,
      ...options,
    }),
  );

const match = (id: string, score: number, source?: unknown): Match => ({
  id,
  score,
  payload: source === undefined ? {} : ({ source } as JsonObject),
});

describe('resolveGrouping', () => {
  test('defaults: document scores with BM25, else max; 3 passages; candidates 4 × limit within 50–10,000', () => {
    expect(resolveGrouping('source', 20, true)).toEqual({
      score: 'document',
      passages: 3,
      candidates: 80,
      statistics: 'sources',
      titleWeight: 0,
    });
    expect(resolveGrouping('source', 20, false)).toEqual({
      score: 'max',
      passages: 3,
      candidates: 80,
      statistics: 'sources',
      titleWeight: 0,
    });
    expect(resolveGrouping({ by: 'source' }, 5, false).candidates).toBe(50);
    expect(resolveGrouping('source', 2600, false).candidates).toBe(10_000);
    expect(
      resolveGrouping(
        { by: 'source', score: 'sum', passages: 1, candidates: 7, statistics: 'chunks', titleWeight: 2 },
        10,
        true,
      ),
    ).toEqual({ score: 'sum', passages: 1, candidates: 7, statistics: 'chunks', titleWeight: 2 });
  });

  test("'document' without a sparse embedder to score with is refused, naming the option", () => {
    let error: unknown;
    try {
      resolveGrouping({ by: 'source', score: 'document' }, 10, false);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect(error).toMatchObject({
      argument: 'retrieve options',
      issues: [{ path: 'groupBy.score', message: expect.stringMatching(/^'document' re-scores whole sources/) }],
    });
  });
});

describe('groupChunks', () => {
  test('max: the best chunk; sum: the best passages; chunks best first, sources by score, ties in order of first hit', () => {
    const matches = [
      match('a1', 0.2, 'a'),
      match('b1', 0.9, 'b'),
      match('a2', 0.8, 'a'),
      match('a3', 0.5, 'a'),
      match('c1', 0.9, 'c'),
    ];
    const max = groupChunks(matches, 'max', 2);
    expect(max.map((hit) => [hit.source, hit.score, hit.chunks.map((chunk) => chunk.id)])).toEqual([
      ['b', 0.9, ['b1']],
      ['c', 0.9, ['c1']],
      ['a', 0.8, ['a2', 'a3', 'a1']],
    ]);
    const sum = groupChunks(matches, 'sum', 2);
    expect(sum.map((hit) => [hit.source, Number(hit.score.toFixed(6))])).toEqual([
      ['a', 1.3],
      ['b', 0.9],
      ['c', 0.9],
    ]);
    expect(groupChunks([], 'max', 3)).toEqual([]);
    // The matches given are not reordered.
    expect(matches.map((m) => m.id)).toEqual(['a1', 'b1', 'a2', 'a3', 'c1']);
  });

  test('a chunk without a string payload.source is refused, naming the record', () => {
    for (const source of [undefined, 7]) {
      let error: unknown;
      try {
        groupChunks([match('ok', 1, 'a'), match('x-1', 0.5, source)], 'max', 3);
      } catch (caught) {
        error = caught;
      }
      expect(error).toBeInstanceOf(InvalidArgumentError);
      expect((error as Error).message).toBe(
        'Invalid collection: record "x-1" has no string payload.source to group by; groupBy reads collections written by ingest(), or records carrying that field',
      );
    }
  });
});

describe('reassemble', () => {
  test('by offset (then chunk index), overlaps once, a space across gaps and around chunks whose text does not fit their offsets', () => {
    expect(
      reassemble([
        { start: 6, end: 11, index: 1, text: 'world' },
        { start: 0, end: 5, index: 0, text: 'hello' },
      ]),
    ).toBe('hello world');
    expect(
      reassemble([
        { start: 0, end: 6, index: 0, text: 'abcdef' },
        { start: 6, end: 9, index: 1, text: 'ghi' },
      ]),
    ).toBe('abcdefghi');
    expect(
      reassemble([
        { start: 0, end: 6, index: 0, text: 'abcdef' },
        { start: 4, end: 9, index: 1, text: 'efghi' },
        { start: 5, end: 7, index: 2, text: 'fg' },
      ]),
    ).toBe('abcdefghi');
    // Same start: by index. A chunk whose text is not end − start long is appended whole, after a space.
    expect(
      reassemble([
        { start: 0, end: 3, index: 1, text: 'two' },
        { start: 0, end: 3, index: 0, text: 'one' },
      ]),
    ).toBe('one');
    expect(
      reassemble([
        { start: 0, end: 3, index: 0, text: 'one' },
        { start: 2, end: 4, index: 1, text: 'extra text' },
      ]),
    ).toBe('one extra text');
    expect(
      reassemble([
        { start: 0, end: 3, index: 0, text: 'abc' },
        { start: 3, end: 9, index: 1, text: 'de' },
      ]),
    ).toBe('abc de');
    // After a chunk whose text does not fit its offsets (a heading put in front, say), the next chunk
    // starts after a space too, even where the offsets meet or overlap: words are never glued.
    expect(
      reassemble([
        { start: 0, end: 5, index: 0, text: '# Intro\nhello' },
        { start: 5, end: 11, index: 1, text: ' world' },
        { start: 11, end: 16, index: 2, text: 'again' },
      ]),
    ).toBe('# Intro\nhello  worldagain');
    expect(
      reassemble([
        { start: 0, end: 9, index: 0, text: '# T\nhello wor' },
        { start: 9, end: 15, index: 1, text: 'world!' },
      ]),
    ).toBe('# T\nhello wor world!');
    expect(
      reassemble([
        { start: 0, end: 9, index: 0, text: '# T\nhello wor' },
        { start: 7, end: 15, index: 1, text: 'o world!' },
      ]),
    ).toBe('# T\nhello wor world!');
    expect(reassemble([])).toBe('');
  });
});

describe('loadSourceTexts', () => {
  test('sources put back from their chunks, in offset order; chunks missing offsets count from 0; other records are ignored', async () => {
    const { store } = await storeWith([
      { source: 'a', text: 'world', start: 6, end: 11, chunk: 1 },
      { source: 'a', text: 'hello', start: 0, end: 5, chunk: 0 },
      { source: 'b', text: 'no offsets' },
      { source: 'c', text: 'second', start: 6, chunk: 1 },
      { source: 'c', text: 'first', start: 0, chunk: 0 },
      { source: 'e', text: 'zz', chunk: 1 },
      { source: 'e', text: 'yy', chunk: 0 },
      { source: 'd', text: 7 },
      { source: 5, text: 'numeric source' },
      { text: 'no source' },
    ]);
    // Without offsets a chunk spans 0 to its length (so e's chunks overlap and the first by index wins).
    expect(await texts(store, ['a', 'b', 'c', 'd', 'e', 'missing'])).toEqual({
      a: 'hello world',
      b: 'no offsets',
      c: 'first second',
      d: '',
      e: 'yy',
      missing: '',
    });
  });

  test('sources already known are not read again; duplicates are read once; the filter applies to every chunk', async () => {
    const { store, scrolls } = await storeWith([
      { source: 'a', text: 'en', start: 0, end: 2, lang: 'en' },
      { source: 'a', text: 'de', start: 3, end: 5, lang: 'de' },
      { source: 'b', text: 'bee', start: 0, end: 3, lang: 'en' },
    ]);
    const into = new Map([['b', 'known']]);
    const result = await loadSourceTexts({
      store,
      collection: 'kb',
      sources: ['a', 'b', 'a'],
      versions: new Map(),
      into,
      titleWeight: 0,
      filter: { op: 'eq', field: 'lang', value: 'en' },
    });
    expect(result).toBe(into);
    expect(Object.fromEntries(result)).toEqual({ b: 'known', a: 'en' });
    expect(scrolls).toEqual([
      {
        filter: {
          op: 'and',
          filters: [
            { op: 'in', field: 'source', values: ['a'] },
            { op: 'eq', field: 'lang', value: 'en' },
          ],
        },
      },
    ]);
    scrolls.length = 0;
    await loadSourceTexts({
      store,
      collection: 'kb',
      sources: ['b', 'b'],
      versions: new Map(),
      into: new Map([['a', 'x']]),
      titleWeight: 0,
    });
    expect(scrolls).toEqual([{ filter: { op: 'in', field: 'source', values: ['b'] } }]);
  });

  test("a source with chunks of two versions: the matched version's, or all of them when it has none of that version", async () => {
    const { store } = await storeWith([
      { source: 'a', text: 'old', start: 0, end: 3, sourceHash: 'v1' },
      { source: 'a', text: 'new', start: 0, end: 3, sourceHash: 'v2' },
      { source: 'a', text: 'more', start: 4, end: 8, sourceHash: 'v2' },
    ]);
    expect(await texts(store, ['a'], { versions: new Map([['a', 'v2']]) })).toEqual({ a: 'new more' });
    expect(await texts(store, ['a'], { versions: new Map([['a', 'v1']]) })).toEqual({ a: 'old' });
    // All chunks: the two versions overlap, and the first stored wins where they do.
    expect(await texts(store, ['a'], { versions: new Map([['a', 'v9']]) })).toEqual({ a: 'old more' });
    expect(await texts(store, ['a'], { versions: new Map([['b', 'v1']]) })).toEqual({ a: 'old more' });
  });

  test('titleWeight puts the first non-blank title in front that many times', async () => {
    const { store } = await storeWith([
      { source: 'a', text: 'body', start: 0, end: 4, title: '  ' },
      { source: 'a', text: 'more', start: 5, end: 9, title: 'Title' },
      { source: 'b', text: 'untitled', start: 0, end: 8, title: 3 },
    ]);
    expect(await texts(store, ['a', 'b'], { titleWeight: 2 })).toEqual({ a: 'Title\nTitle\nbody more', b: 'untitled' });
    expect(await texts(store, ['a'], { titleWeight: 0 })).toEqual({ a: 'body more' });
  });

  test('every page of the scroll is read; at most 256 sources per filter', async () => {
    const payloads: JsonObject[] = [];
    for (let i = 0; i < 260; i++) {
      const source = `s${String(i).padStart(3, '0')}`;
      for (let c = 0; c < 4; c++)
        payloads.push({ source, text: `${source}c${c}`, start: c * 8, end: c * 8 + 7, chunk: c });
    }
    const { store, scrolls } = await storeWith(payloads);
    const all = payloads
      .map((payload) => payload.source as string)
      .filter((source, i, list) => list.indexOf(source) === i);
    const result = await texts(store, all);
    expect(Object.keys(result)).toHaveLength(260);
    expect(result.s000).toBe('s000c0 s000c1 s000c2 s000c3');
    expect(result.s259).toBe('s259c0 s259c1 s259c2 s259c3');
    // 256 sources × 4 chunks need two pages, then a filter with the last 4 sources.
    expect(
      scrolls.map((scroll) => [(scroll.filter as { values: string[] }).values.length, scroll.cursor !== undefined]),
    ).toEqual([
      [256, false],
      [256, true],
      [4, false],
    ]);
    scrolls.length = 0;
    await texts(store, all.slice(0, 256));
    expect(scrolls.map((scroll) => scroll.cursor !== undefined)).toEqual([false, true]);
  });

  test('an aborted signal stops the read', async () => {
    const { store } = await storeWith([{ source: 'a', text: 'x' }]);
    const controller = new AbortController();
    controller.abort();
    await expect(texts(store, ['a'], { abortSignal: controller.signal })).rejects.toThrow(AbortedError);
    await expect(texts(store, ['a'], { abortSignal: controller.signal })).rejects.toThrow('retrieve was aborted.');
  });
});

describe('sourceStatistics', () => {
  const query = async (embedder: SparseEmbedder) =>
    (await embedder.embed({ values: ['alpha beta gamma delta'], role: 'query' })).vectors[0] as SparseVector;
  const expected = async (bm25: ReturnType<typeof createBm25Encoder>, sourceTexts: string[]) => {
    const fork = bm25.fork();
    resetStatistics(fork);
    fork.addDocuments(sourceTexts);
    return query(fork);
  };

  test('counts each source once (the version with most chunks), read once per statistics fork and title weight', async () => {
    const { store, scrolls, failNext } = await storeWith([
      { source: 'a', text: 'alpha', start: 0, end: 5, sourceHash: 'v1', title: 'Gamma' },
      { source: 'a', text: 'alpha', start: 0, end: 5, sourceHash: 'v2' },
      { source: 'a', text: 'beta', start: 6, end: 10, sourceHash: 'v2' },
      { source: 'b', text: 'delta', start: 0, end: 5 },
      { source: 'b', text: 'delta beta', start: 6, end: 16 },
    ]);
    const bm25 = createBm25Encoder();
    const embedder = bm25.fork();
    const options = { store, collection: 'kb', embedder, titleWeight: 0 };
    const first = sourceStatistics(options);
    expect(sourceStatistics(options)).toBe(first);
    const fork = await first;
    expect(fork).not.toBe(embedder);
    expect(await query(fork)).toEqual(await expected(bm25, ['alpha beta', 'delta delta beta']));
    expect(scrolls).toHaveLength(1);
    const weighted = await sourceStatistics({ ...options, titleWeight: 1 });
    expect(await query(weighted)).toEqual(await expected(bm25, ['alpha beta', 'delta delta beta']));
    expect(scrolls).toHaveLength(2);
    // Another fork of the statistics reads again; a failed read is not remembered.
    const other = bm25.fork();
    failNext(1);
    await expect(sourceStatistics({ ...options, embedder: other })).rejects.toThrow('store down');
    const again = await sourceStatistics({ ...options, embedder: other });
    expect(await query(again)).toEqual(await query(fork));
    expect(await sourceStatistics({ ...options, embedder: other })).toBe(again);
    expect(scrolls).toHaveLength(4);
  });

  test("titleWeight counts the source's title into its text", async () => {
    const { store } = await storeWith([
      { source: 'a', text: 'alpha', start: 0, end: 5, title: 'Gamma' },
      { source: 'b', text: 'beta', start: 0, end: 4 },
    ]);
    const bm25 = createBm25Encoder();
    const fork = await sourceStatistics({ store, collection: 'kb', embedder: bm25.fork(), titleWeight: 2 });
    expect(await query(fork)).toEqual(await expected(bm25, ['Gamma\nGamma\nalpha', 'beta']));
  });
});

describe('scoreSources', () => {
  /** A sparse embedder over single letters (index = letter, value = count), two texts per call, calls recorded. */
  function letters() {
    const calls: string[][] = [];
    const embedder: SparseEmbedder = {
      specificationVersion: 'kumiki.embedder.v1',
      provider: 'test',
      modelId: 'letters',
      kind: 'sparse',
      maxBatchSize: 2,
      supportsParallelCalls: false,
      space: async () => ({ provider: 'test', modelId: 'letters', kind: 'sparse' }) as never,
      embed: async ({ values }) => {
        calls.push([...values]);
        return {
          vectors: values.map((value) => {
            const counts = new Map<number, number>();
            for (const word of value.split(' '))
              counts.set(word.charCodeAt(0), (counts.get(word.charCodeAt(0)) ?? 0) + 1);
            const indices = [...counts.keys()].sort((a, b) => a - b);
            return {
              indices: new Uint32Array(indices),
              values: new Float32Array(indices.map((i) => counts.get(i) ?? 0)),
            };
          }),
        };
      },
    };
    return { embedder, calls };
  }
  const q = (weights: Record<string, number>): SparseVector => {
    const keys = Object.keys(weights).sort();
    return {
      indices: new Uint32Array(keys.map((key) => key.charCodeAt(0))),
      values: new Float32Array(keys.map((key) => weights[key] as number)),
    };
  };

  test('the dot product of each source with the query; texts weighted in batches, once per key', async () => {
    const { embedder, calls } = letters();
    const asked: number[][] = [];
    const source: Record<string, string> = { k1: 'a a b', k2: 'b c', k3: 'c', k4: 'z' };
    const textOf = async (missing: readonly number[], keys: string[]) => {
      asked.push([...missing]);
      return missing.map((i) => source[keys[i] as string] as string);
    };
    const keys = ['k1', 'k2', 'k3'];
    const scores = await scoreSources({ embedder, query: q({ a: 1, b: 0.5 }), keys, textOf: (m) => textOf(m, keys) });
    expect(scores).toEqual([2.5, 0.5, 0]);
    expect(calls).toEqual([['a a b', 'b c'], ['c']]);
    // Known keys are not weighted again; only the new one is asked for, by its place.
    const next = ['k4', 'k2', 'k1'];
    expect(
      await scoreSources({ embedder, query: q({ z: 2, c: 1 }), keys: next, textOf: (m) => textOf(m, next) }),
    ).toEqual([2, 1, 0]);
    expect(asked).toEqual([[0, 1, 2], [0]]);
    expect(calls).toHaveLength(3);
    const all = await scoreSources({
      embedder,
      query: q({ a: 1 }),
      keys: ['k1', 'k2'],
      textOf: async () => {
        throw new Error('no read');
      },
    });
    expect(all).toEqual([2, 0]);
  });

  test('a call that crosses the cache limit still scores the sources it had cached (regression)', async () => {
    const { embedder } = letters();
    const asked: number[] = [];
    const textOf = async (missing: readonly number[]) => {
      asked.push(missing.length);
      return missing.map(() => 'a');
    };
    const many = Array.from({ length: 19_999 }, (_, i) => `k${i}`);
    await scoreSources({ embedder, query: q({ a: 1 }), keys: many, textOf });
    // Up to 20,000 vectors are kept.
    await scoreSources({ embedder, query: q({ a: 1 }), keys: ['k1', 'x'], textOf });
    await scoreSources({ embedder, query: q({ a: 1 }), keys: ['k2'], textOf });
    expect(asked).toEqual([19_999, 1]);
    // k0 is cached; the two new keys take the cache past 20,000 entries, so it is cleared for them.
    const scores = await scoreSources({
      embedder,
      query: q({ a: 1, b: 1 }),
      keys: ['k0', 'new1', 'new2'],
      textOf: async (missing) => missing.map((i) => (i === 0 ? 'a' : 'b b')),
    });
    expect(scores).toEqual([1, 2, 2]);
    await scoreSources({ embedder, query: q({ a: 1 }), keys: ['k3'], textOf });
    expect(asked).toEqual([19_999, 1, 1]);
  });

  test('the abort signal goes to the embedder', async () => {
    const { embedder } = letters();
    const signals: (AbortSignal | undefined)[] = [];
    const watched: SparseEmbedder = {
      ...embedder,
      embed: (options) => {
        signals.push(options.abortSignal);
        return embedder.embed(options);
      },
    };
    const controller = new AbortController();
    await scoreSources({
      embedder: watched,
      query: q({ a: 1 }),
      keys: ['x'],
      textOf: async () => ['a'],
      abortSignal: controller.signal,
    });
    await scoreSources({ embedder: watched, query: q({ a: 1 }), keys: ['y'], textOf: async () => ['a'] });
    expect(signals).toEqual([controller.signal, undefined]);
  });
});
