import { request as httpRequest } from 'node:http';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest';
import type { Authenticator, Principal } from '../src/core/auth.js';
import type { DenseEmbedder, EmbedOptions } from '../src/core/embedder.js';
import { InvalidArgumentError, UnauthorizedError } from '../src/core/errors.js';
import { createGateway, type GatewayLogEntry } from '../src/gateway/index.js';
import { type ServedGateway, serveGateway } from '../src/gateway/serve.js';
import { createOpenAICompatibleRunner } from '../src/runners/openai-compatible/index.js';
import { createMemoryStore } from '../src/stores/memory/index.js';
import { type FakeVllm, startFakeVllm } from './helpers/fake-vllm-server.js';

/** A small deterministic embedder (a real implementation of the contract): letter counts, normalised. */
class LetterEmbedder implements DenseEmbedder {
  readonly specificationVersion = 'kumiki.embedder.v1' as const;
  readonly provider = 'letters';
  readonly modelId = 'letters-26';
  readonly kind = 'dense' as const;
  readonly maxBatchSize = 2;
  readonly supportsParallelCalls = false;
  readonly batches: number[] = [];
  async space() {
    return { provider: this.provider, model: this.modelId, dimensions: 26, normalize: true };
  }
  async embed(options: EmbedOptions) {
    if (options.values.length > this.maxBatchSize) throw new Error('batch too large');
    this.batches.push(options.values.length);
    const vectors = options.values.map((text) => {
      const vector = new Float32Array(26);
      for (const char of text.toLowerCase()) {
        const code = char.charCodeAt(0) - 97;
        if (code >= 0 && code < 26) vector[code] = (vector[code] ?? 0) + 1;
      }
      const norm = Math.hypot(...vector) || 1;
      return vector.map((x) => x / norm);
    });
    return { vectors, usage: { tokens: options.values.reduce((sum, text) => sum + text.split(/\s+/).length, 0) } };
  }
}

const KEYS: Record<string, Principal> = {
  'sk-alice-0123456789': { subject: 'alice', tenant: 'acme', roles: ['user'], scopes: [], claims: {} },
  'sk-bob-9876543210': { subject: 'bob', tenant: 'globex', roles: ['guest'], scopes: [], claims: {} },
};
/** Static API keys → principals, the way an app might authenticate; the error echoes nothing. */
const apiKeys: Authenticator = async (request) => {
  const header = request.headers.get('authorization') ?? '';
  const principal = KEYS[header.replace(/^Bearer\s+/i, '')];
  if (!principal) throw new UnauthorizedError({ message: 'Unknown API key; send Authorization: Bearer <key>.' });
  return principal;
};

let vllm: FakeVllm;
let slowVllm: FakeVllm;
let served: ServedGateway;
let client: OpenAI;
const embedder = new LetterEmbedder();
const logs: GatewayLogEntry[] = [];

const runnerFor = (server: FakeVllm) =>
  createOpenAICompatibleRunner({ baseURL: server.url, model: 'fake-vllm', flavor: 'vllm', retries: 0 });

beforeAll(async () => {
  vllm = await startFakeVllm();
  slowVllm = await startFakeVllm({ chunkDelayMs: 50 });
  const store = createMemoryStore();
  await store.createCollection({ name: 'docs-v1', dimensions: 26, embeddingSpace: await embedder.space() });
  const texts = ['the cat sat on the mat', 'quantum chromodynamics lecture', 'a cat and a dog'];
  const { vectors } = await embedder.embed({ values: texts.slice(0, 2), role: 'document' });
  const { vectors: more } = await embedder.embed({ values: texts.slice(2), role: 'document' });
  await store.upsert({
    collection: 'docs-v1',
    records: [...vectors, ...more].map((vector, index) => ({
      id: `doc-${index}`,
      vector,
      payload: {
        text: texts[index] as string,
        source: `file:///docs/${index}.md`,
        title: `Doc ${index}`,
        chunk: 0,
        start: 0,
        end: (texts[index] as string).length,
        contentType: 'text/markdown',
      },
    })),
  });
  const app = createGateway({
    models: { 'chat-fast': runnerFor(vllm), 'chat-slow': runnerFor(slowVllm) },
    embedders: { letters: embedder },
    search: { collections: { docs: { store, collection: 'docs-v1', embedder } } },
    authenticate: apiKeys,
    authorize: {
      can: (principal, action, resource) =>
        principal.roles.includes('user') || (action === 'generate' && resource.name === 'chat-fast'),
    },
    maxBodyBytes: 64 * 1024,
    logger: (entry) => logs.push(entry),
  });
  served = await serveGateway(app);
  client = new OpenAI({ baseURL: `${served.url}/v1`, apiKey: 'sk-alice-0123456789', maxRetries: 0 });
  embedder.batches.length = 0;
});

