import { DefaultChatTransport, readUIMessageStream, type UIMessage } from 'ai';
import OpenAI from 'openai';
import { describe, expect, test } from 'vitest';
import {
  AbortedError,
  type AnswerOptions,
  chatCompletionStreamResponse,
  conversationFromUIMessages,
  InvalidArgumentError,
  type ModelRunner,
  UnavailableError,
  uiMessageStreamResponse,
} from '../src/index.js';
import type { RetrievedChunk } from '../src/pipeline/retrieve.js';
import { type Script, says, scriptedRunner } from './helpers/scripted-runner.js';

const chunk = (n: number, source: string, text: string, title?: string): RetrievedChunk => ({
  id: `c${n}`,
  text,
  score: 1 / n,
  payload: {},
  citation: { source, chunk: 0, start: 0, end: text.length, ...(title ? { title } : {}) },
});

const chunks = [
  chunk(1, 'https://example.org/lighthouses', 'A lighthouse warns ships with a lamp.', 'Lighthouses'),
  chunk(2, 'notes/keepers.md', 'Keepers trimmed wicks every night.', 'Keepers'),
  chunk(3, 'notes/bread.md', 'Sourdough rises with wild yeast.'),
];

/** Text, then a failure the runner did not expect. */
const failsAfter = (text: string): Script =>
  async function* () {
    yield { type: 'text-delta', text };
    throw new UnavailableError({ message: 'The model server went away; start it again.', component: 'scripted' });
  };

/** Text, then waits for the abort signal (a model still generating). */
const hangsAfter = (text: string): Script =>
  async function* (signal) {
    yield { type: 'text-delta', text };
    await new Promise((_, reject) => {
      const stop = () => reject(new AbortedError({ operation: 'stream' }));
      if (signal?.aborted) stop();
      else signal?.addEventListener('abort', stop, { once: true });
    });
  };

const question = (runner: ModelRunner): AnswerOptions => ({ question: 'How do lighthouses work?', runner, chunks });

/** useChat's transport, posting to a route handler in this process. */
function chatThrough(handler: (request: Request) => Promise<Response>) {
  const transport = new DefaultChatTransport<UIMessage>({
    api: 'http://localhost/api/chat',
    fetch: async (input, init) => handler(new Request(input as string, init)),
  });
  const messages: UIMessage[] = [
    { id: 'u1', role: 'user', parts: [{ type: 'text', text: 'How do lighthouses work?' }] },
  ];
  return transport.sendMessages({
    chatId: 'chat',
    messageId: undefined,
    trigger: 'submit-message',
    messages,
    abortSignal: undefined,
  });
}

async function lastMessage(stream: ReadableStream<never>, onError?: (error: unknown) => void) {
  let last: UIMessage | undefined;
  for await (const message of readUIMessageStream({ stream, ...(onError ? { onError } : {}) })) last = message;
  return last;
}

