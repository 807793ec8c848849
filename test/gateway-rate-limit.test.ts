import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest';
import { createKeyvCache, type KeyvCache } from '../src/caches/keyv/index.js';
import type { Authenticator } from '../src/core/auth.js';
import type { Cache } from '../src/core/cache.js';
import { AbortedError, UnauthorizedError } from '../src/core/errors.js';
import { createGateway, type GatewayLogEntry, type GatewayRateLimit } from '../src/gateway/index.js';
import { RateLimiter, retryAfterMs } from '../src/gateway/rate-limit.js';
import { type ServedGateway, serveGateway } from '../src/gateway/serve.js';
import { createOpenAICompatibleRunner } from '../src/runners/openai-compatible/index.js';
import { type FakeVllm, startFakeVllm } from './helpers/fake-vllm-server.js';
import { type RedisServer, startRedisServer } from './helpers/redis-server.js';

/** Bearer <subject> → that principal: enough to tell callers apart. */
const bySubject: Authenticator = async (request) => {
  const subject = request.headers.get('authorization')?.replace(/^Bearer\s+/i, '');
  if (!subject) throw new UnauthorizedError({ message: 'Send Authorization: Bearer <subject>.' });
  return { subject, tenant: undefined, roles: [], scopes: [], claims: {} };
};

let redis: RedisServer;
let vllm: FakeVllm;
const caches: KeyvCache[] = [];
const servers: ServedGateway[] = [];

beforeAll(async () => {
  redis = await startRedisServer();
  vllm = await startFakeVllm();
});

afterAll(async () => {
  for (const server of servers) await server.close();
  for (const cache of caches) await cache.dispose();
  await vllm?.close();
  await redis?.stop();
});

/** Two gateway instances, each with its own Redis connection, sharing counters under `prefix`. */
async function twoInstances(limits: Omit<GatewayRateLimit, 'cache'>): Promise<[string, string]> {
  const urls: string[] = [];
  for (let i = 0; i < 2; i++) {
    const cache = createKeyvCache({ url: redis.url, namespace: 'gw', strict: true });
    caches.push(cache);
    const app = createGateway({
      models: {
        chat: createOpenAICompatibleRunner({ baseURL: vllm.url, model: 'fake-vllm', flavor: 'vllm', retries: 0 }),
      },
      authenticate: bySubject,
      rateLimit: { cache, ...limits },
    });
    const served = await serveGateway(app);
    servers.push(served);
    urls.push(served.url);
  }
  return urls as [string, string];
}

const clientFor = (url: string, subject: string) =>
  new OpenAI({ baseURL: `${url}/v1`, apiKey: subject, maxRetries: 0 });
const ask = (client: OpenAI) =>
  client.chat.completions.create({
    model: 'chat',
    messages: [{ role: 'user', content: 'hello there' }],
    max_tokens: 5,
  });

