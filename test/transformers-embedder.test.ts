import { copyFile, mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { env, type ProgressInfo } from '@huggingface/transformers';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { fingerprint } from '../src/core/fingerprint.js';
import { createTransformersEmbedder, type TransformersEmbedderOptions } from '../src/embedders/transformers/index.js';
import { embedderConformance } from '../src/testing/index.js';
import { writeTinyBert } from './helpers/tiny-bert.js';

// No request may leave this machine: transformers.js fetches through env.fetch, which only lets the
// local hub server below through and counts everything else.
const realFetch = env.fetch;
let outsideRequests = 0;
env.fetch = (async (url: string | URL, init?: RequestInit) => {
  if (new URL(String(url)).hostname === '127.0.0.1') return realFetch(url, init);
  outsideRequests++;
  throw new TypeError(`network disabled in this test: ${String(url)}`);
}) as typeof env.fetch;

let root = '';
let folder = '';

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'kumiki-transformers-'));
  folder = (await writeTinyBert(join(root, 'tiny-bert'))).folder;
});

afterAll(async () => {
  env.fetch = realFetch;
  await rm(root, { recursive: true, force: true });
});

const create = (options: Partial<TransformersEmbedderOptions> = {}) =>
  createTransformersEmbedder({ model: folder, offline: true, ...options });

const norm = (vector: Float32Array) => Math.sqrt(vector.reduce((sum, value) => sum + value * value, 0));
const maxDifference = (a: Float32Array, b: Float32Array) =>
  a.reduce((max, value, i) => Math.max(max, Math.abs(value - (b[i] as number))), 0);

embedderConformance(test, () => create(), { name: 'transformers.js embedder on the generated tiny BERT' });

describe('the generated tiny BERT', () => {
  test('is written deterministically', async () => {
    const again = await writeTinyBert(join(root, 'tiny-bert-again'));
    for (const file of ['config.json', 'tokenizer.json', 'tokenizer_config.json', 'onnx/model.onnx']) {
      expect(Buffer.compare(await readFile(join(folder, file)), await readFile(join(again.folder, file)))).toBe(0);
    }
  });

  test('tells texts apart and ignores padding', async () => {
    const embedder = create({ normalize: false });
    const short = 'the cat';
    const long = 'the quick brown fox jumps over the lazy dog and reads a good old document';
    const { vectors } = await embedder.embed({ values: [short, long, 'red fox', short], role: 'document' });
    const [alone] = (await embedder.embed({ values: [short], role: 'document' })).vectors;
    expect(maxDifference(vectors[0]!, vectors[3]!)).toBe(0);
    expect(maxDifference(vectors[0]!, vectors[1]!)).toBeGreaterThan(0.05);
    expect(maxDifference(vectors[1]!, vectors[2]!)).toBeGreaterThan(0.05);
    // "the cat" is padded to the long text's length in the batch; alone it is not.
    expect(maxDifference(vectors[0]!, alone!)).toBeLessThan(1e-5);
    await embedder.dispose();
  });
});

