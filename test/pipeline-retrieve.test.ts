/**
 * retrieve() against a scripted store (it answers each search with the matches a test gives it and
 * records what it was asked): citations built from payloads, how many candidates each step asks
 * for, the options it refuses and why, and MMR's similarity on dense and sparse vectors.
 */
import { describe, expect, test } from 'vitest';
import { fingerprint } from '../src/core/fingerprint.js';
import {
  createBm25Encoder,
  type Filter,
  InvalidArgumentError,
  type JsonObject,
  type Match,
  type RecordId,
  type SparseEmbedder,
} from '../src/index.js';
import {
  maximalMarginalRelevance,
  type Reranker,
  type RetrievedChunk,
  retrieve,
  toChunk,
} from '../src/pipeline/retrieve.js';
import { scriptedStore } from './helpers/scripted-store.js';
import { trigramEmbedder } from './helpers/trigram-embedder.mjs';

const embedder = trigramEmbedder(16, 'trigram');

const chunk = (id: string, score: number, payload: Record<string, unknown> = {}): Match => ({
  id,
  score,
  payload: { text: `text of ${id}`, source: `mem://${id}`, ...payload },
});

describe('citations (toChunk)', () => {
  test('every citation field comes from the payload; missing offsets default to the whole text', () => {
    const full = toChunk(
      {
        id: 'a',
        score: 0.5,
        payload: {
          text: 'hello',
          source: 'mem://a',
          title: 'A',
          heading: 'Intro',
          modifiedAt: '2026-01-01T00:00:00.000Z',
          chunk: 3,
          start: 10,
          end: 15,
          page: 2,
          pageEnd: 4,
        },
      },
      'kb',
    );
    expect(full).toEqual({
      id: 'a',
      text: 'hello',
      score: 0.5,
      citation: {
        source: 'mem://a',
        title: 'A',
        heading: 'Intro',
        modifiedAt: '2026-01-01T00:00:00.000Z',
        chunk: 3,
        start: 10,
        end: 15,
        page: 2,
        pageEnd: 4,
      },
      payload: full.payload,
    });
    // No offsets: chunk 0, the whole text; no page: neither page field; a page alone ends there.
    expect(toChunk({ id: 1, score: 1, payload: { text: 'hello', source: 's' } }, 'kb').citation).toEqual({
      source: 's',
      chunk: 0,
      start: 0,
      end: 5,
    });
    expect(toChunk({ id: 1, score: 1, payload: { text: 'hello', source: 's', page: 7 } }, 'kb').citation).toEqual({
      source: 's',
      chunk: 0,
      start: 0,
      end: 5,
      page: 7,
      pageEnd: 7,
    });
    // Fields of the wrong type are left out, not copied.
    expect(
      toChunk(
        {
          id: 1,
          score: 1,
          payload: {
            text: 'hello',
            source: 's',
            title: 3,
            heading: null,
            modifiedAt: 5,
            chunk: '2',
            start: 1.5,
            page: '3',
          },
        },
        'kb',
      ).citation,
    ).toEqual({ source: 's', chunk: 0, start: 0, end: 5 });
  });

  test('a record without text, or without source, is refused with its id and collection', () => {
    const payloads: JsonObject[] = [{ source: 's' }, { text: 'x' }, { text: 1, source: 's' }, { text: 'x', source: 2 }];
    for (const payload of payloads) {
      expect(() => toChunk({ id: 'r1', score: 1, payload }, 'kb')).toThrow(InvalidArgumentError);
      expect(() => toChunk({ id: 'r1', score: 1, payload }, 'kb')).toThrow(/record "r1" in "kb" has no string payload/);
    }
  });
});

