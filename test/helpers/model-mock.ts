/**
 * One local OpenAI-compatible server for the examples and the runtime matrix: `/v1/embeddings` (the
 * fake embedding server's deterministic vectors, proxied), `/v1/chat/completions` answering with a
 * fixed sentence that cites source [1] (streamed or not), `/v1/models`, and static files (the
 * Chromium page). CORS is open, so a page on another origin may call it.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startFakeOpenAIServer } from './fake-openai-server.js';

export const MOCK_EMBEDDING_MODEL = 'mock-embed';
export const MOCK_CHAT_MODEL = 'mock-chat';
/** What the chat model says, in these pieces when streamed. */
export const MOCK_ANSWER = ['Wild yeast ferments ', 'the dough', ' [1].'];

export type StaticFile = { type: string; body: string | Uint8Array; headers?: Record<string, string> };

export type ModelMock = {
  /** `http://127.0.0.1:PORT` */
  origin: string;
  /** `${origin}/v1`, the adapters' baseURL. */
  baseURL: string;
  /** Chat requests received, with the messages they carried. */
  chats: { messages: { role: string; content: string }[]; stream: boolean }[];
  /** Files served at their path (`/index.html`). */
  files: Map<string, StaticFile>;
  /** The body of the first POST to `/report/<name>` (how a page hands back its result). */
  report(name: string): Promise<string>;
  close(): Promise<void>;
};

const CORS = {
  'access-control-allow-origin': '*',
  'access-control-allow-headers': 'authorization, content-type',
  'access-control-allow-methods': 'GET, POST, OPTIONS',
};

async function body(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

export async function startModelMock(): Promise<ModelMock> {
  const embeddings = await startFakeOpenAIServer({ model: MOCK_EMBEDDING_MODEL, dimensions: 32 });
  const chats: ModelMock['chats'] = [];
  const files = new Map<string, StaticFile>();
  const reports = new Map<string, { promise: Promise<string>; resolve: (body: string) => void }>();
  const reportFor = (name: string) => {
    let entry = reports.get(name);
    if (!entry) {
      let resolve: (body: string) => void = () => undefined;
      const promise = new Promise<string>((settle) => {
        resolve = settle;
      });
      entry = { promise, resolve };
      reports.set(name, entry);
    }
    return entry;
  };

  function chat(res: ServerResponse, request: { stream?: boolean; messages?: ModelMock['chats'][number]['messages'] }) {
    chats.push({ messages: request.messages ?? [], stream: request.stream === true });
    const base = { id: 'chatcmpl-mock', created: 1_700_000_000, model: MOCK_CHAT_MODEL };
    const usage = { prompt_tokens: 40, completion_tokens: 6, total_tokens: 46 };
    if (request.stream !== true) {
      res.writeHead(200, { 'content-type': 'application/json', ...CORS });
      res.end(
        JSON.stringify({
          ...base,
          object: 'chat.completion',
          choices: [{ index: 0, message: { role: 'assistant', content: MOCK_ANSWER.join('') }, finish_reason: 'stop' }],
          usage,
        }),
      );
      return;
    }
    res.writeHead(200, { 'content-type': 'text/event-stream', ...CORS });
    const chunk = (delta: Record<string, unknown>, finish: string | null, extra = {}) =>
      `data: ${JSON.stringify({ ...base, object: 'chat.completion.chunk', choices: [{ index: 0, delta, finish_reason: finish }], ...extra })}\n\n`;
    res.write(chunk({ role: 'assistant', content: '' }, null));
    for (const piece of MOCK_ANSWER) res.write(chunk({ content: piece }, null));
    res.write(chunk({}, 'stop', { usage }));
    res.end('data: [DONE]\n\n');
  }

  const server = createServer(async (req, res) => {
    try {
      const path = new URL(req.url ?? '/', 'http://x').pathname;
      if (req.method === 'OPTIONS') {
        res.writeHead(204, CORS).end();
        return;
      }
      const file = files.get(path);
      if (req.method === 'GET' && file) {
        res.writeHead(200, { 'content-type': file.type, ...file.headers }).end(file.body);
        return;
      }
      if (req.method === 'GET' && path === '/v1/models') {
        res.writeHead(200, { 'content-type': 'application/json', ...CORS });
        res.end(
          JSON.stringify({
            object: 'list',
            data: [MOCK_CHAT_MODEL, MOCK_EMBEDDING_MODEL].map((id) => ({ id, object: 'model', owned_by: 'mock' })),
          }),
        );
        return;
      }
      const text = await body(req);
      if (req.method === 'POST' && path === '/v1/embeddings') {
        const answer = await fetch(`${embeddings.baseURL}/embeddings`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: text,
        });
        res.writeHead(answer.status, { 'content-type': 'application/json', ...CORS });
        res.end(await answer.text());
        return;
      }
      if (req.method === 'POST' && path.startsWith('/report/')) {
        reportFor(path.slice('/report/'.length)).resolve(text);
        res.writeHead(204, CORS).end();
        return;
      }
      if (req.method === 'POST' && path === '/v1/chat/completions') {
        chat(res, JSON.parse(text));
        return;
      }
      res.writeHead(404, { 'content-type': 'application/json', ...CORS });
      res.end(
        JSON.stringify({ error: { message: `no route for ${req.method} ${path}`, type: 'invalid_request_error' } }),
      );
    } catch (error) {
      res.writeHead(500, CORS).end(String(error));
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    origin,
    baseURL: `${origin}/v1`,
    chats,
    files,
    report: (name) => reportFor(name).promise,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await embeddings.close();
    },
  };
}
