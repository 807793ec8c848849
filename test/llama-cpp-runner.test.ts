import { existsSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';
import { z } from 'zod';
import { createLlamaCppEmbedder } from '../src/embedders/llama-cpp/index.js';
import { grammarSchema } from '../src/runners/llama-cpp/grammar-schema.js';
import {
  createLlamaCppRunner,
  describeLlamaModels,
  type LlamaCppRunnerOptions,
} from '../src/runners/llama-cpp/index.js';
import { runnerConformance } from '../src/testing/index.js';

const MODEL = fileURLToPath(new URL('../../shared/models/stories260K.gguf', import.meta.url));
/** The registry keys models by their real path (symlinks resolved), as ../shared may itself be a link. */
const REAL_MODEL = existsSync(MODEL) ? realpathSync(MODEL) : MODEL;

/** The real GGUF from ../shared; a clear failure naming the path when it is missing. */
function modelPath(): string {
  if (!existsSync(MODEL)) {
    throw new Error(`The test model ${MODEL} is missing: these tests need ../shared/models/stories260K.gguf.`);
  }
  return MODEL;
}

/** threads: 1 always (the machine has 2 cores); llama.cpp's warnings about this tiny model silenced. */
const runner = (options: Partial<LlamaCppRunnerOptions> = {}) =>
  createLlamaCppRunner({ modelPath: modelPath(), threads: 1, contextSize: 512, logLevel: 'error', ...options });

const usersOf = (path: string) => describeLlamaModels().filter((model) => model.modelPath === path);

// Four sequences so that the conformance suite's concurrent requests really run side by side.
runnerConformance(test, () => runner({ sequences: 4 }), { name: 'llama.cpp runner' });

describe('llama.cpp runner', () => {
  test('4 concurrent requests on 4 sequences equal their sequential results, for prompts and chats', async () => {
    const parallel = runner({ sequences: 4 });
    const sequential = runner({ sequences: 1 });
    try {
      const calls = [
        { prompt: 'Once upon a time', seed: 1 },
        { prompt: 'The dog ran', seed: 2 },
        { messages: [{ role: 'user' as const, content: 'Tell me about a cat.' }], seed: 3 },
        { messages: [{ role: 'user' as const, content: 'Once upon a time' }], seed: 4 },
      ].map((call) => ({ ...call, maxTokens: 40, temperature: 0.9 }));
      const together = await Promise.all(calls.map((call) => parallel.generate(call)));
      const alone = [];
      for (const call of calls) alone.push(await sequential.generate(call));
      expect(together.map((result) => result.text)).toEqual(alone.map((result) => result.text));
      expect(new Set(together.map((result) => result.text)).size).toBe(4);
      for (const result of together) {
        expect(result.text.length).toBeGreaterThan(0);
        expect(result.usage?.completionTokens).toBeGreaterThan(0);
      }
      // 4 requests on 1 sequence: the extra ones wait in line, and still equal the others.
      const queued = await Promise.all(calls.map((call) => sequential.generate(call)));
      expect(queued.map((result) => result.text)).toEqual(alone.map((result) => result.text));
    } finally {
      await Promise.all([parallel.dispose(), sequential.dispose()]);
    }
  });

  test('maxTokens gives finish reason length and exact usage; stop sequences are cut out', async () => {
    const model = runner();
    try {
      const limited = await model.generate({ prompt: 'Once upon a time', maxTokens: 5, temperature: 0 });
      expect(limited.finishReason).toBe('length');
      expect(limited.usage?.completionTokens).toBe(5);
      const { model: native } = await model.native();
      // BOS plus the prompt's tokens, as LlamaCompletion evaluates them.
      expect(limited.usage?.promptTokens).toBe(
        1 + native.tokenize('Once upon a time', false, 'trimLeadingSpace').length,
      );
      const free = await model.generate({ prompt: 'Once upon a time', maxTokens: 24, temperature: 0 });
      const stop = free.text.split(' ').filter(Boolean)[3] as string;
      const stopped = await model.generate({ prompt: 'Once upon a time', maxTokens: 24, temperature: 0, stop: [stop] });
      expect(stopped.finishReason).toBe('stop');
      expect(stopped.text).not.toContain(stop);
      expect(free.text.startsWith(stopped.text)).toBe(true);
    } finally {
      await model.dispose();
    }
  });

  test('abort ends a long generation within a few tokens, and the sequence serves the next request', async () => {
    const model = runner({ contextSize: 2048 });
    try {
      const controller = new AbortController();
      let deltas = 0;
      const pending = model.generate({
        prompt: 'Once upon a time',
        maxTokens: 2000,
        seed: 1,
        abortSignal: controller.signal,
      });
      // With seed 1 this runs all 2000 tokens (about 10 s at one thread); abort while it runs.
      await new Promise((resolve) => setTimeout(resolve, 20));
      controller.abort();
      await expect(pending).rejects.toMatchObject({ name: 'AbortedError' });

      const during = new AbortController();
      let error: unknown;
      try {
        for await (const part of model.stream({
          prompt: 'Once upon a time',
          maxTokens: 2000,
          abortSignal: during.signal,
        })) {
          if (part.type === 'text-delta') deltas++;
          if (deltas === 3) during.abort();
          expect(part.type).not.toBe('finish');
        }
      } catch (caught) {
        error = caught;
      }
      expect(error).toMatchObject({ name: 'AbortedError' });
      expect(deltas).toBeLessThanOrEqual(8);
      const after = await model.generate({ prompt: 'Once upon a time', maxTokens: 4 });
      expect(after.usage?.completionTokens).toBeGreaterThan(0);
    } finally {
      await model.dispose();
    }
  });

  test('a consumer that stops reading a stream stops the generation', async () => {
    const model = runner({ sequences: 1, contextSize: 2048 });
    try {
      for await (const part of model.stream({ prompt: 'Once upon a time', maxTokens: 2000 })) {
        expect(part.type).toBe('text-delta');
        break;
      }
      // With one sequence, this only runs once the abandoned generation has let it go.
      const next = await model.generate({ prompt: 'Once upon a time', maxTokens: 4 });
      expect(next.finishReason).toBe('length');
    } finally {
      await model.dispose();
    }
  });

  test('grammar-constrained output parses and validates against a zod schema, over chats and prompts', async () => {
    const model = runner();
    const Story = z
      .object({
        title: z.string().max(40),
        mood: z.enum(['happy', 'sad', 'calm']),
        characters: z.array(z.string().max(20)).max(3),
        age: z.number().int().min(3).max(12),
      })
      .strict();
    try {
      for (const seed of [1, 2, 3]) {
        const result = await model.generate({
          messages: [{ role: 'user', content: 'Describe a story as JSON.' }],
          schema: Story,
          maxTokens: 200,
          seed,
        });
        expect(result.structuredOutput).toBe('grammar');
        expect(Story.parse(JSON.parse(result.text))).toEqual(result.object);
      }
      const parts = [];
      for await (const part of model.stream({ prompt: 'JSON:', schema: Story, maxTokens: 200, seed: 5 }))
        parts.push(part);
      const finish = parts.at(-1);
      expect(finish).toMatchObject({ type: 'finish', structuredOutput: 'grammar' });
      const text = parts.map((part) => (part.type === 'text-delta' ? part.text : '')).join('');
      expect(Story.parse(JSON.parse(text))).toEqual(finish?.type === 'finish' ? finish.object : undefined);
    } finally {
      await model.dispose();
    }
  });

  test('a grammar turns bounded integers into enums and leaves the rest alone', () => {
    expect(
      grammarSchema({
        $schema: 'https://json-schema.org/draft/2020-12/schema',
        type: 'object',
        properties: {
          n: { type: 'integer', minimum: 0, exclusiveMaximum: 3 },
          big: { type: 'integer', minimum: 0, maximum: 1000 },
          list: { type: 'array', items: { type: 'integer', minimum: 1, maximum: 2 } },
        },
      }),
    ).toEqual({
      type: 'object',
      properties: {
        n: { enum: [0, 1, 2] },
        big: { type: 'integer', minimum: 0, maximum: 1000 },
        list: { type: 'array', items: { enum: [1, 2] } },
      },
    });
  });

  test('a schema the grammar cannot enforce fails with InvalidArgumentError after bounded retries, never silently', async () => {
    const model = runner();
    try {
      // The grammar enforces the length but not the pattern; this tiny model never writes 64 hex digits.
      const schema = z
        .object({
          hash: z
            .string()
            .length(64)
            .regex(/^[0-9a-f]{64}$/),
        })
        .strict();
      const error = await model.generate({ prompt: 'JSON:', schema, maxTokens: 200, seed: 1 }).then(
        () => undefined,
        (caught: unknown) => caught,
      );
      expect(error).toMatchObject({ name: 'InvalidArgumentError', message: expect.stringMatching(/hash/) });
      expect((error as Error).message).toMatch(/in 3 grammar-constrained attempt/);
    } finally {
      await model.dispose();
    }
  });

  test('an answer cut at maxTokens before it matches the schema: finish reason length, no object, a warning', async () => {
    const model = runner();
    try {
      const schema = z.object({ story: z.string() }).strict();
      const result = await model.generate({ prompt: 'JSON:', schema, maxTokens: 12, seed: 1 });
      expect(result.finishReason).toBe('length');
      expect(result.object).toBeUndefined();
      expect(result.text.startsWith('{')).toBe(true);
      expect(result.usage?.completionTokens).toBe(12);
      expect(result.warnings?.join(' ')).toMatch(/cut off at maxTokens \(12\)/);
    } finally {
      await model.dispose();
    }
  });

  test('{ type: "object" } (json_object) gives a JSON object with members, not only {}', async () => {
    const model = runner();
    try {
      const result = await model.generate({
        messages: [{ role: 'user', content: 'Describe a cat as a JSON object' }],
        schema: { jsonSchema: { type: 'object' } },
        maxTokens: 200,
        temperature: 0.8,
        seed: 1,
      });
      expect(result.finishReason).toBe('stop');
      const parsed = JSON.parse(result.text) as Record<string, unknown>;
      expect(Object.keys(parsed).length).toBeGreaterThan(0);
      expect(result.object).toEqual(parsed);
    } finally {
      await model.dispose();
    }
  });

  test('tool calls are refused, naming why; tool history and toolChoice "none" are accepted', async () => {
    const model = runner();
    const tools = [{ name: 'lookup', parameters: z.object({ q: z.string() }) }];
    try {
      await expect(model.generate({ prompt: 'x', tools })).rejects.toMatchObject({
        name: 'InvalidArgumentError',
        message: /does not call tools/,
      });
      await expect(model.generate({ prompt: 'x', toolChoice: 'required' })).rejects.toMatchObject({
        name: 'InvalidArgumentError',
      });
      const history = await model.generate({
        messages: [
          { role: 'user', content: 'Look up cats.' },
          { role: 'assistant', content: '', toolCalls: [{ id: 'call_1', name: 'lookup', arguments: { q: 'cats' } }] },
          { role: 'tool', content: '{"cats":3}', toolCallId: 'call_1' },
        ],
        tools,
        toolChoice: 'none',
        maxTokens: 4,
      });
      expect(history.usage?.completionTokens).toBeGreaterThan(0);
      expect(history.toolCalls).toBeUndefined();
      expect(model.capabilities.tools).toBe(false);
    } finally {
      await model.dispose();
    }
  });

  test('a prompt and maxTokens over the context → ContextLengthExceededError in OpenAI wording; the default budget shrinks to fit', async () => {
    const model = runner();
    try {
      const { model: native } = await model.native();
      const prompt = 'Once upon a time there was a cat.';
      const promptTokens = 1 + native.tokenize(prompt, false, 'trimLeadingSpace').length;
      const over = await model.generate({ prompt, maxTokens: 512 }).catch((error: unknown) => error);
      expect(over).toMatchObject({
        name: 'ContextLengthExceededError',
        contextSize: 512,
        promptTokens,
        maxTokens: 512,
        exact: true,
      });
      expect((over as Error).message).toBe(
        `This model's maximum context length is 512 tokens. However, you requested ${promptTokens + 512} tokens (${promptTokens} in the messages, 512 in the completion). Please reduce the length of the messages or the completion (maxTokens).`,
      );
      const fits = await model.generate({ prompt, maxTokens: 512 - promptTokens, temperature: 0 });
      expect(fits.usage?.promptTokens).toBe(promptTokens);
      // Without maxTokens, a long prompt still gets an answer: the default budget is what is left.
      const long = 'the cat sat on the mat. '.repeat(45);
      const longTokens = 1 + native.tokenize(long, false, 'trimLeadingSpace').length;
      expect(512 - longTokens).toBeLessThan(256);
      const rest = await model.generate({ prompt: long, temperature: 0 });
      expect(rest.usage?.promptTokens).toBe(longTokens);
      expect(rest.usage?.completionTokens).toBeLessThanOrEqual(512 - longTokens);
    } finally {
      await model.dispose();
    }
  });

  test('a 1 MB prompt is refused without tokenizing it; a long one is counted in chunks, never in one call', async () => {
    const small = runner();
    const large = runner({ contextSize: 65_536 });
    const { model: native } = await small.native();
    const original = native.tokenize.bind(native);
    const lengths: number[] = [];
    native.tokenize = ((text: string, ...rest: never[]) => {
      lengths.push(text.length);
      return original(text, ...rest);
    }) as typeof native.tokenize;
    try {
      const megabyte = 'Once upon a time there was a little girl named Lily. '.repeat(20_000);
      const refused = await small
        .generate({ messages: [{ role: 'user', content: megabyte }], maxTokens: 8 })
        .catch((error: unknown) => error);
      expect(refused).toMatchObject({ name: 'ContextLengthExceededError', exact: false, contextSize: 512 });
      expect((refused as Error).message).toMatch(/you requested at least \d+ tokens/);
      expect(Math.max(0, ...lengths)).toBeLessThan(1_000);
      // 300 kB might fit 65,536 tokens by its size alone: counted in chunks, then refused with a lower bound.
      lengths.length = 0;
      const long = megabyte.slice(0, 300_000);
      const counted = await large.generate({ prompt: long, maxTokens: 8 }).catch((error: unknown) => error);
      expect(counted).toMatchObject({ name: 'ContextLengthExceededError', contextSize: 65_536, exact: false });
      expect(lengths.length).toBeGreaterThan(4);
      expect(Math.max(...lengths)).toBeLessThanOrEqual(16_384);
      expect((counted as { promptTokens: number }).promptTokens).toBeGreaterThan(65_536 - 8);
      expect((counted as { promptTokens: number }).promptTokens).toBeLessThanOrEqual(
        original(long, false, 'trimLeadingSpace').length + 1,
      );
    } finally {
      native.tokenize = original;
      await Promise.all([small.dispose(), large.dispose()]);
    }
  });

  test('contextOverflow "drop-oldest-messages" keeps system and last messages and reports what it dropped', async () => {
    const model = runner({ contextOverflow: 'drop-oldest-messages' });
    try {
      const turn = 'the cat sat on the mat and the dog ran home. '.repeat(6);
      const messages = [
        { role: 'system' as const, content: 'You tell stories.' },
        ...Array.from({ length: 30 }, (_, i) => ({
          role: i % 2 === 0 ? ('user' as const) : ('assistant' as const),
          content: turn,
        })),
        { role: 'user' as const, content: 'Once upon a time' },
      ];
      const result = await model.generate({ messages, maxTokens: 16, temperature: 0 });
      expect(result.warnings?.[0]).toMatch(
        /^dropped the \d+ oldest of 32 messages so that the chat fits the context of 512 tokens with 16 for the answer$/,
      );
      expect((result.usage?.promptTokens ?? 0) + 16).toBeLessThanOrEqual(512);
      const strict = runner();
      try {
        await expect(strict.generate({ messages, maxTokens: 16 })).rejects.toMatchObject({
          name: 'ContextLengthExceededError',
        });
      } finally {
        await strict.dispose();
      }
    } finally {
      await model.dispose();
    }
  });

  test('shares the model with a llama.cpp embedder on the same file; describes it with the same revision', async () => {
    const model = runner();
    const embedder = createLlamaCppEmbedder({ modelPath: modelPath(), threads: 1, logLevel: 'error' });
    try {
      await Promise.all([
        model.generate({ prompt: 'Once upon a time', maxTokens: 3 }),
        embedder.embed({ values: ['a cat'], role: 'document' }),
      ]);
      expect(usersOf(REAL_MODEL)).toEqual([
        { modelPath: REAL_MODEL, gpu: false, gpuLayers: 0, logLevel: 'error', users: 2, state: 'ready' },
      ]);
      expect((await model.native()).model).toBe((await embedder.native()).model);
      const description = await model.describeModel();
      expect(description).toMatchObject({ provider: 'llama-cpp', model: 'stories260K.gguf' });
      expect(description.revision).toBe((await embedder.space()).revision);
      expect(description.revision).toMatch(/^sha256:[0-9a-f]{64}$/);
      await model.dispose();
      expect(usersOf(REAL_MODEL)).toMatchObject([{ users: 1 }]);
      await expect(model.generate({ prompt: 'x' })).rejects.toMatchObject({ name: 'ConflictError' });
    } finally {
      await model.dispose();
      await embedder.dispose();
    }
    expect(usersOf(REAL_MODEL)).toEqual([]);
  });

  test('dispose waits for in-flight generations', async () => {
    const model = runner();
    const pending = model.generate({ prompt: 'Once upon a time', maxTokens: 30 });
    await new Promise((resolve) => setTimeout(resolve, 0));
    await model.dispose();
    const result = await pending;
    expect(result.usage?.completionTokens).toBeGreaterThan(0);
    expect(usersOf(REAL_MODEL)).toEqual([]);
  });

  test('a missing GGUF gives NotFoundError naming the path; bad options give InvalidArgumentError', async () => {
    const missing = join(fileURLToPath(new URL('.', import.meta.url)), 'no-such-model.gguf');
    const model = createLlamaCppRunner({ modelPath: missing, threads: 1 });
    await expect(model.generate({ prompt: 'x' })).rejects.toMatchObject({
      name: 'NotFoundError',
      message: expect.stringContaining(missing),
    });
    await model.dispose();
    expect(() => createLlamaCppRunner({ modelPath: MODEL, sequences: 0 })).toThrow(/sequences must be at least 1/);
    expect(() => createLlamaCppRunner({ modelPath: MODEL, color: 'red' } as never)).toThrow(/InvalidArgument|color/);
  });
});