describe('retrieve against a scripted store', () => {
  const matches = Array.from({ length: 30 }, (_, i) => chunk(`c${i}`, 1 - i / 100));

  test('dense mode asks the store for `limit` (default 5) with the query vector, filter and signal', async () => {
    const { store, searches } = scriptedStore(matches);
    const results = await retrieve({ store, collection: 'kb', query: 'q', embedder });
    expect(results.map((r) => r.id)).toEqual(['c0', 'c1', 'c2', 'c3', 'c4']);
    expect(searches).toHaveLength(1);
    expect(searches[0]).toMatchObject({ collection: 'kb', limit: 5 });
    expect(searches[0]!.vector).toBeInstanceOf(Float32Array);
    expect(searches[0]!.sparseVector).toBeUndefined();
    expect(searches[0]).not.toHaveProperty('filter');
    expect(searches[0]).not.toHaveProperty('abortSignal');
    expect(searches[0]).not.toHaveProperty('includeVectors');
    const controller = new AbortController();
    const filter: Filter = { op: 'eq', field: 'source', value: 'mem://c1' };
    await retrieve({ store, collection: 'kb', query: 'q', embedder, limit: 2, filter, abortSignal: controller.signal });
    expect(searches[1]).toMatchObject({ limit: 2, filter, abortSignal: controller.signal });
  });

  test('minScore keeps matches scoring at least minScore', async () => {
    const { store } = scriptedStore(matches);
    const results = await retrieve({ store, collection: 'kb', query: 'q', embedder, limit: 10, minScore: 0.97 });
    expect(results.map((r) => r.score)).toEqual([1, 0.99, 0.98, 0.97]);
  });

  test('MMR and a reranker fetch 4 × limit candidates by default, or as many as asked', async () => {
    const { store, searches } = scriptedStore(matches);
    await retrieve({ store, collection: 'kb', query: 'q', embedder, limit: 3, mmr: {} });
    expect(searches.at(-1)).toMatchObject({ limit: 12, includeVectors: true });
    await retrieve({ store, collection: 'kb', query: 'q', embedder, limit: 3, mmr: { candidates: 7 } });
    expect(searches.at(-1)).toMatchObject({ limit: 7 });
    // Fewer candidates than limit: limit wins.
    await retrieve({ store, collection: 'kb', query: 'q', embedder, limit: 3, mmr: { candidates: 1 } });
    expect(searches.at(-1)).toMatchObject({ limit: 3 });
    const seen: number[] = [];
    const rerank: Reranker = async (_query, chunks) => {
      seen.push(chunks.length);
      return [...chunks].reverse();
    };
    const reranked = await retrieve({ store, collection: 'kb', query: 'q', embedder, limit: 2, rerank });
    expect(searches.at(-1)).toMatchObject({ limit: 8 });
    expect(searches.at(-1)).not.toHaveProperty('includeVectors');
    expect(seen).toEqual([8]);
    // The reranker's order, cut to limit.
    expect(reranked.map((r) => r.id)).toEqual(['c7', 'c6']);
    await retrieve({ store, collection: 'kb', query: 'q', embedder, limit: 2, rerank, rerankCandidates: 5 });
    expect(searches.at(-1)).toMatchObject({ limit: 5 });
    expect(seen).toEqual([8, 5]);
  });

  test('the reranker gets the query and the signal; it is not called without candidates', async () => {
    const calls: unknown[] = [];
    const rerank: Reranker = async (query, chunks, options) => {
      calls.push([query, chunks.length, options.abortSignal]);
      return chunks;
    };
    const controller = new AbortController();
    const { store } = scriptedStore(matches);
    await retrieve({
      store,
      collection: 'kb',
      query: 'the q',
      embedder,
      limit: 1,
      rerank,
      abortSignal: controller.signal,
    });
    expect(calls).toEqual([['the q', 4, controller.signal]]);
    const empty = scriptedStore([]);
    expect(await retrieve({ store: empty.store, collection: 'kb', query: 'q', embedder, rerank })).toEqual([]);
    expect(calls).toHaveLength(1);
  });

  test('a reranker may drop chunks; one that returns something other than an array is refused', async () => {
    const { store } = scriptedStore(matches);
    const kept = await retrieve({
      store,
      collection: 'kb',
      query: 'q',
      embedder,
      limit: 3,
      rerank: async (_q, chunks) => chunks.slice(1, 2),
    });
    expect(kept.map((r) => r.id)).toEqual(['c1']);
    for (const answer of [undefined, { chunks: [] }, [undefined]]) {
      const error = await retrieve({
        store,
        collection: 'kb',
        query: 'q',
        embedder,
        rerank: async () => answer as never,
      }).catch((e) => e);
      expect(error).toBeInstanceOf(InvalidArgumentError);
      expect(error.message).toMatch(/the reranker must return an array of the chunks it was given/);
    }
  });

  test("the reranker's array is not handed back: the chunks are copied out of it", async () => {
    const { store } = scriptedStore(matches);
    let given: RetrievedChunk[] = [];
    const kept = await retrieve({
      store,
      collection: 'kb',
      query: 'q',
      embedder,
      limit: 3,
      rerank: async (_q, chunks) => {
        given = chunks.slice(0, 2);
        return given;
      },
    });
    expect(kept).toEqual(given);
    expect(kept).not.toBe(given);
  });

  test('each search carries the fingerprint of the space the embedder describes at that call', async () => {
    const { store, searches } = scriptedStore(matches);
    let dimensions = 16;
    const changing = { ...embedder, space: async () => ({ ...(await embedder.space()), dimensions }) };
    for (const next of [16, 16, 32, 16]) {
      dimensions = next;
      await retrieve({ store, collection: 'kb', query: 'q', embedder: changing });
      expect(searches.at(-1)?.embeddingSpace).toBe(fingerprint(await changing.space()));
    }
    expect(new Set(searches.map((search) => search.embeddingSpace)).size).toBe(2);
  });

  test('an embedder that returns no vector for the query gets a clear error', async () => {
    const { store } = scriptedStore(matches);
    const silent = { ...embedder, provider: 'silent', embed: async () => ({ vectors: [] }) };
    await expect(retrieve({ store, collection: 'kb', query: 'q', embedder: silent })).rejects.toThrow(
      /silent returned no vector for the query/,
    );
  });

  test('the mode follows the embedders given: dense, sparse or hybrid', async () => {
    const bm25 = createBm25Encoder();
    const { store, searches } = scriptedStore(matches);
    await retrieve({ store, collection: 'kb', query: 'q', sparseEmbedder: bm25 });
    expect(searches.at(-1)!.vector).toBeUndefined();
    expect(searches.at(-1)!.sparseVector).toBeDefined();
    await retrieve({
      store,
      collection: 'kb',
      query: 'q',
      embedder,
      sparseEmbedder: bm25,
      fusion: { method: 'rrf', k: 7 },
    });
    expect(searches.at(-1)!.vector).toBeInstanceOf(Float32Array);
    expect(searches.at(-1)!.sparseVector).toBeDefined();
    expect(searches.at(-1)!.fusion).toEqual({ method: 'rrf', k: 7 });
    await retrieve({ store, collection: 'kb', query: 'q', embedder, sparseEmbedder: bm25, mode: 'dense' });
    expect(searches.at(-1)!.sparseVector).toBeUndefined();
    await retrieve({ store, collection: 'kb', query: 'q', embedder, sparseEmbedder: bm25, mode: 'sparse' });
    expect(searches.at(-1)!.vector).toBeUndefined();
  });

  test('bad combinations of options are refused, each with its own message', async () => {
    const bm25 = createBm25Encoder();
    const { store } = scriptedStore(matches);
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ embedder, groupBy: 'source', mmr: {} }, /groupBy ranks sources and cannot be combined with mmr or rerank/],
      [
        { embedder, groupBy: 'source', rerank: (async (_q, c) => c) satisfies Reranker },
        /cannot be combined with mmr or rerank/,
      ],
      [{ embedder, fusion: { method: 'rrf' } }, /fusion applies to hybrid mode only/],
      [
        { embedder, sparseEmbedder: bm25, mode: 'dense', fusion: { method: 'rrf' } },
        /fusion applies to hybrid mode only/,
      ],
      [{ mode: 'hybrid', embedder }, /mode "hybrid" needs a sparse embedder/],
      [{ mode: 'hybrid', sparseEmbedder: bm25 }, /mode "hybrid" needs a dense embedder/],
      [{ mode: 'sparse', embedder }, /mode "sparse" needs a sparse embedder/],
      [{}, /give an embedder, a sparseEmbedder or both/],
      [{ embedder, query: ' \n ' }, /query must contain text/],
      [{ embedder, collection: '' }, /collection must not be empty/],
    ];
    for (const [options, message] of cases) {
      const error = await retrieve({ store, collection: 'kb', query: 'q', ...options }).catch((e) => e);
      expect(error, String(message)).toBeInstanceOf(InvalidArgumentError);
      expect(error.message).toMatch(message);
    }
    // Each of these alone is fine.
    await expect(retrieve({ store, collection: 'kb', query: 'q', embedder, mmr: {} })).resolves.toHaveLength(5);
    await expect(
      retrieve({ store, collection: 'kb', query: 'q', embedder, sparseEmbedder: bm25, fusion: { method: 'rrf' } }),
    ).resolves.toHaveLength(5);
    await expect(retrieve({ store, collection: 'kb', query: 'q', mode: 'dense', embedder })).resolves.toHaveLength(5);
  });

  test('expansion with a sparse embedder that has no BM25 statistics is refused; without asking, it searches', async () => {
    const plain: SparseEmbedder = {
      specificationVersion: 'kumiki.embedder.v1',
      provider: 'plainsparse',
      modelId: 'm1',
      kind: 'sparse',
      maxBatchSize: 8,
      supportsParallelCalls: true,
      space: async () => ({ provider: 'plainsparse', model: 'm1', dimensions: 1000 }),
      embed: async ({ values }) => ({ vectors: values.map(() => ({ indices: [1], values: [1] })) }),
    };
    const { store, searches } = scriptedStore(matches);
    const error = await retrieve({ store, collection: 'kb', query: 'q', sparseEmbedder: plain, expansion: {} }).catch(
      (e) => e,
    );
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect(error.message).toMatch(/plainsparse\/m1 has none: drop expansion/);
    expect(searches).toHaveLength(0);
    expect(await retrieve({ store, collection: 'kb', query: 'q', sparseEmbedder: plain, limit: 2 })).toHaveLength(2);
    expect(searches.at(-1)!.sparseVector).toEqual({ indices: [1], values: [1] });
    expect(
      await retrieve({ store, collection: 'kb', query: 'q', sparseEmbedder: plain, expansion: false }),
    ).toHaveLength(5);
  });
});