afterAll(async () => {
  await served?.close();
  await vllm?.close();
  await slowVllm?.close();
});

describe('gateway through the official openai client', () => {
  test('lists and retrieves models', async () => {
    const page = await client.models.list();
    expect(page.data.map((model) => model.id).sort()).toEqual(['chat-fast', 'chat-slow', 'letters']);
    expect(page.data.every((model) => model.object === 'model')).toBe(true);
    expect(page.data.find((model) => model.id === 'chat-fast')?.owned_by).toBe('openai-compatible');
    expect((await client.models.retrieve('letters')).owned_by).toBe('letters');
    const bob = new OpenAI({ baseURL: `${served.url}/v1`, apiKey: 'sk-bob-9876543210', maxRetries: 0 });
    expect((await bob.models.list()).data.map((model) => model.id)).toEqual(['chat-fast']);
  });

  test('chat completion equals the runner called directly', async () => {
    const messages = [{ role: 'user' as const, content: 'Tell me about the cat.' }];
    const completion = await client.chat.completions.create({
      model: 'chat-fast',
      messages,
      max_tokens: 12,
      seed: 7,
      temperature: 0,
    });
    const direct = await runnerFor(vllm).generate({ messages, maxTokens: 12, seed: 7, temperature: 0 });
    expect(completion.object).toBe('chat.completion');
    expect(completion.model).toBe('chat-fast');
    expect(completion.choices[0]?.message.content).toBe(direct.text);
    expect(completion.choices[0]?.finish_reason).toBe(direct.finishReason === 'length' ? 'length' : 'stop');
    expect(completion.usage).toEqual({
      prompt_tokens: direct.usage?.promptTokens,
      completion_tokens: direct.usage?.completionTokens,
      total_tokens: (direct.usage?.promptTokens ?? 0) + (direct.usage?.completionTokens ?? 0),
    });
    const forwarded = vllm.requests.at(-2)?.body as Record<string, unknown>;
    expect(forwarded).toMatchObject({ max_tokens: 12, seed: 7, temperature: 0 });
  });

  test('streaming chat: deltas join to the same text, then a usage chunk', async () => {
    const request = {
      model: 'chat-fast',
      messages: [{ role: 'user' as const, content: 'A story about stars.' }],
      max_completion_tokens: 10,
      seed: 3,
      stop: ['zzz'],
    };
    const whole = await client.chat.completions.create(request);
    const stream = await client.chat.completions.create({
      ...request,
      stream: true,
      stream_options: { include_usage: true },
    });
    const deltas: string[] = [];
    const finishReasons: (string | null)[] = [];
    let usage: OpenAI.CompletionUsage | null | undefined;
    let chunks = 0;
    for await (const chunk of stream) {
      chunks++;
      expect(chunk.object).toBe('chat.completion.chunk');
      for (const choice of chunk.choices) {
        if (choice.delta.content) deltas.push(choice.delta.content);
        finishReasons.push(choice.finish_reason);
      }
      if (chunk.usage) usage = chunk.usage;
    }
    expect(chunks).toBeGreaterThan(3);
    expect(deltas.join('')).toBe(whole.choices[0]?.message.content);
    expect(finishReasons.filter((reason) => reason !== null)).toEqual([whole.choices[0]?.finish_reason]);
    expect(usage).toEqual(whole.usage);
  });

  test('response_format json_schema gives JSON valid for the schema', async () => {
    const completion = await client.chat.completions.create({
      model: 'chat-fast',
      messages: [{ role: 'user', content: 'Describe a pet.' }],
      response_format: {
        type: 'json_schema',
        json_schema: {
          name: 'pet',
          schema: {
            type: 'object',
            properties: { name: { type: 'string' }, age: { type: 'integer', minimum: 0, maximum: 30 } },
            required: ['name', 'age'],
          },
        },
      },
    });
    const answer = JSON.parse(completion.choices[0]?.message.content ?? '');
    expect(typeof answer.name).toBe('string');
    expect(Number.isInteger(answer.age)).toBe(true);
  });

  test('tools: a required tool call comes back as tool_calls', async () => {
    const completion = await client.chat.completions.create({
      model: 'chat-fast',
      messages: [{ role: 'user', content: 'What is the weather in Kyoto?' }],
      tools: [
        {
          type: 'function',
          function: {
            name: 'weather',
            parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
          },
        },
      ],
      tool_choice: 'required',
    });
    const choice = completion.choices[0];
    expect(choice?.finish_reason).toBe('tool_calls');
    const call = choice?.message.tool_calls?.[0];
    expect(call?.type).toBe('function');
    if (call?.type !== 'function') throw new Error('expected a function call');
    expect(call.function.name).toBe('weather');
    expect(typeof JSON.parse(call.function.arguments).city).toBe('string');
  });

  test('embeddings as floats and as base64 equal the embedder, split by maxBatchSize', async () => {
    const input = ['alpha beta', 'gamma', 'delta epsilon zeta', 'eta', 'theta'];
    const direct = await new LetterEmbedder().embed({ values: input.slice(0, 2), role: 'document' });
    const direct2 = await new LetterEmbedder().embed({ values: input.slice(2, 4), role: 'document' });
    const direct3 = await new LetterEmbedder().embed({ values: input.slice(4), role: 'document' });
    const expected = [...direct.vectors, ...direct2.vectors, ...direct3.vectors];
    embedder.batches.length = 0;
    const floats = await client.embeddings.create({ model: 'letters', input, encoding_format: 'float' });
    expect(embedder.batches).toEqual([2, 2, 1]);
    expect(floats.data.map((item) => item.index)).toEqual([0, 1, 2, 3, 4]);
    floats.data.forEach((item, index) => {
      expect(item.embedding).toEqual(Array.from(expected[index] as Float32Array));
    });
    expect(floats.usage).toEqual({ prompt_tokens: 8, total_tokens: 8 });
    // The client asks for base64 by default and decodes it to numbers itself.
    const decoded = await client.embeddings.create({ model: 'letters', input });
    expect(decoded.data.map((item) => item.embedding)).toEqual(floats.data.map((item) => item.embedding));
    const raw = await fetch(`${served.url}/v1/embeddings`, {
      method: 'POST',
      headers: { authorization: 'Bearer sk-alice-0123456789', 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'letters', input: 'gamma', encoding_format: 'base64' }),
    });
    const body = (await raw.json()) as { data: { embedding: string }[] };
    const bytes = Buffer.from(body.data[0]?.embedding ?? '', 'base64');
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const values = Array.from({ length: bytes.length / 4 }, (_, i) => view.getFloat32(i * 4, true));
    expect(values).toEqual(Array.from(expected[1] as Float32Array));
  });

  test('search returns chunks with citations', async () => {
    const response = await fetch(`${served.url}/v1/search`, {
      method: 'POST',
      headers: { authorization: 'Bearer sk-alice-0123456789', 'content-type': 'application/json' },
      body: JSON.stringify({ collection: 'docs', query: 'the cat sat on the mat', limit: 2 }),
    });
    expect(response.status).toBe(200);
    const body = (await response.json()) as { object: string; data: { id: string; citation: { source: string } }[] };
    expect(body.object).toBe('list');
    expect(body.data).toHaveLength(2);
    expect(body.data[0]?.id).toBe('doc-0');
    expect(body.data[0]?.citation.source).toBe('file:///docs/0.md');
    const missing = await fetch(`${served.url}/v1/search`, {
      method: 'POST',
      headers: { authorization: 'Bearer sk-alice-0123456789', 'content-type': 'application/json' },
      body: JSON.stringify({ collection: 'nope', query: 'x' }),
    });
    expect(missing.status).toBe(404);
    expect(((await missing.json()) as { error: { code: string } }).error.code).toBe('collection_not_found');
  });
});

