/**
 * A real HTTP server on 127.0.0.1 that speaks vLLM's OpenAI-compatible text API: POST
 * /v1/chat/completions and /v1/completions (JSON or SSE with `stream_options.include_usage`), GET
 * /v1/models, vLLM-style error bodies. Its "model" is deterministic: a pseudo-random word generator
 * seeded from the request (seed and prompt), honouring max_tokens and stop. Structured output through
 * `response_format` (json_schema), `structured_outputs.json` (vLLM ≥ 0.10) or `guided_json` (older vLLM)
 * gives JSON valid for the schema; a prompt or chat holding a line that is a JSON Schema (an instruction
 * to answer in JSON) gets JSON for the latest such schema too, except for its first `jsonMistakes`
 * turns (every repetition of a schema line counts as a turn, as in repair rounds), which get prose.
 * JSON mode (`response_format: { type: 'json_object' }`) gives an object: for the latest schema line
 * when the conversation has one (as a model follows its instructions), else `{ "answer": <word> }`.
 * Tools give a tool call when tool_choice requires one. Faults are injected on demand.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { seededRandom } from '../../src/internal/random.js';

export type VllmFault =
  | { kind: 'status'; status: number; retryAfterSeconds?: number; body?: unknown }
  /** Respond after `ms` (slow endpoint). */
  | { kind: 'delay'; ms: number }
  /** Destroy the socket mid-response. */
  | { kind: 'drop' }
  /** Invalid JSON, or a broken SSE event when streaming. */
  | { kind: 'malformed' }
  /** Streaming only: after `afterTokens` content chunks, send vLLM's `data: {"error": …}` event and end. */
  | { kind: 'stream-error'; afterTokens: number; message?: string };

export type FakeVllmRequest = {
  path: string;
  body: unknown;
  headers: Record<string, string>;
  /** The client closed the connection before the response was complete. */
  closedEarly: boolean;
};

export type FakeVllm = {
  /** `http://127.0.0.1:PORT/v1`, the runner's baseURL. */
  url: string;
  requests: FakeVllmRequest[];
  /** Fault applied to every following request until cleared (queued one-shot faults go first). */
  setFault(fault: VllmFault | undefined): void;
  queueFaults(...faults: VllmFault[]): void;
  close(): Promise<void>;
};

export type FakeVllmOptions = {
  /** The served model name, default `fake-vllm`; requests for others get 404. */
  model?: string;
  /** When set, requests must carry `Authorization: Bearer <apiKey>`; others get a 401 echoing the header. */
  apiKey?: string;
  /** Turns answered with prose when the request asks for JSON in words (repair tests); default 0. */
  jsonMistakes?: number;
  /** Milliseconds between streamed chunks, default 1 (so that aborts land mid-stream). */
  chunkDelayMs?: number;
};

const VOCABULARY = (
  'the little cat sat on a warm mat and dreamed of fish bright moon over quiet hills wind sang to old trees ' +
  'while stars blinked slowly happy dog ran home through green fields with its friend bird sky rain sun'
).split(' ');

/** FNV-1a over UTF-16 code units. */
function hash(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

type Json = Record<string, unknown>;
const isObject = (value: unknown): value is Json =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** A value valid for the schema (enum, const, anyOf/oneOf, object, array, string, integer, number, boolean, null). */
function valueFor(schema: unknown, random: () => number, depth = 0): unknown {
  if (!isObject(schema) || depth > 6) return null;
  if (Array.isArray(schema.enum) && schema.enum.length > 0)
    return schema.enum[Math.floor(random() * schema.enum.length)];
  if ('const' in schema) return schema.const;
  const union = (schema.anyOf ?? schema.oneOf) as unknown[] | undefined;
  if (Array.isArray(union) && union.length > 0) return valueFor(union[0], random, depth + 1);
  const type = Array.isArray(schema.type) ? schema.type[0] : schema.type;
  switch (type) {
    case 'object': {
      const properties = isObject(schema.properties) ? schema.properties : {};
      return Object.fromEntries(
        Object.entries(properties).map(([key, sub]) => [key, valueFor(sub, random, depth + 1)]),
      );
    }
    case 'array': {
      const min = typeof schema.minItems === 'number' ? schema.minItems : 1;
      const max = typeof schema.maxItems === 'number' ? schema.maxItems : min + 1;
      const count = min + Math.floor(random() * (max - min + 1));
      return Array.from({ length: count }, () => valueFor(schema.items, random, depth + 1));
    }
    case 'integer':
    case 'number': {
      const min = typeof schema.minimum === 'number' ? schema.minimum : 0;
      const max = typeof schema.maximum === 'number' ? schema.maximum : min + 100;
      const value = min + random() * (max - min);
      return type === 'integer' ? Math.min(Math.floor(max), Math.max(Math.ceil(min), Math.round(value))) : value;
    }
    case 'string':
      return VOCABULARY[Math.floor(random() * VOCABULARY.length)];
    case 'boolean':
      return random() < 0.5;
    default:
      return null;
  }
}

/** JSON text split into tokens: punctuation, strings, words and spaces each count as one. */
function jsonTokens(text: string): string[] {
  return text.match(/\s+|[{}[\],:]|"(?:[^"\\]|\\.)*"|[^\s{}[\],:"]+/g) ?? [];
}

