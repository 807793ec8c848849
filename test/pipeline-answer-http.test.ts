/**
 * The answer over HTTP, read off the wire: the server-sent events of the OpenAI chunk format and of
 * the AI SDK UI message stream (headers, each event's fields, finish reasons, sources, failures and
 * aborts), and the conversation useChat posts.
 */
import { describe, expect, test } from 'vitest';
import {
  AbortedError,
  type AnswerOptions,
  chatCompletionStreamResponse,
  conversationFromUIMessages,
  createMemoryStore,
  type FinishReason,
  NotFoundError,
  uiMessageStreamResponse,
} from '../src/index.js';
import type { RetrievedChunk } from '../src/pipeline/retrieve.js';
import { type Script, says, scriptedRunner } from './helpers/scripted-runner.js';
import { trigramEmbedder } from './helpers/trigram-embedder.mjs';

const chunk = (n: number, source: string, text: string, extra: Partial<RetrievedChunk['citation']> = {}) => ({
  id: `c${n}`,
  text,
  score: 1 / n,
  payload: {},
  citation: { source, chunk: n, start: 0, end: text.length, ...extra },
});

const chunks: RetrievedChunk[] = [
  chunk(1, 'HTTP://Example.org/lighthouses', 'A lighthouse warns ships.', { title: 'Lighthouses', heading: 'Lamps' }),
  chunk(2, 'manual.pdf', 'Keepers trimmed wicks.', { heading: 'Keepers', page: 4, pageEnd: 5 }),
  chunk(3, 'https://example.org/with space', 'Sourdough rises.'),
  chunk(4, 'ftp://example.org/file', 'Bread.'),
];

const ask = (script: Script, extra: Partial<AnswerOptions> = {}): AnswerOptions => ({
  question: 'How do lighthouses work?',
  runner: scriptedRunner(script).runner,
  chunks,
  ...extra,
});

/** An empty delta, a text, then a finish part with this reason and no usage. */
const finishes = (finishReason: FinishReason): Script =>
  async function* () {
    yield { type: 'text-delta', text: '' };
    yield { type: 'text-delta', text: 'Lamps [1].' };
    yield { type: 'finish', finishReason, usage: undefined };
  };

/** The events of a server-sent-event body: each `data:` payload, JSON-parsed unless it is `[DONE]`. */
async function events(response: Response): Promise<unknown[]> {
  const wire = await response.text();
  expect(wire.endsWith('\n\n')).toBe(true);
  return wire
    .split('\n\n')
    .filter(Boolean)
    .map((event) => {
      expect(event.startsWith('data: ')).toBe(true);
      const data = event.slice('data: '.length);
      return data === '[DONE]' ? data : JSON.parse(data);
    });
}

describe('both formats: the response', () => {
  test.each([
    ['chat completion chunks', chatCompletionStreamResponse],
    ['UI message stream', uiMessageStreamResponse],
  ] as const)('%s: status 200, event-stream headers, extra headers added or replacing', async (_, respond) => {
    const response = await respond({
      ...ask(says('x')),
      headers: { 'x-request-id': 'r-1', 'cache-control': 'no-store' },
    });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
    expect(response.headers.get('cache-control')).toBe('no-store');
    expect(response.headers.get('x-accel-buffering')).toBe('no');
    expect(response.headers.get('x-request-id')).toBe('r-1');
    const plain = await respond(ask(says('x')));
    expect(plain.headers.get('cache-control')).toBe('no-cache');
    expect(plain.headers.has('x-vercel-ai-ui-message-stream')).toBe(respond === uiMessageStreamResponse);
    await response.body?.cancel();
    await plain.body?.cancel();
  });

  test.each([
    ['chat completion chunks', chatCompletionStreamResponse],
    ['UI message stream', uiMessageStreamResponse],
  ] as const)('%s: a retrieval failure rejects before any response is made', async (_, respond) => {
    const store = createMemoryStore();
    const { runner, seen } = scriptedRunner(says('x'));
    const refused = respond({
      question: 'Q?',
      runner,
      retrieval: { store, collection: 'missing', embedder: trigramEmbedder(64, 'trigram') },
    });
    await expect(refused).rejects.toBeInstanceOf(NotFoundError);
    expect(seen.prompts).toEqual([]);
  });

  test.each([
    ['chat completion chunks', chatCompletionStreamResponse],
    ['UI message stream', uiMessageStreamResponse],
  ] as const)('%s: a signal aborted already stops the model, and the stream says it was cut', async (_, respond) => {
    const { runner, seen } = scriptedRunner(async function* (signal) {
      yield { type: 'text-delta', text: 'Lamps' };
      if (signal?.aborted) throw new AbortedError({ operation: 'stream' });
      yield { type: 'finish', finishReason: 'stop', usage: undefined };
    });
    const request = new AbortController();
    request.abort();
    const wire = await (await respond({ question: 'Q?', runner, chunks, abortSignal: request.signal })).text();
    expect(seen.aborted).toBe(false);
    expect(wire).toMatch(/"type":"abort"|"code":"KUMIKI_ABORTED"/);
    expect(wire).toContain('Lamps');
  });

  test.each([
    ['chat completion chunks', chatCompletionStreamResponse],
    ['UI message stream', uiMessageStreamResponse],
  ] as const)('%s: a finished answer no longer follows the caller’s signal', async (_, respond) => {
    const { runner, seen } = scriptedRunner(says('Lamps [1].'));
    const request = new AbortController();
    await (await respond({ question: 'Q?', runner, chunks, abortSignal: request.signal })).text();
    request.abort();
    expect(seen.aborted).toBe(false);
  });
});