describe('errors in the OpenAI shape', () => {
  test('unknown model → 404 NotFoundError with code model_not_found', async () => {
    const error = await client.chat.completions
      .create({ model: 'gpt-nope', messages: [{ role: 'user', content: 'hi' }] })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.NotFoundError);
    expect((error as InstanceType<typeof OpenAI.NotFoundError>).code).toBe('model_not_found');
    expect((error as InstanceType<typeof OpenAI.NotFoundError>).param).toBe('model');
    const embedding = await client.embeddings.create({ model: 'chat-fast', input: 'x' }).catch((e: unknown) => e);
    expect(embedding).toBeInstanceOf(OpenAI.NotFoundError);
  });

  test('bad parameters → 400 BadRequestError naming the field', async () => {
    const error = await client.chat.completions
      .create({ model: 'chat-fast', messages: [{ role: 'user', content: 'hi' }], temperature: 5 })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.BadRequestError);
    const bad = error as InstanceType<typeof OpenAI.BadRequestError>;
    expect(bad.param).toBe('temperature');
    expect(bad.type).toBe('invalid_request_error');
    expect(bad.message).toMatch(/temperature must be between 0 and 2/);
    const noMessages = await client.chat.completions
      .create({ model: 'chat-fast', messages: [] })
      .catch((e: unknown) => e);
    expect((noMessages as InstanceType<typeof OpenAI.BadRequestError>).param).toBe('messages');
    const notJson = await fetch(`${served.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: 'Bearer sk-alice-0123456789', 'content-type': 'application/json' },
      body: '{"model":',
    });
    expect(notJson.status).toBe(400);
    expect(await notJson.json()).toEqual({
      error: {
        message: 'The request body is not valid JSON.',
        type: 'invalid_request_error',
        param: null,
        code: 'invalid_json',
      },
    });
  });

  test('missing or wrong API key → 401 AuthenticationError', async () => {
    const stranger = new OpenAI({ baseURL: `${served.url}/v1`, apiKey: 'sk-wrong-key-123', maxRetries: 0 });
    const error = await stranger.models.list().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.AuthenticationError);
    expect((error as InstanceType<typeof OpenAI.AuthenticationError>).code).toBe('invalid_api_key');
    const none = await fetch(`${served.url}/v1/models`);
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toBe('Bearer');
  });

  test('a model the principal may not use → 403 PermissionDeniedError', async () => {
    const bob = new OpenAI({ baseURL: `${served.url}/v1`, apiKey: 'sk-bob-9876543210', maxRetries: 0 });
    const error = await bob.chat.completions
      .create({ model: 'chat-slow', messages: [{ role: 'user', content: 'hi' }] })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.PermissionDeniedError);
    const search = await fetch(`${served.url}/v1/search`, {
      method: 'POST',
      headers: { authorization: 'Bearer sk-bob-9876543210' },
      body: JSON.stringify({ collection: 'docs', query: 'cat' }),
    });
    expect(search.status).toBe(403);
  });

  test('a body over maxBodyBytes → 413, declared or streamed', async () => {
    const error = await client.chat.completions
      .create({ model: 'chat-fast', messages: [{ role: 'user', content: 'x'.repeat(70_000) }] })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.APIError);
    expect((error as InstanceType<typeof OpenAI.APIError>).status).toBe(413);
    expect((error as InstanceType<typeof OpenAI.APIError>).code).toBe('request_too_large');
    // Chunked, without content-length: counted while reading.
    const chunked = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let i = 0; i < 70; i++) controller.enqueue(new Uint8Array(1024).fill(32));
        controller.close();
      },
    });
    const response = await fetch(`${served.url}/v1/embeddings`, {
      method: 'POST',
      headers: { authorization: 'Bearer sk-alice-0123456789' },
      body: chunked,
      duplex: 'half',
    } as RequestInit);
    expect(response.status).toBe(413);
  });

  test('unknown routes → 404 in the OpenAI shape', async () => {
    const response = await fetch(`${served.url}/v1/nothing-here`, {
      headers: { authorization: 'Bearer sk-alice-0123456789' },
    });
    expect(response.status).toBe(404);
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe('unknown_url');
  });

  test('a failing backend → 503 without its internals', async () => {
    vllm.queueFaults({ kind: 'status', status: 503 });
    const error = await client.chat.completions
      .create({ model: 'chat-fast', messages: [{ role: 'user', content: 'hi' }] })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.InternalServerError);
    const apiError = error as InstanceType<typeof OpenAI.InternalServerError>;
    expect(apiError.status).toBe(503);
    expect(apiError.code).toBe('service_unavailable');
    expect(apiError.message).not.toContain('127.0.0.1');
    expect(apiError.message).not.toMatch(/\n\s+at /);
  });
});

describe('stream failures', () => {
  test('a failure before the first token gets its status; a later one an error event the client raises', async () => {
    vllm.queueFaults({ kind: 'status', status: 503 });
    const early = await client.chat.completions
      .create({ model: 'chat-fast', messages: [{ role: 'user', content: 'hi' }], stream: true })
      .catch((e: unknown) => e);
    expect(early).toBeInstanceOf(OpenAI.InternalServerError);
    expect((early as InstanceType<typeof OpenAI.APIError>).status).toBe(503);
    vllm.queueFaults({ kind: 'stream-error', afterTokens: 2, message: 'backend exploded at 10.1.2.3' });
    const stream = await client.chat.completions.create({
      model: 'chat-fast',
      messages: [{ role: 'user', content: 'hi' }],
      max_tokens: 20,
      stream: true,
    });
    const received: string[] = [];
    const late = await (async () => {
      for await (const chunk of stream) received.push(chunk.choices[0]?.delta.content ?? '');
    })().catch((e: unknown) => e);
    expect(late).toBeInstanceOf(OpenAI.APIError);
    expect((late as Error).message).not.toContain('10.1.2.3');
    expect(received.join('').length).toBeGreaterThan(0);
  });
});

describe('operations', () => {
  test('client disconnect mid-stream aborts the model call', async () => {
    const before = slowVllm.requests.length;
    await new Promise<void>((resolve, reject) => {
      const req = httpRequest(
        `${served.url}/v1/chat/completions`,
        {
          method: 'POST',
          headers: { authorization: 'Bearer sk-alice-0123456789', 'content-type': 'application/json' },
        },
        (res) => {
          expect(res.statusCode).toBe(200);
          res.once('data', () => {
            req.destroy();
            resolve();
          });
        },
      );
      req.on('error', (error) => {
        if (!req.destroyed) reject(error);
      });
      req.end(
        JSON.stringify({
          model: 'chat-slow',
          stream: true,
          max_tokens: 400,
          messages: [{ role: 'user', content: 'a long story' }],
        }),
      );
    });
    // The gateway's call to the slow backend was cut before the backend finished its 400 tokens.
    await vi.waitFor(() => expect(slowVllm.requests.slice(before).some((r) => r.closedEarly)).toBe(true), {
      timeout: 10_000,
    });
    await vi.waitFor(() =>
      expect(logs.some((entry) => entry.status === 499 && entry.model === 'chat-slow')).toBe(true),
    );
  });

  test('request ids: a sane incoming one is kept, others are replaced', async () => {
    const kept = await fetch(`${served.url}/healthz`, { headers: { 'x-request-id': 'trace-42.a' } });
    expect(kept.headers.get('x-request-id')).toBe('trace-42.a');
    const replaced = await fetch(`${served.url}/healthz`, { headers: { 'x-request-id': 'bad id\twith spaces' } });
    expect(replaced.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    expect(await replaced.json()).toEqual({ status: 'ok' });
  });

  test('readyz asks every runner', async () => {
    const ready = await fetch(`${served.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'ready', models: { 'chat-fast': 'ok', 'chat-slow': 'ok' } });
  });

  test('logs: one entry per request, secrets redacted', async () => {
    const secret = 'sk-alice-0123456789';
    const response = await fetch(`${served.url}/v1/models?api_key=${secret}`, {
      headers: { authorization: `Bearer ${secret}`, 'x-api-key': secret, 'x-request-id': 'log-test-1' },
    });
    expect(response.status).toBe(200);
    // An authenticator that echoes the credential: neither the client nor the log may see it.
    const echoing = createGateway({
      models: { m: runnerFor(vllm) },
      authenticate: async (request) => {
        throw new UnauthorizedError({ message: `bad token ${request.headers.get('authorization')}` });
      },
      logger: (entry) => logs.push(entry),
    });
    const echoed = await echoing.request('/v1/models', {
      headers: { authorization: `Bearer ${secret}`, 'x-request-id': 'log-test-2' },
    });
    expect(echoed.status).toBe(401);
    const echoedText = await echoed.text();
    expect(echoedText).not.toContain(secret);
    expect(echoedText).toContain('[REDACTED]');
    await vi.waitFor(() => expect(logs.filter((entry) => entry.requestId.startsWith('log-test-'))).toHaveLength(2));
    const entries = logs.filter((entry) => entry.requestId.startsWith('log-test-'));
    expect(JSON.stringify(logs)).not.toContain(secret);
    expect(JSON.stringify(logs)).not.toContain('0123456789');
    expect(entries[0]).toMatchObject({
      requestId: 'log-test-1',
      method: 'GET',
      route: '/v1/models',
      status: 200,
      subject: 'alice',
      tenant: 'acme',
      path: '/v1/models?api_key=%5BREDACTED%5D',
      headers: { authorization: '[REDACTED]', 'x-api-key': '[REDACTED]' },
    });
    expect(entries[1]).toMatchObject({ status: 401, error: { code: 'invalid_api_key' } });
    const chat = logs.find((entry) => entry.route === '/v1/chat/completions' && entry.status === 200);
    expect(chat?.tokens?.completion).toBeGreaterThan(0);
  });

  test('metrics in Prometheus text format', async () => {
    const text = await (await fetch(`${served.url}/metrics`)).text();
    expect(text).toMatch(/^# HELP kumiki_gateway_requests_total /m);
    expect(text).toMatch(
      /^kumiki_gateway_requests_total\{route="\/v1\/chat\/completions",method="POST",status="200"\} \d+$/m,
    );
    expect(text).toMatch(
      /^kumiki_gateway_requests_total\{route="\/v1\/chat\/completions",method="POST",status="404"\} 1$/m,
    );
    expect(text).toMatch(
      /^kumiki_gateway_request_duration_seconds_bucket\{route="\/v1\/embeddings",le="\+Inf"\} \d+$/m,
    );
    expect(text).toMatch(/^kumiki_gateway_tokens_total\{model="letters",kind="embedding"\} \d+$/m);
    expect(text).toMatch(/^kumiki_gateway_tokens_total\{model="chat-fast",kind="completion"\} \d+$/m);
    expect(text).toMatch(/^# TYPE kumiki_gateway_requests_in_flight gauge$/m);
    expect(text).toMatch(/^kumiki_gateway_requests_in_flight 1$/m);
  });
});

