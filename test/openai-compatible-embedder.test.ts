import { afterAll, beforeAll, describe, expect, onTestFinished, test } from 'vitest';
import {
  createOpenAICompatibleEmbedder,
  httpDetails,
  type OpenAICompatibleEmbedderOptions,
} from '../src/embedders/openai-compatible/index.js';
import { decodeFloat32Base64 } from '../src/embedders/openai-compatible/response.js';
import {
  AbortedError,
  ConflictError,
  DimensionMismatchError,
  fingerprint,
  InvalidArgumentError,
  type KumikiError,
  NotFoundError,
  TimeoutError,
  UnauthorizedError,
  UnavailableError,
} from '../src/index.js';
import { describeUrl, isRetryableStatus, redact, retryAfterMs } from '../src/internal/http/errors.js';
import { embedderConformance } from '../src/testing/index.js';
import {
  type FakeOpenAIServer,
  type FakeServerSettings,
  fakeEmbedding,
  startFakeOpenAIServer,
} from './helpers/fake-openai-server.js';

let shared: FakeOpenAIServer;
beforeAll(async () => {
  shared = await startFakeOpenAIServer();
});
afterAll(() => shared.close());

embedderConformance(
  test,
  () => createOpenAICompatibleEmbedder({ baseURL: shared.baseURL, model: 'fake-embed', retries: 0 }),
  { name: 'OpenAI-compatible embedder (float)', tolerance: 0 },
);
embedderConformance(
  test,
  () =>
    createOpenAICompatibleEmbedder({
      baseURL: shared.baseURL,
      model: 'fake-embed',
      encodingFormat: 'base64',
      dimensions: 24,
      retries: 0,
    }),
  { name: 'OpenAI-compatible embedder (base64, dimensions 24)', tolerance: 0 },
);

/** A server of its own for one test, closed when the test ends. */
async function serve(settings: Partial<FakeServerSettings> = {}): Promise<FakeOpenAIServer> {
  const server = await startFakeOpenAIServer(settings);
  onTestFinished(() => server.close());
  return server;
}

function embedderFor(server: FakeOpenAIServer, options: Partial<OpenAICompatibleEmbedderOptions> = {}) {
  return createOpenAICompatibleEmbedder({ baseURL: server.baseURL, model: 'fake-embed', ...options });
}

async function failure(promise: Promise<unknown>): Promise<KumikiError> {
  try {
    await promise;
  } catch (error) {
    return error as KumikiError;
  }
  throw new Error('expected the call to fail, but it succeeded');
}

const texts = (count: number, tag = 'text') =>
  Array.from({ length: count }, (_, i) => `${tag} ${i}: ${'abc'.repeat(i)}`);
const batchSizes = (server: FakeOpenAIServer) => server.requests.map((request) => request.inputs.length);

