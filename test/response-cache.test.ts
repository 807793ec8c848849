import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { z } from 'zod';
import { createKeyvCache } from '../src/caches/keyv/index.js';
import { withResponseCache } from '../src/compose/response-cache.js';
import { withSemanticCache } from '../src/compose/semantic-cache.js';
import type { DenseEmbedder } from '../src/core/embedder.js';
import type { GenerateOptions, ModelRunner, StreamPart } from '../src/core/runner.js';
import { createOpenAICompatibleRunner } from '../src/runners/openai-compatible/index.js';
import { createMemoryStore } from '../src/stores/memory/index.js';
import { type FakeVllm, startFakeVllm } from './helpers/fake-vllm-server.js';
import { hangingStore } from './helpers/hanging-store.js';

let server: FakeVllm;
beforeAll(async () => {
  server = await startFakeVllm();
});
afterAll(() => server.close());
beforeEach(() => {
  server.setFault(undefined);
  server.requests.length = 0;
});

const remote = (): ModelRunner =>
  createOpenAICompatibleRunner({ baseURL: server.url, model: 'fake-vllm', flavor: 'vllm', retries: 0 });
const calls = () => server.requests.filter((request) => request.path.endsWith('completions')).length;

async function collect(parts: AsyncIterable<StreamPart>): Promise<StreamPart[]> {
  const out: StreamPart[] = [];
  for await (const part of parts) out.push(part);
  return out;
}

const seeded: GenerateOptions = { prompt: 'Once upon a time', maxTokens: 12, temperature: 0.8, seed: 5 };

