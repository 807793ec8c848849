import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { context, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createBm25Encoder, createMemoryStore, InvalidArgumentError, type Store } from '../src/index.js';
import { answer, citedSources, streamAnswer } from '../src/pipeline/answer.js';
import { ingest } from '../src/pipeline/ingest.js';
import { retrieve } from '../src/pipeline/retrieve.js';
import { createRecursiveSplitter } from '../src/pipeline/splitter.js';
import type { SourceDocument } from '../src/pipeline/types.js';
import { createLlamaCppRunner } from '../src/runners/llama-cpp/index.js';
import { createOpenAICompatibleRunner } from '../src/runners/openai-compatible/index.js';
import { type FakeVllm, startFakeVllm } from './helpers/fake-vllm-server.js';
import { trigramEmbedder } from './helpers/trigram-embedder.mjs';

const documents: SourceDocument[] = [
  {
    uri: 'mem://lighthouses',
    title: 'Lighthouses',
    contentType: 'text/markdown',
    text: '# Lighthouses\n\nA lighthouse warns ships with a bright lamp and a Fresnel lens.',
  },
  {
    uri: 'mem://lighthouses-copy',
    title: 'Lighthouses (copy)',
    contentType: 'text/markdown',
    text: '# Lighthouses\n\nA lighthouse warns ships with a bright lamp and a Fresnel lens!',
  },
  {
    uri: 'mem://keepers',
    title: 'Keepers',
    contentType: 'text/markdown',
    text: '# Keepers\n\nLighthouse keepers trimmed wicks and logged the weather every night.',
  },
  {
    uri: 'mem://bread',
    title: 'Bread',
    contentType: 'text/plain',
    text: 'Sourdough bread rises slowly because wild yeast ferments the dough.',
    metadata: { shelf: 'kitchen' },
  },
];

const embedder = trigramEmbedder(64, 'trigram');
const bm25 = createBm25Encoder();
let store: Store;
beforeAll(async () => {
  store = createMemoryStore();
  await ingest({
    store,
    collection: 'kb',
    documents,
    embedder,
    sparseEmbedder: bm25,
    splitter: createRecursiveSplitter({ chunkSize: 500, unit: 'characters' }),
  });
});

