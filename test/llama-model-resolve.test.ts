import { existsSync } from 'node:fs';
import { copyFile, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { modelFingerprint } from '../src/core/runner.js';
import { createLlamaCppEmbedder } from '../src/embedders/llama-cpp/index.js';
import type { ModelDownloadProgress } from '../src/llama/resolve.js';
import { createLlamaCppRunner, type LlamaCppRunnerOptions } from '../src/runners/llama-cpp/index.js';

const MODEL = fileURLToPath(new URL('../../shared/models/stories260K.gguf', import.meta.url));

/** The real GGUF from ../shared; a clear failure naming the path when it is missing. */
function modelPath(): string {
  if (!existsSync(MODEL)) {
    throw new Error(`The test model ${MODEL} is missing: these tests need ../shared/models/stories260K.gguf.`);
  }
  return MODEL;
}

/** node-llama-cpp's file name for `hf:kumiki-test/tiny/stories260K.gguf` (a URI naming its file). */
const HF_URI = 'hf:kumiki-test/tiny/stories260K.gguf';
const HF_FILE = 'hf_kumiki-test_tiny_stories260K.gguf';

let directory: string;
beforeAll(async () => {
  directory = await mkdtemp(join(tmpdir(), 'kumiki-models-'));
});
afterAll(async () => {
  await rm(directory, { recursive: true, force: true });
});

const runner = (options: LlamaCppRunnerOptions) =>
  createLlamaCppRunner({ threads: 1, contextSize: 256, logLevel: 'error', ...options });

describe('model URIs', () => {
  test('offline with the file absent: one NotFoundError naming the URI, the directory and the fixes', async () => {
    const empty = await mkdtemp(join(tmpdir(), 'kumiki-empty-'));
    try {
      const absent = runner({ model: 'hf:kumiki-test/absent:Q8_0', modelsDirectory: empty, offline: true });
      expect(absent.modelId).toBe('hf:kumiki-test/absent:Q8_0');
      const error = await absent.generate({ prompt: 'Once', maxTokens: 2 }).catch((e: unknown) => e);
      expect(error).toMatchObject({ code: 'KUMIKI_NOT_FOUND' });
      const message = (error as Error).message;
      expect(message).toContain('hf:kumiki-test/absent:Q8_0');
      expect(message).toContain(empty);
      expect(message).toMatch(/run once online/);
      expect(message).toMatch(/modelPath/);
      expect(await readdir(empty)).toEqual([]);
      await absent.dispose();
    } finally {
      await rm(empty, { recursive: true, force: true });
    }
  });

  test('a URI whose file is already in modelsDirectory resolves offline; same fingerprint as its path', async () => {
    await copyFile(modelPath(), join(directory, HF_FILE));
    const fromUri = runner({ model: HF_URI, modelsDirectory: directory, offline: true });
    const fromPath = runner({ modelPath: join(directory, HF_FILE) });
    try {
      const result = await fromUri.generate({ prompt: 'Once upon a time', maxTokens: 4, temperature: 0 });
      expect(result.text.length).toBeGreaterThan(0);
      expect(fromUri.modelId).toBe(HF_FILE);
      expect(modelFingerprint(await fromUri.describeModel())).toBe(modelFingerprint(await fromPath.describeModel()));
      expect((await fromUri.describeModel()).model).toBe(HF_FILE);
    } finally {
      await fromUri.dispose();
      await fromPath.dispose();
    }
    const embedder = createLlamaCppEmbedder({
      model: HF_URI,
      modelsDirectory: directory,
      offline: true,
      threads: 1,
      logLevel: 'error',
    });
    try {
      const { vectors } = await embedder.embed({ values: ['a tiny story'], role: 'document' });
      expect(vectors[0]?.length).toBeGreaterThan(0);
      expect(embedder.modelId).toBe(HF_FILE);
    } finally {
      await embedder.dispose();
    }
  });

  describe('download from a local http server', () => {
    let server: Server;
    let base: string;
    let requests = 0;
    beforeAll(async () => {
      const bytes = await readFile(modelPath());
      server = createServer((request, response) => {
        requests++;
        if (request.url !== '/files/stories260K.gguf') {
          response.writeHead(404).end('not found');
          return;
        }
        response.writeHead(200, {
          'content-type': 'application/octet-stream',
          'content-length': String(bytes.length),
          'accept-ranges': 'none',
        });
        response.end(request.method === 'HEAD' ? undefined : bytes);
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });
    afterAll(async () => {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    });

    test('downloads into modelsDirectory with progress, then reuses it offline', async () => {
      const target = await mkdtemp(join(tmpdir(), 'kumiki-download-'));
      const progress: ModelDownloadProgress[] = [];
      const uri = `${base}/files/stories260K.gguf`;
      const online = runner({ model: uri, modelsDirectory: target, onProgress: (p) => progress.push(p) });
      try {
        const result = await online.generate({ prompt: 'Once', maxTokens: 2, temperature: 0 });
        expect(result.text.length).toBeGreaterThan(0);
        expect(await readdir(target)).toContain('stories260K.gguf');
        const size = (await readFile(modelPath())).length;
        expect(progress.length).toBeGreaterThan(0);
        expect(progress.at(-1)).toEqual({ downloadedBytes: size, totalBytes: size });
        for (let i = 1; i < progress.length; i++) {
          expect(progress[i]?.downloadedBytes).toBeGreaterThanOrEqual(progress[i - 1]?.downloadedBytes ?? 0);
        }
        const fromPath = runner({ modelPath: modelPath() });
        expect((await online.describeModel()).revision).toBe((await fromPath.describeModel()).revision);
        await fromPath.dispose();
      } finally {
        await online.dispose();
      }
      const before = requests;
      const offline = runner({ model: uri, modelsDirectory: target, offline: true });
      try {
        await offline.generate({ prompt: 'Once', maxTokens: 2, temperature: 0 });
        expect(requests).toBe(before);
      } finally {
        await offline.dispose();
        await rm(target, { recursive: true, force: true });
      }
    });

    test('a server error is an UnavailableError naming the URI', async () => {
      const target = await mkdtemp(join(tmpdir(), 'kumiki-download-'));
      const uri = `${base}/files/missing.gguf`;
      const failing = runner({ model: uri, modelsDirectory: target });
      try {
        const error = await failing.generate({ prompt: 'Once', maxTokens: 2 }).catch((e: unknown) => e);
        expect(error).toMatchObject({ code: 'KUMIKI_UNAVAILABLE' });
        expect((error as Error).message).toContain(uri);
      } finally {
        await failing.dispose();
        await rm(target, { recursive: true, force: true });
      }
    });
  });

  test('exactly one of modelPath and model; URI options only with model; a malformed URI', async () => {
    const invalid = (options: object) => () => createLlamaCppRunner(options as LlamaCppRunnerOptions);
    expect(invalid({})).toThrow(expect.objectContaining({ code: 'KUMIKI_INVALID_ARGUMENT' }));
    expect(invalid({ modelPath: modelPath(), model: HF_URI })).toThrow(/either modelPath or model, not both/);
    expect(invalid({ modelPath: modelPath(), offline: true })).toThrow(/offline applies only with model/);
    expect(() => createLlamaCppEmbedder({} as LlamaCppRunnerOptions)).toThrow(/modelPath .* or model/);
    const bad = runner({ model: 'hf:', modelsDirectory: directory, offline: true });
    await expect(bad.generate({ prompt: 'x', maxTokens: 1 })).rejects.toMatchObject({
      code: 'KUMIKI_INVALID_ARGUMENT',
    });
    await bad.dispose();
  });
});
