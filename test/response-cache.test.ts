import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { z } from 'zod';
import { createKeyvCache } from '../src/caches/keyv/index.js';
import { withResponseCache } from '../src/compose/response-cache.js';
import { withSemanticCache } from '../src/compose/semantic-cache.js';
import type { Cache } from '../src/core/cache.js';
import type { DenseEmbedder, EmbedOptions } from '../src/core/embedder.js';
import type { ChatMessage, GenerateOptions, GenerateResult, ModelRunner, StreamPart } from '../src/core/runner.js';
import type { SearchOptions, Store } from '../src/core/store.js';
import { createOpenAICompatibleRunner } from '../src/runners/openai-compatible/index.js';
import { createMemoryStore } from '../src/stores/memory/index.js';
import { type FakeVllm, startFakeVllm } from './helpers/fake-vllm-server.js';
import { hangingStore } from './helpers/hanging-store.js';
import { trigramEmbedder as trigrams } from './helpers/trigram-embedder.mjs';

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

/** A real cache that also records every write it receives (key, value, options). */
function recordingCache(cache: Cache = createKeyvCache()) {
  const writes: { key: string; value: unknown; options: unknown }[] = [];
  const recorded: Cache = {
    ...cache,
    set: (key, value, options) => {
      writes.push({ key, value, options });
      return cache.set(key, value, options);
    },
    setMany: (entries, options) => {
      for (const { key, value, ...rest } of entries) writes.push({ key, value, options: { ...rest, ...options } });
      return cache.setMany(entries, options);
    },
  };
  return { cache: recorded, writes, inner: cache };
}

/**
 * An in-process runner that gives a fixed answer, as `generate` and as a stream of the given deltas:
 * for answers the fake server cannot give (a given text, an error finish, tool calls in a stream).
 */
function answering(
  given: Pick<GenerateResult, 'text' | 'finishReason'> & Partial<GenerateResult>,
  deltas: string[] = [given.text],
  capabilities = {},
) {
  const answer: GenerateResult = { usage: undefined, ...given };
  const seen: GenerateOptions[] = [];
  const base = remote();
  const runner: ModelRunner = {
    ...base,
    capabilities: { ...base.capabilities, ...capabilities },
    generate: (async (options: GenerateOptions) => {
      seen.push(options);
      return answer;
    }) as ModelRunner['generate'],
    async *stream(options) {
      seen.push(options);
      for (const text of deltas) yield { type: 'text-delta', text };
      for (const toolCall of answer.toolCalls ?? []) yield { type: 'tool-call', toolCall };
      yield {
        type: 'finish',
        finishReason: answer.finishReason,
        usage: answer.usage,
        ...(answer.object === undefined ? {} : { object: answer.object }),
        ...(answer.structuredOutput === undefined ? {} : { structuredOutput: answer.structuredOutput }),
      };
    },
  };
  return { runner, seen };
}

