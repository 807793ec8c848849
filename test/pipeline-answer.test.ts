/**
 * answer() and streamAnswer() around a recording runner: what the model is given (the grounded prompt,
 * the generation options), what comes back (text, citations, usage, warnings), "I don't know" without
 * the model, condensing a follow-up question, and the OpenTelemetry span of an answer.
 */
import { context, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import * as z from 'zod';
import {
  type ChatMessage,
  createMemoryStore,
  type EmbedOptions,
  type GenerateOptions,
  InvalidArgumentError,
  type ModelRunner,
  type StreamPart,
} from '../src/index.js';
import {
  type AnswerPart,
  type AnswerSource,
  answer,
  citedSources,
  DEFAULT_INSTRUCTIONS,
  DEFAULT_NO_ANSWER,
  groundedMessages,
  numberSources,
  streamAnswer,
} from '../src/pipeline/answer.js';
import type { RetrievedChunk } from '../src/pipeline/retrieve.js';
import { trigramEmbedder } from './helpers/trigram-embedder.mjs';

const chunk = (n: number, text: string, citation: Partial<RetrievedChunk['citation']> = {}): RetrievedChunk => ({
  id: `c${n}`,
  text,
  score: 1 / n,
  payload: {},
  citation: { source: `notes/${n}.md`, chunk: n - 1, start: 0, end: text.length, ...citation },
});

const chunks = [
  chunk(1, 'The X-200 costs 1,200 euros.', { title: 'Prices', heading: 'X-200' }),
  chunk(2, 'The X-200 has a two-year warranty.', { title: 'Warranty' }),
  chunk(3, 'The X-100 was discontinued in 2020.'),
];

/** A runner that records every call's options and streams (or generates) what the test says. */
function recordingRunner(
  parts: StreamPart[] = [
    { type: 'text-delta', text: 'It costs 1,200 euros [1].' },
    { type: 'finish', finishReason: 'stop', usage: { promptTokens: 40, completionTokens: 8 } },
  ],
  condensedText = 'What does the X-200 cost?',
) {
  const streams: GenerateOptions[] = [];
  const generates: GenerateOptions[] = [];
  const runner: ModelRunner = {
    specificationVersion: 'kumiki.runner.v1',
    provider: 'recording',
    modelId: 'recording',
    capabilities: { streaming: true, structuredOutput: [], tools: false, seed: true },
    describeModel: async () => ({ provider: 'recording', model: 'recording' }),
    generate: async (options) => {
      generates.push(options as GenerateOptions);
      return { text: condensedText, finishReason: 'stop', usage: { promptTokens: 20, completionTokens: 5 } };
    },
    async *stream(options) {
      streams.push(options);
      yield* parts;
    },
  };
  return { runner, streams, generates };
}

/** The trigram embedder, recording each query it embeds with the abort signal it was given. */
function recordingEmbedder() {
  const inner = trigramEmbedder(64, 'trigram');
  const queries: { text: string; abortSignal: AbortSignal | undefined }[] = [];
  const embedder = {
    ...inner,
    embed: async (options: EmbedOptions) => {
      if (options.role === 'query') {
        for (const text of options.values) queries.push({ text, abortSignal: options.abortSignal });
      }
      return inner.embed(options);
    },
  };
  return { embedder, queries };
}

/** A memory store whose collection `kb` holds `texts` (sources `kb/0`, `kb/1`, …), embedded by `embedder`. */
async function storeOf(embedder: ReturnType<typeof recordingEmbedder>['embedder'], texts: readonly string[]) {
  const store = createMemoryStore();
  await store.createCollection({ name: 'kb', dimensions: 64, embeddingSpace: await embedder.space() });
  if (texts.length > 0) {
    const { vectors } = await embedder.embed({ values: texts, role: 'document' });
    await store.upsert({
      collection: 'kb',
      records: texts.map((text, i) => ({
        id: i,
        vector: vectors[i] as Float32Array,
        payload: { text, source: `kb/${i}` },
      })),
    });
  }
  return store;
}

async function collect(parts: AsyncIterable<AnswerPart>): Promise<AnswerPart[]> {
  const out: AnswerPart[] = [];
  for await (const part of parts) out.push(part);
  return out;
}

const source = (n: number, fields: Partial<AnswerSource> = {}): AnswerSource => ({
  n,
  id: `c${n}`,
  text: `text ${n}`,
  score: 1,
  source: `s${n}`,
  chunk: 0,
  start: 0,
  end: 6,
  ...fields,
});

describe('numberSources', () => {
  test('numbers the passages best first with their citation, id, text and score', () => {
    expect(numberSources(chunks.slice(0, 2), 6000)).toEqual([
      {
        source: 'notes/1.md',
        title: 'Prices',
        heading: 'X-200',
        chunk: 0,
        start: 0,
        end: 28,
        n: 1,
        id: 'c1',
        text: 'The X-200 costs 1,200 euros.',
        score: 1,
      },
      {
        source: 'notes/2.md',
        title: 'Warranty',
        chunk: 1,
        start: 0,
        end: 34,
        n: 2,
        id: 'c2',
        text: 'The X-200 has a two-year warranty.',
        score: 0.5,
      },
    ]);
  });

  test('stops at the first passage over the budget; the best one is always given, however long', () => {
    const sized = [chunk(1, 'a'.repeat(150)), chunk(2, 'b'.repeat(50)), chunk(3, 'c'.repeat(10))];
    expect(numberSources(sized, 200).map((s) => s.n)).toEqual([1, 2]);
    expect(numberSources(sized, 199).map((s) => s.n)).toEqual([1]);
    expect(numberSources(sized, 10).map((s) => s.id)).toEqual(['c1']);
    expect(numberSources([], 100)).toEqual([]);
  });
});

describe('groundedMessages', () => {
  test('each source says where it comes from: title — heading (source), or the source alone', () => {
    const messages = groundedMessages(
      '  What does it cost?  ',
      [
        source(1, { title: 'Prices', heading: 'X-200', text: '  The X-200 costs 1,200 euros.\n' }),
        source(2, { title: 'Warranty' }),
        source(3, { heading: 'Only a heading' }),
        source(4),
      ],
      'Be brief.',
    );
    expect(messages).toEqual([
      { role: 'system', content: 'Be brief.' },
      {
        role: 'user',
        content:
          'Sources:\n\n' +
          '[1] Prices — X-200 (s1)\nThe X-200 costs 1,200 euros.\n\n' +
          '[2] Warranty (s2)\ntext 2\n\n' +
          '[3] Only a heading (s3)\ntext 3\n\n' +
          '[4] s4\ntext 4\n\n' +
          'Question: What does it cost?',
      },
    ]);
  });

  test('without sources the prompt says none was found; system turns join the instructions, tool calls are written out', () => {
    const earlier: ChatMessage[] = [
      { role: 'system', content: 'Answer in English.' },
      { role: 'user', content: 'Hi' },
      { role: 'assistant', content: '', toolCalls: [{ id: 'k1', name: 'price', arguments: { sku: 'X' } }] },
      { role: 'tool', toolCallId: 'k1', content: '1200' },
      { role: 'system', content: 'Cite sources.' },
    ];
    expect(groundedMessages('Q?', [], 'Instructions.', earlier)).toEqual([
      { role: 'system', content: 'Instructions.\n\nAnswer in English.\n\nCite sources.' },
      { role: 'user', content: 'Hi' },
      { role: 'assistant', content: 'Called the tool price (call k1) with {"sku":"X"}' },
      { role: 'user', content: 'Result of tool call k1:\n1200' },
      { role: 'user', content: 'Sources:\n\n(no relevant source was found)\n\nQuestion: Q?' },
    ]);
  });
});

describe('citedSources', () => {
  test('reads [n], [n, m] with spaces around the commas and [n][m], first citation first, each once, unknown numbers ignored', () => {
    const sources = [1, 2, 3, 4].map((n) => source(n));
    expect(
      citedSources('A [3]. B [1 ,4]. H [ 2 ]. C [1][2]. D [3]. E [9]. F [a]. G [].', sources).map((s) => s.n),
    ).toEqual([3, 1, 4, 2]);
    expect(citedSources('no citations at all', sources)).toEqual([]);
    expect(citedSources('X [2,3]. Y [4, 1].', sources).map((s) => s.n)).toEqual([2, 3, 4, 1]);
    expect(citedSources('[12]', [source(1), source(2), source(12)]).map((s) => s.n)).toEqual([12]);
    expect(citedSources('[1, 12]', [source(1), source(2), source(12)]).map((s) => s.n)).toEqual([1, 12]);
  });
});

describe('streamAnswer', () => {
  test('the model gets the default instructions, the numbered sources and the question, with every generation option', async () => {
    const { runner, streams } = recordingRunner();
    const abort = new AbortController();
    const stop = ['\n\n', 'END'];
    const schema = z.object({ price: z.string() });
    const parts = await collect(
      streamAnswer({
        question: 'What does the X-200 cost?',
        runner,
        chunks,
        maxTokens: 50,
        temperature: 0.2,
        topP: 0.9,
        seed: 42,
        stop,
        schema,
        abortSignal: abort.signal,
      }),
    );
    expect(parts.map((p) => p.type)).toEqual(['sources', 'text-delta', 'finish']);
    const options = streams[0] as GenerateOptions;
    expect(options.messages?.[0]).toEqual({ role: 'system', content: DEFAULT_INSTRUCTIONS });
    expect(options.messages?.[1]?.content).toBe(
      'Sources:\n\n[1] Prices — X-200 (notes/1.md)\nThe X-200 costs 1,200 euros.\n\n' +
        '[2] Warranty (notes/2.md)\nThe X-200 has a two-year warranty.\n\n' +
        '[3] notes/3.md\nThe X-100 was discontinued in 2020.\n\nQuestion: What does the X-200 cost?',
    );
    expect(options).toMatchObject({ maxTokens: 50, temperature: 0.2, topP: 0.9, seed: 42, stop, schema });
    expect(options.abortSignal).toBe(abort.signal);
  });

  test('options left out are not sent to the runner at all', async () => {
    const { runner, streams } = recordingRunner();
    await collect(streamAnswer({ question: 'Cost?', runner, chunks, instructions: 'Mine.' }));
    const options = streams[0] as GenerateOptions;
    expect(Object.keys(options)).toEqual(['messages']);
    expect(options.messages?.[0]?.content).toBe('Mine.');
  });

  test('zero temperature and seed are sent, not dropped as falsy', async () => {
    const { runner, streams } = recordingRunner();
    await collect(streamAnswer({ question: 'Cost?', runner, chunks, temperature: 0, seed: 0 }));
    expect(streams[0]).toMatchObject({ temperature: 0, seed: 0 });
  });

  test('streams the sources, each text delta as it comes, then the answer with citations, usage and the runner’s extras', async () => {
    const { runner } = recordingRunner([
      { type: 'text-delta', text: '{"price":"1,200 euros"} ' },
      { type: 'tool-call', toolCall: { id: 't', name: 'ignored', arguments: {} } },
      { type: 'text-delta', text: 'see [2] and [1]' },
      {
        type: 'finish',
        finishReason: 'length',
        usage: { promptTokens: 40, completionTokens: 8 },
        object: { price: '1,200 euros' },
        structuredOutput: 'validate-and-repair',
        warnings: ['context trimmed'],
      },
    ]);
    const parts = await collect(streamAnswer({ question: 'Cost?', runner, chunks }));
    expect(parts.slice(1, 3)).toEqual([
      { type: 'text-delta', text: '{"price":"1,200 euros"} ' },
      { type: 'text-delta', text: 'see [2] and [1]' },
    ]);
    const finish = parts[3] as Extract<AnswerPart, { type: 'finish' }>;
    expect(finish).toEqual({
      type: 'finish',
      text: '{"price":"1,200 euros"} see [2] and [1]',
      citations: [expect.objectContaining({ n: 2 }), expect.objectContaining({ n: 1 })],
      grounded: true,
      finishReason: 'length',
      usage: { promptTokens: 40, completionTokens: 8 },
      object: { price: '1,200 euros' },
      structuredOutput: 'validate-and-repair',
      warnings: ['context trimmed'],
    });
    expect(parts).toHaveLength(4);
  });

  test('a runner that ends without a finish part: finishReason other, no usage, no extras', async () => {
    const { runner } = recordingRunner([{ type: 'text-delta', text: 'Partial' }]);
    const result = await answer({ question: 'Cost?', runner, chunks });
    expect(result).toEqual({
      text: 'Partial',
      citations: [],
      grounded: true,
      finishReason: 'other',
      usage: undefined,
      sources: expect.any(Array),
    });
  });

  test('the context budget (default 6000 characters) limits the sources given to the model', async () => {
    const big = [chunk(1, 'a'.repeat(3000)), chunk(2, 'b'.repeat(3000)), chunk(3, 'c')];
    const { runner, streams } = recordingRunner();
    const all = await answer({ question: 'Q?', runner, chunks: big });
    expect(all.sources.map((s) => s.n)).toEqual([1, 2]);
    const small = await answer({ question: 'Q?', runner, chunks: big, maxContextChars: 5999 });
    expect(small.sources.map((s) => s.n)).toEqual([1]);
    expect(streams[1]?.messages?.at(-1)?.content).not.toContain('[2]');
  });
});

describe("I don't know", () => {
  test('with a schema the model is asked all the same (only it can give the object), and the answer is not grounded', async () => {
    const { runner, streams } = recordingRunner([
      { type: 'text-delta', text: '{"price":null}' },
      { type: 'finish', finishReason: 'stop', usage: undefined, object: { price: null } },
    ]);
    const schema = { jsonSchema: { type: 'object' } };
    const result = await answer({ question: 'Cost?', runner, chunks: [], schema });
    expect(streams).toHaveLength(1);
    expect(streams[0]?.schema).toBe(schema);
    expect(streams[0]?.messages?.at(-1)?.content).toBe('Sources:\n\n(no relevant source was found)\n\nQuestion: Cost?');
    expect(result).toMatchObject({ grounded: false, sources: [], object: { price: null }, text: '{"price":null}' });
  });

  test('the abort signal reaches retrieval', async () => {
    const { runner } = recordingRunner();
    const { embedder, queries } = recordingEmbedder();
    const store = await storeOf(embedder, []);
    const abort = new AbortController();
    await answer({
      question: 'Cost?',
      runner,
      retrieval: { store, collection: 'kb', embedder },
      abortSignal: abort.signal,
    });
    expect(queries).toEqual([{ text: 'Cost?', abortSignal: abort.signal }]);
  });

  test('nothing relevant: the default no-answer, not grounded, and the model is never called', async () => {
    const { runner, streams, generates } = recordingRunner();
    const parts = await collect(streamAnswer({ question: 'Cost?', runner, chunks: [] }));
    expect(parts).toEqual([
      { type: 'sources', sources: [] },
      { type: 'text-delta', text: DEFAULT_NO_ANSWER },
      {
        type: 'finish',
        text: DEFAULT_NO_ANSWER,
        citations: [],
        grounded: false,
        finishReason: 'stop',
        usage: undefined,
      },
    ]);
    expect(streams).toEqual([]);
    expect(generates).toEqual([]);
  });

  test('retrieval that finds nothing relevant gives the app’s own noAnswer', async () => {
    const store = createMemoryStore();
    const embedder = trigramEmbedder(64, 'trigram');
    await store.createCollection({ name: 'empty', dimensions: 64, embeddingSpace: await embedder.space() });
    const { runner, streams } = recordingRunner();
    const result = await answer({
      question: 'Cost?',
      runner,
      retrieval: { store, collection: 'empty', embedder },
      noAnswer: 'Nothing in the catalogue says.',
    });
    expect(result).toMatchObject({ text: 'Nothing in the catalogue says.', grounded: false, finishReason: 'stop' });
    expect(streams).toEqual([]);
  });

  test('a dropped-history warning is kept on the no-answer too', async () => {
    const { runner } = recordingRunner();
    const result = await answer({
      messages: [
        { role: 'user', content: 'x'.repeat(50) },
        { role: 'assistant', content: 'y'.repeat(50) },
        { role: 'user', content: 'Cost?' },
      ],
      runner,
      chunks: [],
      maxHistoryChars: 60,
      historyOverflow: 'drop-oldest',
    });
    expect(result.warnings).toEqual(['the 1 oldest of 2 earlier turns were left out to fit maxHistoryChars (60)']);
  });
});

describe('conversations', () => {
  const history = (size: number): ChatMessage[] => [
    { role: 'user', content: 'a'.repeat(size) },
    { role: 'assistant', content: 'b'.repeat(size) },
    { role: 'user', content: 'And its warranty?' },
  ];

  test('the default history budget is 12000 characters, and over it the conversation is refused', async () => {
    const { runner, streams } = recordingRunner();
    await expect(answer({ messages: history(6000), runner, chunks })).resolves.toMatchObject({ grounded: true });
    const refused = answer({ messages: history(6001), runner, chunks });
    await expect(refused).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(refused).rejects.toThrow(/12002 characters, more than maxHistoryChars \(12000\)/);
    await expect(refused).rejects.toMatchObject({ argument: 'answer options', issues: [{ path: 'messages' }] });
    expect(streams).toHaveLength(1);
  });

  test('drop-oldest drops only as many turns as needed, and the question is the last message', async () => {
    const { runner, streams } = recordingRunner();
    const messages: ChatMessage[] = [
      { role: 'user', content: '1'.repeat(10) },
      { role: 'assistant', content: '2'.repeat(10) },
      { role: 'user', content: '3'.repeat(10) },
      { role: 'assistant', content: '4'.repeat(10) },
      { role: 'user', content: 'Q?' },
    ];
    const result = await answer({ messages, runner, chunks, maxHistoryChars: 20, historyOverflow: 'drop-oldest' });
    expect(result.warnings).toEqual(['the 2 oldest of 4 earlier turns were left out to fit maxHistoryChars (20)']);
    expect(streams[0]?.messages?.map((m) => m.content[0])).toEqual(['A', '3', '4', 'S']);
    expect(streams[0]?.messages?.at(-1)?.content).toMatch(/Question: Q\?$/);
  });

  test('warnings of the history and of the runner are both given, history first', async () => {
    const { runner } = recordingRunner([
      { type: 'text-delta', text: 'ok' },
      { type: 'finish', finishReason: 'stop', usage: undefined, warnings: ['runner warning'] },
    ]);
    const result = await answer({
      messages: history(30),
      runner,
      chunks,
      maxHistoryChars: 30,
      historyOverflow: 'drop-oldest',
    });
    expect(result.warnings).toEqual([
      'the 1 oldest of 2 earlier turns were left out to fit maxHistoryChars (30)',
      'runner warning',
    ]);
  });

  /** A follow-up question that needs the earlier turns to stand alone. */
  const followUp: ChatMessage[] = [
    { role: 'user', content: 'Tell me about the X-200.' },
    { role: 'assistant', content: 'A printer.' },
    { role: 'user', content: 'And its price?' },
  ];

  test('condense asks the runner for a standalone question and retrieves with its first line of text; usage adds up', async () => {
    const { embedder, queries } = recordingEmbedder();
    const store = await storeOf(embedder, ['The X-200 costs 1,200 euros.', 'Sourdough rises with wild yeast.']);
    const { runner, generates, streams } = recordingRunner(
      undefined,
      '\n  How much does the X-200 cost?  \nextra line',
    );
    const abort = new AbortController();
    const result = await answer({
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'Tell me about the X-200.' },
        { role: 'assistant', content: '', toolCalls: [{ id: 'k', name: 'lookup', arguments: { sku: 'X-200' } }] },
        { role: 'user', content: 'And its price?' },
      ],
      condense: true,
      runner,
      retrieval: { store, collection: 'kb', embedder, limit: 1 },
      abortSignal: abort.signal,
    });
    expect(generates).toHaveLength(1);
    const request = generates[0] as GenerateOptions;
    expect(request.maxTokens).toBe(64);
    expect(request.temperature).toBe(0);
    expect(request.abortSignal).toBe(abort.signal);
    expect(request.messages?.map((m) => m.role)).toEqual(['system', 'user']);
    expect(request.messages?.[0]?.content).toMatch(/^Rewrite the last question of the conversation/);
    expect(request.messages?.[1]?.content).toBe(
      'Conversation:\nuser: Tell me about the X-200.\nassistant: Called the tool lookup (call k) with {"sku":"X-200"}' +
        '\n\nLast question: And its price?\n\nStandalone question:',
    );
    expect(result.sources.map((s) => s.source)).toEqual(['kb/0']);
    expect(queries).toEqual([{ text: 'How much does the X-200 cost?', abortSignal: abort.signal }]);
    // The model answers the question as asked; only retrieval uses the standalone form.
    expect(streams[0]?.messages?.at(-1)?.content).toMatch(/Question: And its price\?$/);
    expect(result.usage).toEqual({ promptTokens: 60, completionTokens: 13 });
  });

  test('condense keeps the question when the runner gives no text, and the condensing usage when the answer has none', async () => {
    const { runner, generates } = recordingRunner([{ type: 'text-delta', text: 'ok' }], ' \n ');
    const { embedder, queries } = recordingEmbedder();
    const store = await storeOf(embedder, []);
    const result = await answer({
      messages: followUp,
      condense: true,
      runner,
      retrieval: { store, collection: 'kb', embedder },
    });
    expect(generates).toHaveLength(1);
    expect(generates[0]).not.toHaveProperty('abortSignal');
    expect(queries.map((query) => query.text)).toEqual(['And its price?']);
    // Nothing stored: the no-answer, with the condensing call's tokens.
    expect(result).toMatchObject({ grounded: false, usage: { promptTokens: 20, completionTokens: 5 } });
  });

  test('without condense, or with only system messages before the question, retrieval searches for the question as asked', async () => {
    const { runner, generates } = recordingRunner();
    const { embedder, queries } = recordingEmbedder();
    const store = await storeOf(embedder, ['The X-200 costs 1,200 euros.']);
    const retrieval = { store, collection: 'kb', embedder };
    await answer({
      messages: followUp,
      runner,
      retrieval,
    });
    await answer({
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'What does the X-200 cost?' },
      ],
      condense: true,
      runner,
      retrieval,
    });
    expect(generates).toEqual([]);
    expect(queries.map((query) => query.text)).toEqual(['And its price?', 'What does the X-200 cost?']);
  });

  test('condense is skipped without earlier turns (system messages do not count) and with chunks given', async () => {
    const { runner, generates } = recordingRunner();
    await answer({
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'Cost?' },
      ],
      condense: true,
      runner,
      chunks,
    });
    await answer({
      messages: followUp,
      condense: true,
      runner,
      chunks,
    });
    expect(generates).toEqual([]);
  });
});

