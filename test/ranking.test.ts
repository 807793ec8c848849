// Ranking beyond one store search: weighted fusion, pseudo-relevance feedback, documents (groupBy).
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { expandQuery } from '../src/bm25/expansion.js';
import { fingerprint } from '../src/core/fingerprint.js';
import { fuse, weightedFusion } from '../src/core/fusion.js';
import {
  createBm25Encoder,
  createMemoryStore,
  InvalidArgumentError,
  type Match,
  type SparseVector,
  type Store,
} from '../src/index.js';
import { reassemble } from '../src/pipeline/documents.js';
import { ingest } from '../src/pipeline/ingest.js';
import { type RetrievedDocument, retrieve } from '../src/pipeline/retrieve.js';
import { createRecursiveSplitter } from '../src/pipeline/splitter.js';
import { bindStatistics } from '../src/pipeline/statistics.js';
import type { SourceDocument } from '../src/pipeline/types.js';
import { trigramEmbedder } from './helpers/trigram-embedder.mjs';

const match = (id: string, score: number): Match => ({ id, score, payload: {} });

describe('weighted fusion', () => {
  test('scores min-max scaled within each list, then weighted; missing from a list counts 0', () => {
    const dense = [match('a', 0.9), match('b', 0.6), match('c', 0.3)];
    const sparse = [match('b', 10), match('d', 5), match('e', 0)];
    const fused = weightedFusion(dense, sparse, { denseWeight: 0.25 });
    // a: 0.25·1; b: 0.25·0.5 + 0.75·1; c: 0; d: 0.75·0.5; e: 0.
    expect(fused.map((m) => [m.id, Number(m.score.toFixed(6))])).toEqual([
      ['b', 0.875],
      ['d', 0.375],
      ['a', 0.25],
      ['c', 0],
      ['e', 0],
    ]);
    expect(weightedFusion(dense, sparse, { denseWeight: 1, limit: 2 }).map((m) => m.id)).toEqual(['a', 'b']);
    // A list whose scores are all equal scales to 1.
    expect(weightedFusion([match('x', 3), match('y', 3)], [], { denseWeight: 0.5 }).map((m) => m.score)).toEqual([
      0.5, 0.5,
    ]);
    expect(fuse(dense, sparse, { method: 'rrf', k: 1 }).map((m) => m.id)).toEqual(['b', 'a', 'd', 'c', 'e']);
  });
});

// Four sources: "feline" only appears in documents that also say "cat", except in `felines`.
const documents: SourceDocument[] = [
  {
    uri: 'mem://cats',
    title: 'Cats',
    contentType: 'text/plain',
    text: 'The cat is a small feline. A cat purrs; the feline hunts mice.',
  },
  {
    uri: 'mem://kittens',
    title: 'Kittens',
    contentType: 'text/plain',
    text: 'A kitten is a young cat, a feline that plays.',
  },
  {
    uri: 'mem://felines',
    title: 'Felines',
    contentType: 'text/plain',
    text: 'Lions and tigers are large felines; every feline has retractable claws.',
  },
  {
    uri: 'mem://bread',
    title: 'Bread',
    contentType: 'text/plain',
    text: 'Sourdough bread rises slowly because wild yeast ferments the dough.',
  },
  {
    uri: 'mem://long',
    title: 'Long',
    contentType: 'text/plain',
    text: Array.from(
      { length: 30 },
      (_, i) => `Paragraph ${i} talks about ${i % 3 === 0 ? 'lighthouse lamps and lenses' : 'harbours and ships'}.`,
    ).join('\n\n'),
  },
];

let store: Store;
const bm25 = createBm25Encoder();
const embedder = trigramEmbedder(64, 'trigram');
beforeAll(async () => {
  store = createMemoryStore();
  await ingest({
    store,
    collection: 'kb',
    documents,
    embedder,
    sparseEmbedder: bm25,
    splitter: createRecursiveSplitter({ chunkSize: 120, chunkOverlap: 30, unit: 'characters' }),
  });
});
afterAll(() => store.dispose());

const base = () => ({ store, collection: 'kb', sparseEmbedder: bm25, mode: 'sparse' as const });

describe('hybrid retrieve', () => {
  test("fusion 'rrf' is the store's fusion; the default weighted fusion ranks as weightedFusion of the two searches", async () => {
    const query = 'kitten bread';
    const both = {
      store,
      collection: 'kb',
      embedder,
      sparseEmbedder: bm25,
      query,
      limit: 4,
      expansion: false as const,
    };
    const rrf = await retrieve({ ...both, fusion: { method: 'rrf', k: 10 } });
    const [vector] = (await embedder.embed({ values: [query], role: 'query' })).vectors;
    const bound = await bindStatistics({ store, collection: 'kb', embedder: bm25 });
    const [sparseVector] = (await bound.embed({ values: [query], role: 'query' })).vectors;
    const spaces = {
      embeddingSpace: fingerprint(await embedder.space()),
      sparseEmbeddingSpace: fingerprint(await bound.space()),
    };
    const native = await store.search({
      collection: 'kb',
      vector: vector as Float32Array,
      sparseVector: sparseVector as SparseVector,
      ...spaces,
      fusion: { method: 'rrf', k: 10 },
      limit: 4,
    });
    expect(rrf.map((c) => [c.id, c.score])).toEqual(native.map((m) => [m.id, m.score]));
    const weighted = await retrieve(both);
    const dense = await store.search({
      collection: 'kb',
      vector: vector as Float32Array,
      embeddingSpace: spaces.embeddingSpace,
      limit: 16,
    });
    const sparse = await store.search({
      collection: 'kb',
      sparseVector: sparseVector as SparseVector,
      sparseEmbeddingSpace: spaces.sparseEmbeddingSpace,
      limit: 16,
    });
    expect(weighted.map((c) => [c.id, c.score])).toEqual(
      weightedFusion(dense, sparse, { denseWeight: 0.5, limit: 4 }).map((m) => [m.id, m.score]),
    );
  });
});

