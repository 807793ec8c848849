/**
 * Generation throughput of the llama.cpp runner on the stories260K GGUF (../shared/models), against
 * node-llama-cpp called directly on the same loaded model, with the same settings, alternating in one run.
 *
 *   npx tsx bench/llama-cpp-runner.ts
 */
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { LlamaCompletion } from 'node-llama-cpp';
import { createLlamaCppRunner } from '../src/runners/llama-cpp/index.js';

const MODEL = fileURLToPath(new URL('../../shared/models/stories260K.gguf', import.meta.url));
const CONTEXT_SIZE = 512;
const PROMPT = 'Once upon a time';
const SEED = 42;
const TEMPERATURE = 0.8;

type Sample = { tokens: number; ms: number };

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[middle] as number)
    : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
};

/** Generates with each contender in turn, `rounds` times, and returns a markdown section. */
export async function runLlamaCppRunnerBench(options: { rounds?: number; maxTokens?: number } = {}): Promise<string> {
  if (!existsSync(MODEL))
    throw new Error(`The benchmark model ${MODEL} is missing (../shared/models/stories260K.gguf).`);
  const rounds = options.rounds ?? 9;
  const maxTokens = options.maxTokens ?? 200;
  const runner = createLlamaCppRunner({ modelPath: MODEL, threads: 1, contextSize: CONTEXT_SIZE, logLevel: 'error' });
  const { model } = await runner.native();
  // node-llama-cpp alone: its own context with the same settings, on the model the runner loaded.
  const context = await model.createContext({ contextSize: CONTEXT_SIZE, sequences: 1, threads: 1 });
  const sequence = context.getSequence();
  const completion = new LlamaCompletion({ contextSequence: sequence });
  const settings = { maxTokens, temperature: TEMPERATURE, seed: SEED };

  const contenders: { name: string; run: () => Promise<number> }[] = [
    {
      name: 'kumiki `runner.generate`',
      run: async () => (await runner.generate({ prompt: PROMPT, ...settings })).usage?.completionTokens ?? 0,
    },
    {
      name: 'kumiki `runner.stream`',
      run: async () => {
        let tokens = 0;
        for await (const part of runner.stream({ prompt: PROMPT, ...settings }))
          if (part.type === 'finish') tokens = part.usage?.completionTokens ?? 0;
        return tokens;
      },
    },
    {
      name: 'node-llama-cpp `LlamaCompletion` directly',
      run: async () => {
        const before = sequence.tokenMeter.getState();
        await completion.generateCompletionWithMeta(PROMPT, settings);
        return sequence.tokenMeter.diff(before).usedOutputTokens;
      },
    },
  ];
  const samples = new Map<string, Sample[]>(contenders.map((contender) => [contender.name, []]));
  try {
    for (const contender of contenders) await contender.run(); // warm-up
    for (let round = 0; round < rounds; round++) {
      // Alternate the order so that no contender always runs first.
      const order = round % 2 === 0 ? contenders : [...contenders].reverse();
      for (const contender of order) {
        const started = performance.now();
        const tokens = await contender.run();
        samples.get(contender.name)?.push({ tokens, ms: performance.now() - started });
      }
    }
  } finally {
    completion.dispose();
    await context.dispose();
    await runner.dispose();
  }
  const rate = (name: string) => median((samples.get(name) ?? []).map((sample) => (sample.tokens / sample.ms) * 1000));
  const direct = rate('node-llama-cpp `LlamaCompletion` directly');
  const lines = contenders.map((contender) => {
    const list = samples.get(contender.name) ?? [];
    const tokensPerSecond = rate(contender.name);
    return `| ${contender.name} | ${median(list.map((sample) => sample.tokens))} | ${median(list.map((sample) => sample.ms)).toFixed(1)} | ${tokensPerSecond.toFixed(0)} | ${((tokensPerSecond / direct) * 100).toFixed(1)}% |`;
  });
  return [
    '## llama.cpp generation',
    '',
    `stories260K.gguf (../shared/models), prompt "${PROMPT}", maxTokens ${maxTokens}, temperature ${TEMPERATURE}, ` +
      `seed ${SEED}, contextSize ${CONTEXT_SIZE}, threads 1, CPU only, ${availableParallelism()} cores. One model in memory, ` +
      `each contender on its own context; ${rounds} rounds after a warm-up, contenders alternating in order; medians. ` +
      'The issue bar: the runner at 95% or more of node-llama-cpp called directly.',
    '',
    '| contender | completion tokens | ms per call | tokens/s | vs direct |',
    '|---|---:|---:|---:|---:|',
    ...lines,
    '',
  ].join('\n');
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  console.log(await runLlamaCppRunnerBench());
}