describe('options', () => {
  test.each([
    [{ question: '   ' }, /question must contain text/],
    [{ messages: [] }, /messages must not be empty/],
    [{ messages: [{ role: 'user', content: '  ' }] }, /the last message must be the user’s question/],
    [{ question: 'Q?', retrieval: {} }, /either retrieval .* or chunks/],
    [{ question: 'Q?', chunks: undefined }, /either retrieval .* or chunks/],
    [{}, /either question or messages/],
    [
      {
        messages: [
          { role: 'user', content: 'hi' },
          { role: 'assistant', content: 'hello' },
        ],
      },
      /the last message must be the user’s question/,
    ],
    [{ question: 'Q?', schema: null }, /schema/],
    [{ question: 'Q?', schema: 'a JSON object' }, /schema/],
    [{ question: 'Q?', runner: undefined }, /runner/],
  ])('%j is refused', async (options, message) => {
    const { runner } = recordingRunner();
    const refused = answer({ runner, chunks, ...options } as never);
    await expect(refused).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(refused).rejects.toThrow(message);
    await expect(refused).rejects.toThrow(/^Invalid answer options: /);
  });
});

describe('the answer span', () => {
  let exporter: InMemorySpanExporter;
  let provider: BasicTracerProvider;
  beforeEach(() => {
    exporter = new InMemorySpanExporter();
    provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
    trace.setGlobalTracerProvider(provider);
  });
  afterEach(async () => {
    trace.disable();
    context.disable();
    await provider.shutdown();
  });
  const answerSpan = (): ReadableSpan => {
    const spans = exporter.getFinishedSpans().filter((span) => span.name === 'kumiki.answer');
    expect(spans).toHaveLength(1);
    return spans[0] as ReadableSpan;
  };

  test('names the runner’s provider and counts the sources; onText gets every delta', async () => {
    const { runner } = recordingRunner([
      { type: 'text-delta', text: 'It costs ' },
      { type: 'text-delta', text: '1,200 euros [1].' },
      { type: 'finish', finishReason: 'stop', usage: undefined },
    ]);
    const deltas: string[] = [];
    const result = await answer({ question: 'Cost?', runner, chunks, onText: (text) => deltas.push(text) });
    expect(deltas).toEqual(['It costs ', '1,200 euros [1].']);
    expect(result.text).toBe('It costs 1,200 euros [1].');
    expect(result.citations.map((s) => s.n)).toEqual([1]);
    const span = answerSpan();
    expect(span.attributes).toEqual({
      'kumiki.runner.provider': 'recording',
      'kumiki.answer.sources': 3,
      'kumiki.answer.grounded': true,
    });
    expect(span.status.code).toBe(0);
    expect(span.instrumentationScope.name).toBe('kumiki');
  });

  test('an answer that fails records the error on the span, whose status says why', async () => {
    const failing: ModelRunner = {
      ...recordingRunner().runner,
      // biome-ignore lint/correctness/useYield: fails before its first part
      async *stream() {
        throw new Error('the model server went away');
      },
    };
    await expect(answer({ question: 'Cost?', runner: failing, chunks })).rejects.toThrow('the model server went away');
    const span = answerSpan();
    expect(span.status).toEqual({ code: 2, message: 'the model server went away' });
    expect(span.events.map((event) => [event.name, event.attributes?.['exception.message']])).toEqual([
      ['exception', 'the model server went away'],
    ]);
  });

  test('a thrown value that is not an Error is recorded as text', async () => {
    const failing: ModelRunner = {
      ...recordingRunner().runner,
      // biome-ignore lint/correctness/useYield: fails before its first part
      async *stream() {
        throw 'plain string failure';
      },
    };
    await expect(answer({ question: 'Cost?', runner: failing, chunks })).rejects.toBe('plain string failure');
    const span = answerSpan();
    expect(span.status).toEqual({ code: 2, message: 'plain string failure' });
    expect(span.events.map((event) => event.attributes?.['exception.message'])).toEqual(['plain string failure']);
  });

  test('a runner without a provider is named unknown; bad options fail inside the span', async () => {
    const { runner } = recordingRunner();
    await expect(
      answer({ question: ' ', runner: { ...runner, provider: undefined } as never, chunks }),
    ).rejects.toThrow(InvalidArgumentError);
    expect(answerSpan().attributes['kumiki.runner.provider']).toBe('unknown');
  });
});