describe('rate limits shared through real Redis', () => {
  test('requests per minute: the allowance is enforced across two instances', async () => {
    const [a, b] = await twoInstances({ requestsPerMinute: 5, prefix: `rpm-${Date.now()}` });
    const onA = clientFor(a, 'carol');
    const onB = clientFor(b, 'carol');
    for (const client of [onA, onB, onA, onB, onA]) await ask(client);
    const error = await ask(onB).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.RateLimitError);
    const limited = error as InstanceType<typeof OpenAI.RateLimitError>;
    expect(limited.code).toBe('rate_limit_exceeded');
    expect(limited.type).toBe('requests');
    const retryAfter = Number(limited.headers?.get('retry-after'));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(120);
    // Refused requests are not counted, and another caller has its own allowance.
    expect(await ask(onA).catch((e: unknown) => e)).toBeInstanceOf(OpenAI.RateLimitError);
    await expect(ask(clientFor(b, 'dave'))).resolves.toMatchObject({ object: 'chat.completion' });
    const metrics = await (await fetch(`${b}/metrics`)).text();
    expect(metrics).toMatch(/^kumiki_gateway_rate_limited_total\{limit="requests"\} 1$/m);
    expect(metrics).toMatch(
      /^kumiki_gateway_requests_total\{route="\/v1\/chat\/completions",method="POST",status="429"\} 1$/m,
    );
  });

  test('tokens per minute: usage recorded on one instance blocks the caller on the other', async () => {
    const [a, b] = await twoInstances({ tokensPerMinute: 20, prefix: `tpm-${Date.now()}` });
    const first = await ask(clientFor(a, 'erin'));
    const used = first.usage?.total_tokens ?? 0;
    expect(used).toBeGreaterThan(0);
    let calls = 1;
    let refusal: unknown;
    // Keep asking on B until the shared token count passes the limit.
    while (refusal === undefined && calls < 50) {
      refusal = await ask(clientFor(b, 'erin')).then(
        () => undefined,
        (e: unknown) => e,
      );
      calls++;
    }
    expect(refusal).toBeInstanceOf(OpenAI.RateLimitError);
    expect((refusal as InstanceType<typeof OpenAI.RateLimitError>).type).toBe('tokens');
    // The requests that went through used at least the limit between them (each ≥ `used`).
    expect((calls - 1) * used).toBeGreaterThanOrEqual(20);
    expect(await ask(clientFor(a, 'erin')).catch((e: unknown) => e)).toBeInstanceOf(OpenAI.RateLimitError);
  });

  test('every generation is charged, failed or not: a failing one keeps its reservation', async () => {
    const [a] = await twoInstances({ tokensPerMinute: 100, prefix: `charge-${Date.now()}` });
    const hugo = clientFor(a, 'hugo');
    vllm.queueFaults({ kind: 'status', status: 503 });
    const failed = await hugo.chat.completions
      .create({ model: 'chat', messages: [{ role: 'user', content: 'hello there' }], max_tokens: 120 })
      .catch((e: unknown) => e);
    expect((failed as InstanceType<typeof OpenAI.APIError>).status).toBe(503);
    // The failed request's reservation (its characters / 4 + max_tokens) stays charged: the allowance is used up.
    const next = await ask(hugo).catch((e: unknown) => e);
    expect(next).toBeInstanceOf(OpenAI.RateLimitError);
    expect((next as InstanceType<typeof OpenAI.RateLimitError>).type).toBe('tokens');
  });

  test('a Redis outage refuses with 503 and Retry-After, with the lenient cache the docs show; failOpen lets through', async () => {
    const own = await startRedisServer();
    // Not strict: store failures are cache misses, but counters never fail open.
    const cache = createKeyvCache({ url: own.url, namespace: 'gw', timeoutMs: 500, onError: () => {} });
    caches.push(cache);
    const logs: GatewayLogEntry[] = [];
    const gateway = (failOpen: boolean) =>
      createGateway({
        models: { chat: createOpenAICompatibleRunner({ baseURL: vllm.url, model: 'fake-vllm', retries: 0 }) },
        authenticate: bySubject,
        rateLimit: { cache, requestsPerMinute: 3, failOpen },
        logger: (entry) => logs.push(entry),
      });
    const closed = gateway(false);
    const open = gateway(true);
    const ok = await closed.request('/v1/models', { headers: { authorization: 'Bearer frank' } });
    expect(ok.status).toBe(200);
    await own.stop();
    for (let i = 0; i < 5; i++) {
      const down = await closed.request('/v1/models', { headers: { authorization: 'Bearer frank' } });
      expect(down.status).toBe(503);
      expect(down.headers.get('retry-after')).toBe('5');
      expect(((await down.json()) as { error: { code: string } }).error.code).toBe('rate_limit_unavailable');
    }
    const through = await open.request('/v1/models', { headers: { authorization: 'Bearer frank' } });
    expect(through.status).toBe(200);
    await vi.waitFor(() => expect(logs.at(-1)?.warnings?.[0]).toMatch(/unreachable.*failOpen is true/));
  });

  test('an increment delayed by a Redis pause and its retry count once', async () => {
    const own = await startRedisServer();
    try {
      const cache = createKeyvCache({ url: own.url, namespace: 'gw', timeoutMs: 200, onError: () => {} });
      caches.push(cache);
      const app = createGateway({
        models: { chat: createOpenAICompatibleRunner({ baseURL: vllm.url, model: 'fake-vllm', retries: 0 }) },
        authenticate: bySubject,
        rateLimit: { cache, requestsPerMinute: 100, prefix: 'pause' },
      });
      // Warm the connection, then hold every write for longer than both attempts wait.
      expect((await app.request('/v1/models', { headers: { authorization: 'Bearer gina' } })).status).toBe(200);
      const counted = async () => {
        const keys = (await own.command('KEYS', 'gw:pause:requests:gina:*')) as string[];
        const values = await Promise.all(
          keys.filter((key) => !key.includes('#')).map((key) => own.command('GET', key)),
        );
        return values.reduce<number>((sum, value) => sum + Number(value), 0);
      };
      expect(await counted()).toBe(1);
      await own.command('CLIENT', 'PAUSE', '1500', 'WRITE');
      const paused = await app.request('/v1/models', { headers: { authorization: 'Bearer gina' } });
      expect(paused.status).toBe(503);
      // Reads on the cache's own connection come after its delayed writes: once one succeeds, they have landed.
      await vi.waitFor(async () => expect(await cache.increment('probe', 0)).toBe(0), {
        timeout: 10_000,
        interval: 100,
      });
      // The first attempt and its retry both reached Redis after the pause: the request counts once.
      expect(await counted()).toBe(2);
    } finally {
      await own.stop();
    }
  });
});

