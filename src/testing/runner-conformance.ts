import * as z from 'zod';
import { type GenerateOptions, type ModelRunner, modelFingerprint, type StreamPart } from '../core/runner.js';
import { parseArgument } from '../core/validate.js';
import { check, equal, rejectsWith } from './assert.js';
import type { TestFunction } from './store-conformance.js';

export type RunnerConformanceOptions = {
  /** Prefix of the test names, default `runner conformance`. */
  name?: string;
  /** The prompt used throughout; pick one the model continues with several words. */
  prompt?: string;
  /** Token budget of ordinary calls; default 24. */
  maxTokens?: number;
  /** Token budget of structured calls; default 96. */
  structuredMaxTokens?: number;
  /** Per-test timeout passed to the runner, default 120 s. */
  timeoutMs?: number;
};

type RunnerFactory = () => ModelRunner | Promise<ModelRunner>;

const optionsSchema = z
  .object({
    name: z.string().min(1).optional(),
    prompt: z.string().min(1).optional(),
    maxTokens: z.number().int().min(4).optional(),
    structuredMaxTokens: z.number().int().min(16).optional(),
    timeoutMs: z.number().int().positive().optional(),
  })
  .strict();

const FINISH_REASONS = ['stop', 'length', 'tool-calls', 'content-filter', 'aborted', 'error', 'other'];

/** A schema small models can satisfy under a grammar: an enum and a bounded integer. */
const ANSWER = z.object({ mood: z.enum(['happy', 'sad']), count: z.number().int().min(0).max(9) }).strict();

async function collect(stream: AsyncIterable<StreamPart>): Promise<StreamPart[]> {
  const parts: StreamPart[] = [];
  for await (const part of stream) parts.push(part);
  return parts;
}

/**
 * Registers the ModelRunner conformance suite: metadata, generation over a prompt and over chat
 * messages, usage, the token limit, stop sequences, seeds, streaming that matches generation,
 * structured output validated against a zod schema, abort (before and during a stream),
 * concurrent requests, and typed errors for bad input. Properties hold for any real model, however
 * small: no test depends on the meaning of the text.
 */