describe('options', () => {
  test('refuses to build without authentication unless anonymous access is asked for', () => {
    const runner = runnerFor(vllm);
    expect(() => createGateway({ models: { m: runner } })).toThrow(InvalidArgumentError);
    expect(() => createGateway({ models: { m: runner } })).toThrow(/allowAnonymous: true/);
    expect(() => createGateway({ models: { m: runner }, allowAnonymous: true })).not.toThrow();
    expect(() => createGateway({ allowAnonymous: true })).toThrow(/at least one of models, embedders or search/);
    expect(() => createGateway({ models: { m: runner }, embedders: { m: embedder }, allowAnonymous: true })).toThrow(
      /names both a chat model and an embedder/,
    );
  });

  test('a rate-limit cache must count atomically', () => {
    const plain = {
      specificationVersion: 'kumiki.cache.v1' as const,
      provider: 'plain',
      capabilities: { persistent: false, shared: false },
      get: async () => undefined,
      getMany: async () => [],
      set: async () => {},
      setMany: async () => {},
      delete: async () => false,
    };
    expect(() =>
      createGateway({
        models: { m: runnerFor(vllm) },
        allowAnonymous: true,
        rateLimit: { cache: plain, requestsPerMinute: 1 },
      }),
    ).toThrow(/must be a kumiki Cache with increment/);
  });

  test('basePath prefixes every route; anonymous principal', async () => {
    const app = createGateway({ models: { m: runnerFor(vllm) }, allowAnonymous: true, basePath: '/ai' });
    expect((await app.request('/ai/healthz')).status).toBe(200);
    expect((await app.request('/healthz')).status).toBe(404);
    const models = (await (await app.request('/ai/v1/models')).json()) as { data: { id: string }[] };
    expect(models.data.map((model) => model.id)).toEqual(['m']);
  });
});