describe('withResponseCache: keys, lifetimes and replays', () => {
  test('keys live under the namespace, carry the time to live, and the namespace separates answers', async () => {
    const { cache, writes, inner } = recordingCache();
    const runner = withResponseCache(remote(), cache, { ttlMs: 60_000 });
    await runner.generate(seeded);
    expect(writes).toHaveLength(1);
    expect(writes[0]?.key).toMatch(/^resp:[0-9a-f]{64}$/);
    expect(writes[0]?.options).toEqual({ ttlMs: 60_000 });
    const other = withResponseCache(remote(), cache, { namespace: 'team-b' });
    expect((await other.generate(seeded)).cacheHit).toBe(false);
    expect(writes[1]?.key).toMatch(/^team-b:[0-9a-f]{64}$/);
    expect(writes[1]?.options).toEqual({});
    expect(writes[1]?.key.slice(7)).toBe(writes[0]?.key.slice(5));
    expect((await withResponseCache(remote(), inner).generate(seeded)).cacheHit).toBe(true);
    expect(calls()).toBe(2);
  });

  test('a stored answer that is not an answer, or no longer fits the schema, is a miss', async () => {
    const { cache, writes, inner } = recordingCache();
    const runner = withResponseCache(remote(), cache);
    await runner.generate(seeded);
    await inner.set(writes[0]?.key as string, { text: 'no finish reason' });
    expect((await runner.generate(seeded)).cacheHit).toBe(false);
    expect(calls()).toBe(2);
    expect((await runner.generate(seeded)).cacheHit).toBe(true);

    const schema = z.object({ mood: z.enum(['happy', 'sad']) });
    const call = { prompt: 'JSON please', schema, seed: 1, maxTokens: 64 };
    const first = await runner.generate(call);
    const key = writes.at(-1)?.key as string;
    await inner.set(key, { ...(writes.at(-1)?.value as object), object: { mood: 'grumpy' } });
    const again = await runner.generate(call);
    expect(again.cacheHit).toBe(false);
    expect(again.object).toEqual(first.object);
    expect((await runner.generate(call)).cacheHit).toBe(true);
    expect(runner.stats()).toEqual({ hits: 2, misses: 4, bypassed: 0 });
  });

  test('what counts as reproducible: temperature 0, or a seed the runner honours', async () => {
    const fixed: GenerateResult = {
      text: 'fixed answer',
      finishReason: 'stop',
      usage: { promptTokens: 1, completionTokens: 2 },
    };
    const honours = answering(fixed, undefined, { seed: true });
    const ignores = answering(fixed, undefined, { seed: false });
    const withSeed = withResponseCache(honours.runner, createKeyvCache());
    const withoutSeed = withResponseCache(ignores.runner, createKeyvCache());
    const twice = [
      { prompt: 'p', seed: 3, temperature: 0.9 },
      { prompt: 'p', seed: 3, temperature: 0.9 },
    ];
    for (const call of twice) await withSeed.generate(call);
    for (const call of twice) await withoutSeed.generate(call);
    expect(withSeed.stats()).toEqual({ hits: 1, misses: 1, bypassed: 0 });
    expect(withoutSeed.stats()).toEqual({ hits: 0, misses: 0, bypassed: 2 });
    await withoutSeed.generate({ prompt: 'p', temperature: 0 });
    expect((await withoutSeed.generate({ prompt: 'p', temperature: 0 })).cacheHit).toBe(true);
    // No temperature and no seed: the runner's default sampling, not reproducible.
    await withSeed.generate({ prompt: 'p' });
    await withSeed.generate({ prompt: 'p' });
    expect(withSeed.stats().bypassed).toBe(2);
    // Streams count the same way.
    await collect(withoutSeed.stream({ prompt: 'q', seed: 1, temperature: 1 }));
    expect(withoutSeed.stats()).toEqual({ hits: 1, misses: 1, bypassed: 3 });
  });

  test('an aborted call names the cached operation', async () => {
    const runner = withResponseCache(remote(), createKeyvCache());
    const controller = new AbortController();
    controller.abort();
    await expect(runner.generate({ ...seeded, abortSignal: controller.signal })).rejects.toMatchObject({
      message: 'Cached generate was aborted.',
    });
    await expect(collect(runner.stream({ ...seeded, abortSignal: controller.signal }))).rejects.toMatchObject({
      message: 'Cached stream was aborted.',
    });
    expect(calls()).toBe(0);
  });

  test('answers that end in an error or an abort are never stored; a length cut is', async () => {
    for (const finishReason of ['error', 'aborted'] as const) {
      const { runner, seen } = answering({ text: 'half', finishReason });
      const cached = withResponseCache(runner, createKeyvCache());
      await cached.generate({ prompt: 'p', temperature: 0 });
      expect((await cached.generate({ prompt: 'p', temperature: 0 })).cacheHit).toBe(false);
      await collect(cached.stream({ prompt: 'p', temperature: 0 }));
      await collect(cached.stream({ prompt: 'p', temperature: 0 }));
      expect(seen).toHaveLength(4);
    }
    const { runner, seen } = answering({ text: 'cut short', finishReason: 'length' });
    const cached = withResponseCache(runner, createKeyvCache());
    await cached.generate({ prompt: 'p', temperature: 0 });
    expect(await cached.generate({ prompt: 'p', temperature: 0 })).toMatchObject({
      cacheHit: true,
      text: 'cut short',
      finishReason: 'length',
    });
    expect(seen).toHaveLength(1);
  });

  test('a generate answer replays as about four deltas at word boundaries; an empty one as none', async () => {
    const text = 'one two three four five six seven eight nine';
    const { runner } = answering({ text, finishReason: 'stop', usage: { promptTokens: 3, completionTokens: 9 } });
    const cached = withResponseCache(runner, createKeyvCache());
    await cached.generate({ prompt: 'p', temperature: 0 });
    expect(await collect(cached.stream({ prompt: 'p', temperature: 0 }))).toEqual([
      { type: 'text-delta', text: 'one two three ' },
      { type: 'text-delta', text: 'four five six ' },
      { type: 'text-delta', text: 'seven eight nine' },
      { type: 'finish', finishReason: 'stop', usage: { promptTokens: 3, completionTokens: 9 } },
    ]);
    const short = withResponseCache(answering({ text: ' hi  there', finishReason: 'stop' }).runner, createKeyvCache());
    await short.generate({ prompt: 'p', temperature: 0 });
    expect(await collect(short.stream({ prompt: 'p', temperature: 0 }))).toEqual([
      { type: 'text-delta', text: ' ' },
      { type: 'text-delta', text: 'hi  ' },
      { type: 'text-delta', text: 'there' },
      { type: 'finish', finishReason: 'stop', usage: undefined },
    ]);
    const empty = withResponseCache(answering({ text: '', finishReason: 'stop' }).runner, createKeyvCache());
    await empty.generate({ prompt: 'p', temperature: 0 });
    expect(await collect(empty.stream({ prompt: 'p', temperature: 0 }))).toEqual([
      { type: 'finish', finishReason: 'stop', usage: undefined },
    ]);
  });

  test('a recorded stream keeps its deltas, tool calls, object and structured-output mode', async () => {
    const answer: GenerateResult = {
      text: '{"q":"cats"}',
      finishReason: 'tool-calls',
      usage: { promptTokens: 4, completionTokens: 5 },
      object: { q: 'cats' },
      structuredOutput: 'grammar',
      toolCalls: [{ id: 'call-1', name: 'lookup', arguments: { q: 'cats' } }],
    };
    const { runner, seen } = answering(answer, ['{"q":', '"cats"}']);
    const cached = withResponseCache(runner, createKeyvCache());
    const live = await collect(cached.stream({ prompt: 'p', temperature: 0 }));
    const replay = await collect(cached.stream({ prompt: 'p', temperature: 0 }));
    expect(replay).toEqual(live);
    expect(replay).toEqual([
      { type: 'text-delta', text: '{"q":' },
      { type: 'text-delta', text: '"cats"}' },
      { type: 'tool-call', toolCall: answer.toolCalls?.[0] },
      {
        type: 'finish',
        finishReason: 'tool-calls',
        usage: answer.usage,
        object: answer.object,
        structuredOutput: 'grammar',
      },
    ]);
    expect(await cached.generate({ prompt: 'p', temperature: 0 })).toEqual({ ...answer, cacheHit: true });
    expect(seen).toHaveLength(1);
  });

  test('messages: role, content, tool call ids and tool calls are all part of the key; the model description is asked once', async () => {
    const { runner, seen } = answering({ text: 'ok', finishReason: 'stop' });
    let described = 0;
    let failNext = true;
    const describing: ModelRunner = {
      ...runner,
      describeModel: async () => {
        described++;
        if (failNext) {
          failNext = false;
          throw new Error('server starting');
        }
        return runner.describeModel();
      },
    };
    const cached = withResponseCache(describing, createKeyvCache());
    const toolCall = { id: 'c1', name: 'lookup', arguments: { q: 'x' } };
    const user: ChatMessage = { role: 'user', content: 'find x' };
    const assistant: ChatMessage = { role: 'assistant', content: '', toolCalls: [toolCall] };
    const result: ChatMessage = { role: 'tool', content: 'x is 1', toolCallId: 'c1' };
    const base = [user, assistant, result];
    await expect(cached.generate({ messages: base, temperature: 0 })).rejects.toThrow('server starting');
    const variants = [
      base,
      [user, assistant, { ...result, toolCallId: 'c2' }],
      [user, { ...assistant, toolCalls: [{ ...toolCall, arguments: { q: 'y' } }] }, result],
      [{ ...user, role: 'system' as const }, assistant, result],
      [{ ...user, content: 'find y' }, assistant, result],
    ];
    for (const messages of variants) expect((await cached.generate({ messages, temperature: 0 })).cacheHit).toBe(false);
    for (const messages of variants) expect((await cached.generate({ messages, temperature: 0 })).cacheHit).toBe(true);
    // A prompt is not the same call as a user message with its text.
    expect((await cached.generate({ prompt: 'find x', temperature: 0 })).cacheHit).toBe(false);
    // Tools differing only in their description are different calls.
    const tool = { name: 'lookup', parameters: z.object({ q: z.string() }) };
    await cached.generate({ prompt: 'p', temperature: 0, tools: [tool] });
    expect(
      (await cached.generate({ prompt: 'p', temperature: 0, tools: [{ ...tool, description: 'search' }] })).cacheHit,
    ).toBe(false);
    expect(seen).toHaveLength(8);
    expect(described).toBe(2);
  });
});