describe('createTransformersEmbedder', () => {
  test('pooling follows the attention mask and normalize gives unit vectors', async () => {
    const texts = ['hello world', 'the quick brown fox jumps over the lazy dog'];
    const reference = create();
    const { tokenizer, model } = await reference.native();
    const encoded = tokenizer(texts, { padding: true, truncation: true });
    const output = (await model(encoded)).last_hidden_state as { data: Float32Array; dims: number[] };
    const [, sequence = 0, width = 0] = output.dims;
    const mask = encoded.attention_mask.data as BigInt64Array;
    const token = (row: number, position: number) =>
      output.data.slice((row * sequence + position) * width, (row * sequence + position + 1) * width);
    const lengths = texts.map(
      (_, row) => mask.slice(row * sequence, (row + 1) * sequence).filter((m) => m === 1n).length,
    );
    expect(lengths[0]).toBeLessThan(sequence); // the first text is padded

    for (const pooling of ['mean', 'cls', 'last_token'] as const) {
      const raw = create({ pooling, normalize: false });
      const unit = create({ pooling, normalize: true });
      const { vectors } = await raw.embed({ values: texts, role: 'document' });
      const { vectors: normalized } = await unit.embed({ values: texts, role: 'document' });
      texts.forEach((_, row) => {
        const length = lengths[row] as number;
        let expected: Float32Array;
        if (pooling === 'cls') expected = token(row, 0);
        else if (pooling === 'last_token') expected = token(row, length - 1);
        else {
          expected = new Float32Array(width);
          for (let p = 0; p < length; p++) {
            const vector = token(row, p);
            for (let j = 0; j < width; j++) expected[j] = expected[j]! + vector[j]! / length;
          }
        }
        expect(maxDifference(vectors[row]!, expected), `${pooling} row ${row}`).toBeLessThan(1e-5);
        expect(norm(normalized[row]!)).toBeCloseTo(1, 5);
        const scaled = vectors[row]!.map((value) => value / norm(vectors[row]!));
        expect(maxDifference(normalized[row]!, scaled)).toBeLessThan(1e-6);
      });
      await Promise.all([raw.dispose(), unit.dispose()]);
    }
    await reference.dispose();
  });

  test('prefixes change vectors and the fingerprint', async () => {
    const plain = create();
    const e5 = create({ queryPrefix: 'query: ', documentPrefix: 'passage: ' });
    const text = 'red fox';
    const [plainQuery] = (await plain.embed({ values: [text], role: 'query' })).vectors;
    const [plainDocument] = (await plain.embed({ values: [text], role: 'document' })).vectors;
    const [query] = (await e5.embed({ values: [text], role: 'query' })).vectors;
    const [document] = (await e5.embed({ values: [text], role: 'document' })).vectors;
    expect(maxDifference(plainQuery!, plainDocument!)).toBe(0);
    expect(maxDifference(query!, document!)).toBeGreaterThan(0.01);
    expect(maxDifference(query!, plainQuery!)).toBeGreaterThan(0.01);
    const [byHand] = (await plain.embed({ values: [`query: ${text}`], role: 'document' })).vectors;
    expect(maxDifference(query!, byHand!)).toBe(0);
    const space = await e5.space();
    expect(space).toMatchObject({ queryPrefix: 'query: ', documentPrefix: 'passage: ' });
    expect(fingerprint(space)).not.toBe(fingerprint(await plain.space()));
    await Promise.all([plain.dispose(), e5.dispose()]);
  });

  test('the fingerprint covers model, revision, dtype, pooling, normalize, prefixes and maxLength', async () => {
    const quantized = await writeTinyBert(join(root, 'tiny-bert-q8'));
    await copyFile(join(quantized.folder, 'onnx/model.onnx'), join(quantized.folder, 'onnx/model_quantized.onnx'));
    const variants: Partial<TransformersEmbedderOptions>[] = [
      {},
      { model: quantized.folder },
      { revision: 'v2' },
      { model: quantized.folder, dtype: 'q8' },
      { pooling: 'cls' },
      { normalize: false },
      { queryPrefix: 'query: ' },
      { documentPrefix: 'passage: ' },
      { maxLength: 16 },
    ];
    const embedders = variants.map((options) => create(options));
    const spaces = await Promise.all(embedders.map((embedder) => embedder.space()));
    expect(spaces[0]).toEqual({
      provider: 'transformers.js',
      model: folder,
      revision: 'main',
      dimensions: 32,
      kind: 'dense',
      pooling: 'mean',
      normalize: true,
      queryPrefix: '',
      documentPrefix: '',
      quantization: 'fp32',
      extra: { maxLength: 128 },
    });
    expect(new Set(spaces.map(fingerprint)).size).toBe(variants.length);
    await Promise.all(embedders.map((embedder) => embedder.dispose()));
  });

  test('maxLength truncates with a warning and is capped at the model limit', async () => {
    const short = create({ maxLength: 8 });
    const long = 'the quick brown fox jumps over the lazy dog';
    const result = await short.embed({ values: ['hello', long], role: 'document' });
    expect(result.warnings).toEqual(['text 1 has 11 tokens; only the first 8 (maxLength) were embedded']);
    expect(result.usage).toEqual({ tokens: 3 + 8 });
    // Both are cut after "[CLS] the quick brown fox jumps over the": what follows does not count.
    const [cut] = (await short.embed({ values: ['the quick brown fox jumps over the red cat'], role: 'document' }))
      .vectors;
    expect(maxDifference(result.vectors[1]!, cut!)).toBeLessThan(1e-5);
    const capped = create({ maxLength: 100_000 });
    expect((await capped.space()).extra).toEqual({ maxLength: 128 });
    await Promise.all([short.dispose(), capped.dispose()]);
  });

  test('50 concurrent first calls load the model once', async () => {
    const events: ProgressInfo[] = [];
    const embedder = create({ onProgress: (info) => events.push(info) });
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) => embedder.embed({ values: [`text ${i}`], role: 'document' })),
    );
    expect(results.every((result) => result.vectors.length === 1)).toBe(true);
    expect(events.filter((event) => event.status === 'ready')).toEqual([
      { status: 'ready', task: 'feature-extraction', model: folder },
    ]);
    await embedder.dispose();

    const fresh = create();
    const natives = await Promise.all(Array.from({ length: 50 }, () => fresh.native()));
    expect(new Set(natives.map((native) => native.model)).size).toBe(1);
    expect(new Set(natives.map((native) => native.tokenizer)).size).toBe(1);
    await fresh.dispose();
  });

  test('abort: before the load, during the load and between batches', async () => {
    const embedder = create({ batchSize: 1 });
    const values = Array.from({ length: 300 }, (_, i) => `document number ${i}`);
    const early = new AbortController();
    const duringLoad = embedder.embed({ values, role: 'document', abortSignal: early.signal });
    early.abort();
    await expect(duringLoad).rejects.toMatchObject({ name: 'AbortedError' });

    await embedder.space(); // loaded: the next abort lands between batches
    const late = new AbortController();
    const betweenBatches = embedder.embed({ values, role: 'document', abortSignal: late.signal });
    setImmediate(() => late.abort());
    await expect(betweenBatches).rejects.toMatchObject({
      name: 'AbortedError',
      message: `Embedding 300 texts with "${folder}" was aborted.`,
    });
    expect((await embedder.embed({ values: ['still works'], role: 'query' })).vectors).toHaveLength(1);
    await embedder.dispose();
  });

  test('dispose stops running calls at the next batch; afterwards every method throws ConflictError', async () => {
    const embedder = create({ batchSize: 1 });
    await embedder.space();
    const running = embedder.embed({
      values: Array.from({ length: 300 }, (_, i) => `text ${i}`),
      role: 'document',
    });
    const disposed = embedder.dispose();
    await expect(running).rejects.toMatchObject({ name: 'ConflictError' });
    await disposed;
    await embedder.dispose();
    const message = `The transformers.js embedder for "${folder}" was disposed. Create a new one with createTransformersEmbedder().`;
    await expect(embedder.embed({ values: ['x'], role: 'query' })).rejects.toMatchObject({
      name: 'ConflictError',
      message,
    });
    await expect(embedder.space()).rejects.toMatchObject({ name: 'ConflictError' });
    await expect(embedder.native()).rejects.toMatchObject({ name: 'ConflictError' });
  });

  test('offline without a local copy: one NotFoundError naming the model, the folders searched and the fix', async () => {
    const cacheDir = join(root, 'empty-cache');
    const embedder = createTransformersEmbedder({ model: 'kumiki-test/absent-model', offline: true, cacheDir });
    const modelFolders = [
      join(cacheDir, 'kumiki-test/absent-model'),
      join(env.localModelPath, 'kumiki-test/absent-model'),
    ];
    const expected =
      'Local copy of model "kumiki-test/absent-model" does not exist. offline: true forbids downloads, and no folder ' +
      `holding its config.json was found; searched ${modelFolders.join(' and ')}. Load it once with offline: false ` +
      `(it is then cached in ${modelFolders[0]}), copy the model folder into one of those folders, or pass ` +
      "model: '/path/to/model-folder'.";
    await expect(embedder.embed({ values: ['x'], role: 'query' })).rejects.toMatchObject({
      name: 'NotFoundError',
      code: 'KUMIKI_NOT_FOUND',
      message: expected,
    });
    await expect(embedder.space()).rejects.toMatchObject({ name: 'NotFoundError', message: expected });
  });

  test('a folder missing files, or the graph of the chosen dtype, is named in a NotFoundError', async () => {
    await expect(create({ model: join(root, 'nowhere') }).space()).rejects.toMatchObject({
      name: 'NotFoundError',
      message: expect.stringMatching(/^Model folder ".*nowhere" does not exist\. Point `model` at a folder holding/),
    });
    await expect(create({ model: root }).space()).rejects.toMatchObject({
      name: 'NotFoundError',
      message: expect.stringContaining(
        `Model file "${join(root, 'config.json')}" does not exist. The folder lacks config.json, tokenizer.json, tokenizer_config.json.`,
      ),
    });
    await expect(create({ dtype: 'q4' }).space()).rejects.toMatchObject({
      name: 'NotFoundError',
      message: expect.stringContaining(`Model file "${join(folder, 'onnx/model_q4.onnx')}" does not exist.`),
    });
  });

  test('bad options and bad calls are InvalidArgumentErrors naming the problem', () => {
    expect(() => createTransformersEmbedder({ model: '' })).toThrow(
      'Invalid transformers.js embedder options: model: model must be a Hugging Face model id or a folder path',
    );
    expect(() => create({ pooling: 'max' as never })).toThrow('pooling: pooling must be one of: mean, cls, last_token');
    expect(() => create({ batchSize: 0 })).toThrow('batchSize: batchSize must be at least 1');
    expect(() => create({ dtype: 'fp64' as never })).toThrow('dtype: dtype must be one of: fp32, fp16, q8');
    expect(() => create({ onProgress: 'loud' as never })).toThrow('onProgress: onProgress must be a function');
    expect(() => create({ cache: '/tmp' } as never)).toThrow('Invalid transformers.js embedder options');
  });
});

