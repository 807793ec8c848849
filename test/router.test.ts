import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, beforeEach, describe, expect, onTestFinished, test, vi } from 'vitest';
import { z } from 'zod';
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

/**
 * A runner that holds each call (while holding) until `release()`: an endpoint as slow as a test needs,
 * without timing. `held()` counts the calls it has held.
 */
function holding(inner: ModelRunner) {
  let gate: Promise<void> | undefined;
  let open: () => void = () => {};
  let count = 0;
  const hold = () => {
    gate = new Promise<void>((resolve) => {
      open = resolve;
    });
  };
  hold();
  const wait = async () => {
    if (gate === undefined) return;
    count++;
    await gate;
  };
  const runner: ModelRunner = {
    ...inner,
    generate: async (options) => {
      await wait();
      return inner.generate(options);
    },
  };
  return {
    runner,
    held: () => count,
    hold,
    release: () => {
      open();
      gate = undefined;
    },
  };
}

/** A runner that counts the calls the router makes to it (requests and generate probes). */
function counting(inner: ModelRunner) {
  let calls = 0;
  const runner: ModelRunner = {
    ...inner,
    generate: (options) => {
      calls++;
      return inner.generate(options);
    },
  };
  return { runner, calls: () => calls };
}

/** `Date` as a fake clock for the rest of the test (timers stay real); `advance` moves it. */
function fakeDate() {
  vi.useFakeTimers({ toFake: ['Date'] });
  onTestFinished(() => {
    vi.useRealTimers();
  });
  return { advance: (ms: number) => vi.setSystemTime(Date.now() + ms) };
}

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
    // The slow endpoint holds every request until the others are done: no timing decides the outcome.
    const slow = holding(remote(c));
    const router = createRouterRunner({
      endpoints: [...endpoints(['fast', a], ['failing', b]), { name: 'slow', runner: slow.runner }],
      circuitBreaker: { failureThreshold: 3, coolDownMs: 60_000 },
    });
    const running = pool(200, 8, (i) => router.generate({ ...ask, seed: i }));
    await vi.waitFor(() => expect((router.metrics().endpoints.fast?.successes ?? 0) + slow.held()).toBe(200), {
      timeout: 120_000,
      interval: 20,
    });
    // Least-outstanding: the slow endpoint gets another request only while it has fewer in flight than
    // the fast one, so with 8 callers it can hold at most 4.
    expect(slow.held()).toBeLessThanOrEqual(4);
    slow.release();
    const results = await running;
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
    expect(generations(c)).toHaveLength(slow.held());
    expect(metrics.fast?.successes).toBe(generations(a).length);
    expect(metrics.slow?.successes).toBe(generations(c).length);
    expect(metrics.fast?.latencyMs).toBeDefined();
    expect(Object.values(metrics).every((endpoint) => endpoint.inFlight === 0)).toBe(true);
    await router.dispose();
  });

  test('the circuit opens after N failures, half-opens after the cool-down and closes on a good trial', async () => {
    const clock = fakeDate();
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
    clock.advance(399);
    await router.generate(ask);
    expect(state()).toBe('open');
    expect(generations(a)).toHaveLength(2);
    expect(generations(b)).toHaveLength(4);

    clock.advance(1);
    expect(state()).toBe('half-open');
    await router.generate(ask); // the trial fails: open again at once
    expect(generations(a)).toHaveLength(3);
    expect(state()).toBe('open');

    a.setFault(undefined);
    clock.advance(400);
    const trial = await router.generate(ask);
    expect(trial.text.length).toBeGreaterThan(0);
    expect(generations(a)).toHaveLength(4);
    expect(state()).toBe('closed');
    expect(router.metrics().endpoints.a).toMatchObject({ requests: 4, successes: 1, failures: 3 });
    await router.dispose();
  });

  test('a success resets the failure count: only consecutive failures open the circuit', async () => {
    const router = createRouterRunner({
      endpoints: endpoints(['a', a], ['b', b]),
      circuitBreaker: { failureThreshold: 2, coolDownMs: 60_000 },
    });
    const state = () => router.metrics().endpoints.a?.state;
    a.setFault({ kind: 'status', status: 503 });
    await router.generate(ask); // a fails (1), retried on b
    a.setFault(undefined);
    await router.generate(ask); // a succeeds: the count starts again
    a.setFault({ kind: 'status', status: 503 });
    await router.generate(ask); // a fails (1 again)
    expect(generations(a)).toHaveLength(3);
    expect(state()).toBe('closed');
    await router.generate(ask); // a fails (2): open
    expect(state()).toBe('open');
    expect(router.metrics().endpoints.a).toMatchObject({ requests: 4, successes: 1, failures: 3 });
    await router.dispose();
  });

  test('a half-open circuit lets exactly one trial through; a second request meanwhile is refused', async () => {
    const clock = fakeDate();
    const gate = holding(remote(a));
    const router = createRouterRunner({
      endpoints: [{ name: 'a', runner: gate.runner }],
      circuitBreaker: { failureThreshold: 1, coolDownMs: 1_000 },
    });
    const state = () => router.metrics().endpoints.a?.state;
    a.setFault({ kind: 'status', status: 503 });
    gate.release();
    await expect(router.generate(ask)).rejects.toMatchObject({ name: 'UnavailableError' });
    expect(state()).toBe('open');
    await expect(router.generate(ask)).rejects.toThrow(/no endpoint can take the request/);
    expect(generations(a)).toHaveLength(1);

    a.setFault(undefined);
    gate.hold();
    clock.advance(1_000);
    const trial = router.generate(ask);
    await vi.waitFor(() => expect(gate.held()).toBe(1), { timeout: 30_000, interval: 5 });
    expect(state()).toBe('half-open');
    // While the trial is out, a second request is not let through to the endpoint: it is refused
    // (and is not held behind the trial, which would show as a second held call).
    let second: unknown;
    router.generate(ask).then(
      (result) => {
        second = result;
      },
      (error: unknown) => {
        second = error;
      },
    );
    await vi.waitFor(() => expect(second !== undefined || gate.held() > 1).toBe(true), { timeout: 30_000 });
    expect(gate.held()).toBe(1);
    expect(second).toMatchObject({ name: 'UnavailableError', message: /no endpoint can take the request/ });
    gate.release();
    expect((await trial).text.length).toBeGreaterThan(0);
    expect(state()).toBe('closed');
    expect((await router.generate(ask)).text.length).toBeGreaterThan(0);
    expect(generations(a)).toHaveLength(3);
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
    const [ra, rb] = [counting(remote(a)), counting(remote(b))];
    const router = createRouterRunner({
      endpoints: [
        { name: 'a', runner: ra.runner },
        { name: 'b', runner: rb.runner },
      ],
      healthCheck: { intervalMs: 30 },
    });
    a.setFault({ kind: 'status', status: 500 });
    await until(() => router.metrics().endpoints.a?.healthy === false, 'a is marked unhealthy');
    for (let i = 0; i < 5; i++) await router.generate(ask);
    // Only probes reached a: the router sent it none of the five requests.
    expect(router.metrics().endpoints.a?.requests).toBe(0);
    expect(router.metrics().endpoints.b?.requests).toBe(5);
    a.setFault(undefined);
    await until(() => router.metrics().endpoints.a?.healthy === true, 'a is healthy again');
    await router.generate(ask);
    expect(router.metrics().endpoints.a?.requests).toBe(1);
    await router.dispose();
    // Once dispose has returned, no probe starts (counted where the router calls the runners).
    const after = ra.calls() + rb.calls();
    await sleep(120);
    expect(ra.calls() + rb.calls()).toBe(after);
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

describe('createRouterRunner: picking, measuring, failing over', () => {
  test('least-outstanding: fewest in flight first, ties to the heavier endpoint, then the first listed', async () => {
    const [ga, gb] = [holding(remote(a)), holding(remote(b))];
    const router = createRouterRunner({
      endpoints: [
        { name: 'a', runner: ga.runner },
        { name: 'b', runner: gb.runner, weight: 2 },
      ],
    });
    const pending = [router.generate(ask)];
    expect([ga.held(), gb.held()]).toEqual([0, 1]); // a tie at 0 in flight: the heavier b
    pending.push(router.generate(ask));
    expect([ga.held(), gb.held()]).toEqual([1, 1]); // b has one in flight, a none
    pending.push(router.generate(ask));
    expect([ga.held(), gb.held()]).toEqual([1, 2]); // a tie at 1: b again
    pending.push(router.generate(ask));
    expect([ga.held(), gb.held()]).toEqual([2, 2]);
    ga.release();
    gb.release();
    await Promise.all(pending);
    // Equal weights, nothing in flight: always the first listed.
    const even = createRouterRunner({ endpoints: endpoints(['a', a], ['b', b], ['c', c]) });
    for (let i = 0; i < 3; i++) await even.generate(ask);
    expect([generations(a).length, generations(b).length, generations(c).length]).toEqual([5, 2, 0]);
    await Promise.all([router.dispose(), even.dispose()]);
  });

  test('latency percentiles cover the last 128 successes, measured on the router clock', async () => {
    const clock = fakeDate();
    let cost = 0;
    // An in-process endpoint that takes `cost` ms of the router's clock (276 requests over HTTP
    // would make this test the slowest of the file for no gain).
    const timed: ModelRunner = {
      ...remote(a),
      generate: async () => {
        clock.advance(cost);
        return { text: 'ok', finishReason: 'stop', usage: undefined };
      },
    };
    const router = createRouterRunner({ endpoints: [{ name: 'a', runner: timed }] });
    const latency = () => router.metrics().endpoints.a?.latencyMs;
    expect(latency()).toBeUndefined();
    for (cost = 1; cost <= 20; cost++) await router.generate(ask);
    // 20 samples, 1..20 ms: the 50th percentile is the 10th, the 95th the 19th.
    expect(latency()).toEqual({ p50: 10, p95: 19 });
    cost = 1_000;
    for (let i = 0; i < 128; i++) await router.generate(ask);
    expect(latency()).toEqual({ p50: 1_000, p95: 1_000 });
    cost = 7;
    for (let i = 0; i < 64; i++) await router.generate(ask);
    // The 64 newest replaced the 64 oldest: half and half.
    expect(latency()).toEqual({ p50: 7, p95: 1_000 });
    for (let i = 0; i < 64; i++) await router.generate(ask);
    expect(latency()).toEqual({ p50: 7, p95: 7 });
    await router.dispose();
  });

  test('non-retryable failures count as failures but never open the circuit', async () => {
    a.setFault({ kind: 'status', status: 400, body: { object: 'error', message: 'bad request', code: 400 } });
    const router = createRouterRunner({
      endpoints: endpoints(['a', a], ['b', b]),
      circuitBreaker: { failureThreshold: 1 },
    });
    for (let i = 0; i < 3; i++)
      await expect(router.generate(ask)).rejects.toMatchObject({ name: 'InvalidArgumentError' });
    expect(router.metrics().endpoints.a).toMatchObject({ requests: 3, failures: 3, successes: 0, state: 'closed' });
    expect(generations(b)).toHaveLength(0);
    await router.dispose();
  });

  test('fallbacks are tried in order, only once every primary is out; the default attempts cover them all', async () => {
    a.setFault({ kind: 'status', status: 503 });
    b.setFault({ kind: 'status', status: 503 });
    const router = createRouterRunner({
      endpoints: endpoints(['a', a]),
      fallback: [remote(b), remote(c)],
      circuitBreaker: { failureThreshold: 1, coolDownMs: 60_000 },
    });
    const answer = await router.generate(ask);
    expect(answer.text.length).toBeGreaterThan(0);
    expect([generations(a).length, generations(b).length, generations(c).length]).toEqual([1, 1, 1]);
    expect(router.metrics().endpoints).toMatchObject({
      a: { requests: 1, failures: 1, state: 'open' },
      'fallback:0': { requests: 1, failures: 1, state: 'open' },
      'fallback:1': { requests: 1, successes: 1, state: 'closed' },
    });
    // Every circuit but the last fallback's is open: the next request goes straight there.
    await router.generate(ask);
    expect([generations(a).length, generations(b).length, generations(c).length]).toEqual([1, 1, 2]);
    c.setFault({ kind: 'status', status: 503 });
    const error = await router.generate(ask).catch((caught: unknown) => caught);
    expect(error).toMatchObject({ name: 'UnavailableError', component: 'router' });
    expect((error as Error).message).toBe(
      `Router generate failed on every endpoint tried (fallback:1: ${(error as Error & { cause: Error }).cause.message}). Check the servers, or add a fallback runner.`,
    );
    // Now nothing admits a request: the error names each endpoint's state.
    await expect(router.generate(ask)).rejects.toThrow(
      'Router generate: no endpoint can take the request (a open, fallback:0 open, fallback:1 open). Wait for the circuits to close or the health checks to pass, or add a fallback runner.',
    );
    await router.dispose();
  });

  test('a request waiting for a slot leaves the queue when its caller aborts', async () => {
    const gate = holding(remote(a));
    const router = createRouterRunner({ endpoints: [{ name: 'a', runner: gate.runner, maxConcurrency: 1 }] });
    const first = router.generate(ask);
    const controller = new AbortController();
    const queued = router.generate({ ...ask, abortSignal: controller.signal });
    expect(router.metrics().queued).toBe(1);
    controller.abort(new Error('user left'));
    const error = await queued.catch((caught: unknown) => caught);
    expect(error).toMatchObject({ name: 'AbortedError', component: 'router', message: 'Router generate was aborted.' });
    expect((error as Error).cause).toMatchObject({ message: 'user left' });
    expect(router.metrics().queued).toBe(0);
    gate.release();
    await first;
    expect(router.metrics().endpoints.a).toMatchObject({ requests: 1, successes: 1, failures: 0, inFlight: 0 });
    await router.dispose();
  });

  test('capabilities: every flag is the intersection; calls the intersection cannot serve are refused', async () => {
    const base = remote(a);
    const plain = (capabilities: Partial<ModelRunner['capabilities']>): ModelRunner => ({
      ...remote(b),
      capabilities: { ...base.capabilities, ...capabilities },
    });
    expect(base.capabilities).toMatchObject({ streaming: true, tools: true, seed: true });
    expect(base.capabilities.structuredOutput.length).toBeGreaterThan(0);
    for (const flag of ['streaming', 'tools', 'seed'] as const) {
      const router = createRouterRunner({
        endpoints: [{ name: 'a', runner: base }],
        fallback: [plain({ [flag]: false })],
      });
      expect(router.capabilities).toEqual({ ...base.capabilities, [flag]: false });
      const same = createRouterRunner({
        endpoints: [
          { name: 'a', runner: base },
          { name: 'b', runner: plain({}) },
        ],
      });
      expect(same.capabilities).toEqual(base.capabilities);
    }
    const limited = createRouterRunner({
      endpoints: [
        { name: 'a', runner: base },
        { name: 'b', runner: plain({ structuredOutput: [], tools: false }) },
      ],
    });
    expect(limited.capabilities.structuredOutput).toEqual([]);
    const schema = z.object({ mood: z.string() });
    await expect(limited.generate({ ...ask, schema })).rejects.toMatchObject({
      name: 'InvalidArgumentError',
      component: 'router',
      issues: [{ path: 'schema', message: 'not every endpoint of this router supports structured output' }],
    });
    const tools = [{ name: 'lookup', parameters: z.object({ q: z.string() }) }];
    await expect(limited.generate({ ...ask, tools })).rejects.toMatchObject({
      issues: [{ path: 'tools', message: 'not every endpoint of this router supports tool calls' }],
    });
    expect(generations(a).length + generations(b).length).toBe(0);
    // The full router serves both.
    const full = createRouterRunner({ endpoints: [{ name: 'a', runner: base }] });
    expect((await full.generate({ ...ask, schema, maxTokens: 32 })).object).toMatchObject({ mood: expect.any(String) });
    await full.dispose();
    await full.dispose();
    await expect(collect(full.stream(ask))).rejects.toMatchObject({
      name: 'ConflictError',
      message: 'Router stream on a disposed router. Create a new router with createRouterRunner.',
    });
  });

  test('describeModel keeps the first endpoint’s extras and adds the endpoint names', async () => {
    const inner = remote(a);
    const described: ModelRunner = {
      ...inner,
      describeModel: async () => ({ provider: 'vllm', model: 'm', extra: { lora: 'x' } }),
    };
    const router = createRouterRunner({
      endpoints: [
        { name: 'one', runner: described },
        { name: 'two', runner: remote(b) },
      ],
      fallback: [remote(c)],
    });
    expect(await router.describeModel()).toEqual({
      provider: 'vllm',
      model: 'm',
      extra: { lora: 'x', router: 'one,two' },
    });
    expect(router).toMatchObject({
      provider: 'router',
      modelId: inner.modelId,
      specificationVersion: 'kumiki.runner.v1',
    });
    await router.dispose();
  });

  test('health probes: describe asks describeModel, generate asks for one token, a probe past timeoutMs fails', async () => {
    const probes: string[] = [];
    const runner = (name: string, describe: () => Promise<unknown>): ModelRunner => {
      const inner = remote(a);
      return {
        ...inner,
        describeModel: async () => {
          probes.push(`${name}:describe`);
          return (await describe()) as never;
        },
        generate: async (options) => {
          probes.push(`${name}:generate`);
          return inner.generate(options);
        },
      };
    };
    const ok = () => Promise.resolve({ provider: 'p', model: 'm' });
    const router = createRouterRunner({
      endpoints: [
        { name: 'good', runner: runner('good', ok) },
        { name: 'refuses', runner: runner('refuses', () => Promise.reject(new Error('down'))) },
        { name: 'hangs', runner: runner('hangs', () => new Promise(() => {})) },
      ],
      healthCheck: { intervalMs: 20, timeoutMs: 20, probe: 'describe' },
    });
    const healthy = () => Object.values(router.metrics().endpoints).map((endpoint) => endpoint.healthy);
    await until(() => healthy().join() === 'true,false,false', 'the refusing and the hanging endpoint are unhealthy');
    expect(probes.some((probe) => probe.endsWith(':generate'))).toBe(false);
    await router.dispose();

    const generating = createRouterRunner({ endpoints: endpoints(['a', a]), healthCheck: { intervalMs: 20 } });
    await until(() => generations(a).length > 0, 'a generate probe reached the server');
    await generating.dispose();
    expect(generations(a)[0]?.body).toMatchObject({ max_tokens: 1, temperature: 0 });
    expect(JSON.stringify(generations(a)[0]?.body)).toContain('ping');
    expect(generating.metrics().endpoints.a?.requests).toBe(0);
  });

  test('a stream the consumer stops early, or the caller aborts, is no failure of the endpoint', async () => {
    const router = createRouterRunner({ endpoints: endpoints(['a', a]), circuitBreaker: { failureThreshold: 1 } });
    for await (const part of router.stream({ ...ask, maxTokens: 20 })) if (part.type === 'text-delta') break;
    expect(router.metrics().endpoints.a).toMatchObject({
      requests: 1,
      successes: 0,
      failures: 0,
      inFlight: 0,
      state: 'closed',
    });
    const controller = new AbortController();
    const error = await (async () => {
      for await (const part of router.stream({ ...ask, maxTokens: 20, abortSignal: controller.signal }))
        if (part.type === 'text-delta') controller.abort();
    })().catch((caught: unknown) => caught);
    expect(error).toMatchObject({ name: 'AbortedError', message: 'Router stream was aborted.' });
    expect(router.metrics().endpoints.a).toMatchObject({
      requests: 2,
      successes: 0,
      failures: 0,
      inFlight: 0,
      state: 'closed',
    });
    // A retryable failure mid-stream counts against the endpoint and opens its circuit.
    a.queueFaults({ kind: 'stream-error', afterTokens: 2 });
    await expect(collect(router.stream({ ...ask, maxTokens: 20 }))).rejects.toBeInstanceOf(Error);
    expect(router.metrics().endpoints.a).toMatchObject({ requests: 3, failures: 1, inFlight: 0 });
    await router.dispose();
  });

  test('a stream past the deadline ends in TimeoutError naming the deadline', async () => {
    a.setFault({ kind: 'delay', ms: 5_000 });
    const router = createRouterRunner({ endpoints: endpoints(['a', a]), deadlineMs: 100 });
    await expect(collect(router.stream(ask))).rejects.toMatchObject({
      name: 'TimeoutError',
      timeoutMs: 100,
      component: 'router',
    });
    expect(router.metrics().endpoints.a).toMatchObject({ failures: 0, inFlight: 0 });
    await router.dispose();
  });
});