describe('retrieve', () => {
  test.each(['dense', 'sparse', 'hybrid'] as const)('%s search returns chunks with their citation', async (mode) => {
    const results = await retrieve({
      store,
      collection: 'kb',
      query: 'why does sourdough bread rise',
      mode,
      embedder,
      sparseEmbedder: bm25,
    });
    const top = results[0];
    expect(top?.citation).toMatchObject({ source: 'mem://bread', title: 'Bread', chunk: 0 });
    const source = documents.find((d) => d.uri === top?.citation.source) as SourceDocument;
    expect(source.text.slice(top?.citation.start, top?.citation.end)).toBe(top?.text);
  });

  test('filters narrow the candidates', async () => {
    const results = await retrieve({
      store,
      collection: 'kb',
      query: 'lighthouse lamp and bread',
      sparseEmbedder: bm25,
      filter: { op: 'eq', field: 'metadata.shelf', value: 'kitchen' },
    });
    expect(results.map((r) => r.citation.source)).toEqual(['mem://bread']);
  });

  test('MMR trades a near-duplicate for a different passage', async () => {
    const query = 'lighthouse bright lamp Fresnel lens ships';
    const plain = await retrieve({ store, collection: 'kb', query, embedder, limit: 2 });
    expect(plain.map((r) => r.citation.source).sort()).toEqual(['mem://lighthouses', 'mem://lighthouses-copy']);
    const diverse = await retrieve({ store, collection: 'kb', query, embedder, limit: 2, mmr: { lambda: 0.3 } });
    expect(diverse).toHaveLength(2);
    expect(diverse[0]?.citation.source).toBe(plain[0]?.citation.source);
    expect(diverse[1]?.citation.source).not.toMatch(/lighthouses/);
  });

  test('a reranker reorders the candidates; one that invents results is refused', async () => {
    const reranked = await retrieve({
      store,
      collection: 'kb',
      query: 'lighthouse',
      sparseEmbedder: bm25,
      limit: 3,
      rerank: async (_query, chunks) => [...chunks].reverse().map((chunk, i) => ({ ...chunk, score: 10 - i })),
    });
    const plain = await retrieve({ store, collection: 'kb', query: 'lighthouse', sparseEmbedder: bm25, limit: 12 });
    expect(reranked.map((r) => r.id)).toEqual(
      [...plain]
        .reverse()
        .slice(0, 3)
        .map((r) => r.id),
    );
    await expect(
      retrieve({
        store,
        collection: 'kb',
        query: 'lighthouse',
        sparseEmbedder: bm25,
        rerank: async (_query, chunks) => [{ ...(chunks[0] as (typeof chunks)[0]), id: 'invented' }],
      }),
    ).rejects.toThrow(/must return an array of the chunks it was given/);
  });

  test('minScore drops weak matches; bad options and foreign records get clear errors', async () => {
    const none = await retrieve({ store, collection: 'kb', query: 'lighthouse', embedder, minScore: 0.99 });
    expect(none).toEqual([]);
    await expect(
      retrieve({ store, collection: 'kb', query: 'x', mode: 'dense', sparseEmbedder: bm25 }),
    ).rejects.toThrow(/mode "dense" needs a dense embedder/);
    await expect(retrieve({ store, collection: 'kb', query: '  ', embedder })).rejects.toBeInstanceOf(
      InvalidArgumentError,
    );
    const bare = createMemoryStore();
    await bare.createCollection({ name: 'raw', dimensions: 64, embeddingSpace: await embedder.space() });
    await bare.upsert({
      collection: 'raw',
      records: [
        { id: 1, vector: (await embedder.embed({ values: ['x'], role: 'document' })).vectors[0] as Float32Array },
      ],
    });
    await expect(retrieve({ store: bare, collection: 'raw', query: 'x', embedder })).rejects.toThrow(
      /has no string payload.text/,
    );
  });
});

