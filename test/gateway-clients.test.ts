/**
 * The clients people use, unchanged, against the gateway: the Vercel AI SDK 6 (`@ai-sdk/openai-compatible`
 * and `@ai-sdk/openai` 3, whose default model speaks the Responses API) and LangChain's
 * `@langchain/openai` (chat completions and Responses), with the llama.cpp runner on stories260K and the
 * OpenAI-compatible runner on the fake vLLM server behind it, plain and as knowledge models.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createOpenAI } from '@ai-sdk/openai';
import { createOpenAICompatible } from '@ai-sdk/openai-compatible';
import { ChatOpenAI, OpenAIEmbeddings, OpenAI as OpenAILLM } from '@langchain/openai';
import { embedMany, generateObject, generateText, streamText } from 'ai';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { z } from 'zod';
import { createGateway, type ServedGateway, serveGateway } from '../src/gateway/index.js';
import { createLlamaCppRunner, type LlamaCppRunner } from '../src/runners/llama-cpp/index.js';
import { createOpenAICompatibleRunner } from '../src/runners/openai-compatible/index.js';
import { CITED, citingRunner, knowledgeBase } from './helpers/fake-knowledge.js';
import { type FakeVllm, startFakeVllm } from './helpers/fake-vllm-server.js';
import { trigramEmbedder } from './helpers/trigram-embedder.mjs';

const MODEL = fileURLToPath(new URL('../../shared/models/stories260K.gguf', import.meta.url));

/** The answer schema small models can satisfy under a grammar: an enum and a bounded integer. */
const Mood = z.object({ mood: z.enum(['happy', 'sad']), count: z.number().int().min(0).max(9) });
/** What JSON mode promises without a schema: some JSON object. */
const AnyObject = z.record(z.string(), z.unknown()).refine((value) => Object.keys(value).length > 0, 'empty object');

let vllm: FakeVllm;
let stories: LlamaCppRunner;
let served: ServedGateway;
let baseURL: string;

beforeAll(async () => {
  if (!existsSync(MODEL)) throw new Error(`The test model ${MODEL} is missing (../shared/models/stories260K.gguf).`);
  vllm = await startFakeVllm();
  stories = createLlamaCppRunner({ modelPath: MODEL, threads: 1, contextSize: 2048, sequences: 2, logLevel: 'error' });
  const kb = await knowledgeBase();
  const app = createGateway({
    models: {
      stories,
      vllm: createOpenAICompatibleRunner({ baseURL: vllm.url, model: 'fake-vllm', flavor: 'vllm', retries: 0 }),
      citing: citingRunner(),
    },
    embedders: { trigram: trigramEmbedder(64, 'trigram-64') },
    search: { collections: { kb } },
    knowledge: {
      'stories-kb': { model: 'stories', collection: 'kb', limit: 1, maxContextChars: 400 },
      'vllm-kb': { model: 'vllm', collection: 'kb', limit: 2 },
      'cited-kb': { model: 'citing', collection: 'kb', limit: 2 },
    },
    allowAnonymous: true,
  });
  served = await serveGateway(app);
  baseURL = `${served.url}/v1`;
}, 120_000);

afterAll(async () => {
  await served?.close();
  await stories?.dispose();
  await vllm?.close();
});

const MODELS = ['stories', 'vllm', 'stories-kb', 'vllm-kb'] as const;

