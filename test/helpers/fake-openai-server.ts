/**
 * A real HTTP server on 127.0.0.1 that speaks the OpenAI `/v1/embeddings` protocol, with
 * deterministic embeddings (hashed character 1- to 3-grams) and faults injected on demand: push
 * faults onto `server.faults` and each request takes the next one. Every request is recorded, with
 * the server-side time it arrived and whether the client closed the connection before the answer.
 */
import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';

export type RecordedRequest = {
  /** `performance.now()` when the request arrived. */
  at: number;
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  /** The parsed JSON body, or undefined when it was not JSON. */
  body: { model?: unknown; input?: unknown; dimensions?: unknown; encoding_format?: unknown } | undefined;
  inputs: string[];
  /** The status the server answered with; undefined while it has not (or never will: hang, drop). */
  status: number | undefined;
  fault: Fault['kind'] | undefined;
  /** The client closed the connection before the response was complete. */
  closedEarly: boolean;
};

export type Fault =
  /** Answer with this status (and body, headers) instead of embedding. */
  | {
      kind: 'status';
      status: number;
      body?: string | ((request: RecordedRequest) => string);
      headers?: Record<string, string>;
    }
  /** Wait before answering normally. */
  | { kind: 'delay'; ms: number }
  /** Never answer. */
  | { kind: 'hang' }
  /** Send the status line, headers and part of the body, then destroy the socket. */
  | { kind: 'drop' }
  /** Answer 200 with a body that is not JSON (or the given body). */
  | { kind: 'malformed'; body?: string }
  /** Answer with `data` in reverse order (indices still right). */
  | { kind: 'reorder' }
  /** Answer with one embedding fewer than inputs. */
  | { kind: 'missing' }
  /** Answer with vectors of other dimensions. */
  | { kind: 'dimensions'; dimensions: number };

export type FakeServerSettings = {
  /** The one model the server serves; others get 404. */
  model: string;
  /** Dimensions when the request sets none. */
  dimensions: number;
  /** Most inputs per request; more get `batchLimitStatus`. */
  maxBatch: number;
  batchLimitStatus: 400 | 413;
  /** Longest input in characters; longer ones get 400. */
  maxInputChars: number;
  /** When set, requests must carry `Authorization: Bearer <apiKey>`; others get a 401 that echoes the header. */
  apiKey: string | undefined;
  /** Every answer waits this long, in ms, as a model-bound server's would (any number of requests at once). */
  latencyMs: number;
};

export type FakeOpenAIServer = {
  /** `http://127.0.0.1:<port>/v1` */
  baseURL: string;
  requests: RecordedRequest[];
  /** Faults for the next requests, in order. */
  faults: Fault[];
  settings: FakeServerSettings;
  /** Polls until `predicate` holds; rejects naming `what` after 5 s. */
  waitFor(predicate: () => boolean, what: string): Promise<void>;
  close(): Promise<void>;
};