describe('chatCompletionStreamResponse on the wire', () => {
  test('every chunk: one id chatcmpl-<32 hex>, created in seconds, model; the last carries sources, citations and grounded', async () => {
    const before = Math.floor(Date.now() / 1000);
    const all = (await events(await chatCompletionStreamResponse(ask(says('Lamps [1]', ' and [4].'))))) as Record<
      string,
      unknown
    >[];
    const after = Math.floor(Date.now() / 1000);
    expect(all.at(-1)).toBe('[DONE]');
    const chunksSent = all.slice(0, -1);
    expect(chunksSent).toHaveLength(4);
    const id = chunksSent[0]?.id as string;
    expect(id).toMatch(/^chatcmpl-[0-9a-f]{32}$/);
    for (const sent of chunksSent) {
      expect(sent).toMatchObject({ id, object: 'chat.completion.chunk', model: 'kumiki' });
      expect(sent.created).toBeGreaterThanOrEqual(before);
      expect(sent.created).toBeLessThanOrEqual(after);
    }
    expect(chunksSent.map((sent) => sent.choices)).toEqual([
      [{ index: 0, logprobs: null, finish_reason: null, delta: { role: 'assistant', content: '' } }],
      [{ index: 0, logprobs: null, finish_reason: null, delta: { content: 'Lamps [1]' } }],
      [{ index: 0, logprobs: null, finish_reason: null, delta: { content: ' and [4].' } }],
      [{ index: 0, logprobs: null, finish_reason: 'stop', delta: {} }],
    ]);
    const last = chunksSent[3] as { sources: { n: number }[]; citations: { n: number }[]; grounded: boolean };
    expect(last.sources.map((source) => source.n)).toEqual([1, 2, 3, 4]);
    expect(last.citations.map((source) => source.n)).toEqual([1, 4]);
    expect(last.grounded).toBe(true);
    expect(chunksSent[0]).not.toHaveProperty('usage');
  });

  test.each([
    ['stop', 'stop'],
    ['length', 'length'],
    ['tool-calls', 'tool_calls'],
    ['content-filter', 'content_filter'],
    ['aborted', 'stop'],
    ['other', 'stop'],
  ] as const)('finish reason %s is sent as %s', async (reason, wire) => {
    const all = (await events(await chatCompletionStreamResponse(ask(finishes(reason))))) as {
      choices: { finish_reason: string | null }[];
    }[];
    expect(all.at(-2)?.choices[0]?.finish_reason).toBe(wire);
  });

  test('empty text deltas are not sent; with includeUsage and no usage known, the usage chunk says null', async () => {
    const all = (await events(
      await chatCompletionStreamResponse({ ...ask(finishes('stop')), includeUsage: true, model: 'kb' }),
    )) as { choices: { delta: { content?: string } }[]; usage?: unknown; model: string }[];
    expect(all.map((sent) => (sent === ('[DONE]' as never) ? sent : sent.choices[0]?.delta.content))).toEqual([
      '',
      'Lamps [1].',
      undefined,
      undefined,
      '[DONE]',
    ]);
    expect(all[3]).toMatchObject({ choices: [], usage: null, model: 'kb' });
  });

  test('no relevant source: the no-answer is streamed, grounded false, with no citations', async () => {
    const all = (await events(
      await chatCompletionStreamResponse({ ...ask(says('never')), chunks: [], includeUsage: true }),
    )) as Record<string, unknown>[];
    expect(all.at(-3)).toMatchObject({ sources: [], citations: [], grounded: false });
    expect(all.at(-2)).toMatchObject({ choices: [], usage: null });
    expect(JSON.stringify(all)).toContain("I don't know");
  });

  test('a kumiki error mid-answer sends its message and code; another error a generic message and internal_error', async () => {
    const failing = (error: Error): Script =>
      async function* () {
        yield { type: 'text-delta', text: 'Lamps' };
        throw error;
      };
    const kumiki = await events(
      await chatCompletionStreamResponse(
        ask(failing(new NotFoundError({ resource: 'model', name: 'm', hint: 'Pull it first.' }))),
      ),
    );
    expect(kumiki.at(-1)).toEqual({
      error: { message: expect.stringMatching(/Pull it first\./), type: 'server_error', code: 'KUMIKI_NOT_FOUND' },
    });
    expect(kumiki).not.toContain('[DONE]');
    const other = await events(await chatCompletionStreamResponse(ask(failing(new TypeError('x is undefined')))));
    expect(other.at(-1)).toEqual({
      error: { message: 'The answer failed.', type: 'server_error', code: 'internal_error' },
    });
  });

  test('an abort mid-answer is sent as an aborted error, not as a finished answer', async () => {
    const request = new AbortController();
    const script: Script = async function* (signal) {
      yield { type: 'text-delta', text: 'Lamps' };
      request.abort();
      if (signal?.aborted) throw new AbortedError({ operation: 'stream' });
    };
    const all = await events(await chatCompletionStreamResponse(ask(script, { abortSignal: request.signal })));
    expect(all.at(-1)).toEqual({
      error: {
        message: 'The answer was aborted before it was complete.',
        type: 'server_error',
        code: 'KUMIKI_ABORTED',
      },
    });
  });
});

