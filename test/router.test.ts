import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { createRouterRunner, type RouterEndpoint } from '../src/compose/router.js';
import type { GenerateOptions, ModelRunner, StreamPart } from '../src/core/runner.js';
import { createLlamaCppRunner } from '../src/runners/llama-cpp/index.js';
import { createOpenAICompatibleRunner } from '../src/runners/openai-compatible/index.js';
import { runnerConformance } from '../src/testing/runner-conformance.js';
import { type FakeVllm, startFakeVllm } from './helpers/fake-vllm-server.js';

const MODEL_PATH = fileURLToPath(new URL('../../shared/models/stories260K.gguf', import.meta.url));

let servers: FakeVllm[] = [];
let [a, b, c] = [] as unknown as [FakeVllm, FakeVllm, FakeVllm];

beforeAll(async () => {
  servers = await Promise.all([startFakeVllm(), startFakeVllm(), startFakeVllm()]);
  [a, b, c] = servers as [FakeVllm, FakeVllm, FakeVllm];
});
afterAll(async () => {
  await Promise.all(servers.map((server) => server.close()));
});
beforeEach(() => {
  for (const server of servers) {
    server.setFault(undefined);
    server.requests.length = 0;
  }
});

/** A runner for one fake server; no retries of its own, so that the router decides. */
const remote = (server: FakeVllm): ModelRunner =>
  createOpenAICompatibleRunner({ baseURL: server.url, model: 'fake-vllm', flavor: 'vllm', retries: 0 });

const endpoints = (...list: [string, FakeVllm, Partial<RouterEndpoint>?][]): RouterEndpoint[] =>
  list.map(([name, server, extra]) => ({ name, runner: remote(server), ...extra }));

/** Generation requests a server received (health probes included, model listings not). */
const generations = (server: FakeVllm) => server.requests.filter((request) => request.path.endsWith('completions'));

const ask: GenerateOptions = { prompt: 'Once upon a time', maxTokens: 6, temperature: 0, seed: 1 };

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function until(condition: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 500 && !condition(); i++) await sleep(10);
  expect(condition(), what).toBe(true);
}

async function pool<T>(count: number, concurrency: number, task: (i: number) => Promise<T>): Promise<T[]> {
  const results: T[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) {
        const i = next++;
        results[i] = await task(i);
      }
    }),
  );
  return results;
}

async function collect(parts: AsyncIterable<StreamPart>): Promise<StreamPart[]> {
  const out: StreamPart[] = [];
  for await (const part of parts) out.push(part);
  return out;
}