describe('the limiter and the client signal', () => {
  test('a client that left is refused with AbortedError, even failing open, and is not counted', async () => {
    const cache = createKeyvCache({ namespace: 'left' });
    caches.push(cache);
    const limiter = new RateLimiter(cache, {
      prefix: 'rl',
      requestsPerMinute: 1,
      tokensPerMinute: 100,
      failOpen: true,
      now: () => 0,
    });
    const controller = new AbortController();
    controller.abort();
    const outcome = await limiter.admit('ann', 'request-1', controller.signal).catch((error: unknown) => error);
    expect(AbortedError.isInstance(outcome)).toBe(true);
    // The allowance of one request is still there.
    expect(await limiter.admit('ann', 'request-2')).toEqual({ allowed: true });
    expect(await limiter.admit('ann', 'request-3')).toMatchObject({ allowed: false, kind: 'requests' });
  });
});

describe('the client signal through the gateway', () => {
  test('a client that disconnects while its admission is counted aborts the counter call over HTTP', async () => {
    const inner = createKeyvCache({ namespace: 'left-http' });
    caches.push(inner);
    const seen: (AbortSignal | undefined)[] = [];
    // Counters that answer only when the call is aborted: the request waits in admission.
    const hanging: Cache = {
      specificationVersion: inner.specificationVersion,
      provider: inner.provider,
      capabilities: inner.capabilities,
      get: (key, options) => inner.get(key, options),
      getMany: (keys, options) => inner.getMany(keys, options),
      set: (key, value, options) => inner.set(key, value, options),
      setMany: (entries, options) => inner.setMany(entries, options),
      delete: (key, options) => inner.delete(key, options),
      increment: (_key, _by, options) => {
        seen.push(options?.abortSignal);
        return new Promise((_resolve, reject) => {
          const signal = options?.abortSignal;
          signal?.addEventListener('abort', () => reject(new AbortedError({ operation: 'increment' })), {
            once: true,
          });
        });
      },
    };
    const served = await serveGateway(
      createGateway({
        models: { chat: createOpenAICompatibleRunner({ baseURL: vllm.url, model: 'fake-vllm', retries: 0 }) },
        authenticate: bySubject,
        rateLimit: { cache: hanging, requestsPerMinute: 10 },
      }),
    );
    servers.push(served);
    const client = new AbortController();
    const response = fetch(`${served.url}/v1/models`, {
      headers: { authorization: 'Bearer ida' },
      signal: client.signal,
    }).catch((error: unknown) => error);
    await vi.waitFor(() => expect(seen.length).toBeGreaterThan(0));
    expect(seen.every((signal) => signal instanceof AbortSignal)).toBe(true);
    expect(seen.some((signal) => signal?.aborted)).toBe(false);
    client.abort();
    await response;
    // The server saw the disconnect and aborted the counter calls it was waiting on.
    await vi.waitFor(() => expect(seen.every((signal) => signal?.aborted)).toBe(true));
  });
});

describe('retry-after of the sliding window', () => {
  test('waits until the weighted estimate is back under the limit', () => {
    // Previous window full (10), current 0, limit 5: half the window must pass.
    expect(retryAfterMs(10, 0, 5, 0)).toBe(30_000);
    expect(retryAfterMs(10, 0, 5, 20_000)).toBe(10_000);
    // Current window over on its own: its end, plus the part of the next one that lets it decay.
    expect(retryAfterMs(0, 10, 5, 15_000)).toBe(45_000 + 30_000);
    // Never less than a second.
    expect(retryAfterMs(1, 0, 5, 59_999)).toBe(1_000);
  });
});