describe('uiMessageStreamResponse (AI SDK UI message stream, read by the AI SDK itself)', () => {
  test('useChat gets the answer as a text part and the cited sources as source parts', async () => {
    const { runner } = scriptedRunner(says('Lighthouses warn ships with a lamp [1]', ', tended by keepers [2].'));
    let response: Response | undefined;
    const stream = await chatThrough(async (request) => {
      const body = (await request.json()) as { messages: unknown };
      response = await uiMessageStreamResponse({
        messages: conversationFromUIMessages(body.messages),
        runner,
        chunks,
        messageId: 'answer-1',
        abortSignal: request.signal,
      });
      return response;
    });
    expect(response?.headers.get('x-vercel-ai-ui-message-stream')).toBe('v1');
    expect(response?.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const message = await lastMessage(stream as ReadableStream<never>);
    expect(message?.id).toBe('answer-1');
    expect(message?.parts).toEqual([
      { type: 'text', text: 'Lighthouses warn ships with a lamp [1], tended by keepers [2].', state: 'done' },
      {
        type: 'source-url',
        sourceId: '1',
        url: 'https://example.org/lighthouses',
        title: 'Lighthouses',
        providerMetadata: { kumiki: { n: 1, source: 'https://example.org/lighthouses', chunk: 0, score: 1 } },
      },
      {
        type: 'source-document',
        sourceId: '2',
        mediaType: 'text/plain',
        title: 'Keepers',
        filename: 'notes/keepers.md',
        providerMetadata: { kumiki: { n: 2, source: 'notes/keepers.md', chunk: 0, score: 0.5 } },
      },
    ]);
  });

  test("sources: 'all' sends every numbered source before the text; the wire ends with [DONE]", async () => {
    const { runner } = scriptedRunner(says('Wild yeast [3].'));
    const response = await uiMessageStreamResponse({ ...question(runner), sources: 'all' });
    const wire = await response.text();
    const events = wire.split('\n\n').filter(Boolean);
    expect(events.at(-1)).toBe('data: [DONE]');
    const types = events
      .slice(0, -1)
      .map((event) => (JSON.parse(event.slice('data: '.length)) as { type: string }).type);
    expect(types).toEqual([
      'start',
      'source-url',
      'source-document',
      'source-document',
      'text-start',
      'text-delta',
      'text-end',
      'finish',
    ]);
  });

  test('a failure mid-answer becomes an error part the AI SDK raises, after the text so far', async () => {
    const { runner } = scriptedRunner(failsAfter('Lighthouses warn'));
    const errors: unknown[] = [];
    const stream = await chatThrough(() => uiMessageStreamResponse(question(runner)));
    const message = await lastMessage(stream as ReadableStream<never>, (error) => errors.push(error));
    expect(message?.parts[0]).toMatchObject({ type: 'text', text: 'Lighthouses warn' });
    expect(errors.map(String)).toEqual(['Error: The model server went away; start it again.']);
  });

  test('errors that are not kumiki errors are not shown to the client unless errorMessage says so', async () => {
    const script: Script = async function* () {
      yield { type: 'text-delta', text: 'x' };
      throw new Error('secret internals at /srv/app');
    };
    const wire = await (await uiMessageStreamResponse(question(scriptedRunner(script).runner))).text();
    expect(wire).toContain('"errorText":"The answer failed."');
    expect(wire).not.toContain('secret');
    const custom = await uiMessageStreamResponse({
      ...question(scriptedRunner(script).runner),
      errorMessage: (error) => `custom: ${(error as Error).message}`,
    });
    expect(await custom.text()).toContain('"errorText":"custom: secret internals at /srv/app"');
  });
});

describe('chatCompletionStreamResponse (OpenAI chunks, read by the openai client)', () => {
  const clientFor = (handler: () => Promise<Response>) =>
    new OpenAI({ apiKey: 'unused', baseURL: 'http://localhost/v1', fetch: async () => handler(), maxRetries: 0 });

  test('the openai client streams the answer; the last chunk carries the citations and usage follows', async () => {
    const { runner } = scriptedRunner(says('Lamps [1]', ' and keepers [2].'));
    const client = clientFor(() =>
      chatCompletionStreamResponse({ ...question(runner), model: 'kb', includeUsage: true }),
    );
    const stream = await client.chat.completions.create({ model: 'kb', messages: [], stream: true });
    const chunks: OpenAI.ChatCompletionChunk[] = [];
    for await (const part of stream) chunks.push(part);
    expect(chunks.map((part) => part.choices[0]?.delta.content ?? null)).toEqual([
      '',
      'Lamps [1]',
      ' and keepers [2].',
      null,
      null,
    ]);
    expect(chunks.every((part) => part.object === 'chat.completion.chunk' && part.model === 'kb')).toBe(true);
    const last = chunks[3] as OpenAI.ChatCompletionChunk & { citations: { n: number }[]; grounded: boolean };
    expect(last.choices[0]?.finish_reason).toBe('stop');
    expect(last.citations.map((source) => source.n)).toEqual([1, 2]);
    expect(last.grounded).toBe(true);
    expect(chunks[4]?.usage).toEqual({ prompt_tokens: 30, completion_tokens: 9, total_tokens: 39 });
    expect(new Set(chunks.map((part) => part.id)).size).toBe(1);
  });

  test('the wire: data lines, ending with data: [DONE]', async () => {
    const { runner } = scriptedRunner(says('Lamps [1].'));
    const wire = await (await chatCompletionStreamResponse(question(runner))).text();
    expect(wire.endsWith('\n\ndata: [DONE]\n\n')).toBe(true);
    expect(
      wire
        .split('\n\n')
        .filter(Boolean)
        .every((event) => event.startsWith('data: ')),
    ).toBe(true);
  });

  test('a failure mid-answer is an error event the openai client raises, never a quietly short answer', async () => {
    const { runner } = scriptedRunner(failsAfter('Lamps'));
    const response = await chatCompletionStreamResponse(question(runner));
    const wire = await response.clone().text();
    expect(wire).not.toContain('[DONE]');
    const stream = await clientFor(async () => response).chat.completions.create({
      model: 'm',
      messages: [],
      stream: true,
    });
    const seen: string[] = [];
    await expect(
      (async () => {
        for await (const part of stream) seen.push(part.choices[0]?.delta.content ?? '');
      })(),
    ).rejects.toThrow('The model server went away; start it again.');
    expect(seen).toEqual(['', 'Lamps']);
  });
});

describe('both formats', () => {
  const formats = [
    ['UI message stream', uiMessageStreamResponse],
    ['chat completion chunks', chatCompletionStreamResponse],
  ] as const;

  test.each(formats)(
    '%s: bad options reject before a response is made (the caller picks the status)',
    async (_, respond) => {
      const { runner } = scriptedRunner(says('x'));
      await expect(respond({ runner, chunks } as AnswerOptions)).rejects.toBeInstanceOf(InvalidArgumentError);
    },
  );

  test.each(formats)('%s: the client going away aborts the model', async (_, respond) => {
    const { runner, seen } = scriptedRunner(hangsAfter('Lamps'));
    const response = await respond(question(runner));
    const reader = (response.body as ReadableStream<Uint8Array>).getReader();
    let text = '';
    while (!text.includes('Lamps')) text += new TextDecoder().decode((await reader.read()).value);
    expect(seen.aborted).toBe(false);
    await reader.cancel();
    expect(seen.aborted).toBe(true);
  });

  test.each(formats)('%s: the request signal aborts the model, and the stream says it was cut', async (_, respond) => {
    const { runner, seen } = scriptedRunner(hangsAfter('Lamps'));
    const request = new AbortController();
    const response = await respond({ ...question(runner), abortSignal: request.signal });
    const reader = (response.body as ReadableStream<Uint8Array>).getReader();
    let text = '';
    while (!text.includes('Lamps')) text += new TextDecoder().decode((await reader.read()).value);
    request.abort();
    for (let next = await reader.read(); !next.done; next = await reader.read()) {
      text += new TextDecoder().decode(next.value);
    }
    expect(seen.aborted).toBe(true);
    expect(text).toMatch(/"type":"abort"|"code":"KUMIKI_ABORTED"/);
  });
});

test('conversationFromUIMessages keeps the text of each turn and refuses what is not a UI message list', () => {
  expect(
    conversationFromUIMessages([
      { id: '1', role: 'user', parts: [{ type: 'text', text: 'What is BM25?' }] },
      {
        id: '2',
        role: 'assistant',
        parts: [
          { type: 'step-start' },
          { type: 'text', text: 'A ranking function [1].' },
          { type: 'source-url', sourceId: '1', url: 'https://x' },
        ],
      },
      { id: '3', role: 'assistant', parts: [{ type: 'source-url', sourceId: '1', url: 'https://x' }] },
      {
        id: '4',
        role: 'user',
        parts: [
          { type: 'text', text: 'And ' },
          { type: 'text', text: 'its k1?' },
        ],
      },
    ]),
  ).toEqual([
    { role: 'user', content: 'What is BM25?' },
    { role: 'assistant', content: 'A ranking function [1].' },
    { role: 'user', content: 'And its k1?' },
  ]);
  expect(() => conversationFromUIMessages([{ role: 'user', content: 'no parts' }])).toThrow(InvalidArgumentError);
  expect(() => conversationFromUIMessages([])).toThrow(/messages must not be empty/);
});