describe('the wire protocol', () => {
  test('vectors are the server’s, in input order, with usage; the request is plain OpenAI', async () => {
    const server = await serve();
    const values = texts(20);
    const result = await embedderFor(server).embed({ values, role: 'document' });
    expect(result.vectors).toEqual(values.map((value) => fakeEmbedding(value, 48)));
    expect(result.usage).toEqual({ tokens: values.reduce((sum, value) => sum + value.length, 0) });
    expect(result.warnings).toBeUndefined();
    expect(server.requests).toHaveLength(1);
    expect(server.requests[0]?.body).toEqual({ model: 'fake-embed', input: values });
    expect(server.requests[0]?.headers['content-type']).toBe('application/json');
  });

  test('base64 decodes to exactly the float vectors; dimensions is sent and declared', async () => {
    const server = await serve();
    const values = texts(5);
    const embedder = embedderFor(server, { encodingFormat: 'base64', dimensions: 24 });
    const { vectors } = await embedder.embed({ values, role: 'document' });
    expect(vectors).toEqual(values.map((value) => fakeEmbedding(value, 24)));
    expect(server.requests[0]?.body).toMatchObject({ encoding_format: 'base64', dimensions: 24 });
    expect((await embedder.space()).dimensions).toBe(24);
    expect(server.requests).toHaveLength(1);
  });

  test('reordered data is put back in input order', async () => {
    const server = await serve();
    server.faults.push({ kind: 'reorder' });
    const values = texts(7);
    const { vectors } = await embedderFor(server).embed({ values, role: 'document' });
    expect(server.requests[0]?.fault).toBe('reorder');
    expect(vectors).toEqual(values.map((value) => fakeEmbedding(value, 48)));
  });

  test('prefixes are prepended per role', async () => {
    const server = await serve();
    const embedder = embedderFor(server, { queryPrefix: 'query: ', documentPrefix: 'passage: ' });
    const query = await embedder.embed({ values: ['cats'], role: 'query' });
    const document = await embedder.embed({ values: ['cats'], role: 'document' });
    expect(server.requests.map((request) => request.inputs)).toEqual([['query: cats'], ['passage: cats']]);
    expect(query.vectors[0]).toEqual(fakeEmbedding('query: cats', 48));
    expect(document.vectors[0]).toEqual(fakeEmbedding('passage: cats', 48));
  });

  test('inputs are split into batches of maxBatchSize, and no texts make no request', async () => {
    const server = await serve();
    const values = texts(10);
    const embedder = embedderFor(server, { maxBatchSize: 4 });
    const { vectors } = await embedder.embed({ values, role: 'document' });
    expect(batchSizes(server)).toEqual([4, 4, 2]);
    expect(vectors).toEqual(values.map((value) => fakeEmbedding(value, 48)));
    expect((await embedder.embed({ values: [], role: 'document' })).vectors).toEqual([]);
    expect(server.requests).toHaveLength(3);
  });

  test('space() learns the dimensions from one probe request, then they are fixed', async () => {
    const server = await serve();
    const embedder = embedderFor(server, { revision: '2024-05' });
    const space = await embedder.space();
    expect(space).toEqual({
      provider: 'openai-compatible',
      model: 'fake-embed',
      revision: '2024-05',
      dimensions: 48,
      kind: 'dense',
    });
    await embedder.space();
    expect(server.requests).toHaveLength(1);
    server.faults.push({ kind: 'dimensions', dimensions: 10 });
    const error = await failure(embedder.embed({ values: ['x'], role: 'document' }));
    expect(DimensionMismatchError.isInstance(error)).toBe(true);
    expect(error).toMatchObject({ expected: 48, actual: 10 });
    expect(error.message).toContain('learnt from its first response');
  });

  test('a response with other dimensions than the option is refused', async () => {
    const server = await serve();
    server.faults.push({ kind: 'dimensions', dimensions: 10 });
    const error = await failure(embedderFor(server, { dimensions: 24 }).embed({ values: ['x'], role: 'query' }));
    expect(DimensionMismatchError.isInstance(error)).toBe(true);
    expect(error).toMatchObject({ expected: 24, actual: 10 });
  });

  test('an injected fetch is used', async () => {
    const server = await serve();
    const seen: string[] = [];
    const embedder = embedderFor(server, {
      fetch: (input, init) => {
        seen.push(String(input));
        return fetch(input, init);
      },
    });
    await embedder.embed({ values: ['x'], role: 'document' });
    expect(seen).toEqual([`${server.baseURL}/embeddings`]);
  });
});