describe('withResponseCache', () => {
  test('a second identical seeded call makes no upstream request and returns the same answer', async () => {
    const runner = withResponseCache(remote(), createKeyvCache());
    const first = await runner.generate(seeded);
    expect(first.cacheHit).toBe(false);
    expect(calls()).toBe(1);
    const second = await runner.generate(seeded);
    expect(calls()).toBe(1);
    expect(second).toEqual({ ...first, cacheHit: true });
    expect(runner.stats()).toEqual({ hits: 1, misses: 1, bypassed: 0 });
  });

  test('any parameter that changes the answer misses', async () => {
    const runner = withResponseCache(remote(), createKeyvCache());
    const tool = { name: 'lookup', parameters: z.object({ q: z.string() }) };
    const variants: GenerateOptions[] = [
      seeded,
      { ...seeded, prompt: 'Once upon a time there' },
      { messages: [{ role: 'user', content: 'Once upon a time' }], maxTokens: 12, temperature: 0.8, seed: 5 },
      {
        messages: [{ role: 'user', content: 'Once upon a time' }],
        maxTokens: 12,
        temperature: 0.8,
        seed: 5,
        tools: [tool],
      },
      {
        messages: [{ role: 'user', content: 'Once upon a time' }],
        maxTokens: 12,
        temperature: 0.8,
        seed: 5,
        tools: [tool],
        toolChoice: 'required',
      },
      { ...seeded, maxTokens: 13 },
      { ...seeded, temperature: 0.7 },
      { ...seeded, topP: 0.9 },
      { ...seeded, seed: 6 },
      { ...seeded, stop: ['cat'] },
      { ...seeded, schema: z.object({ mood: z.enum(['happy', 'sad']) }) },
      { ...seeded, schema: z.object({ mood: z.enum(['happy', 'grumpy']) }) },
    ];
    for (const [i, variant] of variants.entries()) {
      expect((await runner.generate(variant)).cacheHit, `variant ${i}`).toBe(false);
      expect(calls(), `variant ${i} reached the server`).toBe(i + 1);
    }
    for (const [i, variant] of variants.entries())
      expect((await runner.generate(variant)).cacheHit, `variant ${i} again`).toBe(true);
    expect(calls()).toBe(variants.length);
  });

  test('structured answers and tool calls come back from the cache whole', async () => {
    const runner = withResponseCache(remote(), createKeyvCache());
    const schema = z.object({ mood: z.enum(['happy', 'sad']), count: z.number().int().min(0).max(9) });
    const first = await runner.generate({ prompt: 'JSON please', schema, seed: 1, maxTokens: 64 });
    const second = await runner.generate({ prompt: 'JSON please', schema, seed: 1, maxTokens: 64 });
    expect(second.cacheHit).toBe(true);
    expect(second.object).toEqual(first.object);
    expect(second.structuredOutput).toBe(first.structuredOutput);
    const tools = [{ name: 'lookup', parameters: z.object({ q: z.string() }) }];
    const call = {
      messages: [{ role: 'user' as const, content: 'find cats' }],
      tools,
      toolChoice: 'required' as const,
      temperature: 0,
    };
    const toolFirst = await runner.generate(call);
    expect(toolFirst.toolCalls?.length).toBeGreaterThan(0);
    expect((await runner.generate(call)).toolCalls).toEqual(toolFirst.toolCalls);
    expect(calls()).toBe(2);
  });

  test('calls that are not reproducible are not cached unless asked', async () => {
    const plain = withResponseCache(remote(), createKeyvCache());
    const loose: GenerateOptions = { prompt: 'Once upon a time', maxTokens: 8, temperature: 0.9 };
    await plain.generate(loose);
    expect((await plain.generate(loose)).cacheHit).toBe(false);
    expect(calls()).toBe(2);
    expect(plain.stats().bypassed).toBe(2);
    await plain.generate({ ...loose, temperature: 0 });
    expect((await plain.generate({ ...loose, temperature: 0 })).cacheHit).toBe(true);

    const eager = withResponseCache(remote(), createKeyvCache(), { cacheNondeterministic: true });
    await eager.generate(loose);
    expect((await eager.generate(loose)).cacheHit).toBe(true);
    expect(calls()).toBe(4);
  });

  test('a stream is recorded on a miss and replayed identically, and serves generate too', async () => {
    const runner = withResponseCache(remote(), createKeyvCache());
    const live = await collect(runner.stream(seeded));
    expect(calls()).toBe(1);
    expect(live.filter((part) => part.type === 'text-delta').length).toBeGreaterThan(1);
    const replayed = await collect(runner.stream(seeded));
    expect(replayed).toEqual(live);
    const generated = await runner.generate(seeded);
    expect(generated.cacheHit).toBe(true);
    expect(generated.text).toBe(live.map((part) => (part.type === 'text-delta' ? part.text : '')).join(''));
    expect(calls()).toBe(1);

    // Stored by generate, replayed as a stream: the text in a few deltas, then the finish.
    const other = { ...seeded, seed: 9 };
    const answer = await runner.generate(other);
    const parts = await collect(runner.stream(other));
    expect(calls()).toBe(2);
    expect(parts.map((part) => (part.type === 'text-delta' ? part.text : '')).join('')).toBe(answer.text);
    expect(parts.at(-1)).toEqual({ type: 'finish', finishReason: answer.finishReason, usage: answer.usage });
  });

  test('errors, broken streams and aborted streams are not cached', async () => {
    const runner = withResponseCache(remote(), createKeyvCache());
    server.queueFaults({ kind: 'status', status: 500 });
    await expect(runner.generate(seeded)).rejects.toMatchObject({ name: 'UnavailableError' });
    expect((await runner.generate(seeded)).cacheHit).toBe(false);
    expect(calls()).toBe(2);

    const streamed = { ...seeded, seed: 11, maxTokens: 20 };
    server.queueFaults({ kind: 'stream-error', afterTokens: 2 });
    await expect(collect(runner.stream(streamed))).rejects.toBeInstanceOf(Error);
    const controller = new AbortController();
    const partial = await (async () => {
      let deltas = 0;
      for await (const part of runner.stream({ ...streamed, abortSignal: controller.signal })) {
        if (part.type === 'text-delta' && ++deltas === 2) controller.abort();
      }
    })().catch((error: unknown) => error);
    expect(partial === undefined || (partial as Error).name === 'AbortedError').toBe(true);
    // A consumer that stops reading early does not store a half answer either.
    for await (const part of runner.stream(streamed)) if (part.type === 'text-delta') break;
    const complete = await collect(runner.stream(streamed));
    expect(complete.at(-1)?.type).toBe('finish');
    expect(calls()).toBe(6);
    expect((await runner.generate(streamed)).cacheHit).toBe(true);
    expect(calls()).toBe(6);
  });

  test('an aborted signal is refused even when the answer is cached; bad input is refused', async () => {
    const runner = withResponseCache(remote(), createKeyvCache());
    await runner.generate(seeded);
    const controller = new AbortController();
    controller.abort();
    await expect(runner.generate({ ...seeded, abortSignal: controller.signal })).rejects.toMatchObject({
      name: 'AbortedError',
    });
    await expect(runner.generate({ ...seeded, maxTokens: 0 })).rejects.toMatchObject({ name: 'InvalidArgumentError' });
    expect(() => withResponseCache(remote(), {} as never)).toThrow(/kumiki Cache/);
  });

  test('an abort reaches a cache lookup that hangs: the call rejects at once and the model is never asked', async () => {
    const { store, waiting } = hangingStore();
    const runner = withResponseCache(remote(), createKeyvCache({ store, timeoutMs: 600_000 }));
    const controller = new AbortController();
    const outcome = runner.generate({ ...seeded, abortSignal: controller.signal }).catch((error: unknown) => error);
    await waiting;
    controller.abort();
    expect(await outcome).toMatchObject({ name: 'AbortedError' });
    expect(calls()).toBe(0);
  });
});

/** A small real embedder: hashed character trigrams, L2-normalised. Deterministic, no model files. */
function trigramEmbedder(dimensions: number): DenseEmbedder {
  return {
    specificationVersion: 'kumiki.embedder.v1',
    provider: 'test',
    modelId: 'trigrams',
    kind: 'dense',
    maxBatchSize: 64,
    supportsParallelCalls: true,
    space: async () => ({ provider: 'test', model: 'trigrams', dimensions, normalize: true }),
    embed: async ({ values }) => ({
      vectors: values.map((text) => {
        const vector = new Float32Array(dimensions);
        const padded = `  ${text.toLowerCase().replace(/[^a-z0-9 ]/g, '')} `;
        for (let i = 0; i + 3 <= padded.length; i++) {
          let hash = 2166136261;
          for (const char of padded.slice(i, i + 3)) hash = Math.imul(hash ^ (char.codePointAt(0) ?? 0), 16777619);
          const slot = (hash >>> 0) % dimensions;
          vector[slot] = (vector[slot] ?? 0) + 1;
        }
        const norm = Math.hypot(...vector) || 1;
        return vector.map((x) => x / norm);
      }),
    }),
  };
}

