/**
 * retrieve({ groupBy }) ranking sources: 'max' and 'sum' grouping of dense and sparse chunks, hybrid
 * fusion of the two source rankings with each source's chunks in fused order, and ties between
 * sources with the same document score (against a scripted store, or ingested sources).
 */
import { describe, expect, test } from 'vitest';
import { createBm25Encoder, createMemoryStore } from '../src/index.js';
import { ingest } from '../src/pipeline/ingest.js';
import { retrieve } from '../src/pipeline/retrieve.js';
import { createRecursiveSplitter } from '../src/pipeline/splitter.js';
import { scriptedStore } from './helpers/scripted-store.js';
import { trigramEmbedder } from './helpers/trigram-embedder.mjs';

const embedder = trigramEmbedder(16, 'trigram');

describe('groupBy against a scripted store', () => {
  // Source A: one strong chunk and a weak one; source B: two good chunks.
  const inSource = (id: string, source: string, score: number, start = 0) => ({
    id,
    score,
    payload: { text: `text of ${id}`, source, start, end: start + 10, chunk: start / 10, sourceHash: `h-${source}` },
  });
  const dense = [
    inSource('a1', 'A', 0.9),
    inSource('b1', 'B', 0.8, 10),
    inSource('b2', 'B', 0.7, 20),
    inSource('a2', 'A', 0.1, 30),
  ];

  test("'max' ranks by the best chunk, 'sum' by the sum of the best passages; candidates default to 50", async () => {
    const { store, searches } = scriptedStore(dense);
    const byMax = await retrieve({ store, collection: 'kb', query: 'q', embedder, groupBy: 'source' });
    expect(searches[0]).toMatchObject({ limit: 50 });
    expect(byMax.map((d) => [d.source, Number(d.score.toFixed(6))])).toEqual([
      ['A', 0.9],
      ['B', 0.8],
    ]);
    expect(byMax[0]!.passages.map((p) => p.id)).toEqual(['a1', 'a2']);
    const bySum = await retrieve({
      store,
      collection: 'kb',
      query: 'q',
      embedder,
      groupBy: { by: 'source', score: 'sum', passages: 1, candidates: 7 },
    });
    expect(searches[1]).toMatchObject({ limit: 7 });
    // passages 1: A 0.9 vs B 0.8 (a sum of one); with 2, B's 1.5 beats A's 1.0.
    expect(bySum.map((d) => d.source)).toEqual(['A', 'B']);
    expect(bySum[0]!.passages.map((p) => p.id)).toEqual(['a1']);
    const bySum2 = await retrieve({
      store,
      collection: 'kb',
      query: 'q',
      embedder,
      groupBy: { by: 'source', score: 'sum', passages: 2 },
    });
    expect(bySum2.map((d) => [d.source, Number(d.score.toFixed(6))])).toEqual([
      ['B', 1.5],
      ['A', 1],
    ]);
    const one = await retrieve({ store, collection: 'kb', query: 'q', embedder, groupBy: 'source', limit: 1 });
    expect(one.map((d) => d.source)).toEqual(['A']);
  });

  test("sparse 'max' and 'sum' group the sparse search's chunks the same way", async () => {
    const bm25 = createBm25Encoder();
    const { store } = scriptedStore(dense);
    const options = { store, collection: 'kb', query: 'q', sparseEmbedder: bm25, expansion: false as const };
    const byMax = await retrieve({ ...options, groupBy: { by: 'source', score: 'max' } });
    expect(byMax.map((d) => d.source)).toEqual(['A', 'B']);
    const bySum = await retrieve({ ...options, groupBy: { by: 'source', score: 'sum', passages: 2 } });
    expect(bySum.map((d) => [d.source, Number(d.score.toFixed(6))])).toEqual([
      ['B', 1.5],
      ['A', 1],
    ]);
    expect(bySum[0]!.passages.map((p) => p.id)).toEqual(['b1', 'b2']);
    const one = await retrieve({ ...options, limit: 1, groupBy: { by: 'source', score: 'max' } });
    expect(one.map((d) => d.source)).toEqual(['A']);
  });

  test('hybrid: the two source rankings fused; each source keeps its chunks in fused chunk order', async () => {
    const bm25 = createBm25Encoder();
    // Sparse: B's chunks lead, C only here; b2 above b1.
    const sparse = [inSource('b2', 'B', 9, 20), inSource('c1', 'C', 8, 40), inSource('b1', 'B', 1, 10)];
    const { store } = scriptedStore((options) => (options.sparseVector ? sparse : dense));
    const documents = await retrieve({
      store,
      collection: 'kb',
      query: 'q',
      embedder,
      sparseEmbedder: bm25,
      expansion: false,
      fusion: { method: 'rrf', k: 1 },
      groupBy: { by: 'source', score: 'max', passages: 5 },
    });
    // Sources: dense A 1st, B 2nd; sparse B 1st, C 2nd. RRF k 1: B 1/3 + 1/2, A 1/2, C 1/3.
    expect(documents.map((d) => [d.source, Number(d.score.toFixed(6))])).toEqual([
      ['B', Number((1 / 3 + 1 / 2).toFixed(6))],
      ['A', 0.5],
      ['C', Number((1 / 3).toFixed(6))],
    ]);
    // Chunks fused with RRF k 1: dense a1 b1 b2 a2, sparse b2 c1 b1: b2 (1/4 + 1/2) > b1 (1/3 + 1/4) > a1 (1/2)…
    expect(documents[0]!.passages.map((p) => p.id)).toEqual(['b2', 'b1']);
    expect(documents[1]!.passages.map((p) => p.id)).toEqual(['a1', 'a2']);
    expect(documents[2]!.passages.map((p) => p.id)).toEqual(['c1']);
    const two = await retrieve({
      store,
      collection: 'kb',
      query: 'q',
      embedder,
      sparseEmbedder: bm25,
      expansion: false,
      limit: 2,
      groupBy: { by: 'source', score: 'max' },
    });
    expect(two).toHaveLength(2);
  });
});

describe("groupBy 'document' on ingested sources", () => {
  test('sources with the same BM25 score come in order of their URI, whatever the store returned first', async () => {
    const store = createMemoryStore();
    const bm25 = createBm25Encoder();
    const text = 'Harbour lights guide the boats home.';
    await ingest({
      store,
      collection: 'kb',
      documents: ['mem://zeta', 'mem://alpha', 'mem://mid'].map((uri) => ({ uri, contentType: 'text/plain', text })),
      sparseEmbedder: bm25,
      splitter: createRecursiveSplitter({ chunkSize: 200, unit: 'characters' }),
    });
    const documents = await retrieve({
      store,
      collection: 'kb',
      query: 'harbour boats',
      sparseEmbedder: bm25,
      groupBy: 'source',
    });
    expect(documents.map((d) => d.source)).toEqual(['mem://alpha', 'mem://mid', 'mem://zeta']);
    expect(new Set(documents.map((d) => d.score)).size).toBe(1);
    await store.dispose();
  });
});
