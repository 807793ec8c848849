/**
 * Gateway throughput, latency, memory and per-request overhead: autocannon drives POST
 * /v1/chat/completions (non-streaming, 8 tokens) on a gateway served on loopback, in front of the
 * OpenAI-compatible runner talking to the local fake vLLM server. The same runner is then called
 * directly at the same concurrency; the difference of the median latencies is the gateway's cost.
 *
 *   npx tsx bench/gateway.ts            # 30 s per pass
 *   npx tsx bench/gateway.ts --quick    # 5 s per pass
 */
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { createKeyvCache } from '../src/caches/keyv/index.js';
import type { GenerateOptions, ModelRunner } from '../src/core/runner.js';
import { createGateway, type GatewayRateLimit, serveGateway } from '../src/gateway/index.js';
import { createOpenAICompatibleRunner } from '../src/runners/openai-compatible/index.js';
import { startFakeVllm } from '../test/helpers/fake-vllm-server.js';
import { startRedisServer } from '../test/helpers/redis-server.js';

const CONNECTIONS = 50;
const MAX_TOKENS = 8;

/** The part of autocannon's result this bench reads (the package ships no types). */
type AutocannonResult = {
  requests: { average: number; total: number };
  latency: { p50: number; p99: number };
  errors: number;
  timeouts: number;
  non2xx: number;
  '2xx': number;
  statusCodeStats: Record<string, { count: number }>;
};
/** A variable specifier: autocannon ships no type declarations. */
const AUTOCANNON = 'autocannon';
type Autocannon = (options: Record<string, unknown>) => Promise<AutocannonResult>;

