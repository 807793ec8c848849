import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DefaultChatTransport, readUIMessageStream, type UIMessage } from 'ai';
import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest';
import { buildSnapshot } from '../examples/build-snapshot.js';
import worker, { type Env as WorkerEnv } from '../examples/cloudflare-worker.js';
import { createOpenAICompatibleEmbedder } from '../src/embedders/openai-compatible/index.js';
import { fromStrings } from '../src/index.js';
import { NOTES } from './fixtures/notes.js';
import {
  MOCK_ANSWER,
  MOCK_CHAT_MODEL,
  MOCK_EMBEDDING_MODEL,
  type ModelMock,
  startModelMock,
} from './helpers/model-mock.js';

test('the README example is examples/readme.ts, verbatim', () => {
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
  const block = /```ts\n([\s\S]*?)```/.exec(readme)?.[1];
  expect(block).toBe(readFileSync(new URL('../examples/readme.ts', import.meta.url), 'utf8'));
});

test('the README example runs and finds the English BM25 notes only', async () => {
  const log = vi.spyOn(console, 'log').mockImplementation(() => undefined);
  try {
    await import('../examples/readme.js');
    expect(log.mock.calls[0]).toEqual(['3 sources added, 3 chunks written']);
    const [lines] = log.mock.calls[1] as [string[]];
    // Only one English note shares terms with the question; the German one matches them but is filtered out.
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^\d+\.\d\d {2}notes\/bm25 {2}BM25 weighs rare terms more than common ones\.$/);
  } finally {
    log.mockRestore();
  }
});

describe('the server examples, against a local OpenAI-compatible mock', () => {
  let mock: ModelMock;
  let snapshot: Uint8Array;
  const env = () => ({
    OPENAI_BASE_URL: mock.baseURL,
    EMBEDDING_MODEL: MOCK_EMBEDDING_MODEL,
    CHAT_MODEL: MOCK_CHAT_MODEL,
  });
  beforeAll(async () => {
    mock = await startModelMock();
    snapshot = await buildSnapshot({
      documents: fromStrings(NOTES),
      embedder: createOpenAICompatibleEmbedder({ baseURL: mock.baseURL, model: MOCK_EMBEDDING_MODEL }),
    });
    mock.files.set('/snapshot.bin', { type: 'application/octet-stream', body: snapshot });
  });
  afterAll(async () => {
    await mock?.close();
  });

  const workerEnv = (): WorkerEnv => ({
    ...env(),
    KUMIKI: { get: async (key) => (key === 'snapshot' ? snapshot.slice().buffer : null) },
  });

  test('Cloudflare Worker: hybrid search over the KV snapshot, filtered by language', async () => {
    const response = await worker.fetch(new Request('http://worker/search?q=why+does+bread+rise&lang=en'), workerEnv());
    const hits = (await response.json()) as { source: string }[];
    expect(hits[0]?.source).toBe('notes/bread');
    expect(hits.map((hit) => hit.source)).not.toContain('notes/brot');
  });

  test('Cloudflare Worker: useChat gets the streamed answer with its cited source', async () => {
    const message = await chatWith((request) => worker.fetch(request, workerEnv()));
    expect(message?.parts.find((part) => part.type === 'text')).toMatchObject({ text: MOCK_ANSWER.join('') });
    expect(message?.parts.filter((part) => part.type.startsWith('source-'))).toEqual([
      expect.objectContaining({ type: 'source-document', sourceId: '1', filename: 'notes/bread' }),
    ]);
  });

  test('Next.js route handler: POST(Request) streams to useChat; the snapshot comes from a URL', async () => {
    Object.assign(process.env, env(), { KUMIKI_SNAPSHOT_URL: `${mock.origin}/snapshot.bin` });
    const { POST } = await import('../examples/nextjs-route.js');
    const message = await chatWith(POST);
    expect(message?.parts.find((part) => part.type === 'text')).toMatchObject({ text: MOCK_ANSWER.join('') });
    expect(message?.parts.some((part) => part.type === 'source-document')).toBe(true);
    const bad = await POST(
      new Request('http://app/api/chat', { method: 'POST', body: JSON.stringify({ messages: [] }) }),
    );
    expect(bad.status).toBe(400);
  });

  test('AWS Lambda handler: a question in, the answer and its citations out; bad bodies are 400', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kumiki-lambda-'));
    writeFileSync(join(dir, 'snapshot.bin'), snapshot);
    Object.assign(process.env, env(), { KUMIKI_SNAPSHOT: join(dir, 'snapshot.bin') });
    try {
      const { handler } = await import('../examples/aws-lambda.js');
      const post = (body: string) => handler({ body, requestContext: { http: { method: 'POST' } } });
      const ok = await post(JSON.stringify({ question: 'Why does sourdough bread rise?' }));
      expect(ok.statusCode).toBe(200);
      expect(JSON.parse(ok.body)).toMatchObject({
        answer: MOCK_ANSWER.join(''),
        grounded: true,
        citations: [{ n: 1, source: 'notes/bread' }],
      });
      expect((await post('not json')).statusCode).toBe(400);
      expect((await post('{}')).statusCode).toBe(400);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('Deno/Bun script: BM25 passages, then an OpenAI-format answer stream', async () => {
    process.env.OPENAI_BASE_URL = mock.baseURL;
    const log = vi.spyOn(console, 'log').mockImplementation(() => undefined);
    try {
      await import('../examples/deno-bun.js');
      expect(String(log.mock.calls[0]?.[0]).split('\n')[0]).toBe(
        'notes/deno: Deno runs TypeScript directly and asks for permissions.',
      );
      expect(String(log.mock.calls[1]?.[0])).toMatch(/"content":"Wild yeast ferments "[\s\S]*data: \[DONE\]\n\n$/);
    } finally {
      log.mockRestore();
    }
  });
});

test('browser page: BM25 search runs offline', async () => {
  const { search } = await import('../examples/browser/search.js');
  expect((await search('how are rare terms weighed?'))[0]?.source).toBe('notes/bm25');
  expect(await search('  ')).toEqual([]);
});

/** useChat's transport and reader, posting one question to `handler`; the assistant message it builds. */
async function chatWith(handler: (request: Request) => Promise<Response>): Promise<UIMessage | undefined> {
  const transport = new DefaultChatTransport<UIMessage>({
    api: 'http://app/api/chat',
    fetch: async (input, init) => handler(new Request(input as string, init)),
  });
  const stream = await transport.sendMessages({
    chatId: 'c',
    messageId: undefined,
    trigger: 'submit-message',
    abortSignal: undefined,
    messages: [{ id: 'u', role: 'user', parts: [{ type: 'text', text: 'Why does sourdough bread rise?' }] }],
  });
  let last: UIMessage | undefined;
  for await (const message of readUIMessageStream<UIMessage>({ stream })) last = message;
  return last;
}
