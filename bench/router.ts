/**
 * Router overhead: the same fake vLLM server called through `createOpenAICompatibleRunner` directly and
 * through `createRouterRunner` with that runner as its only endpoint, one request at a time.
 *
 *   npx tsx bench/router.ts
 */
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { createRouterRunner } from '../src/compose/router.js';
import type { GenerateOptions, ModelRunner } from '../src/core/runner.js';
import { createOpenAICompatibleRunner } from '../src/runners/openai-compatible/index.js';
import { startFakeVllm } from '../test/helpers/fake-vllm-server.js';

const REQUESTS = 200;
const ROUNDS = 3;

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1
    ? (sorted[middle] as number)
    : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}

/** Per-request latencies in µs of `count` sequential generate calls. */
async function time(runner: ModelRunner, count: number): Promise<number[]> {
  const latencies: number[] = [];
  for (let i = 0; i < count; i++) {
    const call: GenerateOptions = { prompt: 'Once upon a time', maxTokens: 8, temperature: 0, seed: i };
    const started = performance.now();
    await runner.generate(call);
    latencies.push((performance.now() - started) * 1000);
  }
  return latencies;
}

export async function runRouterBench(): Promise<string> {
  const server = await startFakeVllm();
  try {
    const direct = createOpenAICompatibleRunner({
      baseURL: server.url,
      model: 'fake-vllm',
      flavor: 'vllm',
      retries: 0,
    });
    const router = createRouterRunner({ endpoints: [{ name: 'only', runner: direct }] });
    await time(direct, 20);
    await time(router, 20);
    const directMedians: number[] = [];
    const routerMedians: number[] = [];
    // Alternate the two so that drift in the machine's load hits both alike.
    for (let round = 0; round < ROUNDS; round++) {
      directMedians.push(median(await time(direct, REQUESTS)));
      routerMedians.push(median(await time(router, REQUESTS)));
    }
    await router.dispose();
    const directUs = median(directMedians);
    const routerUs = median(routerMedians);
    const us = (value: number) => `${value.toFixed(0)} µs`;
    return [
      '## Router overhead (`createRouterRunner`)',
      '',
      `${REQUESTS} sequential \`generate\` calls (8 tokens) to one local fake vLLM server over HTTP, ${ROUNDS} rounds ` +
        'alternating direct and routed; the median request of each round, then the median of the rounds. The router ' +
        'has one endpoint, so this is the cost of validating the call, picking the endpoint, the deadline/abort ' +
        'bookkeeping, the circuit breaker and the metrics.',
      '',
      '| path | median per request |',
      '| --- | ---: |',
      `| runner directly | ${us(directUs)} |`,
      `| through the router | ${us(routerUs)} |`,
      `| router overhead | ${us(routerUs - directUs)} |`,
      '',
    ].join('\n');
  } finally {
    await server.close();
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  console.log(await runRouterBench());
}