type ChatMessage = { role?: unknown; content?: unknown };
type Answer = {
  tokens: string[];
  finishReason: 'stop' | 'length' | 'tool_calls';
  toolCall?: { id: string; name: string; arguments: string };
};

/** A line of the conversation that is a JSON Schema: an instruction to answer in JSON. */
function schemaLine(line: string): Json | undefined {
  try {
    const parsed = JSON.parse(line);
    return isObject(parsed) && ('type' in parsed || 'properties' in parsed) ? parsed : undefined;
  } catch {
    return undefined;
  }
}

/** Marks JSON mode: any object, shaped by the conversation's schema line if there is one. */
const JSON_MODE: Json = { type: 'object', properties: { answer: { type: 'string' } }, required: ['answer'] };

function nativeSchema(body: Json): Json | undefined {
  const format = body.response_format;
  if (isObject(format) && format.type === 'json_schema' && isObject(format.json_schema))
    return isObject(format.json_schema.schema) ? format.json_schema.schema : {};
  if (isObject(format) && format.type === 'json_object') return JSON_MODE;
  if (isObject(body.structured_outputs) && isObject(body.structured_outputs.json)) return body.structured_outputs.json;
  if (isObject(body.guided_json)) return body.guided_json;
  return undefined;
}

/** The model: what it says to a validated request, before max_tokens and stop are applied. */
function think(body: Json, promptText: string, messages: ChatMessage[] | undefined, jsonMistakes: number): Answer {
  const random = seededRandom(hash(`${String(body.seed ?? 0)}|${promptText}`));
  const tools = Array.isArray(body.tools) ? (body.tools as Json[]) : [];
  const choice = body.tool_choice;
  const forced = isObject(choice) && isObject(choice.function) ? String(choice.function.name) : undefined;
  const lastUser = [...(messages ?? [])].reverse().find((message) => message.role === 'user');
  const mentioned = tools.find(
    (tool) => isObject(tool.function) && String(lastUser?.content ?? '').includes(String(tool.function.name)),
  );
  const tool =
    choice === 'none'
      ? undefined
      : forced !== undefined
        ? tools.find((candidate) => isObject(candidate.function) && candidate.function.name === forced)
        : choice === 'required'
          ? tools[0]
          : mentioned;
  if (tool && isObject(tool.function)) {
    const args = JSON.stringify(valueFor(tool.function.parameters, random));
    return {
      tokens: [],
      finishReason: 'tool_calls',
      toolCall: {
        id: `chatcmpl-tool-${hash(promptText + args).toString(16)}`,
        name: String(tool.function.name),
        arguments: args,
      },
    };
  }
  const native = nativeSchema(body);
  const texts = messages ? messages.map((message) => String(message.content ?? '')) : [promptText];
  const asks = texts.flatMap((text) => text.split('\n').flatMap((line) => schemaLine(line.trim()) ?? []));
  const asked = asks.at(-1);
  if (native === JSON_MODE && asked) {
    return { tokens: jsonTokens(JSON.stringify(valueFor(asked, random))), finishReason: 'stop' };
  }
  if (native) return { tokens: jsonTokens(JSON.stringify(valueFor(native, random))), finishReason: 'stop' };
  if (asked) {
    // Each repair round repeats the schema: the turns so far are the repetitions.
    const turns = asks.length - 1;
    const text =
      turns < jsonMistakes ? 'I think the answer is happy, with three fish.' : JSON.stringify(valueFor(asked, random));
    return { tokens: jsonTokens(text), finishReason: 'stop' };
  }
  const length = 12 + Math.floor(random() * 30);
  const tokens = Array.from({ length }, (_, i) => {
    const word = VOCABULARY[Math.floor(random() * VOCABULARY.length)]!;
    return i === 0 ? word : ` ${word}`;
  });
  return { tokens, finishReason: 'stop' };
}