describe('withSemanticCache: what is matched, where and how close', () => {
  const options = (extra = {}) => ({
    embedder: trigrams(512, 'trigrams'),
    store: createMemoryStore(),
    collection: 'answers',
    scope: 'everyone',
    ...extra,
  });

  test('the default threshold (0.95) takes the same question, not a paraphrase', async () => {
    const runner = withSemanticCache(remote(), options());
    await runner.generate({ prompt: 'What is the capital city of France?', maxTokens: 8, seed: 1 });
    const same = await runner.generate({ prompt: 'What is the capital city of France?', maxTokens: 8, seed: 1 });
    expect(same.cacheHit).toBe(true);
    expect(same.similarity).toBeGreaterThan(0.999);
    const paraphrase = await runner.generate({ prompt: 'what is the capital of france', maxTokens: 8, seed: 1 });
    expect(paraphrase.cacheHit).toBe(false);
    expect(calls()).toBe(2);
  });

  test('the question is the prompt, else the last user message; a call without one passes through', async () => {
    const store = createMemoryStore();
    const runner = withSemanticCache(remote(), options({ store }));
    const conversation: ChatMessage[] = [
      { role: 'user', content: 'an earlier question about tides' },
      { role: 'assistant', content: 'an answer' },
      { role: 'user', content: 'Why is the sky blue?' },
    ];
    await runner.generate({ messages: conversation, maxTokens: 8, seed: 1 });
    const stored = await store.scroll({ collection: 'answers' });
    expect(stored.records.map((record) => record.payload.prompt)).toEqual(['Why is the sky blue?']);
    // A message after the question is part of the context.
    const prefilled = [...conversation, { role: 'assistant' as const, content: 'Because' }];
    expect((await runner.generate({ messages: prefilled, maxTokens: 8, seed: 1 })).cacheHit).toBe(false);
    expect((await runner.generate({ messages: conversation, maxTokens: 8, seed: 1 })).cacheHit).toBe(true);
    const system = await runner.generate({
      messages: [{ role: 'system', content: 'Why is the sky blue?' }],
      maxTokens: 8,
    });
    expect(system.cacheHit).toBe(false);
    expect(runner.stats()).toEqual({ hits: 1, misses: 2, bypassed: 1 });
    expect(calls()).toBe(3);
  });

  test('the same question in another context misses: the conversation, a prompt call, any generation parameter', async () => {
    const store = createMemoryStore();
    const runner = withSemanticCache(remote(), options({ store, threshold: 0.8 }));
    const system: ChatMessage = { role: 'system', content: 'You sell bicycles.' };
    const question: ChatMessage = { role: 'user', content: 'How long is the warranty?' };
    const base = {
      messages: [{ role: 'system' as const, content: 'You sell bicycles.' }, question],
      maxTokens: 8,
      seed: 1,
    };
    await runner.generate(base);
    expect((await runner.generate(base)).cacheHit).toBe(true);
    const contexts: GenerateOptions[] = [
      { ...base, messages: [{ role: 'system', content: 'You sell cars.' }, question] },
      { ...base, messages: [question] },
      {
        ...base,
        messages: [{ role: 'user', content: 'I bought a car.' }, { role: 'assistant', content: 'Nice.' }, question],
      },
      { prompt: question.content, maxTokens: 8, seed: 1 },
      { ...base, maxTokens: 9 },
      { ...base, seed: 2 },
      { ...base, temperature: 0 },
      { ...base, topP: 0.5 },
      { ...base, stop: ['.'] },
    ];
    for (const call of contexts) expect((await runner.generate(call)).cacheHit).toBe(false);
    for (const call of contexts) expect((await runner.generate(call)).cacheHit).toBe(true);
    // Within one context, similar questions still share an answer; the abort signal is not part of the context.
    const paraphrase = {
      ...base,
      messages: [system, { role: 'user' as const, content: 'How long is the warranty ?' }],
    };
    const hit = await runner.generate({ ...paraphrase, abortSignal: new AbortController().signal });
    expect(hit.cacheHit).toBe(true);
    expect(hit.similarity).toBeLessThan(1);
    const { records } = await store.scroll({ collection: 'answers', limit: 100 });
    expect(records).toHaveLength(contexts.length + 1);
    expect(new Set(records.map((record) => record.payload.context)).size).toBe(contexts.length + 1);
    expect(calls()).toBe(contexts.length + 1);
  });

  test('answers are kept per model and per scope; one record per question, without stream deltas', async () => {
    const store = createMemoryStore();
    const other: ModelRunner = {
      ...remote(),
      describeModel: async () => ({ provider: 'vllm', model: 'another-model' }),
    };
    const first = withSemanticCache(remote(), options({ store }));
    const second = withSemanticCache(other, options({ store }));
    const ask = { prompt: 'Tell me about the moon', maxTokens: 8, seed: 1 };
    await collect(first.stream(ask));
    await first.generate({ ...ask, temperature: 0 });
    expect((await second.generate(ask)).cacheHit).toBe(false);
    const { records } = await store.scroll({ collection: 'answers' });
    // The stream and the generate call differ in temperature, so each has its record.
    expect(records).toHaveLength(3);
    for (const record of records) {
      expect(String(record.id)).toMatch(/^[0-9a-f]{32}$/);
      expect(record.payload.answer).not.toHaveProperty('deltas');
      expect(record.payload.answer).toMatchObject({ text: expect.any(String), finishReason: expect.any(String) });
    }
    expect(new Set(records.map((record) => record.payload.model)).size).toBe(2);
    // A scope from the call: empty is refused.
    const scoped = withSemanticCache(remote(), options({ store, scope: () => '' }));
    await expect(scoped.generate(ask)).rejects.toMatchObject({
      name: 'InvalidArgumentError',
      message: /semantic cache scope/,
    });
  });

  test('answers that end in an error are not kept; the collection is created once, again after a failure', async () => {
    const store = createMemoryStore();
    let creates = 0;
    let failSpace = true;
    const embedder = trigrams(64, 'trigrams');
    const counting: Store = {
      ...store,
      createCollection: (request) => {
        creates++;
        return store.createCollection(request);
      },
    };
    const flaky = {
      ...embedder,
      space: async () => {
        if (failSpace) {
          failSpace = false;
          throw new Error('embedder loading');
        }
        return embedder.space();
      },
    };
    const { runner, seen } = answering({ text: 'partial', finishReason: 'error' });
    const cached = withSemanticCache(runner, options({ store: counting, embedder: flaky }));
    await expect(cached.generate({ prompt: 'q', temperature: 0 })).rejects.toThrow('embedder loading');
    await cached.generate({ prompt: 'q', temperature: 0 });
    await collect(cached.stream({ prompt: 'q', temperature: 0 }));
    expect((await cached.generate({ prompt: 'q', temperature: 0 })).cacheHit).toBe(false);
    expect(seen).toHaveLength(3);
    expect(creates).toBe(1);
    expect(await store.count({ collection: 'answers' })).toBe(0);
  });

  test('an abort before the answer is looked up, or while embedding, reaches the caller', async () => {
    const runner = withSemanticCache(remote(), options());
    const controller = new AbortController();
    controller.abort();
    await expect(runner.generate({ prompt: 'q', abortSignal: controller.signal })).rejects.toMatchObject({
      name: 'AbortedError',
      message: 'Semantic-cached generate was aborted.',
    });
    await expect(collect(runner.stream({ prompt: 'q', abortSignal: controller.signal }))).rejects.toMatchObject({
      message: 'Semantic-cached stream was aborted.',
    });
    expect(calls()).toBe(0);
    // A live signal reaches the embedder and the store.
    const seen: unknown[] = [];
    const embedder = trigrams(64, 'trigrams');
    const store = createMemoryStore();
    const watched = withSemanticCache(remote(), {
      ...options(),
      embedder: {
        ...embedder,
        embed: (request: EmbedOptions) => {
          seen.push(request.abortSignal);
          return embedder.embed(request);
        },
      },
      store: {
        ...store,
        search: (request: SearchOptions) => {
          seen.push(request.abortSignal);
          return store.search(request);
        },
      },
    });
    const live = new AbortController();
    await watched.generate({ prompt: 'q', maxTokens: 4, seed: 1, abortSignal: live.signal });
    expect(seen).toEqual([live.signal, live.signal]);
  });
});