describe('pseudo-relevance feedback', () => {
  test('on by default: a source that never says "cat" is found through the terms of the first results', async () => {
    const without = await retrieve({ ...base(), query: 'cat', limit: 10, expansion: false });
    expect(without.map((c) => c.citation.source)).not.toContain('mem://felines');
    const withFeedback = await retrieve({ ...base(), query: 'cat', limit: 10 });
    expect(withFeedback.map((c) => c.citation.source)).toContain('mem://felines');
    // The original query still leads: the sources that say "cat" stay first.
    expect(withFeedback[0]?.citation.source).not.toBe('mem://felines');
    const rm3 = await retrieve({ ...base(), query: 'cat', limit: 10, expansion: { method: 'rm3', documents: 2 } });
    expect(rm3.map((c) => c.citation.source)).toContain('mem://felines');
  });

  test('expandQuery keeps the original weights and adds the feedback terms with their IDF', async () => {
    const encoder = createBm25Encoder({ corpus: documents.map((d) => d.text) });
    const [query] = (await encoder.embed({ values: ['cat'], role: 'query' })).vectors;
    const q = query as NonNullable<typeof query>;
    const expanded = await expandQuery({
      encoder,
      query: q,
      feedback: [{ text: documents[0]?.text as string, score: 2 }],
      expansion: { terms: 3 },
    });
    expect(expanded.indices.length).toBeGreaterThan(q.indices.length);
    const at = (vector: SparseVector, index: number) => vector.values[Array.from(vector.indices).indexOf(index)];
    for (const index of q.indices) expect(at(expanded, index)).toBeGreaterThanOrEqual(at(q, index) as number);
    const [feline] = (await encoder.embed({ values: ['feline'], role: 'query' })).vectors;
    expect(Array.from(expanded.indices)).toContain(feline?.indices[0]);
    // No feedback: the query as it was.
    expect(await expandQuery({ encoder, query: q, feedback: [] })).toBe(q);
  });

  test('asked of a sparse embedder without BM25 statistics, or with bad settings: InvalidArgumentError', async () => {
    // A sparse embedder that is not kumiki's BM25 encoder (no statistics to read).
    const other = {
      specificationVersion: bm25.specificationVersion,
      provider: 'other',
      modelId: 'splade',
      kind: 'sparse',
      maxBatchSize: bm25.maxBatchSize,
      supportsParallelCalls: true,
      space: () => bm25.space(),
      embed: (options: Parameters<typeof bm25.embed>[0]) => bm25.embed(options),
    } as unknown as typeof bm25;
    // Not asked for: searched without it.
    expect((await retrieve({ ...base(), sparseEmbedder: other, query: 'cat' })).length).toBeGreaterThan(0);
    await expect(
      retrieve({ ...base(), sparseEmbedder: other, query: 'cat', expansion: { method: 'bo1' } }),
    ).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(retrieve({ ...base(), query: 'cat', expansion: { originalWeight: 0 } })).rejects.toThrow(
      /originalWeight must be above 0/,
    );
    await expect(
      retrieve({ ...base(), query: 'cat', expansion: { method: 'rocchio' as 'bo1' } }),
    ).rejects.toBeInstanceOf(InvalidArgumentError);
  });
});