describe('the learned batch size', () => {
  test('after 413s the batch is halved, every vector comes back in order, and later calls send smaller batches', async () => {
    const server = await serve({ maxBatch: 6 });
    const embedder = embedderFor(server, { maxBatchSize: 32 });
    const values = texts(40);
    const result = await embedder.embed({ values, role: 'document' });
    expect(result.vectors).toEqual(values.map((value) => fakeEmbedding(value, 48)));
    expect(server.requests.slice(0, 3).map((request) => [request.inputs.length, request.status])).toEqual([
      [32, 413],
      [16, 413],
      [8, 413],
    ]);
    const served = server.requests.filter((request) => request.status === 200);
    expect(served.flatMap((request) => request.inputs)).toEqual(values);
    expect(served.every((request) => request.inputs.length === 4)).toBe(true);
    expect(embedder.maxBatchSize).toBe(4);
    expect(result.warnings).toEqual([
      expect.stringContaining(
        'refused requests of up to 32 inputs as too large; this embedder now sends at most 4 inputs per request',
      ),
    ]);
    expect(result.usage?.tokens).toBe(values.reduce((sum, value) => sum + value.length, 0));

    const before = server.requests.length;
    await embedder.embed({ values: texts(10, 'again'), role: 'document' });
    expect(batchSizes(server).slice(before)).toEqual([4, 4, 2]);
  });

  test('a 400 saying the batch is too large teaches the same way', async () => {
    const server = await serve({ maxBatch: 3, batchLimitStatus: 400 });
    const embedder = embedderFor(server, { maxBatchSize: 8 });
    const values = texts(7);
    const { vectors } = await embedder.embed({ values, role: 'document' });
    expect(vectors).toEqual(values.map((value) => fakeEmbedding(value, 48)));
    expect(server.requests[0]).toMatchObject({ status: 400 });
    expect(embedder.maxBatchSize).toBe(2);
  });

  test('a single input the server refuses as too large is an InvalidArgumentError', async () => {
    const server = await serve({ maxBatch: 0 });
    const error = await failure(embedderFor(server).embed({ values: ['a', 'b', 'c'], role: 'document' }));
    expect(InvalidArgumentError.isInstance(error)).toBe(true);
    expect(error.message).toMatch(/refused a single input of 1 characters as too large \(HTTP 413: .*maximum allowed/);
    expect(batchSizes(server)).toEqual([3, 2, 1]);
  });
  test('a 413 that blames the length of an input is an InvalidArgumentError and teaches nothing', async () => {
    const server = await serve();
    server.faults.push({
      kind: 'status',
      status: 413,
      body: '{"error":"Input validation error: `inputs` must have less than 512 tokens. Given: 600"}',
    });
    const embedder = embedderFor(server, { maxBatchSize: 8 });
    const error = await failure(embedder.embed({ values: texts(4), role: 'document' }));
    expect(InvalidArgumentError.isInstance(error)).toBe(true);
    expect(error.message).toContain('answered HTTP 413 Payload Too Large: {"error":"Input validation error');
    expect(httpDetails(error)?.status).toBe(413);
    expect(server.requests).toHaveLength(1);
    expect(embedder.maxBatchSize).toBe(8);
  });
});

describe('retries', () => {
  test('429 with Retry-After waits at least that long before the retry, then succeeds', async () => {
    const server = await serve();
    server.faults.push({ kind: 'status', status: 429, headers: { 'retry-after': '1' } });
    const { vectors } = await embedderFor(server).embed({ values: ['x'], role: 'document' });
    expect(vectors[0]).toEqual(fakeEmbedding('x', 48));
    const [first, second] = server.requests;
    expect([first?.status, second?.status]).toEqual([429, 200]);
    // Server-side gap between the two attempts; timers have whole-millisecond resolution.
    expect(second!.at - first!.at).toBeGreaterThanOrEqual(999);
  });

  test('500s are retried and then succeed; past the retries the error carries status and excerpt', async () => {
    const server = await serve();
    server.faults.push({ kind: 'status', status: 500 }, { kind: 'status', status: 503 });
    const values = texts(3);
    const { vectors } = await embedderFor(server).embed({ values, role: 'document' });
    expect(vectors).toEqual(values.map((value) => fakeEmbedding(value, 48)));
    expect(server.requests.map((request) => request.status)).toEqual([500, 503, 200]);

    server.faults.push({ kind: 'status', status: 500 }, { kind: 'status', status: 502, body: 'bad gateway page' });
    const error = await failure(embedderFor(server, { retries: 1 }).embed({ values, role: 'document' }));
    expect(UnavailableError.isInstance(error)).toBe(true);
    expect(error).toMatchObject({ statusCode: 502, isRetryable: true, url: `${server.baseURL}/embeddings` });
    expect(error.message).toContain(
      `POST ${server.baseURL}/embeddings answered HTTP 502 Bad Gateway: bad gateway page`,
    );
    expect(httpDetails(error)).toMatchObject({ status: 502, bodyExcerpt: 'bad gateway page' });
  });

  test('a dropped connection is retried; without retries it names the URL and the cause', async () => {
    const server = await serve();
    server.faults.push({ kind: 'drop' });
    const { vectors } = await embedderFor(server).embed({ values: ['x'], role: 'document' });
    expect(vectors[0]).toEqual(fakeEmbedding('x', 48));
    expect(server.requests.map((request) => request.fault)).toEqual(['drop', undefined]);

    server.faults.push({ kind: 'drop' });
    const error = await failure(embedderFor(server, { retries: 0 }).embed({ values: ['x'], role: 'document' }));
    expect(UnavailableError.isInstance(error)).toBe(true);
    expect(error.isRetryable).toBe(true);
    expect(error.message).toContain(
      `the connection broke while reading the response from ${server.baseURL}/embeddings`,
    );
    expect(error.message).toMatch(/terminated/);
  });

  test('an unreachable server is a retryable UnavailableError naming the URL and the cause', async () => {
    const server = await startFakeOpenAIServer();
    await server.close();
    const error = await failure(embedderFor(server, { retries: 0 }).embed({ values: ['x'], role: 'document' }));
    expect(UnavailableError.isInstance(error)).toBe(true);
    expect(error).toMatchObject({ isRetryable: true, url: `${server.baseURL}/embeddings` });
    expect(error.message).toContain(`could not reach ${server.baseURL}/embeddings`);
    expect(error.message).toContain('ECONNREFUSED');
  });

  test('a response slower than timeoutMs is a TimeoutError, cancels the request, and is retried', async () => {
    const server = await serve();
    server.faults.push({ kind: 'delay', ms: 3_000 });
    const error = await failure(
      embedderFor(server, { timeoutMs: 100, retries: 0 }).embed({ values: ['x'], role: 'document' }),
    );
    expect(TimeoutError.isInstance(error)).toBe(true);
    expect(error).toMatchObject({ timeoutMs: 100, isRetryable: true });
    await server.waitFor(() => server.requests[0]?.closedEarly === true, 'the timed-out request to be closed');

    server.faults.push({ kind: 'delay', ms: 3_000 });
    const { vectors } = await embedderFor(server, { timeoutMs: 1_000, retries: 1 }).embed({
      values: ['x'],
      role: 'document',
    });
    expect(vectors[0]).toEqual(fakeEmbedding('x', 48));
  });

  test('client errors are not retried', async () => {
    const server = await serve();
    const error = await failure(
      createOpenAICompatibleEmbedder({ baseURL: server.baseURL, model: 'no-such-model' }).embed({
        values: ['x'],
        role: 'document',
      }),
    );
    expect(NotFoundError.isInstance(error)).toBe(true);
    expect(error.message).toContain('The model `no-such-model` does not exist.');
    expect(error.message).toContain('Check the base URL');
    expect(httpDetails(error)?.status).toBe(404);
    expect(server.requests).toHaveLength(1);
  });
});

describe('abort', () => {
  test('aborting cancels the in-flight HTTP request', async () => {
    const server = await serve();
    server.faults.push({ kind: 'hang' });
    const controller = new AbortController();
    const pending = failure(
      embedderFor(server).embed({ values: ['x'], role: 'document', abortSignal: controller.signal }),
    );
    await server.waitFor(() => server.requests.length === 1, 'the request to arrive');
    controller.abort();
    const error = await pending;
    expect(AbortedError.isInstance(error)).toBe(true);
    await server.waitFor(() => server.requests[0]?.closedEarly === true, 'the server to see the connection closed');
  });

  test('aborting during a Retry-After wait stops without another request', async () => {
    const server = await serve();
    server.faults.push({ kind: 'status', status: 429, headers: { 'retry-after': '30' } });
    const controller = new AbortController();
    const pending = failure(
      embedderFor(server).embed({ values: ['x'], role: 'document', abortSignal: controller.signal }),
    );
    await server.waitFor(() => server.requests[0]?.status === 429, 'the 429');
    controller.abort();
    expect(AbortedError.isInstance(await pending)).toBe(true);
    expect(server.requests).toHaveLength(1);
  });
});

describe('responses that are not OpenAI-compatible', () => {
  test('malformed JSON: a non-retryable UnavailableError with an excerpt', async () => {
    const server = await serve();
    server.faults.push({ kind: 'malformed' });
    const error = await failure(embedderFor(server).embed({ values: ['x'], role: 'document' }));
    expect(UnavailableError.isInstance(error)).toBe(true);
    expect(error.isRetryable).toBe(false);
    expect(error.message).toContain(
      `the response from ${server.baseURL}/embeddings is not OpenAI-compatible: it is not valid JSON. Body: {"object":"list","data":[{"index":0,"embedding":[0.1,`,
    );
    expect(server.requests).toHaveLength(1);
  });

  test('the wrong shape names what is wrong', async () => {
    const server = await serve();
    server.faults.push({ kind: 'malformed', body: '{"embeddings":[[0.1,0.2]]}' });
    const error = await failure(embedderFor(server).embed({ values: ['x'], role: 'document' }));
    expect(UnavailableError.isInstance(error)).toBe(true);
    expect(error.message).toMatch(/not OpenAI-compatible: data: .*Body: \{"embeddings":\[\[0\.1,0\.2\]\]\}/);

    server.faults.push({ kind: 'malformed', body: '{"data":[{"index":0,"embedding":[0.1,null]}]}' });
    const notNumbers = await failure(embedderFor(server).embed({ values: ['x'], role: 'document' }));
    expect(notNumbers.message).toContain('data.0.embedding is not a list of numbers or base64 float32 values');
  });

  test('a missing embedding is reported, never dropped', async () => {
    const server = await serve();
    server.faults.push({ kind: 'missing' });
    const error = await failure(embedderFor(server).embed({ values: texts(3), role: 'document' }));
    expect(UnavailableError.isInstance(error)).toBe(true);
    expect(error.message).toContain('it holds 2 embeddings for 3 inputs');
  });
});

describe('credentials', () => {
  test('a token provider is called for every request, retries included', async () => {
    const server = await serve();
    let calls = 0;
    const embedder = embedderFor(server, { apiKey: async () => `token-${++calls}` });
    server.faults.push({ kind: 'status', status: 500 });
    await embedder.embed({ values: ['x'], role: 'document' });
    await embedder.embed({ values: ['y'], role: 'document' });
    expect(server.requests.map((request) => request.headers.authorization)).toEqual([
      'Bearer token-1',
      'Bearer token-2',
      'Bearer token-3',
    ]);
  });

  test('a string key is sent as a bearer token', async () => {
    const server = await serve({ apiKey: 'right-key' });
    await embedderFor(server, { apiKey: 'right-key' }).embed({ values: ['x'], role: 'document' });
    expect(server.requests[0]?.status).toBe(200);
  });

  /** Every text the error exposes: messages, causes, excerpts, stack, JSON. */
  function exposed(error: unknown): string {
    const parts: string[] = [];
    for (let current = error, depth = 0; current instanceof Error && depth < 8; depth++) {
      parts.push(String(current), current.stack ?? '', JSON.stringify(current));
      current = current.cause;
    }
    return parts.join('\n');
  }

  test('the API key never appears in errors, even when the server echoes it', async () => {
    const server = await serve({ apiKey: 'right-key' });
    const secret = 'sk-live-0123456789abcdef';
    const error = await failure(embedderFor(server, { apiKey: secret }).embed({ values: ['x'], role: 'document' }));
    expect(UnauthorizedError.isInstance(error)).toBe(true);
    expect(error.message).toContain('Incorrect API key provided: [redacted]');
    expect(error.message).toContain('Check the API key');
    expect(httpDetails(error)?.status).toBe(401);
    expect(exposed(error)).not.toContain(secret);
    expect(server.requests).toHaveLength(1);

    const rotating = await failure(
      embedderFor(server, { apiKey: () => `${secret}-rotated` }).embed({ values: ['x'], role: 'document' }),
    );
    expect(exposed(rotating)).not.toContain(secret);
  });

  test('credential headers are redacted from echoed bodies too', async () => {
    const server = await serve();
    server.faults.push({
      kind: 'status',
      status: 400,
      body: (request) => JSON.stringify({ error: { message: 'bad request', headers: request.headers } }),
    });
    const headers = { 'x-api-key': 'header-secret-42', 'x-trace': 'visible-trace' };
    const error = await failure(embedderFor(server, { headers }).embed({ values: ['x'], role: 'document' }));
    expect(InvalidArgumentError.isInstance(error)).toBe(true);
    expect(exposed(error)).not.toContain('header-secret-42');
    expect(error.message).toContain('"x-api-key":"[redacted]"');
    expect(error.message).toContain('visible-trace');
    expect(server.requests[0]?.headers['x-api-key']).toBe('header-secret-42');
  });

  test('a token provider that throws or returns nothing is an UnauthorizedError', async () => {
    const server = await serve();
    const thrown = await failure(
      embedderFor(server, {
        apiKey: () => {
          throw new Error('identity provider down');
        },
      }).embed({ values: ['x'], role: 'document' }),
    );
    expect(UnauthorizedError.isInstance(thrown)).toBe(true);
    expect(thrown.message).toContain('identity provider down');
    const empty = await failure(embedderFor(server, { apiKey: () => '' }).embed({ values: ['x'], role: 'document' }));
    expect(empty.message).toContain('returned an empty string');
    expect(server.requests).toHaveLength(0);
  });
});

describe('options, fingerprint, lifecycle', () => {
  test('bad options are InvalidArgumentErrors naming the problem', () => {
    const bad = (options: Record<string, unknown>) => () =>
      createOpenAICompatibleEmbedder({ baseURL: 'http://localhost:8000/v1', model: 'm', ...options } as never);
    expect(bad({ baseURL: 'localhost:8000' })).toThrow(/baseURL: baseURL must be an http\(s\) URL/);
    expect(bad({ baseURL: 'ftp://host/v1' })).toThrow(/baseURL must be an http\(s\) URL/);
    expect(bad({ baseURL: 'http://user:pw@host/v1' })).toThrow(/baseURL must not contain credentials/);
    expect(bad({ model: '' })).toThrow(/model: model must name the model/);
    expect(bad({ dimensions: -3 })).toThrow(/dimensions: dimensions must be at least 1/);
    expect(bad({ maxBatchSize: 0 })).toThrow(/maxBatchSize must be at least 1/);
    expect(bad({ encodingFormat: 'int8' })).toThrow(/encodingFormat must be 'float' or 'base64'/);
    expect(bad({ apiKey: 42 })).toThrow(/apiKey/);
    expect(bad({ headers: { 'bad name': 'x' } })).toThrow(/headers must have valid HTTP header names and values/);
    expect(bad({ retry: 3 })).toThrow(InvalidArgumentError);
  });

  test('the fingerprint covers model, revision, dimensions and prefixes, not the wire encoding', async () => {
    const server = await serve();
    const print = async (options: Partial<OpenAICompatibleEmbedderOptions>) =>
      fingerprint(await embedderFor(server, { dimensions: 24, ...options }).space());
    const base = await print({});
    expect(await print({ encodingFormat: 'base64', maxBatchSize: 3, timeoutMs: 5 })).toBe(base);
    expect(await print({ revision: 'v2' })).not.toBe(base);
    expect(await print({ dimensions: 12 })).not.toBe(base);
    expect(await print({ queryPrefix: 'query: ' })).not.toBe(base);
    expect(await print({ documentPrefix: 'passage: ' })).not.toBe(base);
    expect(
      fingerprint(
        await createOpenAICompatibleEmbedder({ baseURL: server.baseURL, model: 'other', dimensions: 24 }).space(),
      ),
    ).not.toBe(base);
    expect(server.requests).toHaveLength(0);
  });

  test('a disposed embedder refuses to embed', async () => {
    const server = await serve();
    const embedder = embedderFor(server);
    await embedder.dispose();
    expect(ConflictError.isInstance(await failure(embedder.embed({ values: ['x'], role: 'document' })))).toBe(true);
  });
});

describe('HTTP helpers', () => {
  test('Retry-After: seconds or an HTTP-date', () => {
    const now = Date.parse('Wed, 21 Oct 2015 07:28:00 GMT');
    expect(retryAfterMs('2', now)).toBe(2_000);
    expect(retryAfterMs(' 0.5 ', now)).toBe(500);
    expect(retryAfterMs('Wed, 21 Oct 2015 07:28:30 GMT', now)).toBe(30_000);
    expect(retryAfterMs('Wed, 21 Oct 2015 07:27:00 GMT', now)).toBe(0);
    expect(retryAfterMs('soon', now)).toBeUndefined();
    expect(retryAfterMs('-5', now)).toBeUndefined();
    expect(retryAfterMs(null, now)).toBeUndefined();
  });

  test('retryable statuses', () => {
    expect([408, 429, 500, 502, 503, 504].every(isRetryableStatus)).toBe(true);
    expect([400, 401, 403, 404, 413, 422, 501].some(isRetryableStatus)).toBe(false);
  });

  test('redaction and URLs for messages', () => {
    expect(redact('key abc123 and Bearer abcdefgh12345 and abc123', ['abc123'])).toBe(
      'key [redacted] and Bearer [redacted] and [redacted]',
    );
    expect(describeUrl('https://u:p@host/v1?api-key=s3cret')).toBe('https://host/v1?api-key=%5Bredacted%5D');
  });

  test('base64 float32 decoding is little-endian and refuses partial values', () => {
    expect(decodeFloat32Base64('AACAPwAAAMA=')).toEqual(new Float32Array([1, -2]));
    expect(decodeFloat32Base64('AACAPwA=')).toBeUndefined();
    expect(decodeFloat32Base64('not base64!')).toBeUndefined();
  });
});