type MemorySample = { rss: number; heap: number };
const sample = (): MemorySample => {
  const usage = process.memoryUsage();
  return { rss: usage.rss, heap: usage.heapUsed };
};
/** A full garbage collection, so that "after" shows what is retained rather than what is not yet collected. */
function collectGarbage(): void {
  setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
}
const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(0)} MiB`;
const ms = (value: number) => `${value.toFixed(2)} ms`;

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
}

/** A tiny in-process runner: a fixed 8-token answer with usage, no I/O (isolates the gateway's own cost). */
function tinyRunner(): ModelRunner {
  const text = 'the moon sang to old trees tonight';
  const usage = { promptTokens: 12, completionTokens: MAX_TOKENS };
  return {
    specificationVersion: 'kumiki.runner.v1',
    provider: 'tiny',
    modelId: 'tiny',
    capabilities: { streaming: true, structuredOutput: [], tools: false, seed: true },
    describeModel: async () => ({ provider: 'tiny', model: 'tiny' }),
    generate: async () => ({ text, finishReason: 'stop', usage }),
    async *stream() {
      yield { type: 'text-delta', text };
      yield { type: 'finish', finishReason: 'stop', usage };
    },
  };
}

export type GatewayBenchOptions = { durationSeconds?: number };

export async function runGatewayBench(options: GatewayBenchOptions = {}): Promise<string> {
  const duration = options.durationSeconds ?? 30;
  const { default: autocannon } = (await import(AUTOCANNON)) as { default: Autocannon };
  const vllm = await startFakeVllm();
  const remote = createOpenAICompatibleRunner({ baseURL: vllm.url, model: 'fake-vllm', flavor: 'vllm', retries: 0 });
  const tiny = tinyRunner();
  const redis = await startRedisServer();
  const cache = createKeyvCache({ url: redis.url, namespace: 'bench', strict: true });
  const messages = [{ role: 'user' as const, content: 'Tell me a short story about the moon.' }];
  const body = JSON.stringify({ model: 'm', messages, max_tokens: MAX_TOKENS });

  async function throughGateway(runner: ModelRunner, rateLimit: GatewayRateLimit | undefined, seconds: number) {
    const app = createGateway({ models: { m: runner }, allowAnonymous: true, ...(rateLimit ? { rateLimit } : {}) });
    const served = await serveGateway(app);
    const load = (extra: Record<string, unknown>) =>
      autocannon({
        url: `${served.url}/v1/chat/completions`,
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body,
        ...extra,
      });
    await load({ connections: 10, amount: 1_000 }); // warm-up: connections, JIT
    collectGarbage();
    const before = sample();
    let peak = before;
    const timer = setInterval(() => {
      const now = sample();
      peak = { rss: Math.max(peak.rss, now.rss), heap: Math.max(peak.heap, now.heap) };
    }, 1_000);
    const result = await load({ connections: CONNECTIONS, duration: seconds });
    clearInterval(timer);
    const after = sample();
    peak = { rss: Math.max(peak.rss, after.rss), heap: Math.max(peak.heap, after.heap) };
    await served.close();
    collectGarbage();
    const collected = sample();
    return { result, before, after, peak, collected };
  }

  async function direct(runner: ModelRunner, seconds: number) {
    const latencies: number[] = [];
    const options: GenerateOptions = { messages, maxTokens: MAX_TOKENS };
    const until = performance.now() + seconds * 1000;
    let errors = 0;
    await Promise.all(
      Array.from({ length: CONNECTIONS }, async () => {
        while (performance.now() < until) {
          const start = performance.now();
          try {
            await runner.generate(options);
            latencies.push(performance.now() - start);
          } catch {
            errors++;
          }
          // Let timers and I/O run between calls of an instant runner.
          await new Promise((resolve) => setImmediate(resolve));
        }
      }),
    );
    latencies.sort((a, b) => a - b);
    return { p50: percentile(latencies, 50), p99: percentile(latencies, 99), rps: latencies.length / seconds, errors };
  }

  /** The gateway's own work per request, without sockets: sequential `app.request` calls, median of 3 rounds. */
  async function handlerCost(): Promise<number> {
    const app = createGateway({ models: { m: tiny }, allowAnonymous: true });
    const call = async () => {
      const response = await app.request('/v1/chat/completions', {
        method: 'POST',
        body,
        headers: { 'content-type': 'application/json' },
      });
      await response.text();
    };
    for (let i = 0; i < 2_000; i++) await call();
    const rounds: number[] = [];
    for (let round = 0; round < 3; round++) {
      const start = performance.now();
      for (let i = 0; i < 5_000; i++) await call();
      rounds.push(((performance.now() - start) / 5_000) * 1000);
    }
    return rounds.sort((a, b) => a - b)[1] as number;
  }

  try {
    const handlerUs = await handlerCost();
    const tinyOpen = await throughGateway(tiny, undefined, duration);
    const tinyDirect = await direct(tiny, duration);
    const remoteOpen = await throughGateway(remote, undefined, duration);
    const remoteDirect = await direct(remote, duration);
    const limitedSeconds = Math.max(5, Math.round(duration / 3));
    const limited = await throughGateway(
      tiny,
      { cache, requestsPerMinute: 1_000_000_000, prefix: `bench-${Date.now()}` },
      limitedSeconds,
    );
    const failures = (r: AutocannonResult) => r.errors + r.timeouts + r.non2xx;
    const row = (name: string, r: AutocannonResult) =>
      `| ${name} | ${r.requests.average.toFixed(0)} | ${ms(r.latency.p50)} | ${ms(r.latency.p99)} | ${failures(r)} |`;
    const directRow = (name: string, r: Awaited<ReturnType<typeof direct>>) =>
      `| ${name} | ${r.rps.toFixed(0)} | ${ms(r.p50)} | ${ms(r.p99)} | ${r.errors} |`;
    const codes = (r: AutocannonResult) =>
      JSON.stringify(Object.fromEntries(Object.entries(r.statusCodeStats).map(([k, v]) => [k, v.count])));
    return [
      '### Gateway (`kumiki/gateway`)',
      '',
      `autocannon, ${CONNECTIONS} connections, ${duration} s per pass, POST /v1/chat/completions (non-streaming, ` +
        `max_tokens ${MAX_TOKENS}) to a gateway served with \`serveGateway\` on 127.0.0.1, anonymous, **no rate ` +
        'limit** (except the last row, which counts every request in a real Redis with a limit too high to refuse ' +
        'any). Two runners behind it: a tiny in-process runner (fixed answer, no I/O: isolates the gateway) and the ' +
        'OpenAI-compatible runner calling the local fake vLLM server over HTTP. "directly" calls the same runner ' +
        `in-process from ${CONNECTIONS} concurrent loops for the same time. autocannon, gateway, runner and fake ` +
        'server share one Node process and the machine’s cores with whatever else runs, so read the overhead, not ' +
        'the absolute throughput.',
      '',
      '| path | requests/s | p50 | p99 | errors + non-2xx |',
      '| --- | ---: | ---: | ---: | ---: |',
      directRow('tiny runner, directly', tinyDirect),
      row('tiny runner, through the gateway', tinyOpen.result),
      directRow('fake vLLM runner, directly', remoteDirect),
      row('fake vLLM runner, through the gateway', remoteOpen.result),
      row(`tiny runner, gateway + Redis rate limit (${limitedSeconds} s)`, limited.result),
      '',
      'Per-request gateway overhead (median latency through the gateway − directly, same concurrency): ' +
        `**${ms(tinyOpen.result.latency.p50 - tinyDirect.p50)}** with the tiny runner, ` +
        `**${ms(remoteOpen.result.latency.p50 - remoteDirect.p50)}** with the fake vLLM runner, ` +
        `**${ms(limited.result.latency.p50 - tinyDirect.p50)}** with the tiny runner and the Redis rate limit.`,
      '',
      `The gateway's own work (validation, routing, JSON, metrics, no sockets; sequential \`app.request\` calls to ` +
        `the tiny runner): **${handlerUs.toFixed(0)} µs per request**. At ${CONNECTIONS} connections the latency ` +
        'above is mostly queueing behind the HTTP server and autocannon in the same process.',
      '',
      '| memory, tiny-runner gateway pass (sampled each second) | before (after GC) | end of load | peak | after GC |',
      '| --- | ---: | ---: | ---: | ---: |',
      `| RSS | ${mib(tinyOpen.before.rss)} | ${mib(tinyOpen.after.rss)} | ${mib(tinyOpen.peak.rss)} | ${mib(tinyOpen.collected.rss)} |`,
      `| heap used | ${mib(tinyOpen.before.heap)} | ${mib(tinyOpen.after.heap)} | ${mib(tinyOpen.peak.heap)} | ${mib(tinyOpen.collected.heap)} |`,
      '',
      `Status codes: tiny ${codes(tinyOpen.result)}, fake vLLM ${codes(remoteOpen.result)}, rate-limited pass ` +
        `${codes(limited.result)}.`,
      '',
    ].join('\n');
  } finally {
    await cache.dispose();
    await redis.stop();
    await remote.dispose();
    await vllm.close();
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  console.log(await runGatewayBench(process.argv.includes('--quick') ? { durationSeconds: 5 } : {}));
}