type Completion = {
  pieces: string[];
  finishReason: 'stop' | 'length' | 'tool_calls';
  toolCall?: Answer['toolCall'];
  promptTokens: number;
};

/** Applies max_tokens and stop: the emitted pieces (tokens, the last one possibly cut) and the reason. */
function complete(answer: Answer, body: Json, promptTokens: number): Completion {
  if (answer.toolCall) return { pieces: [], finishReason: 'tool_calls', toolCall: answer.toolCall, promptTokens };
  const maxTokens = typeof body.max_tokens === 'number' ? body.max_tokens : Number.POSITIVE_INFINITY;
  const limited = answer.tokens.slice(0, maxTokens);
  let finishReason: Completion['finishReason'] = limited.length < answer.tokens.length ? 'length' : answer.finishReason;
  const text = limited.join('');
  const stops = typeof body.stop === 'string' ? [body.stop] : Array.isArray(body.stop) ? (body.stop as string[]) : [];
  const cut = Math.min(...stops.map((stop) => text.indexOf(stop)).filter((index) => index >= 0));
  if (!Number.isFinite(cut)) return { pieces: limited, finishReason, promptTokens };
  finishReason = 'stop';
  const pieces: string[] = [];
  for (let offset = 0, i = 0; i < limited.length && offset < cut; offset += limited[i]!.length, i++)
    pieces.push(limited[i]!.slice(0, cut - offset));
  return { pieces, finishReason, promptTokens };
}

const words = (text: string) => text.split(/\s+/).filter(Boolean).length;

/** vLLM's error body. */
function errorBody(message: string, type: string, code: number) {
  return { error: { message, type, param: null, code } };
}

class RequestError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly type = 'BadRequestError',
  ) {
    super(message);
  }
}

/** Checks a request the way vLLM does (the parts this fake implements); throws RequestError. */
function validate(
  path: string,
  body: unknown,
  model: string,
): { body: Json; promptText: string; messages?: ChatMessage[] } {
  if (!isObject(body)) throw new RequestError(400, 'The request body must be a JSON object.');
  if (body.model !== undefined && body.model !== model)
    throw new RequestError(404, `The model \`${String(body.model)}\` does not exist.`, 'NotFoundError');
  if (body.max_tokens !== undefined && !(Number.isInteger(body.max_tokens) && (body.max_tokens as number) >= 1))
    throw new RequestError(400, `max_tokens must be at least 1, got ${String(body.max_tokens)}.`);
  if (body.temperature !== undefined && !(typeof body.temperature === 'number' && body.temperature >= 0))
    throw new RequestError(400, `temperature must be non-negative, got ${String(body.temperature)}.`);
  if (body.stop !== undefined && typeof body.stop !== 'string' && !Array.isArray(body.stop))
    throw new RequestError(400, 'stop must be a string or a list of strings.');
  if (path === '/v1/completions') {
    if (typeof body.prompt !== 'string') throw new RequestError(400, 'prompt must be a string.');
    return { body, promptText: body.prompt };
  }
  if (!Array.isArray(body.messages) || body.messages.length === 0)
    throw new RequestError(400, 'messages must be a non-empty list.');
  const messages = body.messages as ChatMessage[];
  for (const message of messages) {
    if (!['system', 'user', 'assistant', 'tool'].includes(String(message.role)))
      throw new RequestError(400, `Unknown message role: ${String(message.role)}.`);
  }
  return {
    body,
    promptText: messages.map((message) => `${String(message.role)}: ${String(message.content ?? '')}`).join('\n'),
    messages,
  };
}

