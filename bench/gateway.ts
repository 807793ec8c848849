/**
 * Gateway throughput, latency, memory and per-request overhead: autocannon drives POST
 * /v1/chat/completions (non-streaming, 8 tokens) on a gateway served on loopback, in front of the
 * OpenAI-compatible runner talking to the local fake vLLM server. The same runner is then called
 * directly at the same concurrency; the difference of the median latencies is the gateway's cost.
 *
 * Then, with the llama.cpp runner on stories260K behind the gateway: the event loop's delay while a
 * 1 MB prompt is handled, short requests while a long generation runs (against idle), and 50
 * connections of mixed lengths for the pass's duration (errors other than 429 must be 0).
 *
 *   npx tsx bench/gateway.ts            # 30 s per pass
 *   npx tsx bench/gateway.ts --quick    # 5 s per pass
 */
import { existsSync } from 'node:fs';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { createKeyvCache } from '../src/caches/keyv/index.js';
import type { GenerateOptions, ModelRunner } from '../src/core/runner.js';
import { createGateway, type GatewayRateLimit } from '../src/gateway/index.js';
import { serveGateway } from '../src/gateway/serve.js';
import { createLlamaCppRunner } from '../src/runners/llama-cpp/index.js';
import { createOpenAICompatibleRunner } from '../src/runners/openai-compatible/index.js';
import { startFakeVllm } from '../test/helpers/fake-vllm-server.js';
import { startRedisServer } from '../test/helpers/redis-server.js';

const CONNECTIONS = 50;
const MAX_TOKENS = 8;
const MODEL = fileURLToPath(new URL('../../shared/models/stories260K.gguf', import.meta.url));
/** About 1 MB (1,033,500 bytes): under the gateway's default body limit of 1 MiB. */
const MEGABYTE_PROMPT = 'Once upon a time there was a little girl named Lily. '.repeat(19_500);

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
    // Slots for every connection: this pass measures the gateway's overhead, not admission control.
    const app = createGateway({
      models: { m: runner },
      admission: { slots: CONNECTIONS },
      allowAnonymous: true,
      ...(rateLimit ? { rateLimit } : {}),
    });
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
    // Last: its models would otherwise weigh on the memory figures above.
    const llama = await llamaPasses(duration);
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
      llama,
    ].join('\n');
  } finally {
    await cache.dispose();
    await redis.stop();
    await remote.dispose();
    await vllm.close();
  }
}

const pct = (sorted: readonly number[], p: number) => percentile(sorted, p);

/** The event loop's delay while `work` runs, sampled every millisecond: p99 and max in ms. */
async function loopDelayDuring(work: () => Promise<unknown>): Promise<{ p99: number; max: number }> {
  const histogram = monitorEventLoopDelay({ resolution: 1 });
  histogram.enable();
  try {
    await work();
  } finally {
    histogram.disable();
  }
  return { p99: histogram.percentile(99) / 1e6, max: histogram.max / 1e6 };
}

type Chat = { model: string; content: string; maxTokens: number; stream?: boolean; caller?: string };