/** FNV-1a over UTF-16 code units. */
function hash(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** The server's embedding of `text`: signed counts of hashed 1- to 3-grams, L2-normalised, as float32. */
export function fakeEmbedding(text: string, dimensions: number): Float32Array {
  const chars = ['\u0002', ...Array.from(text), '\u0003'];
  const sums = new Float64Array(dimensions);
  for (let n = 1; n <= 3; n++) {
    for (let i = 0; i + n <= chars.length; i++) {
      const h = hash(`${n}:${chars.slice(i, i + n).join('')}`);
      sums[h % dimensions]! += h & 0x80000000 ? -1 : 1;
    }
  }
  const norm = Math.hypot(...sums) || 1;
  return Float32Array.from(sums, (value) => value / norm);
}

function toBase64(vector: Float32Array): string {
  const bytes = Buffer.alloc(vector.length * 4);
  for (let i = 0; i < vector.length; i++) bytes.writeFloatLE(vector[i]!, i * 4);
  return bytes.toString('base64');
}

function sendJson(res: ServerResponse, record: RecordedRequest, status: number, body: unknown, headers = {}): void {
  record.status = status;
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(typeof body === 'string' ? body : JSON.stringify(body));
}

const error = (message: string, type = 'invalid_request_error') => ({ error: { message, type } });

export async function startFakeOpenAIServer(settings: Partial<FakeServerSettings> = {}): Promise<FakeOpenAIServer> {
  const state: FakeServerSettings = {
    model: 'fake-embed',
    dimensions: 48,
    maxBatch: 10_000,
    batchLimitStatus: 413,
    maxInputChars: 8_192,
    apiKey: undefined,
    latencyMs: 0,
    ...settings,
  };
  const requests: RecordedRequest[] = [];
  const faults: Fault[] = [];

  function answer(res: ServerResponse, record: RecordedRequest, fault: Fault | undefined): void {
    if (res.destroyed) return;
    if (fault?.kind === 'status') {
      const body = typeof fault.body === 'function' ? fault.body(record) : (fault.body ?? error('injected failure'));
      sendJson(res, record, fault.status, body, fault.headers);
      return;
    }
    if (fault?.kind === 'malformed') {
      record.status = 200;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(fault.body ?? '{"object":"list","data":[{"index":0,"embedding":[0.1,');
      return;
    }
    if (fault?.kind === 'drop') {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': '100000' });
      res.write('{"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.125,', () =>
        res.socket?.destroy(),
      );
      return;
    }
    const authorization = record.headers.authorization;
    if (state.apiKey !== undefined && authorization !== `Bearer ${state.apiKey}`) {
      // Like a careless server, echo what the client sent.
      sendJson(
        res,
        record,
        401,
        error(`Incorrect API key provided: ${authorization ?? '(none)'}`, 'authentication_error'),
      );
      return;
    }
    const body = record.body;
    if (body === undefined || !Array.isArray(body.input) || !body.input.every((input) => typeof input === 'string')) {
      sendJson(res, record, 400, error('input must be an array of strings'));
      return;
    }
    if (body.model !== state.model) {
      sendJson(res, record, 404, error(`The model \`${String(body.model)}\` does not exist.`, 'NotFoundError'));
      return;
    }
    if (record.inputs.length > state.maxBatch) {
      const message = `batch size ${record.inputs.length} > maximum allowed batch size ${state.maxBatch}`;
      sendJson(res, record, state.batchLimitStatus, error(message));
      return;
    }
    const tooLong = record.inputs.findIndex((input) => input.length > state.maxInputChars);
    if (tooLong >= 0) {
      sendJson(res, record, 400, error(`input ${tooLong} is longer than the ${state.maxInputChars}-character context`));
      return;
    }
    const requested = typeof body.dimensions === 'number' ? body.dimensions : state.dimensions;
    const dimensions = fault?.kind === 'dimensions' ? fault.dimensions : requested;
    let data = record.inputs.map((input, index) => {
      const vector = fakeEmbedding(input, dimensions);
      return {
        object: 'embedding',
        index,
        embedding: body.encoding_format === 'base64' ? toBase64(vector) : Array.from(vector),
      };
    });
    if (fault?.kind === 'reorder') data = data.reverse();
    if (fault?.kind === 'missing') data = data.slice(1);
    const tokens = record.inputs.reduce((sum, input) => sum + Array.from(input).length, 0);
    sendJson(res, record, 200, {
      object: 'list',
      data,
      model: state.model,
      usage: { prompt_tokens: tokens, total_tokens: tokens },
    });
  }

  const server = createServer((req, res) => {
    const record: RecordedRequest = {
      at: performance.now(),
      method: req.method ?? '',
      path: req.url ?? '',
      headers: req.headers,
      body: undefined,
      inputs: [],
      status: undefined,
      fault: undefined,
      closedEarly: false,
    };
    requests.push(record);
    res.on('close', () => {
      if (!res.writableFinished) record.closedEarly = true;
    });
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      try {
        record.body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch {
        record.body = undefined;
      }
      const input = record.body?.input;
      record.inputs = Array.isArray(input) ? input.filter((item): item is string => typeof item === 'string') : [];
      if (req.method !== 'POST' || req.url !== '/v1/embeddings') {
        sendJson(res, record, 404, error(`no route for ${req.method} ${req.url}`));
        return;
      }
      const fault = faults.shift();
      record.fault = fault?.kind;
      if (fault?.kind === 'hang') return;
      if (fault?.kind === 'delay') setTimeout(() => answer(res, record, undefined), fault.ms);
      else if (state.latencyMs > 0) setTimeout(() => answer(res, record, fault), state.latencyMs);
      else answer(res, record, fault);
    });
  });

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    baseURL: `http://127.0.0.1:${port}/v1`,
    requests,
    faults,
    settings: state,
    async waitFor(predicate, what) {
      const deadline = performance.now() + 5_000;
      while (!predicate()) {
        if (performance.now() > deadline) throw new Error(`fake OpenAI server: gave up waiting for ${what}`);
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    },
    close() {
      server.closeAllConnections();
      return new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve())));
    },
  };
}