describe('withSemanticCache', () => {
  const system = (tenant: string) => ({ role: 'system' as const, content: `tenant ${tenant}` });
  const question = (tenant: string, content: string): GenerateOptions => ({
    messages: [system(tenant), { role: 'user', content }],
    maxTokens: 10,
    seed: 2,
  });

  test('a paraphrase within a scope hits; the same question in another scope misses', async () => {
    const store = createMemoryStore();
    const runner = withSemanticCache(remote(), {
      embedder: trigramEmbedder(512),
      store,
      collection: 'answers',
      threshold: 0.85,
      scope: (options) => options.messages?.[0]?.content ?? 'none',
    });
    const first = await runner.generate(question('acme', 'What is the capital city of France?'));
    expect(first).toMatchObject({ cacheHit: false });
    expect(calls()).toBe(1);

    const paraphrase = await runner.generate(question('acme', 'what is the capital of france'));
    expect(paraphrase.cacheHit).toBe(true);
    expect(paraphrase.similarity).toBeGreaterThanOrEqual(0.85);
    expect(paraphrase.similarity).toBeLessThan(0.99);
    expect(paraphrase.similarity).toBeLessThanOrEqual(1 + 1e-6);
    expect(paraphrase.text).toBe(first.text);
    expect(calls()).toBe(1);

    const elsewhere = await runner.generate(question('globex', 'What is the capital city of France?'));
    expect(elsewhere.cacheHit).toBe(false);
    expect(calls()).toBe(2);
    const near = await runner.generate(question('acme', 'What is the capital city of Spain?'));
    expect(near.cacheHit).toBe(false);
    expect(calls()).toBe(3);

    const stored = await store.scroll({ collection: 'answers' });
    expect(stored.records.map((record) => record.payload.scope).sort()).toEqual([
      'tenant acme',
      'tenant acme',
      'tenant globex',
    ]);
    expect(stored.records[0]?.payload).toMatchObject({
      prompt: expect.any(String),
      answer: { text: expect.any(String) },
    });
    expect(runner.stats()).toEqual({ hits: 1, misses: 3, bypassed: 0 });
    expect(await store.listCollections()).toMatchObject([{ name: 'answers', dimensions: 512, metric: 'cosine' }]);
  });

  test('streams replay a hit and record a miss; schema and tool calls pass through', async () => {
    const runner = withSemanticCache(remote(), {
      embedder: trigramEmbedder(512),
      store: createMemoryStore(),
      collection: 'answers',
      threshold: 0.85,
      scope: 'everyone',
    });
    const live = await collect(runner.stream({ prompt: 'Tell me about the moon', maxTokens: 10, seed: 1 }));
    const replay = await collect(runner.stream({ prompt: 'Tell me a bit about the moon', maxTokens: 10, seed: 1 }));
    expect(calls()).toBe(1);
    const text = (parts: StreamPart[]) => parts.map((part) => (part.type === 'text-delta' ? part.text : '')).join('');
    expect(text(replay)).toBe(text(live));
    const schema = z.object({ mood: z.enum(['happy', 'sad']) });
    await runner.generate({ prompt: 'Tell me about the moon', schema, seed: 1, maxTokens: 32 });
    await runner.generate({ prompt: 'Tell me about the moon', schema, seed: 1, maxTokens: 32 });
    expect(calls()).toBe(3);
    expect(runner.stats()).toEqual({ hits: 1, misses: 1, bypassed: 2 });
  });
});

describe('both caches keep the wrapped runner whole', () => {
  test('adapter extras, a live modelId getter, describeModel and dispose pass through', async () => {
    let model = 'fake-vllm';
    let disposed = 0;
    const base = remote();
    const inner: ModelRunner & { native(): string } = Object.defineProperties(
      { ...base, native: () => 'client handle', dispose: async () => void disposed++ },
      { modelId: { get: () => model, enumerable: true } },
    );
    const semantic = withSemanticCache(inner, {
      embedder: trigramEmbedder(64),
      store: createMemoryStore(),
      collection: 'answers',
      scope: 'everyone',
    });
    const both = withResponseCache(semantic, createKeyvCache());
    for (const runner of [semantic, both] as const) {
      expect(runner.native()).toBe('client handle');
      expect(runner.capabilities).toEqual(base.capabilities);
      expect(await runner.describeModel()).toEqual(await base.describeModel());
    }
    model = 'reloaded';
    expect(both.modelId).toBe('reloaded');
    await both.dispose?.();
    expect(disposed).toBe(1);
    const answer = await both.generate(seeded);
    expect(answer.cacheHit).toBe(false);
    expect((await both.generate(seeded)).cacheHit).toBe(true);
  });
});