/** One chat request through the served gateway; its status and latency (the whole body read). */
async function chat(url: string, request: Chat): Promise<{ status: number; ms: number }> {
  const start = performance.now();
  const response = await fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${request.caller ?? 'bench'}` },
    body: JSON.stringify({
      model: request.model,
      messages: [{ role: 'user', content: request.content }],
      max_tokens: request.maxTokens,
      temperature: 0,
      stream: request.stream === true,
    }),
  });
  await response.arrayBuffer();
  return { status: response.status, ms: performance.now() - start };
}

/** The llama.cpp passes: event-loop delay during a 1 MB prompt, short requests beside a long one, mixed load. */
async function llamaPasses(seconds: number): Promise<string> {
  if (!existsSync(MODEL))
    throw new Error(`The benchmark model ${MODEL} is missing (../shared/models/stories260K.gguf).`);
  const stories = createLlamaCppRunner({
    modelPath: MODEL,
    threads: 1,
    contextSize: 4096,
    sequences: 2,
    logLevel: 'error',
  });
  // So large that the 1 MB prompt might fit by its size alone: it is counted, in chunks, before it is refused.
  const big = createLlamaCppRunner({ modelPath: MODEL, threads: 1, contextSize: 262_144, logLevel: 'error' });
  const app = createGateway({
    models: { stories, big },
    authenticate: async (request) => ({
      subject: request.headers.get('authorization')?.slice(7) || 'bench',
      tenant: undefined,
      roles: [],
      scopes: [],
      claims: {},
    }),
  });
  const served = await serveGateway(app);
  try {
    while ((await fetch(`${served.url}/readyz`)).status !== 200) await new Promise((r) => setTimeout(r, 50));
    // Event-loop delay while the 1 MB prompt is handled (upload, parse, count, refuse).
    const megabyte: Record<string, { p99: number; max: number; status: number; ms: number }> = {};
    for (const model of ['stories', 'big']) {
      const answers: { status: number; ms: number }[] = [];
      const delay = await loopDelayDuring(async () => {
        for (let i = 0; i < 5; i++)
          answers.push(await chat(served.url, { model, content: MEGABYTE_PROMPT, maxTokens: 8 }));
      });
      const times = answers.map((answer) => answer.ms).sort((a, b) => a - b);
      megabyte[model] = { ...delay, status: answers[0]?.status ?? 0, ms: pct(times, 50) };
    }
    const { model: native } = await big.native();
    const syncStart = performance.now();
    native.tokenize(MEGABYTE_PROMPT);
    const syncTokenizeMs = performance.now() - syncStart;

    // Short requests (4 tokens), one after another: idle, then while another caller streams 3,000 tokens.
    const shortRequests = async (count: number) => {
      const latencies: number[] = [];
      for (let i = 0; i < count; i++) {
        const result = await chat(served.url, { model: 'stories', content: 'The dog', maxTokens: 4, caller: 'short' });
        if (result.status !== 200) throw new Error(`a short request got ${result.status}`);
        latencies.push(result.ms);
      }
      return latencies.sort((a, b) => a - b);
    };
    await shortRequests(5);
    const idle = await shortRequests(40);
    const long = new AbortController();
    const streaming = fetch(`${served.url}/v1/chat/completions`, {
      method: 'POST',
      signal: long.signal,
      headers: { 'content-type': 'application/json', authorization: 'Bearer long' },
      body: JSON.stringify({
        model: 'stories',
        messages: [{ role: 'user', content: 'Once upon a time' }],
        max_tokens: 3000,
        temperature: 0,
        stream: true,
      }),
    }).then((response) => response.arrayBuffer());
    await new Promise((resolve) => setTimeout(resolve, 200));
    const busy = await shortRequests(40);
    long.abort();
    await streaming.catch(() => undefined);

    // 50 connections of mixed lengths: prompts of 1 to 200 words, 4 to 256 tokens, every fourth streamed.
    const statuses = new Map<string, number>();
    const mixedLatencies: number[] = [];
    const until = performance.now() + seconds * 1000;
    const words = 'the little cat sat on a warm mat and dreamed of fish'.split(' ');
    let counter = 0;
    await Promise.all(
      Array.from({ length: CONNECTIONS }, async (_, connection) => {
        while (performance.now() < until) {
          const n = counter++;
          const length = 1 + ((n * 37) % 200);
          const content = Array.from({ length }, (_, i) => words[(n + i) % words.length]).join(' ');
          const maxTokens = [4, 16, 64, 256][n % 4] as number;
          let key: string;
          try {
            const result = await chat(served.url, {
              model: 'stories',
              content,
              maxTokens,
              stream: n % 4 === 3,
              caller: `caller-${connection % 10}`,
            });
            key = String(result.status);
            if (result.status === 200) mixedLatencies.push(result.ms);
          } catch (error) {
            key = `error: ${error instanceof Error ? error.message : String(error)}`;
          }
          statuses.set(key, (statuses.get(key) ?? 0) + 1);
        }
      }),
    );
    mixedLatencies.sort((a, b) => a - b);
    const total = [...statuses.values()].reduce((a, b) => a + b, 0);
    const failures = [...statuses.entries()]
      .filter(([status]) => status !== '200' && status !== '429')
      .reduce((sum, [, count]) => sum + count, 0);
    const ratio = pct(busy, 99) / pct(idle, 99);
    return [
      '#### Serving llama.cpp: a free event loop, fair slots, mixed load',
      '',
      'The llama.cpp runner on stories260K (threads 1 per context) behind the gateway on 127.0.0.1, client in the ' +
        'same process. **Event-loop delay** (`monitorEventLoopDelay`, 1 ms resolution) while a ~1 MB chat prompt ' +
        '(1,033,500 bytes, under the 1 MiB body limit; 5 requests one after another) is uploaded, parsed, counted and refused with 400 ' +
        '`context_length_exceeded`: with a 4,096-token context it is refused by its size alone; with a 262,144-token ' +
        'context (large enough that it might fit) it is tokenized in chunks of 16,384 characters with a turn of the ' +
        'event loop between them until the count passes the limit.',
      '',
      '| 1 MB prompt | answer | median time to answer | event-loop delay p99 | max |',
      '| --- | ---: | ---: | ---: | ---: |',
      ...Object.entries(megabyte).map(
        ([model, m]) =>
          `| context ${model === 'big' ? '262,144' : '4,096'} tokens | ${m.status} | ${ms(m.ms)} | ${ms(m.p99)} | ${ms(m.max)} |`,
      ),
      '',
      `For comparison, one synchronous \`tokenize\` of the same text (what node-llama-cpp did, again and again, when it ` +
        `shifted the context of a prompt that did not fit) holds the event loop **${ms(syncTokenizeMs)}**.`,
      '',
      `**Short requests while a long generation runs** (goal: p99 ≤ 3× idle): 40 requests of 4 tokens, one after ` +
        `another, idle and then while another caller streams 3,000 tokens (greedy "Once upon a time"), 2 slots ` +
        `(\`sequences: 2\`): idle p50 ${ms(pct(idle, 50))}, p99 ${ms(pct(idle, 99))}; beside the long generation ` +
        `p50 ${ms(pct(busy, 50))}, p99 ${ms(pct(busy, 99))} — **${ratio.toFixed(2)}×** idle at p99.`,
      '',
      `**${CONNECTIONS} connections of mixed lengths for ${seconds} s** (prompts of 1–200 words, max_tokens 4, 16, 64 ` +
        `or 256, every fourth streamed, 10 callers, 2 slots, queue of 64, queue timeout 30 s): ${total} requests, ` +
        `statuses ${JSON.stringify(Object.fromEntries(statuses))}; **${failures} errors other than 429**; p50 ` +
        `${ms(pct(mixedLatencies, 50))}, p99 ${ms(pct(mixedLatencies, 99))} for the answered ones (queueing included).`,
      '',
    ].join('\n');
  } finally {
    await served.close();
    await stories.dispose();
    await big.dispose();
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  console.log(await runGatewayBench(process.argv.includes('--quick') ? { durationSeconds: 5 } : {}));
}