describe('MMR similarity', () => {
  /** A sparse vector the way a store returns it. */
  const sparse = (indices: number[], values: number[]) => ({
    indices: Uint32Array.from(indices),
    values: Float32Array.from(values),
  });
  const asChunk = (id: string, score: number): RetrievedChunk => ({
    id,
    score,
    text: id,
    citation: { source: id, chunk: 0, start: 0, end: 1 },
    payload: {},
  });

  test('no candidates, no picks; limit caps the picks', () => {
    expect(maximalMarginalRelevance([], new Map(), 3, 0.5)).toEqual([]);
    const chunks = [asChunk('a', 3), asChunk('b', 2), asChunk('c', 1)];
    const matches = new Map(chunks.map((c) => [c.id, { id: c.id, score: c.score, payload: {} }]));
    // Without vectors every similarity is 0: relevance order.
    expect(maximalMarginalRelevance(chunks, matches, 2, 0.5).map((c) => c.id)).toEqual(['a', 'b']);
    expect(maximalMarginalRelevance(chunks, matches, 10, 0.5).map((c) => c.id)).toEqual(['a', 'b', 'c']);
  });

  test('sparse vectors: cosine over shared indices (order and scale do not matter)', () => {
    // a first; then b (a scaled copy of a: cosine 1) loses to c (cosine 0) although b is more relevant.
    const chunks = [asChunk('a', 1), asChunk('b', 0.9), asChunk('c', 0.8)];
    const matches = new Map<RecordId, Match>([
      ['a', { id: 'a', score: 1, payload: {}, sparseVector: sparse([1, 5], [3, 4]) }],
      ['b', { id: 'b', score: 0.9, payload: {}, sparseVector: sparse([5, 1], [8, 6]) }],
      ['c', { id: 'c', score: 0.8, payload: {}, sparseVector: sparse([2], [1]) }],
    ]);
    expect(maximalMarginalRelevance(chunks, matches, 3, 0.5).map((c) => c.id)).toEqual(['a', 'c', 'b']);
    // Partly shared: b' = (1:3, 9:4) has cosine 9/25 = 0.36 with a; c' = (5:1) has 4/5 = 0.8.
    matches.set('b', { id: 'b', score: 0.9, payload: {}, sparseVector: sparse([1, 9], [3, 4]) });
    matches.set('c', { id: 'c', score: 0.9, payload: {}, sparseVector: sparse([5], [1]) });
    chunks[2] = asChunk('c', 0.9);
    expect(maximalMarginalRelevance(chunks, matches, 2, 0.5).map((c) => c.id)).toEqual(['a', 'b']);
    // An empty sparse vector is like nothing: similarity 0.
    matches.set('b', { id: 'b', score: 0.9, payload: {}, sparseVector: sparse([], []) });
    matches.set('c', { id: 'c', score: 0.9, payload: {}, sparseVector: sparse([1, 5], [3, 4]) });
    expect(maximalMarginalRelevance(chunks, matches, 2, 0.5).map((c) => c.id)).toEqual(['a', 'b']);
  });

  test('dense cosine is scale-free; a zero vector is like nothing', () => {
    const chunks = [asChunk('a', 1), asChunk('b', 0.9), asChunk('c', 0.9)];
    const matches = new Map([
      ['a', { id: 'a', score: 1, payload: {}, vector: Float32Array.from([1, 0]) }],
      ['b', { id: 'b', score: 0.9, payload: {}, vector: Float32Array.from([5, 0]) }],
      ['c', { id: 'c', score: 0.9, payload: {}, vector: Float32Array.from([1, 1]) }],
    ]);
    expect(maximalMarginalRelevance(chunks, matches, 2, 0.5).map((c) => c.id)).toEqual(['a', 'c']);
    matches.set('b', { id: 'b', score: 0.9, payload: {}, vector: Float32Array.from([0, 0]) });
    expect(maximalMarginalRelevance(chunks, matches, 2, 0.5).map((c) => c.id)).toEqual(['a', 'b']);
    // A negative cosine counts as no redundancy (max with 0).
    matches.set('b', { id: 'b', score: 0.9, payload: {}, vector: Float32Array.from([-1, 0]) });
    matches.set('c', { id: 'c', score: 0.9, payload: {}, vector: Float32Array.from([0, 1]) });
    expect(maximalMarginalRelevance(chunks, matches, 3, 0.5).map((c) => c.id)).toEqual(['a', 'b', 'c']);
  });

  test('relevance is the score scaled to [0, 1] within the candidates, so it weighs against cosine', () => {
    // a first. b: relevance 0.8 / 0.9 ≈ 0.889, cosine 0.8 with a: 0.5 × 0.889 − 0.5 × 0.8 ≈ 0.044;
    // c: relevance 0, cosine 0: 0. So b. Unscaled (all relevance 1) c would win, 0.5 against 0.1.
    const chunks = [asChunk('a', 1), asChunk('b', 0.9), asChunk('c', 0.1)];
    const matches = new Map([
      ['a', { id: 'a', score: 1, payload: {}, vector: Float32Array.from([1, 0]) }],
      ['b', { id: 'b', score: 0.9, payload: {}, vector: Float32Array.from([0.8, 0.6]) }],
      ['c', { id: 'c', score: 0.1, payload: {}, vector: Float32Array.from([0, 1]) }],
    ]);
    expect(maximalMarginalRelevance(chunks, matches, 2, 0.5).map((c) => c.id)).toEqual(['a', 'b']);
    // The same scores shifted by 100 scale the same way.
    const shifted = chunks.map((c) => ({ ...c, score: c.score + 100 }));
    expect(maximalMarginalRelevance(shifted, matches, 2, 0.5).map((c) => c.id)).toEqual(['a', 'b']);
    // Scores listed out of order: the lowest is still 0, the highest 1.
    const reordered = [chunks[2]!, chunks[0]!, chunks[1]!];
    expect(maximalMarginalRelevance(reordered, matches, 2, 0.5).map((c) => c.id)).toEqual(['a', 'b']);
  });

  test('equal scores: every candidate is fully relevant and the first wins ties', () => {
    const chunks = [asChunk('x', 2), asChunk('y', 2)];
    const matches = new Map(chunks.map((c) => [c.id, { id: c.id, score: 2, payload: {} }]));
    expect(maximalMarginalRelevance(chunks, matches, 2, 0.5).map((c) => c.id)).toEqual(['x', 'y']);
  });
});