describe('uiMessageStreamResponse on the wire', () => {
  test('start without a messageId, one text block, cited sources after it, finish, [DONE]', async () => {
    const all = await events(await uiMessageStreamResponse(ask(says('Lamps [1]', ' and wicks [2]. Bread [4][3].'))));
    expect(all).toEqual([
      { type: 'start' },
      { type: 'text-start', id: 'text-1' },
      { type: 'text-delta', id: 'text-1', delta: 'Lamps [1]' },
      { type: 'text-delta', id: 'text-1', delta: ' and wicks [2]. Bread [4][3].' },
      { type: 'text-end', id: 'text-1' },
      {
        type: 'source-url',
        sourceId: '1',
        url: 'HTTP://Example.org/lighthouses',
        title: 'Lighthouses — Lamps',
        providerMetadata: { kumiki: { n: 1, source: 'HTTP://Example.org/lighthouses', chunk: 1, score: 1 } },
      },
      {
        type: 'source-document',
        sourceId: '2',
        mediaType: 'text/plain',
        title: 'Keepers',
        filename: 'manual.pdf',
        providerMetadata: { kumiki: { n: 2, source: 'manual.pdf', chunk: 2, score: 0.5, page: 4 } },
      },
      {
        type: 'source-document',
        sourceId: '4',
        mediaType: 'text/plain',
        title: 'ftp://example.org/file',
        filename: 'ftp://example.org/file',
        providerMetadata: { kumiki: { n: 4, source: 'ftp://example.org/file', chunk: 4, score: 0.25 } },
      },
      {
        type: 'source-document',
        sourceId: '3',
        mediaType: 'text/plain',
        title: 'https://example.org/with space',
        filename: 'https://example.org/with space',
        providerMetadata: { kumiki: { n: 3, source: 'https://example.org/with space', chunk: 3, score: 1 / 3 } },
      },
      { type: 'finish', finishReason: 'stop' },
      '[DONE]',
    ]);
  });

  test('only a whole http(s) address is a web source; one inside another scheme is a document', async () => {
    const all = (await events(
      await uiMessageStreamResponse({
        ...ask(says('Yeast [1].')),
        chunks: [chunk(1, 'archive:https://example.org/old', 'Yeast.')],
      }),
    )) as { type: string; sourceId?: string }[];
    expect(all.filter((event) => event.sourceId).map((event) => event.type)).toEqual(['source-document']);
  });

  test("sources: 'all' sends the sources first and none after the text", async () => {
    const all = (await events(
      await uiMessageStreamResponse({ ...ask(says('Lamps [1].')), sources: 'all', messageId: 'm-1' }),
    )) as { type: string; sourceId?: string }[];
    expect(all.slice(0, 5).map((event) => [event.type, event.sourceId])).toEqual([
      ['start', undefined],
      ['source-url', '1'],
      ['source-document', '2'],
      ['source-document', '3'],
      ['source-document', '4'],
    ]);
    expect(all[0]).toEqual({ type: 'start', messageId: 'm-1' });
    expect(all.slice(5).map((event) => event.type ?? event)).toEqual([
      'text-start',
      'text-delta',
      'text-end',
      'finish',
      '[DONE]',
    ]);
  });

  test.each([
    ['stop', 'stop'],
    ['length', 'length'],
    ['tool-calls', 'tool-calls'],
    ['content-filter', 'content-filter'],
    ['error', 'error'],
    ['aborted', 'other'],
    ['other', 'other'],
  ] as const)('finish reason %s is sent as %s', async (reason, wire) => {
    const all = (await events(await uiMessageStreamResponse(ask(finishes(reason))))) as { type: string }[];
    expect(all.at(-2)).toEqual({ type: 'finish', finishReason: wire });
  });

  test('an answer without text sends no text block', async () => {
    const silent: Script = async function* () {
      yield { type: 'text-delta', text: '' };
      yield { type: 'finish', finishReason: 'stop', usage: undefined };
    };
    const all = await events(await uiMessageStreamResponse(ask(silent)));
    expect(all).toEqual([{ type: 'start' }, { type: 'finish', finishReason: 'stop' }, '[DONE]']);
  });

  test('a failure closes the open text block, then error and [DONE]; before any text, no text-end', async () => {
    const after = await events(
      await uiMessageStreamResponse(
        ask(async function* () {
          yield { type: 'text-delta', text: 'Lamps' };
          throw new NotFoundError({ resource: 'model', name: 'm', hint: 'Pull it first.' });
        }),
      ),
    );
    expect(after.slice(-3)).toEqual([
      { type: 'text-end', id: 'text-1' },
      { type: 'error', errorText: expect.stringMatching(/Pull it first\./) },
      '[DONE]',
    ]);
    const before = await events(
      await uiMessageStreamResponse(
        ask(
          // biome-ignore lint/correctness/useYield: fails before its first part
          async function* () {
            throw new Error('internal');
          },
        ),
      ),
    );
    expect(before).toEqual([{ type: 'start' }, { type: 'error', errorText: 'The answer failed.' }, '[DONE]']);
  });

  test('an abort mid-answer closes the text block, then abort and [DONE]', async () => {
    const request = new AbortController();
    const script: Script = async function* (signal) {
      yield { type: 'text-delta', text: 'Lamps' };
      request.abort();
      if (signal?.aborted) throw new AbortedError({ operation: 'stream' });
    };
    const all = await events(await uiMessageStreamResponse(ask(script, { abortSignal: request.signal })));
    expect(all.slice(-3)).toEqual([{ type: 'text-end', id: 'text-1' }, { type: 'abort' }, '[DONE]']);
  });

  test('the client cancelling the body after the answer has ended changes nothing', async () => {
    const response = await uiMessageStreamResponse(ask(says('Lamps [1].')));
    const reader = (response.body as ReadableStream<Uint8Array>).getReader();
    let wire = '';
    for (let next = await reader.read(); !next.done; next = await reader.read()) {
      wire += new TextDecoder().decode(next.value);
    }
    await reader.cancel();
    expect(wire.endsWith('data: [DONE]\n\n')).toBe(true);
  });
});

describe('conversationFromUIMessages', () => {
  test('system turns are kept; text parts that are not strings and whitespace-only messages are left out', () => {
    expect(
      conversationFromUIMessages([
        { role: 'system', parts: [{ type: 'text', text: 'Be brief.' }] },
        { role: 'user', parts: [{ type: 'text', text: '  ' }] },
        {
          role: 'assistant',
          parts: [
            { type: 'text', text: 42 },
            { type: 'reasoning', text: 'hidden' },
          ],
        },
        { role: 'user', parts: [{ type: 'text', text: ' Why? ' }] },
      ]),
    ).toEqual([
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: ' Why? ' },
    ]);
  });

  test('a role the AI SDK does not send is refused, naming the argument', () => {
    expect(() => conversationFromUIMessages([{ role: 'tool', parts: [] }])).toThrow(/UI messages/);
    expect(() => conversationFromUIMessages('hello')).toThrow(/UI messages/);
  });
});