export function runnerConformance(
  test: TestFunction,
  factory: RunnerFactory,
  options: RunnerConformanceOptions = {},
): void {
  parseArgument(z.function(), test, "test (the runner's test function, e.g. vitest's `test`)");
  parseArgument(z.function(), factory, 'factory (a function returning a ModelRunner)');
  parseArgument(optionsSchema, options, 'runnerConformance options');
  const prefix = options.name ?? 'runner conformance';
  const prompt = options.prompt ?? 'Once upon a time';
  const maxTokens = options.maxTokens ?? 24;
  const t = (name: string, fn: (runner: ModelRunner) => Promise<void>) =>
    test(
      `${prefix}: ${name}`,
      async () => {
        const runner = await factory();
        try {
          await fn(runner);
        } finally {
          await runner.dispose?.();
        }
      },
      options.timeoutMs ?? 120_000,
    );
  const base: GenerateOptions = { prompt, maxTokens, temperature: 0.8, seed: 42 };

  t('describes itself', async (runner) => {
    equal(runner.specificationVersion, 'kumiki.runner.v1', 'specificationVersion');
    check(runner.provider.length > 0 && runner.modelId.length > 0, 'provider and modelId are set');
    const description = await runner.describeModel();
    equal(
      modelFingerprint(await runner.describeModel()),
      modelFingerprint(description),
      'the model fingerprint is stable',
    );
  });

  t('generates text from a prompt and from messages, with usage and a finish reason', async (runner) => {
    const fromPrompt = await runner.generate(base);
    check(fromPrompt.text.trim().length > 0, 'a prompt gives non-empty text');
    check(FINISH_REASONS.includes(fromPrompt.finishReason), `finish reason ${fromPrompt.finishReason} is known`);
    check(fromPrompt.usage !== undefined, 'usage is reported');
    check((fromPrompt.usage?.promptTokens ?? 0) > 0, 'prompt tokens are counted');
    check((fromPrompt.usage?.completionTokens ?? 0) > 0, 'completion tokens are counted');
    check((fromPrompt.usage?.completionTokens ?? 0) <= maxTokens, 'completion tokens stay within maxTokens');
    const fromMessages = await runner.generate({
      messages: [
        { role: 'system', content: 'You tell short stories.' },
        { role: 'user', content: prompt },
      ],
      maxTokens,
      seed: 7,
    });
    check(fromMessages.text.trim().length > 0, 'messages give non-empty text');
  });

  t('honours the token limit', async (runner) => {
    const result = await runner.generate({ ...base, maxTokens: 3 });
    check(
      (result.usage?.completionTokens ?? 0) <= 3,
      `at most 3 completion tokens, got ${result.usage?.completionTokens}`,
    );
    check(
      ['length', 'stop'].includes(result.finishReason),
      `finish reason is length or stop, got ${result.finishReason}`,
    );
  });

  t('honours stop sequences', async (runner) => {
    const free = await runner.generate({ ...base, temperature: 0 });
    const words = free.text.trim().split(/\s+/);
    const stop = words.length >= 3 ? words[2] : undefined;
    if (stop === undefined || !runner.capabilities.seed) {
      const result = await runner.generate({ ...base, stop: ['e'] });
      check(!result.text.includes('e'), 'the text stops before the stop sequence');
      return;
    }
    const stopped = await runner.generate({ ...base, temperature: 0, stop: [stop] });
    check(!stopped.text.includes(stop), `the text stops before "${stop}"`);
    check(free.text.startsWith(stopped.text.trimEnd()), 'the stopped text is a prefix of the free text');
    equal(stopped.finishReason, 'stop', 'a stop sequence finishes with reason stop');
  });

  t('the same seed gives the same text', async (runner) => {
    if (!runner.capabilities.seed) return;
    const first = await runner.generate(base);
    const second = await runner.generate(base);
    equal(second.text, first.text, 'two calls with seed 42');
  });

  t('streams the same text it generates', async (runner) => {
    if (!runner.capabilities.streaming) return;
    const parts = await collect(runner.stream(base));
    const finish = parts.at(-1);
    check(finish?.type === 'finish', 'the stream ends with a finish part');
    check(
      parts.slice(0, -1).every((part) => part.type !== 'finish'),
      'only one finish part',
    );
    const text = parts.map((part) => (part.type === 'text-delta' ? part.text : '')).join('');
    check(text.length > 0, 'the stream carries text');
    check(finish.type === 'finish' && finish.usage !== undefined, 'the finish part carries usage');
    if (runner.capabilities.seed)
      equal(text, (await runner.generate(base)).text, 'stream and generate agree under one seed');
  });

  t('structured output returns a validated object and says how', async (runner) => {
    const modes = runner.capabilities.structuredOutput;
    if (modes.length === 0) {
      await rejectsWith(
        () => runner.generate({ ...base, schema: ANSWER }),
        'InvalidArgumentError',
        'a runner without structured output refuses a schema',
      );
      return;
    }
    const result = await runner.generate({
      messages: [{ role: 'user', content: 'How does the cat feel, and how many fish did it eat? Answer in JSON.' }],
      schema: ANSWER,
      maxTokens: options.structuredMaxTokens ?? 96,
      seed: 3,
    });
    check(ANSWER.safeParse(result.object).success, `object matches the schema: ${JSON.stringify(result.object)}`);
    check(
      result.structuredOutput !== undefined && modes.includes(result.structuredOutput),
      `mode ${result.structuredOutput} is declared`,
    );
    const fromJsonSchema = await runner.generate({
      prompt: 'The answer as JSON:',
      schema: { jsonSchema: z.toJSONSchema(ANSWER) as Record<string, unknown>, name: 'answer' },
      maxTokens: options.structuredMaxTokens ?? 96,
      seed: 4,
    });
    check(ANSWER.safeParse(fromJsonSchema.object).success, 'a JSON Schema works as well');
  });

  t('abort before and during generation', async (runner) => {
    const controller = new AbortController();
    controller.abort();
    await rejectsWith(
      () => runner.generate({ ...base, abortSignal: controller.signal }),
      'AbortedError',
      'generate with an aborted signal',
    );
    if (!runner.capabilities.streaming) return;
    const during = new AbortController();
    let deltas = 0;
    let error: unknown;
    try {
      for await (const part of runner.stream({
        ...base,
        maxTokens: 400,
        temperature: 0.8,
        abortSignal: during.signal,
      })) {
        if (part.type === 'text-delta') deltas++;
        if (deltas === 2) during.abort();
        if (part.type === 'finish') {
          equal(part.finishReason, 'aborted', 'a stream that finishes after an abort says aborted');
        }
      }
    } catch (caught) {
      error = caught;
    }
    check(
      error === undefined || (error as Error).name === 'AbortedError',
      `an aborted stream ends with AbortedError, got ${String(error)}`,
    );
    check(deltas <= 8, `the stream stops within a few tokens of the abort (saw ${deltas} deltas)`);
  });

  t('concurrent requests all complete correctly', async (runner) => {
    const seeds = [1, 2, 3, 4];
    const together = await Promise.all(seeds.map((seed) => runner.generate({ ...base, seed })));
    for (const result of together) check(result.text.trim().length > 0, 'every concurrent request gives text');
    if (!runner.capabilities.seed) return;
    for (const [i, seed] of seeds.entries()) {
      equal(
        (await runner.generate({ ...base, seed })).text,
        together[i]?.text,
        `seed ${seed} alone equals seed ${seed} in parallel`,
      );
    }
  });

  t('rejects bad input with typed errors', async (runner) => {
    await rejectsWith(() => runner.generate({ maxTokens: 5 }), 'InvalidArgumentError', 'neither prompt nor messages');
    await rejectsWith(() => runner.generate({ prompt, maxTokens: 0 }), 'InvalidArgumentError', 'maxTokens 0');
    await rejectsWith(
      () => runner.generate({ prompt, temperature: -1 }),
      'InvalidArgumentError',
      'negative temperature',
    );
    await rejectsWith(
      () => runner.generate({ messages: [{ role: 'wizard' as 'user', content: 'x' }] }),
      'InvalidArgumentError',
      'an unknown role',
    );
  });
}