describe('downloads from a hub (a local HTTP server standing in for huggingface.co)', () => {
  let server: Server;
  const requests: string[] = [];
  const remoteHost = env.remoteHost;

  beforeAll(async () => {
    // Serves /<owner>/<name>/resolve/<revision>/<file> from the generated folder, as the Hub does.
    server = createServer((request, response) => {
      const url = decodeURIComponent(request.url ?? '');
      requests.push(url);
      const match = /^\/([^/]+)\/([^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(url);
      if (match?.[1] === 'private') {
        response.writeHead(401).end();
        return;
      }
      if (match?.[1] !== 'kumiki-test' || match[2] !== 'tiny-bert') {
        response.writeHead(404).end();
        return;
      }
      readFile(join(folder, match[4] as string)).then(
        (body) => response.writeHead(200, { 'content-length': body.length }).end(body),
        () => response.writeHead(404).end(),
      );
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    env.remoteHost = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  });

  afterAll(async () => {
    env.remoteHost = remoteHost;
    await new Promise((resolve) => server.close(resolve));
  });

  test('downloads into cacheDir with progress, then loads offline from there with no request', async () => {
    const cacheDir = join(root, 'hub-cache');
    const events: ProgressInfo[] = [];
    const online = createTransformersEmbedder({
      model: 'kumiki-test/tiny-bert',
      revision: 'v1',
      cacheDir,
      onProgress: (info) => events.push(info),
    });
    const texts = ['hello world', 'a red fox'];
    const downloaded = await online.embed({ values: texts, role: 'document' });
    const done = events.flatMap((event) => (event.status === 'done' ? [event.file] : []));
    expect(done.sort()).toEqual(['config.json', 'onnx/model.onnx', 'tokenizer.json', 'tokenizer_config.json']);
    expect(events.some((event) => event.status === 'progress' && event.file === 'onnx/model.onnx')).toBe(true);
    expect(events.at(-1)).toEqual({ status: 'ready', task: 'feature-extraction', model: 'kumiki-test/tiny-bert' });
    // transformers.js 4.3.1 checks for tokenizer_config.json on the main branch whatever the revision.
    expect(requests.every((url) => url.startsWith('/kumiki-test/tiny-bert/resolve/'))).toBe(true);
    for (const file of ['config.json', 'tokenizer.json', 'tokenizer_config.json', 'onnx/model.onnx']) {
      expect(requests).toContain(`/kumiki-test/tiny-bert/resolve/v1/${file}`);
    }
    await online.dispose();

    const before = requests.length;
    const offline = createTransformersEmbedder({
      model: 'kumiki-test/tiny-bert',
      revision: 'v1',
      cacheDir,
      offline: true,
    });
    const cached = await offline.embed({ values: texts, role: 'document' });
    const local = await create().embed({ values: texts, role: 'document' });
    expect(requests.length).toBe(before);
    cached.vectors.forEach((vector, i) => {
      expect(maxDifference(vector, downloaded.vectors[i]!)).toBe(0);
      expect(maxDifference(vector, local.vectors[i]!)).toBe(0);
    });
    expect((await offline.space()).revision).toBe('v1');
    await offline.dispose();
  });

  test('hub errors become typed errors: 404 NotFoundError, 401 UnauthorizedError, no server UnavailableError', async () => {
    const cacheDir = join(root, 'error-cache');
    await expect(createTransformersEmbedder({ model: 'kumiki-test/absent', cacheDir }).space()).rejects.toMatchObject({
      name: 'NotFoundError',
      message: expect.stringMatching(
        /^Hub file "http:\/\/127\.0\.0\.1:\d+\/kumiki-test\/absent\/resolve\/main\/config\.json" does not exist\. Check the model id \("kumiki-test\/absent"\)/,
      ),
    });
    await expect(createTransformersEmbedder({ model: 'private/model', cacheDir }).space()).rejects.toMatchObject({
      name: 'UnauthorizedError',
      message: expect.stringContaining('set the HF_TOKEN environment variable'),
    });
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    env.remoteHost = `http://127.0.0.1:${port}/`;
    try {
      await expect(
        createTransformersEmbedder({ model: 'kumiki-test/tiny-bert', cacheDir }).space(),
      ).rejects.toMatchObject({
        name: 'UnavailableError',
        isRetryable: true,
        message: expect.stringContaining('Could not download model "kumiki-test/tiny-bert"'),
      });
    } finally {
      env.remoteHost = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    }
  });
});

test('no request left this machine', () => {
  expect(outsideRequests).toBe(0);
});

describe('tokenizer()', () => {
  test('counts tokens exactly as the model tokenizer encodes them (special tokens included)', async () => {
    const embedder = create();
    const counter = await embedder.tokenizer();
    const { tokenizer } = await embedder.native();
    expect(counter.id).toBe(`transformers.js/${folder}@main`);
    const texts = [
      '',
      'hello world',
      'the quick brown fox jumps over the lazy dog',
      'über 猫 😀 naïve',
      'x'.repeat(300),
    ];
    for (const text of texts) expect(counter.count(text)).toBe(tokenizer.encode(text).length);
    // No truncation: a long text counts all its tokens, more than the model's limit.
    const { extra } = await embedder.space();
    expect(counter.count('the cat '.repeat(600))).toBeGreaterThan(extra?.maxLength as number);
    await embedder.dispose();
    await expect(embedder.tokenizer()).rejects.toMatchObject({ name: 'ConflictError' });
  });
});
