/**
 * Admission control and a free event loop: slots per model, a bounded queue with a wait limit, fair
 * share between callers, per-request time limits, readiness — with an in-process runner whose calls
 * the test releases one by one — and, with the real llama.cpp runner on stories260K, a short request
 * from one caller finishing while another streams 3,000 tokens, /healthz answering while a 1 MB prompt
 * is counted, and json_object answered with a non-empty JSON object.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest';
import { AbortedError } from '../src/core/errors.js';
import type { GenerateOptions, ModelRunner } from '../src/core/runner.js';
import { createGateway, type GatewayLogEntry } from '../src/gateway/index.js';
import { type ServedGateway, serveGateway } from '../src/gateway/serve.js';
import { createLlamaCppRunner, type LlamaCppRunner } from '../src/runners/llama-cpp/index.js';

/** A runner whose calls wait until the test releases them, in an order the test can read. */
function gatedRunner() {
  const started: string[] = [];
  const waiting = new Map<string, () => void>();
  let described = 0;
  let loaded: (() => void) | undefined;
  const describeGate = new Promise<void>((resolve) => {
    loaded = resolve;
  });
  const run = async (options: GenerateOptions) => {
    const tag = options.messages?.at(-1)?.content ?? '';
    started.push(tag);
    await new Promise<void>((resolve, reject) => {
      waiting.set(tag, resolve);
      options.abortSignal?.addEventListener('abort', () =>
        reject(new AbortedError({ operation: `gated call ${tag}`, cause: options.abortSignal?.reason })),
      );
    });
    waiting.delete(tag);
    return { text: `answer to ${tag}`, finishReason: 'stop' as const, usage: { promptTokens: 3, completionTokens: 3 } };
  };
  const runner: ModelRunner = {
    specificationVersion: 'kumiki.runner.v1',
    provider: 'gated',
    modelId: 'gated',
    capabilities: { streaming: false, structuredOutput: [], tools: false, seed: false },
    describeModel: async () => {
      described++;
      await describeGate;
      return { provider: 'gated', model: 'gated' };
    },
    generate: run as ModelRunner['generate'],
    async *stream(options) {
      const result = await run(options);
      yield { type: 'text-delta', text: result.text };
      yield { type: 'finish', finishReason: 'stop', usage: result.usage };
    },
  };
  return {
    runner,
    started,
    /** Ends the call tagged `tag` once it has started. */
    release: async (tag: string) => {
      await vi.waitFor(() => expect(waiting.has(tag)).toBe(true));
      waiting.get(tag)?.();
    },
    load: () => loaded?.(),
    described: () => described,
  };
}

const bySubject = async (request: Request) => ({
  subject: request.headers.get('authorization')?.replace(/^Bearer\s+/i, '') || 'anonymous',
  tenant: undefined,
  roles: [],
  scopes: [],
  claims: {},
});

function ask(app: ReturnType<typeof createGateway>, caller: string, tag: string, headers: Record<string, string> = {}) {
  return app.request('/v1/chat/completions', {
    method: 'POST',
    headers: { authorization: `Bearer ${caller}`, 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ model: 'gated', messages: [{ role: 'user', content: tag }] }),
  });
}

