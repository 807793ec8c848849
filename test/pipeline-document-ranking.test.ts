/**
 * retrieve({ groupBy: { score: 'document' } }): each source scored as a whole text, put back together
 * from its chunks. The weighted source vectors are kept between calls, so they must be told apart by
 * everything that changes the text (collection, source version, filter, titleWeight); a source caught
 * with chunks of two versions is scored on the version of its best chunk; pseudo-relevance feedback
 * reads whole sources; and the steps show up as spans with their attributes.
 */
import { context, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { describe, expect, test } from 'vitest';
import type { SparseEmbedder } from '../src/core/embedder.js';
import type { Filter } from '../src/core/filter.js';
import {
  createBm25Encoder,
  createMemoryStore,
  InvalidArgumentError,
  type JsonObject,
  type Match,
  type SparseVector,
  type Store,
} from '../src/index.js';
import { ingest } from '../src/pipeline/ingest.js';
import { retrieve } from '../src/pipeline/retrieve.js';
import { createRecursiveSplitter } from '../src/pipeline/splitter.js';
import { scriptedStore } from './helpers/scripted-store.js';
import { trigramEmbedder } from './helpers/trigram-embedder.mjs';

const CORPUS = [
  'lighthouse keepers trim the lamps every night',
  'harbour boats come home with the tide',
  'the keeper logs every ship that passes the lighthouse',
  'lamps and lenses need cleaning',
];

/**
 * A sparse embedder with fixed BM25 weights (not kumiki's encoder, so the collection keeps no
 * statistics for it): the same object for every call, so its weighted sources are cached across calls.
 */
function fixedEmbedder(signals: (AbortSignal | undefined)[] = []): SparseEmbedder {
  const bm25 = createBm25Encoder({ corpus: CORPUS });
  return {
    specificationVersion: bm25.specificationVersion,
    provider: 'test',
    modelId: 'fixed-bm25',
    kind: 'sparse',
    maxBatchSize: 2,
    supportsParallelCalls: true,
    space: () => bm25.space(),
    embed: (options) => {
      if (options.role === 'document') signals.push(options.abortSignal);
      return bm25.embed(options);
    },
  } as SparseEmbedder;
}

async function vectorOf(embedder: SparseEmbedder, text: string, role: 'query' | 'document'): Promise<SparseVector> {
  const [vector] = (await embedder.embed({ values: [text], role })).vectors;
  return vector as SparseVector;
}

/** BM25 of `text` as one document against `query`: the score a source with that text must get. */
async function expectedScore(embedder: SparseEmbedder, text: string, query: string): Promise<number> {
  const q = await vectorOf(embedder, query, 'query');
  const d = await vectorOf(embedder, text, 'document');
  let score = 0;
  for (let i = 0; i < d.indices.length; i++) {
    const at = Array.from(q.indices).indexOf(d.indices[i] as number);
    if (at >= 0) score += (d.values[i] as number) * (q.values[at] as number);
  }
  return score;
}

type Piece = { text: string; hash?: string; title?: string; extra?: JsonObject };

/** Writes a source's chunks by hand (as another tool or a re-ingest under way may leave them), one after another. */
async function writeSource(
  store: Store,
  collection: string,
  embedder: SparseEmbedder,
  source: string,
  pieces: Piece[],
): Promise<void> {
  await store.createCollection({ name: collection, sparseEmbeddingSpace: await embedder.space(), ifExists: 'open' });
  let start = 0;
  const records = [];
  for (const [index, piece] of pieces.entries()) {
    records.push({
      id: `${source}#${piece.hash ?? 'none'}#${index}`,
      sparseVector: await vectorOf(embedder, piece.text, 'document'),
      payload: {
        text: piece.text,
        source,
        start,
        end: start + piece.text.length,
        chunk: index,
        ...(piece.hash === undefined ? {} : { sourceHash: piece.hash }),
        ...(piece.title === undefined ? {} : { title: piece.title }),
        ...piece.extra,
      },
    });
    start += piece.text.length + 1;
  }
  await store.upsert({ collection, records });
}

const scoreOf = async (
  options: { store: Store; collection: string; sparseEmbedder: SparseEmbedder; filter?: Filter; titleWeight?: number },
  query: string,
  source: string,
) => {
  const { titleWeight, ...rest } = options;
  const documents = await retrieve({
    ...rest,
    query,
    limit: 10,
    groupBy: { by: 'source', score: 'document', ...(titleWeight === undefined ? {} : { titleWeight }) },
  });
  return documents.find((d) => d.source === source)?.score;
};

describe("score 'document': weighted sources are kept, but never for a different text", () => {
  test('a source written again (new version) is scored on its new text', async () => {
    const store = createMemoryStore();
    const embedder = fixedEmbedder();
    const options = { store, collection: 'kb', sparseEmbedder: embedder };
    const first = 'lighthouse keepers trim the lamps';
    const second = 'lighthouse lighthouse lighthouse lamps and lenses';
    await writeSource(store, 'kb', embedder, 'doc:a', [{ text: first, hash: 'v1' }]);
    await writeSource(store, 'kb', embedder, 'doc:b', [{ text: 'harbour boats and the lighthouse', hash: 'b1' }]);
    const before = await scoreOf(options, 'lighthouse', 'doc:a');
    expect(before).toBeCloseTo(await expectedScore(embedder, first, 'lighthouse'), 5);
    await store.delete({ collection: 'kb', filter: { op: 'eq', field: 'source', value: 'doc:a' } });
    await writeSource(store, 'kb', embedder, 'doc:a', [{ text: second, hash: 'v2' }]);
    const after = await scoreOf(options, 'lighthouse', 'doc:a');
    expect(after).toBeCloseTo(await expectedScore(embedder, second, 'lighthouse'), 5);
    expect(after).not.toBeCloseTo(before as number, 3);
    await store.dispose();
  });

  test('the same source URI in two collections is scored on each collection’s text', async () => {
    const store = createMemoryStore();
    const embedder = fixedEmbedder();
    // No sourceHash: records written by another tool.
    const one = 'harbour boats come home';
    const two = 'lighthouse keepers and lighthouse lamps';
    await writeSource(store, 'one', embedder, 'doc:a', [{ text: one }, { text: 'with the lighthouse' }]);
    await writeSource(store, 'two', embedder, 'doc:a', [{ text: two }]);
    const first = await scoreOf({ store, collection: 'one', sparseEmbedder: embedder }, 'lighthouse', 'doc:a');
    const second = await scoreOf({ store, collection: 'two', sparseEmbedder: embedder }, 'lighthouse', 'doc:a');
    expect(first).toBeCloseTo(await expectedScore(embedder, `${one} with the lighthouse`, 'lighthouse'), 5);
    expect(second).toBeCloseTo(await expectedScore(embedder, two, 'lighthouse'), 5);
    await store.dispose();
  });

  test('a filter narrows the text a source is scored on; without it the whole text counts again', async () => {
    const store = createMemoryStore();
    const embedder = fixedEmbedder();
    const intro = 'lighthouse keepers trim the lamps';
    const body = 'the keeper logs every ship that passes the lighthouse';
    await writeSource(store, 'kb', embedder, 'doc:a', [
      { text: intro, hash: 'v1', extra: { part: 'intro' } },
      { text: body, hash: 'v1', extra: { part: 'body' } },
    ]);
    const options = { store, collection: 'kb', sparseEmbedder: embedder };
    const filter: Filter = { op: 'eq', field: 'part', value: 'body' };
    const whole = await expectedScore(embedder, `${intro} ${body}`, 'lighthouse');
    const part = await expectedScore(embedder, body, 'lighthouse');
    expect(whole).not.toBeCloseTo(part, 3);
    expect(await scoreOf({ ...options, filter }, 'lighthouse', 'doc:a')).toBeCloseTo(part, 5);
    expect(await scoreOf(options, 'lighthouse', 'doc:a')).toBeCloseTo(whole, 5);
    expect(await scoreOf({ ...options, filter }, 'lighthouse', 'doc:a')).toBeCloseTo(part, 5);
    await store.dispose();
  });

  test('titleWeight: the title repeated in front; each weight scored on its own text', async () => {
    const store = createMemoryStore();
    const embedder = fixedEmbedder();
    const text = 'keepers trim the lamps every night';
    await writeSource(store, 'kb', embedder, 'doc:a', [{ text, hash: 'v1', title: 'Lighthouse' }]);
    const options = { store, collection: 'kb', sparseEmbedder: embedder };
    const plain = await expectedScore(embedder, text, 'lighthouse lamps');
    const weighted = await expectedScore(embedder, `Lighthouse\nLighthouse\n${text}`, 'lighthouse lamps');
    expect(await scoreOf(options, 'lighthouse lamps', 'doc:a')).toBeCloseTo(plain, 5);
    expect(await scoreOf({ ...options, titleWeight: 2 }, 'lighthouse lamps', 'doc:a')).toBeCloseTo(weighted, 5);
    expect(await scoreOf(options, 'lighthouse lamps', 'doc:a')).toBeCloseTo(plain, 5);
    await store.dispose();
  });

  test('a source with chunks of two versions (a re-ingest under way) is scored on the version of its best chunk', async () => {
    const store = createMemoryStore();
    const embedder = fixedEmbedder();
    const old = 'harbour boats come home with the tide';
    const current = 'lighthouse lamps and the lighthouse lenses';
    await writeSource(store, 'kb', embedder, 'doc:a', [{ text: old, hash: 'old' }]);
    await writeSource(store, 'kb', embedder, 'doc:a', [{ text: current, hash: 'new' }]);
    const options = { store, collection: 'kb', sparseEmbedder: embedder };
    // 'lighthouse' matches only the new version's chunk; 'boats' only the old one's.
    expect(await scoreOf(options, 'lighthouse', 'doc:a')).toBeCloseTo(
      await expectedScore(embedder, current, 'lighthouse'),
      5,
    );
    expect(await scoreOf(options, 'boats', 'doc:a')).toBeCloseTo(await expectedScore(embedder, old, 'boats'), 5);
    await store.dispose();
  });
});

describe("score 'document': calls and order", () => {
  test('the caller’s abort signal reaches the weighing of sources and the reading of their texts', async () => {
    const signals: (AbortSignal | undefined)[] = [];
    const embedder = fixedEmbedder(signals);
    const memory = createMemoryStore();
    await writeSource(memory, 'kb', embedder, 'doc:a', [{ text: 'lighthouse lamps', hash: 'v1' }]);
    signals.length = 0;
    const scrolls: (AbortSignal | undefined)[] = [];
    const store = new Proxy(memory, {
      get: (target, key) =>
        key === 'scroll'
          ? (options: Parameters<Store['scroll']>[0]) => {
              scrolls.push(options.abortSignal);
              return target.scroll(options);
            }
          : Reflect.get(target, key),
    });
    const controller = new AbortController();
    const documents = await retrieve({
      store,
      collection: 'kb',
      sparseEmbedder: embedder,
      query: 'lighthouse',
      groupBy: { by: 'source', score: 'document' },
      abortSignal: controller.signal,
    });
    expect(documents.map((d) => d.source)).toEqual(['doc:a']);
    expect(signals).toEqual([controller.signal]);
    expect(scrolls.length).toBeGreaterThan(0);
    expect(scrolls.every((signal) => signal === controller.signal)).toBe(true);
    await memory.dispose();
  });

  test('hybrid: the sparse chunks rank by score across sources before the chunk fusion that orders each source’s passages', async () => {
    const hit = (id: string, source: string, score: number): Match => ({
      id,
      score,
      payload: { text: `text of ${id}`, source, start: 0, end: 10, chunk: 0 },
    });
    const dense = [hit('b2', 'B', 0.9), hit('d1', 'D', 0.8), hit('b1', 'B', 0.7)];
    const sparse = [hit('b1', 'B', 9), hit('c1', 'C', 5), hit('c2', 'C', 4), hit('b2', 'B', 1)];
    const { store } = scriptedStore((options: { sparseVector?: unknown }) => (options.sparseVector ? sparse : dense));
    const documents = await retrieve({
      store,
      collection: 'kb',
      query: 'q',
      embedder: trigramEmbedder(16, 'trigram'),
      sparseEmbedder: createBm25Encoder(),
      expansion: false,
      fusion: { method: 'rrf', k: 1 },
      groupBy: { by: 'source', score: 'max', passages: 5 },
    });
    // Sparse chunk ranks b1 1, c1 2, c2 3, b2 4; dense b2 1, d1 2, b1 3. RRF k 1: b1 1/4 + 1/2 > b2 1/2 + 1/5.
    expect(documents.find((d) => d.source === 'B')?.passages.map((p) => p.id)).toEqual(['b1', 'b2']);
  });

  test('a record without text is refused with InvalidArgumentError, also when feedback reads it first', async () => {
    const { store } = scriptedStore([{ id: 'x', score: 1, payload: { source: 'S' } }]);
    await expect(
      retrieve({ store, collection: 'kb', query: 'q', sparseEmbedder: createBm25Encoder() }),
    ).rejects.toBeInstanceOf(InvalidArgumentError);
  });
});

describe('pseudo-relevance feedback with whole sources', () => {
  // The guide says "cat" in one chunk and "whiskers" only in another: feedback from its chunks that
  // match "cat" never sees "whiskers"; feedback from the whole source does.
  const documents = [
    {
      uri: 'mem://guide',
      contentType: 'text/plain',
      text: 'Cat care: a cat sleeps, a cat eats, a cat plays.\n\nWhiskers: long whiskers sense the whiskers of the room.',
    },
    { uri: 'mem://whiskers', contentType: 'text/plain', text: 'Whiskers grow back when trimmed.' },
    { uri: 'mem://bread', contentType: 'text/plain', text: 'Sourdough bread rises slowly overnight.' },
    { uri: 'mem://boats', contentType: 'text/plain', text: 'Boats sail home with the evening tide.' },
  ];
  const setUp = async (more: typeof documents = []) => {
    const store = createMemoryStore();
    const bm25 = createBm25Encoder();
    await ingest({
      store,
      collection: 'kb',
      documents: [...documents, ...more],
      sparseEmbedder: bm25,
      splitter: createRecursiveSplitter({ chunkSize: 60, chunkOverlap: 0, unit: 'characters' }),
    });
    return { store, bm25 };
  };

  test('the first sources’ whole texts feed the expansion, on every query (not only a cold one)', async () => {
    const { store, bm25 } = await setUp();
    const options = { store, collection: 'kb', sparseEmbedder: bm25, query: 'cat', limit: 10 };
    const without = await retrieve({ ...options, groupBy: 'source', expansion: false });
    expect(without.map((d) => d.source)).toEqual(['mem://guide']);
    for (let run = 0; run < 2; run++) {
      const found = await retrieve({ ...options, groupBy: 'source' });
      expect(found.map((d) => d.source)).toEqual(['mem://guide', 'mem://whiskers']);
    }
    // Chunks as feedback: only the chunk that says "cat", so no whiskers.
    const chunks = await retrieve(options);
    expect(chunks.map((c) => c.citation.source)).toEqual(['mem://guide']);
    await store.dispose();
  });

  test('feedback reads the first sources’ texts even when some were weighed by an earlier query', async () => {
    const { store, bm25 } = await setUp([
      { uri: 'mem://kitten', contentType: 'text/plain', text: 'A kitten is a young cat.' },
    ]);
    const options = { store, collection: 'kb', sparseEmbedder: bm25, limit: 10, groupBy: 'source' as const };
    // Weighs the guide and the whiskers source (not the kitten one) and keeps them.
    await retrieve({ ...options, query: 'whiskers', expansion: false });
    const found = await retrieve({ ...options, query: 'cat' });
    expect(found.map((d) => d.source)).toContain('mem://whiskers');
    await store.dispose();
  });

  test('spans: the expansion with its method, the sources read with their count, each search with store and collection', async () => {
    const { store, bm25 } = await setUp();
    const exporter = new InMemorySpanExporter();
    const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
    trace.setGlobalTracerProvider(provider);
    try {
      await retrieve({
        store,
        collection: 'kb',
        sparseEmbedder: bm25,
        query: 'cat',
        groupBy: 'source',
        expansion: { method: 'rm3' },
      });
      const spans = exporter.getFinishedSpans();
      const named = (name: string) => spans.filter((s) => s.name === name).map((s) => s.attributes);
      expect(named('kumiki.retrieve.expand')).toEqual([{ 'kumiki.retrieve.expansion': 'rm3' }]);
      // Read once: the guide (the only source the first query finds), then the whiskers source.
      expect(named('kumiki.retrieve.sources')).toEqual([
        { 'kumiki.retrieve.sources': 1 },
        { 'kumiki.retrieve.sources': 1 },
      ]);
      const searches = named('kumiki.store.search');
      expect(searches.length).toBe(2);
      for (const attributes of searches)
        expect(attributes).toEqual({ 'kumiki.store.provider': 'memory', 'kumiki.collection': 'kb' });
    } finally {
      trace.disable();
      context.disable();
      await provider.shutdown();
      await store.dispose();
    }
  });
});