function headersOf(req: IncomingMessage): Record<string, string> {
  return Object.fromEntries(
    Object.entries(req.headers).map(([name, value]) => [name, Array.isArray(value) ? value.join(', ') : (value ?? '')]),
  );
}

export async function startFakeVllm(options: FakeVllmOptions = {}): Promise<FakeVllm> {
  const model = options.model ?? 'fake-vllm';
  const chunkDelayMs = options.chunkDelayMs ?? 1;
  const requests: FakeVllmRequest[] = [];
  const queue: VllmFault[] = [];
  let standing: VllmFault | undefined;
  let counter = 0;

  function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
    if (res.destroyed) return;
    res.writeHead(status, { 'content-type': 'application/json', ...headers });
    res.end(JSON.stringify(body));
  }

  const wait = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

  async function stream(
    res: ServerResponse,
    path: string,
    body: Json,
    completion: Completion,
    fault: VllmFault | undefined,
  ) {
    const id = `${path === '/v1/completions' ? 'cmpl' : 'chatcmpl'}-${++counter}`;
    const created = 1_700_000_000;
    const chat = path !== '/v1/completions';
    const object = chat ? 'chat.completion.chunk' : 'text_completion';
    const includeUsage = isObject(body.stream_options) && body.stream_options.include_usage === true;
    const choice = (delta: Json, finishReason: string | null) =>
      chat
        ? { index: 0, delta, logprobs: null, finish_reason: finishReason }
        : { index: 0, text: delta.content ?? '', logprobs: null, finish_reason: finishReason };
    const send = async (data: unknown) => {
      if (res.destroyed) return;
      res.write(`data: ${typeof data === 'string' ? data : JSON.stringify(data)}\n\n`);
      if (chunkDelayMs > 0) await wait(chunkDelayMs);
    };
    const chunk = (choices: unknown[], usage?: unknown) => ({
      id,
      object,
      created,
      model,
      choices,
      ...(includeUsage ? { usage: usage ?? null } : {}),
    });
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    if (chat) await send(chunk([choice({ role: 'assistant', content: '' }, null)]));
    for (const [i, piece] of completion.pieces.entries()) {
      if (fault?.kind === 'drop' && i === 2) {
        res.socket?.destroy();
        return;
      }
      if (fault?.kind === 'malformed' && i === 2) {
        await send('{"id":"broken", "choices": [');
        res.end();
        return;
      }
      if (fault?.kind === 'stream-error' && i === fault.afterTokens) {
        await send(errorBody(fault.message ?? 'The engine failed while generating.', 'InternalServerError', 500));
        res.end();
        return;
      }
      await send(chunk([choice({ content: piece }, null)]));
    }
    if (completion.toolCall) {
      const { id: callId, name, arguments: args } = completion.toolCall;
      const half = Math.ceil(args.length / 2);
      await send(
        chunk([
          choice({ tool_calls: [{ index: 0, id: callId, type: 'function', function: { name, arguments: '' } }] }, null),
        ]),
      );
      await send(chunk([choice({ tool_calls: [{ index: 0, function: { arguments: args.slice(0, half) } }] }, null)]));
      await send(chunk([choice({ tool_calls: [{ index: 0, function: { arguments: args.slice(half) } }] }, null)]));
    }
    await send(chunk([choice(chat ? {} : { content: '' }, completion.finishReason)]));
    if (includeUsage) await send(chunk([], usageOf(completion)));
    await send('[DONE]');
    res.end();
  }

  const usageOf = (completion: Completion) => {
    const completionTokens =
      completion.pieces.length + (completion.toolCall ? jsonTokens(completion.toolCall.arguments).length : 0);
    return {
      prompt_tokens: completion.promptTokens,
      completion_tokens: completionTokens,
      total_tokens: completion.promptTokens + completionTokens,
    };
  };

  function respond(res: ServerResponse, path: string, completion: Completion, fault: VllmFault | undefined) {
    if (fault?.kind === 'drop') {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': '100000' });
      res.write('{"id":"chatcmpl-dropped","object":"chat.completion","choices":[{"index":0,', () =>
        res.socket?.destroy(),
      );
      return;
    }
    if (fault?.kind === 'malformed') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"id":"chatcmpl-broken","object":"chat.completion","choices":[{"index":0,"message":');
      return;
    }
    const text = completion.pieces.join('');
    const chat = path !== '/v1/completions';
    const choice = chat
      ? {
          index: 0,
          message: {
            role: 'assistant',
            content: completion.toolCall ? null : text,
            tool_calls: completion.toolCall
              ? [
                  {
                    id: completion.toolCall.id,
                    type: 'function',
                    function: { name: completion.toolCall.name, arguments: completion.toolCall.arguments },
                  },
                ]
              : [],
          },
          logprobs: null,
          finish_reason: completion.finishReason,
        }
      : { index: 0, text, logprobs: null, finish_reason: completion.finishReason };
    sendJson(res, 200, {
      id: `${chat ? 'chatcmpl' : 'cmpl'}-${++counter}`,
      object: chat ? 'chat.completion' : 'text_completion',
      created: 1_700_000_000,
      model,
      choices: [choice],
      usage: usageOf(completion),
    });
  }

  async function handle(req: IncomingMessage, res: ServerResponse, record: FakeVllmRequest): Promise<void> {
    const fault = queue.shift() ?? standing;
    if (fault?.kind === 'delay') {
      await wait(fault.ms);
      if (res.destroyed) return;
    }
    if (fault?.kind === 'status') {
      sendJson(
        res,
        fault.status,
        fault.body ??
          errorBody('Injected failure.', fault.status === 429 ? 'RateLimitError' : 'InternalServerError', fault.status),
        fault.retryAfterSeconds === undefined ? {} : { 'retry-after': String(fault.retryAfterSeconds) },
      );
      return;
    }
    const authorization = record.headers.authorization;
    if (options.apiKey !== undefined && authorization !== `Bearer ${options.apiKey}`) {
      // Like a careless server, echo what the client sent.
      sendJson(
        res,
        401,
        errorBody(`Unauthorized: got ${authorization ?? 'no Authorization header'}`, 'Unauthorized', 401),
      );
      return;
    }
    if (req.method === 'GET' && record.path === '/v1/models') {
      sendJson(res, 200, {
        object: 'list',
        data: [
          { id: model, object: 'model', created: 1_700_000_000, owned_by: 'vllm', root: model, max_model_len: 2048 },
        ],
      });
      return;
    }
    if (req.method !== 'POST' || !['/v1/chat/completions', '/v1/completions'].includes(record.path)) {
      sendJson(res, 404, errorBody(`Not Found: ${req.method} ${record.path}`, 'NotFoundError', 404));
      return;
    }
    let request: ReturnType<typeof validate>;
    try {
      request = validate(record.path, record.body, model);
    } catch (error) {
      if (!(error instanceof RequestError)) throw error;
      sendJson(res, error.status, errorBody(error.message, error.type, error.status));
      return;
    }
    const promptTokens = words(request.promptText) + (request.messages ? 3 * request.messages.length : 0) || 1;
    const answer = think(request.body, request.promptText, request.messages, options.jsonMistakes ?? 0);
    const completion = complete(answer, request.body, promptTokens);
    if (request.body.stream === true) await stream(res, record.path, request.body, completion, fault);
    else respond(res, record.path, completion, fault);
  }

  const server = createServer((req, res) => {
    const record: FakeVllmRequest = {
      path: req.url ?? '',
      body: undefined,
      headers: headersOf(req),
      closedEarly: false,
    };
    requests.push(record);
    res.on('close', () => {
      if (!res.writableFinished) record.closedEarly = true;
    });
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      try {
        record.body = text ? JSON.parse(text) : undefined;
      } catch {
        record.body = text;
      }
      handle(req, res, record).catch((error: unknown) => {
        if (!res.headersSent) sendJson(res, 500, errorBody(String(error), 'InternalServerError', 500));
        else res.destroy();
      });
    });
  });

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/v1`,
    requests,
    setFault(fault) {
      standing = fault;
    },
    queueFaults(...faults) {
      queue.push(...faults);
    },
    close() {
      server.closeAllConnections();
      return new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve())));
    },
  };
}