describe('admission control', () => {
  test('a free slot goes to the caller with the fewest running requests, not to the longest line', async () => {
    const gated = gatedRunner();
    const app = createGateway({ models: { gated: { runner: gated.runner, slots: 1 } }, authenticate: bySubject });
    const a1 = ask(app, 'alice', 'a1');
    await vi.waitFor(() => expect(gated.started).toEqual(['a1']));
    const a2 = ask(app, 'alice', 'a2');
    const a3 = ask(app, 'alice', 'a3');
    await vi.waitFor(async () =>
      expect(await (await app.request('/metrics')).text()).toMatch(/^kumiki_gateway_queue_depth\{model="gated"\} 2$/m),
    );
    const b1 = ask(app, 'bob', 'b1');
    await vi.waitFor(async () =>
      expect(await (await app.request('/metrics')).text()).toMatch(/^kumiki_gateway_queue_depth\{model="gated"\} 3$/m),
    );
    const metrics = await (await app.request('/metrics')).text();
    expect(metrics).toMatch(/^kumiki_gateway_slots_busy\{model="gated"\} 1$/m);
    await gated.release('a1');
    // Bob has nothing running, Alice has a1's successor queued first: Bob goes next.
    await gated.release('b1');
    await gated.release('a2');
    await gated.release('a3');
    const answers = await Promise.all([a1, a2, a3, b1]);
    expect(answers.map((answer) => answer.status)).toEqual([200, 200, 200, 200]);
    expect(gated.started).toEqual(['a1', 'b1', 'a2', 'a3']);
    expect(await (await app.request('/metrics')).text()).toMatch(
      /^kumiki_gateway_queue_wait_seconds_count\{model="gated"\} 4$/m,
    );
  });

  test('a full queue → 429 with Retry-After; a wait past queueTimeoutMs → 503 with Retry-After', async () => {
    const gated = gatedRunner();
    const logs: GatewayLogEntry[] = [];
    const app = createGateway({
      models: { gated: { runner: gated.runner, slots: 1, maxQueue: 1, queueTimeoutMs: 60_000 } },
      authenticate: bySubject,
      logger: (entry) => logs.push(entry),
    });
    const running = ask(app, 'alice', 'running');
    await vi.waitFor(() => expect(gated.started).toEqual(['running']));
    const queued = ask(app, 'bob', 'queued');
    await vi.waitFor(async () =>
      expect(await (await app.request('/metrics')).text()).toMatch(/^kumiki_gateway_queue_depth\{model="gated"\} 1$/m),
    );
    const full = await ask(app, 'carol', 'refused');
    expect(full.status).toBe(429);
    expect(Number(full.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(((await full.json()) as { error: { code: string } }).error.code).toBe('model_overloaded');
    await gated.release('running');
    await gated.release('queued');
    expect((await running).status).toBe(200);
    expect((await queued).status).toBe(200);

    const impatient = createGateway({
      models: { gated: { runner: gated.runner, slots: 1, queueTimeoutMs: 30 } },
      authenticate: bySubject,
    });
    const holding = ask(impatient, 'alice', 'holding');
    await vi.waitFor(() => expect(gated.started).toContain('holding'));
    const timedOut = await ask(impatient, 'bob', 'too-late');
    expect(timedOut.status).toBe(503);
    expect(timedOut.headers.get('retry-after')).toMatch(/^\d+$/);
    expect(((await timedOut.json()) as { error: { code: string } }).error.code).toBe('queue_timeout');
    expect(await (await impatient.request('/metrics')).text()).toMatch(
      /^kumiki_gateway_queue_rejected_total\{model="gated",reason="queue_timeout"\} 1$/m,
    );
    await gated.release('holding');
    expect((await holding).status).toBe(200);
  });

  test('the time limit (configured, or lower from x-kumiki-timeout-ms) aborts the model call → 504', async () => {
    const gated = gatedRunner();
    const app = createGateway({
      models: { gated: { runner: gated.runner, timeoutMs: 60_000 } },
      authenticate: bySubject,
    });
    const late = await ask(app, 'alice', 'slow', { 'x-kumiki-timeout-ms': '30' });
    expect(late.status).toBe(504);
    expect(((await late.json()) as { error: { code: string } }).error.code).toBe('timeout');
    const bad = await ask(app, 'alice', 'bad', { 'x-kumiki-timeout-ms': 'soon' });
    expect(bad.status).toBe(400);
    const short = createGateway({
      admission: { timeoutMs: 30 },
      models: { gated: gated.runner },
      authenticate: bySubject,
    });
    // A client cannot raise the limit.
    expect((await ask(short, 'alice', 'slower', { 'x-kumiki-timeout-ms': '600000' })).status).toBe(504);
  });

  test('/readyz answers 503 while the models load at start, 200 once they have', async () => {
    const gated = gatedRunner();
    const app = createGateway({ models: { gated: gated.runner }, allowAnonymous: true });
    // The load starts with the gateway, not with the first request.
    expect(gated.described()).toBe(1);
    const loading = await app.request('/readyz');
    expect(loading.status).toBe(503);
    expect(await loading.json()).toEqual({ status: 'unready', models: { gated: 'loading' } });
    gated.load();
    await vi.waitFor(async () => expect((await app.request('/readyz')).status).toBe(200));
    expect(await (await app.request('/readyz')).json()).toEqual({ status: 'ready', models: { gated: 'ok' } });
  });
});

const MODEL = fileURLToPath(new URL('../../shared/models/stories260K.gguf', import.meta.url));

describe('llama.cpp behind the gateway: never blocked, fair, JSON mode', () => {
  let runner: LlamaCppRunner;
  let big: LlamaCppRunner;
  let served: ServedGateway;

  beforeAll(async () => {
    if (!existsSync(MODEL)) throw new Error(`The test model ${MODEL} is missing (../shared/models/stories260K.gguf).`);
    runner = createLlamaCppRunner({ modelPath: MODEL, threads: 1, contextSize: 4096, sequences: 2, logLevel: 'error' });
    // A context so large that a 1 MB prompt might fit by its size: it must be counted, in chunks.
    big = createLlamaCppRunner({ modelPath: MODEL, threads: 1, contextSize: 262_144, logLevel: 'error' });
    served = await serveGateway(
      createGateway({ models: { stories: runner, big }, authenticate: bySubject, preload: true }),
    );
    await vi.waitFor(async () => expect((await fetch(`${served.url}/readyz`)).status).toBe(200), {
      timeout: 60_000,
      interval: 100,
    });
  }, 120_000);

  afterAll(async () => {
    await served?.close();
    await runner?.dispose();
    await big?.dispose();
  });

  const client = (caller: string) => new OpenAI({ baseURL: `${served.url}/v1`, apiKey: caller, maxRetries: 0 });

  test('a 4-token request from B completes while A streams 3,000 tokens (2 slots)', async () => {
    const events: string[] = [];
    const controller = new AbortController();
    const long = await client('alice').chat.completions.create(
      {
        model: 'stories',
        messages: [{ role: 'user', content: 'Once upon a time' }],
        max_tokens: 3000,
        temperature: 0,
        stream: true,
      },
      { signal: controller.signal },
    );
    let deltas = 0;
    const reading = (async () => {
      try {
        for await (const chunk of long) {
          if (chunk.choices[0]?.delta.content) {
            deltas++;
            if (deltas === 1) events.push('A streaming');
          }
          if (chunk.choices[0]?.finish_reason) events.push('A finished');
        }
      } catch {
        events.push('A cancelled');
      }
    })();
    await vi.waitFor(() => expect(events).toContain('A streaming'), { timeout: 30_000 });
    const short = await client('bob').chat.completions.create({
      model: 'stories',
      messages: [{ role: 'user', content: 'The dog' }],
      max_tokens: 4,
    });
    events.push('B done');
    expect(short.usage?.completion_tokens).toBe(4);
    // Greedy "Once upon a time" runs all 3,000 tokens (it never reaches an end token); B did not wait for them.
    controller.abort();
    await reading;
    expect(events.slice(0, 2)).toEqual(['A streaming', 'B done']);
    expect(events).not.toContain('A finished');
  }, 120_000);

  test('/healthz answers while a 1 MB prompt is being counted, before that request completes', async () => {
    // About 1 MB (1,033,500 bytes), under the default body limit of 1 MiB.
    const megabyte = 'Once upon a time there was a little girl named Lily. '.repeat(19_500);
    const order: string[] = [];
    const pending = fetch(`${served.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: 'Bearer carol', 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'big', messages: [{ role: 'user', content: megabyte }], max_tokens: 8 }),
    }).then(async (response) => {
      order.push(`1 MB prompt answered ${response.status}`);
      return response.json() as Promise<{ error: { code: string; message: string } }>;
    });
    // The request holds a slot from when the runner starts counting until it answers.
    await vi.waitFor(
      async () => {
        const metrics = await (await fetch(`${served.url}/metrics`)).text();
        expect(metrics).toMatch(/^kumiki_gateway_slots_busy\{model="big"\} 1$/m);
      },
      { timeout: 30_000, interval: 5 },
    );
    const health = await fetch(`${served.url}/healthz`);
    order.push(`healthz ${health.status}`);
    const body = await pending;
    expect(order).toEqual(['healthz 200', '1 MB prompt answered 400']);
    expect(body.error.code).toBe('context_length_exceeded');
    expect(body.error.message).toMatch(/maximum context length is 262144 tokens. However, you requested at least/);
  }, 120_000);

  test('json_object → parseable, non-empty JSON; a prompt over the context → 400 context_length_exceeded', async () => {
    const completion = await client('dave').chat.completions.create({
      model: 'stories',
      messages: [{ role: 'user', content: 'Describe a cat as a JSON object' }],
      response_format: { type: 'json_object' },
      max_tokens: 200,
      temperature: 0.8,
      seed: 1,
    });
    const content = completion.choices[0]?.message.content ?? '';
    expect(Object.keys(JSON.parse(content)).length).toBeGreaterThan(0);
    const tooLong = await client('dave')
      .chat.completions.create({
        model: 'stories',
        messages: [{ role: 'user', content: 'Once upon a time' }],
        max_tokens: 2_147_483_647,
      })
      .then(
        () => undefined as never,
        (error: unknown) => error as InstanceType<typeof OpenAI.BadRequestError>,
      );
    expect(tooLong.status).toBe(400);
    expect(tooLong.code).toBe('context_length_exceeded');
    // 10,000 short messages: counted (not shifted through the context) and refused, not "retry later".
    const many = await fetch(`${served.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: 'Bearer dave', 'content-type': 'application/json' },
      body: JSON.stringify({
        model: 'stories',
        messages: Array.from({ length: 10_000 }, (_, i) => ({
          role: i % 2 ? 'assistant' : 'user',
          content: 'Hi there.',
        })),
        max_tokens: 8,
      }),
    });
    expect(many.status).toBe(400);
    expect(((await many.json()) as { error: { code: string } }).error.code).toBe('context_length_exceeded');
  }, 120_000);
});