describe('Vercel AI SDK 6', () => {
  const compatible = () => createOpenAICompatible({ name: 'kumiki', baseURL, apiKey: 'unused' });
  const openai = () => createOpenAI({ baseURL, apiKey: 'unused' });

  test.each(MODELS)(
    'generateText and streamText agree, with both providers and the Responses model (%s)',
    async (name) => {
      // No seed: the Responses API has none (the SDK drops it); greedy llama.cpp and the fake server's seedless answers are deterministic.
      const prompt = name.endsWith('-kb') ? 'How does a lighthouse warn ships?' : 'Once upon a time';
      const settings = { prompt, maxOutputTokens: 12, temperature: 0, maxRetries: 0 };
      const viaChat = await generateText({ model: compatible()(name), ...settings });
      expect(viaChat.text.length).toBeGreaterThan(0);
      expect(viaChat.usage.outputTokens).toBeGreaterThan(0);
      const viaResponses = await generateText({ model: openai()(name), ...settings });
      expect(viaResponses.text).toBe(viaChat.text);
      expect(viaResponses.usage.outputTokens).toBe(viaChat.usage.outputTokens);
      for (const model of [compatible()(name), openai()(name), openai().chat(name)]) {
        const stream = streamText({ model, ...settings });
        expect(await stream.text).toBe(viaChat.text);
      }
      // @ai-sdk/openai-compatible asks for streamed usage only with includeUsage; @ai-sdk/openai always does.
      const streamed = streamText({ model: openai()(name), ...settings });
      expect((await streamed.usage).outputTokens).toBe(viaChat.usage.outputTokens);
    },
    60_000,
  );

  test('generateObject with default settings: JSON mode on openai-compatible, json_schema on the Responses model', async () => {
    // @ai-sdk/openai-compatible sends response_format json_object; the schema is the app's to describe in words.
    const schemaLine = JSON.stringify(z.toJSONSchema(Mood));
    const fromVllm = await generateObject({
      model: compatible()('vllm'),
      schema: Mood,
      prompt: `How does the cat feel? Answer with JSON matching this schema:\n${schemaLine}`,
      maxRetries: 0,
    });
    expect(Mood.parse(fromVllm.object)).toEqual(fromVllm.object);
    const fromStories = await generateObject({
      model: compatible()('stories'),
      schema: AnyObject,
      prompt: 'Describe a cat as a JSON object',
      maxOutputTokens: 200,
      temperature: 0.8,
      seed: 1,
      maxRetries: 0,
    });
    expect(Object.keys(fromStories.object).length).toBeGreaterThan(0);
    for (const name of ['stories', 'vllm', 'stories-kb', 'vllm-kb']) {
      const strict = await generateObject({
        model: openai()(name),
        schema: Mood,
        prompt: 'How does a lighthouse feel?',
        maxOutputTokens: 64,
        seed: 2,
        maxRetries: 0,
      });
      expect(Mood.parse(strict.object)).toEqual(strict.object);
    }
  }, 60_000);

  test('embedMany with both providers equals the embedder', async () => {
    const values = ['a lighthouse', 'bread rises', 'the moon'];
    const expected = (await trigramEmbedder(64, 'trigram-64').embed({ values, role: 'document' })).vectors;
    for (const model of [compatible().embeddingModel('trigram'), openai().embedding('trigram')]) {
      const { embeddings } = await embedMany({ model, values, maxRetries: 0 });
      expect(embeddings.map((vector) => vector.map((x) => Math.fround(x)))).toEqual(
        expected.map((vector) => Array.from(vector)),
      );
    }
  });

  test('a knowledge model’s citations arrive as sources of the Responses model, generated and streamed', async () => {
    const result = await generateText({
      model: openai()('cited-kb'),
      prompt: 'How does a lighthouse warn ships?',
      maxRetries: 0,
    });
    expect(result.text).toBe(CITED);
    expect(result.sources).toMatchObject([
      { sourceType: 'url', url: 'file:///kb/lighthouse.md', title: 'Lighthouses' },
    ]);
    const stream = streamText({
      model: openai()('cited-kb'),
      prompt: 'How does a lighthouse warn ships?',
      maxRetries: 0,
    });
    expect(await stream.text).toBe(CITED);
    expect(await stream.sources).toMatchObject([{ sourceType: 'url', url: 'file:///kb/lighthouse.md' }]);
  });
});

