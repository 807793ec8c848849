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
    const model = runner();
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
    const model = runner({ sequences: 1 });
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

  test('a schema the grammar cannot enforce fails with a typed error after bounded retries, never silently', async () => {
    const model = runner();
    try {
      // The grammar does not enforce patterns; this tiny model never writes 64 hex digits.
      const schema = z.object({ hash: z.string().regex(/^[0-9a-f]{64}$/) });
      const error = await model.generate({ prompt: 'JSON:', schema, maxTokens: 40, seed: 1 }).then(
        () => undefined,
        (caught: unknown) => caught,
      );
      expect(error).toMatchObject({ name: 'UnavailableError', message: expect.stringMatching(/hash/) });
      expect((error as Error).message).toMatch(/in 3 grammar-constrained attempt/);
    } finally {
      await model.dispose();
    }
  });

  test('tools are refused with InvalidArgumentError naming why', async () => {
    const model = runner();
    try {
      await expect(
        model.generate({
          prompt: 'x',
          tools: [{ name: 'lookup', parameters: z.object({ q: z.string() }) }],
        }),
      ).rejects.toMatchObject({ name: 'InvalidArgumentError', message: /does not call tools/ });
      await expect(
        model.generate({ messages: [{ role: 'tool', content: '{}', toolCallId: 'a' }] }),
      ).rejects.toMatchObject({ name: 'InvalidArgumentError' });
      expect(model.capabilities.tools).toBe(false);
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