describe("groupBy: 'source'", () => {
  test('ranks sources, each with its best passages (at most 3) and their citations', async () => {
    const results: RetrievedDocument[] = await retrieve({ ...base(), query: 'lighthouse lamps', groupBy: 'source' });
    expect(results[0]?.source).toBe('mem://long');
    expect(results[0]?.title).toBe('Long');
    const passages = results[0]?.passages ?? [];
    expect(passages.length).toBe(3);
    for (const passage of passages) {
      expect(passage.citation.source).toBe('mem://long');
      expect(passage.text).toContain('lighthouse');
      expect(passage.citation.end).toBeGreaterThan(passage.citation.start);
    }
    expect(passages.map((p) => p.score)).toEqual([...passages.map((p) => p.score)].sort((a, b) => b - a));
    expect(new Set(results.map((r) => r.source)).size).toBe(results.length);
    for (let i = 1; i < results.length; i++)
      expect(results[i - 1]?.score).toBeGreaterThanOrEqual(results[i]?.score as number);
  });

  test("score 'document' is BM25 of the whole source: the same scores as one document per source", async () => {
    const whole = createBm25Encoder({ corpus: documents.map((d) => d.text) });
    const [query] = (await whole.embed({ values: ['harbours ships lighthouse'], role: 'query' })).vectors;
    const vectors = (await whole.embed({ values: documents.map((d) => d.text), role: 'document' })).vectors;
    const expected = documents
      .map((d, i) => {
        const v = vectors[i] as NonNullable<typeof query>;
        let score = 0;
        for (let j = 0; j < v.indices.length; j++) {
          const at = Array.from(query?.indices ?? []).indexOf(v.indices[j] as number);
          if (at >= 0) score += (v.values[j] as number) * (query?.values[at] as number);
        }
        return { source: d.uri, score };
      })
      .filter((d) => d.score > 0)
      .sort((a, b) => b.score - a.score);
    const results = await retrieve({
      ...base(),
      query: 'harbours ships lighthouse',
      groupBy: 'source',
      expansion: false,
      limit: 10,
    });
    expect(results.map((r) => r.source)).toEqual(expected.map((d) => d.source));
    for (const [i, result] of results.entries()) expect(result.score).toBeCloseTo(expected[i]?.score as number, 4);
  });

  test('titleWeight (BM25F): the title counts that many more times, in the texts and in the statistics', async () => {
    // Weighted as if each source's text began with its title twice more (titles here are not in the text).
    const texts = documents.map((d) => `${d.title}\n${d.title}\n${d.text}`);
    const whole = createBm25Encoder({ corpus: texts });
    const [query] = (await whole.embed({ values: ['felines'], role: 'query' })).vectors;
    const vectors = (await whole.embed({ values: texts, role: 'document' })).vectors;
    const q = query as SparseVector;
    const dot = (v: SparseVector) =>
      Array.from(v.indices).reduce((sum, index, j) => {
        const at = Array.from(q.indices).indexOf(index);
        return at < 0 ? sum : sum + (v.values[j] as number) * (q.values[at] as number);
      }, 0);
    const results = await retrieve({
      ...base(),
      query: 'felines',
      groupBy: { by: 'source', titleWeight: 2 },
      expansion: false,
    });
    const felines = results.find((r) => r.source === 'mem://felines');
    expect(felines?.score).toBeCloseTo(dot(vectors[2] as SparseVector), 4);
    const plain = await retrieve({ ...base(), query: 'felines', groupBy: 'source', expansion: false });
    expect(plain.find((r) => r.source === 'mem://felines')?.score).toBeLessThan(felines?.score as number);
    await expect(
      retrieve({ ...base(), query: 'cat', groupBy: { by: 'source', titleWeight: 1.5 } }),
    ).rejects.toBeInstanceOf(InvalidArgumentError);
  });

  test('the filter applies to the sources and to their texts; dense and hybrid group by the best chunk', async () => {
    const filtered = await retrieve({
      ...base(),
      query: 'cat feline',
      groupBy: 'source',
      filter: { op: 'eq', field: 'source', value: 'mem://kittens' },
    });
    expect(filtered.map((r) => r.source)).toEqual(['mem://kittens']);
    const dense = await retrieve({ store, collection: 'kb', embedder, query: 'sourdough bread', groupBy: 'source' });
    expect(dense[0]?.source).toBe('mem://bread');
    expect(dense[0]?.score).toBe(dense[0]?.passages[0]?.score);
    const hybrid = await retrieve({
      store,
      collection: 'kb',
      embedder,
      sparseEmbedder: bm25,
      query: 'sourdough bread',
      groupBy: { by: 'source', passages: 1 },
    });
    expect(hybrid[0]?.source).toBe('mem://bread');
    expect(hybrid[0]?.passages.length).toBe(1);
  });

  test('refused with mmr or rerank, and document scores without a sparse embedder', async () => {
    await expect(retrieve({ ...base(), query: 'cat', groupBy: 'source', mmr: {} } as never)).rejects.toBeInstanceOf(
      InvalidArgumentError,
    );
    await expect(
      retrieve({ store, collection: 'kb', embedder, query: 'cat', groupBy: { by: 'source', score: 'document' } }),
    ).rejects.toThrow(/give a sparseEmbedder/);
    await expect(retrieve({ ...base(), query: 'cat', groupBy: { by: 'chapter' as 'source' } })).rejects.toBeInstanceOf(
      InvalidArgumentError,
    );
  });

  test('reassemble puts overlapping chunks back into the source text', () => {
    const text = 'abcdefghijklmnopqrstuvwxyz';
    const chunks = [
      { start: 10, end: 20, index: 1, text: text.slice(10, 20) },
      { start: 0, end: 12, index: 0, text: text.slice(0, 12) },
      { start: 18, end: 26, index: 2, text: text.slice(18, 26) },
    ];
    expect(reassemble(chunks)).toBe(text);
    // A gap between chunks becomes one space.
    expect(reassemble([chunks[1] as (typeof chunks)[0], { start: 20, end: 26, index: 2, text: 'uvwxyz' }])).toBe(
      'abcdefghijkl uvwxyz',
    );
  });
});