describe('LangChain @langchain/openai', () => {
  const chat = (model: string, extra: Record<string, unknown> = {}) =>
    new ChatOpenAI({
      model,
      apiKey: 'unused',
      configuration: { baseURL },
      maxTokens: 12,
      temperature: 0,
      maxRetries: 0,
      ...extra,
    });

  test.each(MODELS)(
    'invoke, stream and batch; chat completions and the Responses API (%s)',
    async (name) => {
      for (const useResponsesApi of [false, true]) {
        const model = chat(name, { useResponsesApi });
        const invoked = await model.invoke('Once upon a time');
        const text = invoked.text;
        expect(text.length).toBeGreaterThan(0);
        let streamed = '';
        for await (const chunk of await model.stream('Once upon a time')) streamed += chunk.text;
        expect(streamed).toBe(text);
        const batch = await model.batch(['Once upon a time', 'The dog ran']);
        expect(batch).toHaveLength(2);
        expect(batch[0]?.text).toBe(text);
      }
    },
    60_000,
  );

  test('withStructuredOutput: jsonSchema and jsonMode everywhere, functionCalling on the OpenAI-compatible runner', async () => {
    for (const name of ['stories', 'vllm', 'stories-kb', 'vllm-kb']) {
      const mood = await chat(name, { maxTokens: 64 })
        .withStructuredOutput(Mood, { method: 'jsonSchema' })
        .invoke('How does the cat feel?');
      expect(Mood.parse(mood)).toEqual(mood);
    }
    const jsonMode = await chat('stories', { maxTokens: 200, temperature: 0.8, modelKwargs: { seed: 1 } })
      .withStructuredOutput(AnyObject, { method: 'jsonMode' })
      .invoke('Describe a cat as a JSON object');
    expect(Object.keys(jsonMode).length).toBeGreaterThan(0);
    const schemaLine = JSON.stringify(z.toJSONSchema(Mood));
    const vllmJson = await chat('vllm')
      .withStructuredOutput(Mood, { method: 'jsonMode' })
      .invoke(`How does the cat feel? Answer in JSON matching:\n${schemaLine}`);
    expect(Mood.parse(vllmJson)).toEqual(vllmJson);
    const called = await chat('vllm', { maxTokens: 64 })
      .withStructuredOutput(Mood, { method: 'functionCalling' })
      .invoke('How does the cat feel?');
    expect(Mood.parse(called)).toEqual(called);
    // Function calling on llama.cpp is refused with a 400 that says why.
    const refused = await chat('stories')
      .withStructuredOutput(Mood, { method: 'functionCalling' })
      .invoke('How does the cat feel?')
      .then(
        () => undefined,
        (error: unknown) => error as Error,
      );
    expect(refused?.message).toMatch(/does not call tools/);
  }, 60_000);

  test('tool messages and tool_choice "none" reach llama.cpp as text', async () => {
    const model = chat('stories').bindTools(
      [{ type: 'function', function: { name: 'weather', parameters: { type: 'object', properties: {} } } }],
      { tool_choice: 'none' },
    );
    const answer = await model.invoke([
      { role: 'user', content: 'What is the weather?' },
      { role: 'assistant', content: '', tool_calls: [{ id: 'call_1', name: 'weather', args: {} }] },
      { role: 'tool', content: 'sunny', tool_call_id: 'call_1' },
    ]);
    expect(answer.text.length).toBeGreaterThan(0);
  });

  test('OpenAIEmbeddings and the legacy completions LLM', async () => {
    const embeddings = new OpenAIEmbeddings({ model: 'trigram', apiKey: 'unused', configuration: { baseURL } });
    const expected = (await trigramEmbedder(64, 'trigram-64').embed({ values: ['a lighthouse'], role: 'document' }))
      .vectors[0] as Float32Array;
    const [document] = await embeddings.embedDocuments(['a lighthouse']);
    expect(document?.map((x) => Math.fround(x))).toEqual(Array.from(expected));
    expect(await embeddings.embedQuery('a lighthouse')).toHaveLength(64);
    const llm = new OpenAILLM({
      model: 'stories',
      apiKey: 'unused',
      configuration: { baseURL },
      maxTokens: 8,
      temperature: 0,
    });
    expect((await llm.invoke('Once upon a time')).length).toBeGreaterThan(0);
  });
});