describe('answer', () => {
  let vllm: FakeVllm;
  beforeAll(async () => {
    vllm = await startFakeVllm();
  });
  afterAll(() => vllm.close());
  const runner = () => createOpenAICompatibleRunner({ baseURL: vllm.url, model: 'fake-vllm', flavor: 'vllm' });

  test('streams the numbered sources, then the text, then the answer with its citations', async () => {
    const parts = [];
    for await (const part of streamAnswer({
      question: 'How does a lighthouse warn ships?',
      runner: runner(),
      retrieval: { store, collection: 'kb', sparseEmbedder: bm25, limit: 2 },
      maxTokens: 12,
      seed: 1,
    })) {
      parts.push(part);
    }
    expect(parts[0]?.type).toBe('sources');
    expect(parts.at(-1)?.type).toBe('finish');
    expect(parts.filter((p) => p.type === 'text-delta').length).toBeGreaterThan(1);
    const sources = parts[0]?.type === 'sources' ? parts[0].sources : [];
    expect(sources.map((s) => s.n)).toEqual([1, 2]);
    const request = vllm.requests.at(-1)?.body as { messages: { role: string; content: string }[] };
    const prompt = request.messages.map((m) => m.content).join('\n');
    expect(prompt).toContain('[1] Lighthouses');
    expect(prompt).toContain(sources[0]?.text.trim());
    expect(prompt).toContain('Question: How does a lighthouse warn ships?');
  });

  test('says it does not know, without calling the model, when nothing relevant is found', async () => {
    const before = vllm.requests.length;
    const result = await answer({
      question: 'What is the airspeed of a swallow?',
      runner: runner(),
      retrieval: { store, collection: 'kb', embedder, minScore: 0.9 },
    });
    expect(result).toMatchObject({ grounded: false, citations: [], sources: [] });
    expect(result.text).toMatch(/don't know/);
    expect(vllm.requests.length).toBe(before);
  });

  test('finds the sources an answer cites, in every common form', () => {
    const sources = [1, 2, 3].map((n) => ({
      n,
      id: n,
      text: '',
      score: 1,
      source: `s${n}`,
      chunk: 0,
      start: 0,
      end: 0,
    }));
    expect(citedSources('Lamps [2]. Lenses [1, 3][2]. Not [7].', sources).map((s) => s.n)).toEqual([2, 1, 3]);
  });

  test('a conversation: earlier turns go to the model before the grounded question; retrieval uses the last question', async () => {
    const parts = [];
    for await (const part of streamAnswer({
      messages: [
        { role: 'system', content: 'Answer in one sentence.' },
        { role: 'user', content: 'Tell me about lighthouses.' },
        { role: 'assistant', content: 'They guide ships.' },
        { role: 'user', content: 'Why does sourdough bread rise?' },
      ],
      runner: runner(),
      retrieval: { store, collection: 'kb', sparseEmbedder: bm25, limit: 1 },
      maxTokens: 8,
      seed: 1,
    })) {
      parts.push(part);
    }
    expect(parts[0]?.type === 'sources' ? parts[0].sources.map((s) => s.source) : []).toEqual(['mem://bread']);
    const request = vllm.requests.at(-1)?.body as { messages: { role: string; content: string }[] };
    expect(request.messages.map((m) => m.role)).toEqual(['system', 'user', 'assistant', 'user']);
    expect(request.messages[0]?.content).toMatch(
      /^Answer the question using only the numbered sources[\s\S]*\n\nAnswer in one sentence\.$/,
    );
    expect(request.messages.slice(1, 3).map((m) => m.content)).toEqual([
      'Tell me about lighthouses.',
      'They guide ships.',
    ]);
    expect(request.messages[3]?.content).toMatch(
      /^Sources:\n\n\[1\] Bread[\s\S]*Question: Why does sourdough bread rise\?$/,
    );
  });

  test('condense: the runner rewrites a follow-up into a standalone question, which retrieval searches for', async () => {
    const calls: string[] = [];
    // A runner that condenses like a capable model would, and answers with a fixed sentence.
    const scripted = {
      ...runner(),
      generate: async (options: { messages?: readonly { content: string }[] }) => {
        calls.push(`generate: ${options.messages?.at(-1)?.content.split('\n').at(-3) ?? ''}`);
        return {
          text: 'Why does sourdough bread rise?',
          finishReason: 'stop' as const,
          usage: { promptTokens: 20, completionTokens: 6 },
        };
      },
      async *stream() {
        calls.push('stream');
        yield { type: 'text-delta' as const, text: 'Yeast [1].' };
        yield {
          type: 'finish' as const,
          finishReason: 'stop' as const,
          usage: { promptTokens: 50, completionTokens: 4 },
        };
      },
    };
    const result = await answer({
      messages: [
        { role: 'user', content: 'Tell me about sourdough bread.' },
        { role: 'assistant', content: 'It is made with wild yeast.' },
        { role: 'user', content: 'And why does it rise?' },
      ],
      condense: true,
      runner: scripted as never,
      retrieval: { store, collection: 'kb', sparseEmbedder: bm25, limit: 1 },
    });
    expect(calls).toEqual(['generate: Last question: And why does it rise?', 'stream']);
    expect(result.sources.map((s) => s.source)).toEqual(['mem://bread']);
    expect(result.citations.map((s) => s.n)).toEqual([1]);
    expect(result.usage).toEqual({ promptTokens: 70, completionTokens: 10 });
  });

  test('with a schema, the model answers even when nothing relevant is found (only it can give the object)', async () => {
    const before = vllm.requests.length;
    const result = await answer({
      question: 'What is the airspeed of a swallow?',
      runner: runner(),
      retrieval: { store, collection: 'kb', embedder, minScore: 0.9 },
      schema: { jsonSchema: { type: 'object', properties: { answer: { type: 'string' } }, required: ['answer'] } },
    });
    expect(vllm.requests.length).toBe(before + 1);
    expect(result.grounded).toBe(false);
    expect(typeof JSON.parse(result.text).answer).toBe('string');
    const prompt = (vllm.requests.at(-1)?.body as { messages: { content: string }[] } | undefined)?.messages.at(
      -1,
    )?.content;
    expect(prompt).toContain('(no relevant source was found)');
  });

  test('a conversation must end with the user’s question; question and messages exclude each other', async () => {
    const base = { runner: runner(), retrieval: { store, collection: 'kb', sparseEmbedder: bm25 } };
    await expect(
      answer({
        ...base,
        messages: [
          { role: 'user', content: 'hi' },
          { role: 'assistant', content: 'hello' },
        ],
      }),
    ).rejects.toThrow(/the last message must be the user’s question/);
    await expect(answer({ ...base, question: 'hi', messages: [{ role: 'user', content: 'hi' }] })).rejects.toThrow(
      /either question or messages/,
    );
  });

  const MODEL = fileURLToPath(new URL('../../shared/models/stories260K.gguf', import.meta.url));
  test('runs end to end with the llama.cpp runner on a real model', async () => {
    if (!existsSync(MODEL)) throw new Error(`missing ${MODEL}: these tests need ../shared/models/stories260K.gguf`);
    const llama = createLlamaCppRunner({ modelPath: MODEL, threads: 1, contextSize: 1024, logLevel: 'error' });
    try {
      const deltas: string[] = [];
      const result = await answer({
        question: 'Why does sourdough bread rise?',
        runner: llama,
        retrieval: { store, collection: 'kb', sparseEmbedder: bm25, limit: 1 },
        maxTokens: 16,
        seed: 7,
        onText: (text) => deltas.push(text),
      });
      expect(result.grounded).toBe(true);
      expect(result.sources[0]?.source).toBe('mem://bread');
      expect(result.text.length).toBeGreaterThan(0);
      expect(deltas.join('')).toBe(result.text);
    } finally {
      await llama.dispose();
    }
  });
});

describe('OpenTelemetry', () => {
  test('pipeline steps and adapter calls are spans nested under the caller’s span', async () => {
    const exporter = new InMemorySpanExporter();
    const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
    const manager = new AsyncLocalStorageContextManager().enable();
    context.setGlobalContextManager(manager);
    trace.setGlobalTracerProvider(provider);
    try {
      const tracer = trace.getTracer('app');
      await tracer.startActiveSpan('app.request', async (span) => {
        await ingest({
          store: createMemoryStore(),
          collection: 't',
          documents: documents.slice(0, 2),
          embedder,
          splitter: createRecursiveSplitter({ unit: 'characters' }),
        });
        await retrieve({ store, collection: 'kb', query: 'bread', embedder });
        span.end();
      });
      const spans = exporter.getFinishedSpans();
      const byId = new Map(spans.map((s) => [s.spanContext().spanId, s]));
      const parentName = (name: string) => {
        const span = spans.find((s) => s.name === name);
        const parentId = span?.parentSpanContext?.spanId;
        return parentId ? byId.get(parentId)?.name : undefined;
      };
      expect(parentName('kumiki.ingest')).toBe('app.request');
      expect(parentName('kumiki.ingest.batch')).toBe('kumiki.ingest');
      expect(parentName('kumiki.store.upsert')).toBe('kumiki.ingest.batch');
      expect(parentName('kumiki.retrieve')).toBe('app.request');
      expect(parentName('kumiki.store.search')).toBe('kumiki.retrieve');
      const embed = spans.filter((s) => s.name === 'kumiki.embed');
      expect(embed.map((s) => byId.get(s.parentSpanContext?.spanId ?? '')?.name).sort()).toEqual([
        'kumiki.ingest.batch',
        'kumiki.retrieve',
      ]);
      const ingestSpan = spans.find((s) => s.name === 'kumiki.ingest');
      expect(ingestSpan?.attributes['kumiki.ingest.added']).toBe(2);
      expect(new Set(spans.map((s) => s.spanContext().traceId)).size).toBe(1);
    } finally {
      trace.disable();
      context.disable();
      await provider.shutdown();
    }
  });
});