describe('createRouterRunner over three fake vLLM servers', () => {
  test('200 requests all succeed with one failing and one slow endpoint; the slow one gets fewer', async () => {
    b.setFault({ kind: 'status', status: 500 });
    // Slow by far more than a loaded machine slows the fast one: least-outstanding keeps about half of
    // the 8 requests in flight on it, so it answers a few while the fast one answers the rest.
    c.setFault({ kind: 'delay', ms: 2_000 });
    const router = createRouterRunner({
      endpoints: endpoints(['fast', a], ['failing', b], ['slow', c]),
      circuitBreaker: { failureThreshold: 3, coolDownMs: 60_000 },
    });
    const results = await pool(200, 8, (i) => router.generate({ ...ask, seed: i }));
    expect(results.every((result) => result.text.length > 0)).toBe(true);
    const metrics = router.metrics().endpoints;
    // Three failures open the circuit; attempts already in flight (at most 7 more) fail as well.
    expect(generations(b).length).toBeGreaterThanOrEqual(3);
    expect(generations(b).length).toBeLessThanOrEqual(10);
    expect(metrics.failing).toMatchObject({
      requests: generations(b).length,
      failures: generations(b).length,
      successes: 0,
      state: 'open',
    });
    expect(generations(a).length + generations(c).length).toBe(200);
    expect(generations(c).length).toBeLessThan(generations(a).length / 4);
    expect(metrics.fast?.successes).toBe(generations(a).length);
    expect(metrics.slow?.latencyMs?.p50).toBeGreaterThanOrEqual(2_000);
    expect(metrics.fast?.latencyMs).toBeDefined();
    expect(Object.values(metrics).every((endpoint) => endpoint.inFlight === 0)).toBe(true);
    await router.dispose();
  });

  test('the circuit opens after N failures, half-opens after the cool-down and closes on a good trial', async () => {
    a.setFault({ kind: 'status', status: 503 });
    const router = createRouterRunner({
      endpoints: endpoints(['a', a], ['b', b]),
      circuitBreaker: { failureThreshold: 2, coolDownMs: 400 },
    });
    const state = () => router.metrics().endpoints.a?.state;
    await router.generate(ask); // a fails (1), retried on b
    expect(state()).toBe('closed');
    await router.generate(ask); // a fails (2): open
    expect(state()).toBe('open');
    await router.generate(ask);
    await router.generate(ask);
    expect(generations(a)).toHaveLength(2);
    expect(generations(b)).toHaveLength(4);

    await sleep(450);
    expect(state()).toBe('half-open');
    await router.generate(ask); // the trial fails: open again at once
    expect(generations(a)).toHaveLength(3);
    expect(state()).toBe('open');

    a.setFault(undefined);
    await sleep(450);
    const trial = await router.generate(ask);
    expect(trial.text.length).toBeGreaterThan(0);
    expect(generations(a)).toHaveLength(4);
    expect(state()).toBe('closed');
    expect(router.metrics().endpoints.a).toMatchObject({ requests: 4, successes: 1, failures: 3 });
    await router.dispose();
  });

  test('with every remote endpoint down, requests fall back to a local llama.cpp runner', async () => {
    expect(existsSync(MODEL_PATH), `the test model is missing at ${MODEL_PATH}`).toBe(true);
    const down = await startFakeVllm();
    const downUrl = down.url;
    await down.close();
    a.setFault({ kind: 'status', status: 502 });
    const local = createLlamaCppRunner({ modelPath: MODEL_PATH, threads: 1 });
    try {
      const router = createRouterRunner({
        endpoints: [
          { name: 'a', runner: remote(a) },
          {
            name: 'closed',
            runner: createOpenAICompatibleRunner({ baseURL: downUrl, model: 'fake-vllm', retries: 0 }),
          },
        ],
        fallback: [local],
        circuitBreaker: { failureThreshold: 1, coolDownMs: 60_000 },
      });
      const first = await router.generate({ prompt: 'Once upon a time', maxTokens: 8, seed: 3 });
      expect(first.text.trim().length).toBeGreaterThan(0);
      expect(generations(a)).toHaveLength(1);
      const metrics = router.metrics().endpoints;
      expect(metrics.a?.state).toBe('open');
      expect(metrics.closed?.state).toBe('open');
      expect(metrics['fallback:0']).toMatchObject({ requests: 1, successes: 1 });
      // Both circuits are open: the next request goes straight to the fallback.
      const parts = await collect(router.stream({ prompt: 'Once upon a time', maxTokens: 8, seed: 3 }));
      expect(parts.at(-1)?.type).toBe('finish');
      expect(generations(a)).toHaveLength(1);
      expect(router.metrics().endpoints['fallback:0']?.requests).toBe(2);
      await router.dispose();
    } finally {
      await local.dispose?.();
    }
  }, 60_000);

  test('non-retryable errors go straight back; invalid calls reach no endpoint', async () => {
    a.queueFaults({ kind: 'status', status: 400, body: { object: 'error', message: 'bad request', code: 400 } });
    const router = createRouterRunner({ endpoints: endpoints(['a', a], ['b', b]) });
    await expect(router.generate(ask)).rejects.toMatchObject({ name: 'InvalidArgumentError' });
    expect(generations(a)).toHaveLength(1);
    expect(generations(b)).toHaveLength(0);
    await expect(router.generate({ ...ask, maxTokens: 0 })).rejects.toMatchObject({ name: 'InvalidArgumentError' });
    expect(generations(a).length + generations(b).length).toBe(1);
    expect(router.metrics().endpoints.a?.state).toBe('closed');
    await router.dispose();
  });

  test('retries stop at maxAttempts and the error names every endpoint tried', async () => {
    for (const server of servers) server.setFault({ kind: 'status', status: 500 });
    const router = createRouterRunner({
      endpoints: endpoints(['a', a], ['b', b], ['c', c]),
      retry: { maxAttempts: 2 },
    });
    const error = await router.generate(ask).catch((caught: unknown) => caught);
    expect(error).toMatchObject({ name: 'UnavailableError', isRetryable: true });
    expect((error as Error).message).toMatch(/failed on every endpoint tried \(a: .*; b: /);
    expect(generations(c)).toHaveLength(0);
    await router.dispose();
  });

  test('the deadline covers all attempts and ends in TimeoutError', async () => {
    a.setFault({ kind: 'delay', ms: 5_000 });
    b.setFault({ kind: 'delay', ms: 5_000 });
    const router = createRouterRunner({ endpoints: endpoints(['a', a], ['b', b]), deadlineMs: 150 });
    await expect(router.generate(ask)).rejects.toMatchObject({ name: 'TimeoutError', timeoutMs: 150 });
    await until(() => generations(a)[0]?.closedEarly === true, 'the timed-out attempt was cancelled');
    expect(generations(b)).toHaveLength(0);
    expect(router.metrics().endpoints.a).toMatchObject({ inFlight: 0, failures: 0, state: 'closed' });
    await router.dispose();
  });

  test("the caller's abort reaches the in-flight attempt", async () => {
    a.setFault({ kind: 'delay', ms: 5_000 });
    const router = createRouterRunner({ endpoints: endpoints(['a', a], ['b', b]) });
    const controller = new AbortController();
    const pending = router.generate({ ...ask, abortSignal: controller.signal });
    await until(() => generations(a).length === 1, 'the request reached a');
    controller.abort();
    await expect(pending).rejects.toMatchObject({ name: 'AbortedError' });
    await until(() => generations(a)[0]?.closedEarly === true, 'the aborted attempt was cancelled');
    expect(generations(b)).toHaveLength(0);
    await router.dispose();
  });

  test('requests queue when every endpoint is at its concurrency limit, within the deadline', async () => {
    a.setFault({ kind: 'delay', ms: 150 });
    b.setFault({ kind: 'delay', ms: 150 });
    const router = createRouterRunner({
      endpoints: endpoints(['a', a, { maxConcurrency: 1 }], ['b', b, { maxConcurrency: 1 }]),
    });
    // Endpoints are picked synchronously inside generate(), so the queue is visible at once.
    const pending = Array.from({ length: 6 }, (_, i) => router.generate({ ...ask, seed: i }));
    const metrics = router.metrics();
    expect(metrics.queued).toBe(4);
    expect(metrics.endpoints.a?.inFlight).toBe(1);
    expect(metrics.endpoints.b?.inFlight).toBe(1);
    const results = await Promise.all(pending);
    expect(results.every((result) => result.text.length > 0)).toBe(true);
    expect(generations(a)).toHaveLength(3);
    expect(generations(b)).toHaveLength(3);

    const strict = createRouterRunner({ endpoints: endpoints(['a', a, { maxConcurrency: 1 }]), deadlineMs: 100 });
    const blocker = strict.generate(ask).catch((error: unknown) => error);
    const queued = strict.generate(ask);
    expect(strict.metrics().queued).toBe(1);
    await expect(queued).rejects.toMatchObject({ name: 'TimeoutError' });
    expect(await blocker).toMatchObject({ name: 'TimeoutError' });
    expect(strict.metrics()).toMatchObject({ queued: 0, endpoints: { a: { inFlight: 0 } } });
    // The two deadlines fall together: the queued call may get the freed slot a moment before its own
    // deadline, and its cancelled request reach the server. Let it land before the next test.
    await sleep(50);
    await Promise.all([router.dispose(), strict.dispose()]);
  });

  test('weighted strategy: smooth weighted round-robin in the ratio of the weights', async () => {
    const router = createRouterRunner({
      endpoints: endpoints(['a', a, { weight: 3 }], ['b', b, { weight: 1 }]),
      strategy: 'weighted',
    });
    for (let i = 0; i < 40; i++) await router.generate({ ...ask, seed: i });
    expect(generations(a)).toHaveLength(30);
    expect(generations(b)).toHaveLength(10);
    await router.dispose();
  });

  test('streams switch endpoints before the first part, never after', async () => {
    const router = createRouterRunner({ endpoints: endpoints(['a', a], ['b', b]) });
    const direct = await collect(remote(b).stream(ask));
    b.requests.length = 0;
    a.queueFaults({ kind: 'status', status: 500 });
    const routed = await collect(router.stream(ask));
    expect(routed).toEqual(direct);
    expect(generations(a)).toHaveLength(1);
    expect(generations(b)).toHaveLength(1);

    a.queueFaults({ kind: 'stream-error', afterTokens: 2 });
    const seen: StreamPart[] = [];
    const failure = await (async () => {
      for await (const part of router.stream({ ...ask, maxTokens: 20 })) seen.push(part);
    })().catch((error: unknown) => error);
    expect(seen.length).toBeGreaterThan(0);
    expect(failure).toBeInstanceOf(Error);
    expect(generations(a)).toHaveLength(2);
    expect(generations(b)).toHaveLength(1);
    expect(router.metrics().endpoints.a).toMatchObject({ failures: 2, inFlight: 0 });
    await router.dispose();
  });

  test('health checks skip an unhealthy endpoint until it recovers; dispose stops them', async () => {
    const router = createRouterRunner({
      endpoints: endpoints(['a', a], ['b', b]),
      healthCheck: { intervalMs: 30 },
    });
    a.setFault({ kind: 'status', status: 500 });
    await until(() => router.metrics().endpoints.a?.healthy === false, 'a is marked unhealthy');
    const probes = generations(a).length;
    for (let i = 0; i < 5; i++) await router.generate(ask);
    expect(router.metrics().endpoints.a?.requests).toBe(0);
    expect(generations(b).length).toBeGreaterThanOrEqual(5);
    expect(generations(a).length - probes).toBeLessThanOrEqual(2); // only probes reached a
    a.setFault(undefined);
    await until(() => router.metrics().endpoints.a?.healthy === true, 'a is healthy again');
    await router.generate(ask);
    expect(router.metrics().endpoints.a?.requests).toBe(1);
    await router.dispose();
    await sleep(60);
    const after = generations(a).length + generations(b).length;
    await sleep(120);
    expect(generations(a).length + generations(b).length).toBe(after);
  });

  test('capabilities are the intersection; describeModel names the endpoints; disposed routers refuse', async () => {
    const local = createLlamaCppRunner({ modelPath: MODEL_PATH, threads: 1 });
    const first = remote(a);
    const router = createRouterRunner({ endpoints: [{ name: 'a', runner: first }], fallback: [local] });
    expect(router.capabilities.structuredOutput).toEqual(
      first.capabilities.structuredOutput.filter((mode) => local.capabilities.structuredOutput.includes(mode)),
    );
    expect(router.capabilities.seed).toBe(first.capabilities.seed && local.capabilities.seed);
    const description = await router.describeModel();
    expect(description).toMatchObject({ ...(await first.describeModel()), extra: { router: 'a' } });
    await router.dispose();
    await expect(router.generate(ask)).rejects.toMatchObject({ name: 'ConflictError' });
    await local.dispose?.();
  });

  test('bad options are refused with InvalidArgumentError', () => {
    expect(() => createRouterRunner({ endpoints: [] })).toThrow(/at least one endpoint/);
    expect(() => createRouterRunner({ endpoints: endpoints(['x', a], ['x', b]) })).toThrow(/unique/);
    expect(() =>
      createRouterRunner({ endpoints: [{ name: 'x', runner: {} as ModelRunner }], strategy: 'random' as 'weighted' }),
    ).toThrow(/ModelRunner/);
  });
});

describe('router conformance', () => {
  runnerConformance(test, () => createRouterRunner({ endpoints: endpoints(['a', a], ['b', b]) }), {
    name: 'router over two fake vLLM servers',
    timeoutMs: 30_000,
  });
});
