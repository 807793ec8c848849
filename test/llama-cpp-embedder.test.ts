import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  realpathSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, test } from 'vitest';
import { fingerprint } from '../src/core/fingerprint.js';
import {
  createLlamaCppEmbedder,
  describeLlamaModels,
  type LlamaCppEmbedderOptions,
} from '../src/embedders/llama-cpp/index.js';
import { embedderConformance } from '../src/testing/index.js';

const MODEL = fileURLToPath(new URL('../../shared/models/stories260K.gguf', import.meta.url));
/** The registry keys models by their real path (symlinks resolved), as ../shared may itself be a link. */
const REAL_MODEL = existsSync(MODEL) ? realpathSync(MODEL) : MODEL;

/** The real GGUF from ../shared; a clear failure naming the path when it is missing. */
function modelPath(): string {
  if (!existsSync(MODEL)) {
    throw new Error(`The test model ${MODEL} is missing: these tests need ../shared/models/stories260K.gguf.`);
  }
  return MODEL;
}

/** threads: 1 always (the machine has 2 cores); llama.cpp's warnings about this tiny model silenced. */
const embedder = (options: Partial<LlamaCppEmbedderOptions> = {}) =>
  createLlamaCppEmbedder({ modelPath: modelPath(), threads: 1, logLevel: 'error', ...options });

const scratch = mkdtempSync(join(tmpdir(), 'kumiki-llama-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const norm = (vector: Float32Array) => Math.sqrt(vector.reduce((sum, value) => sum + value * value, 0));
const usersOf = (path: string) => describeLlamaModels().filter((model) => model.modelPath === path);

embedderConformance(test, () => embedder(), { name: 'llama.cpp embedder', tolerance: 1e-6 });

describe('shared model registry', () => {
  test('two embedders on one GGUF (two spellings of its path) and many concurrent first calls load one model', async () => {
    const link = join(scratch, 'linked.gguf');
    symlinkSync(modelPath(), link);
    const a = embedder();
    const b = embedder({ modelPath: relative(process.cwd(), link) });
    expect(usersOf(REAL_MODEL)).toEqual([]);
    const calls = Array.from({ length: 6 }, (_, i) =>
      (i % 2 === 0 ? a : b).embed({ values: [`text ${i}`], role: 'document' }),
    );
    await Promise.all(calls);
    expect(usersOf(REAL_MODEL)).toEqual([
      { modelPath: REAL_MODEL, gpu: false, gpuLayers: 0, logLevel: 'error', users: 2, state: 'ready' },
    ]);
    const [first, second] = await Promise.all([a.native(), b.native()]);
    expect(first.model).toBe(second.model);
    expect(first.context).not.toBe(second.context);

    await a.dispose();
    expect(usersOf(REAL_MODEL)).toMatchObject([{ users: 1 }]);
    expect(second.model.disposed).toBe(false);
    const { vectors } = await b.embed({ values: ['still works'], role: 'query' });
    expect(vectors).toHaveLength(1);
    await b.dispose();
    expect(usersOf(REAL_MODEL)).toEqual([]);
    expect(second.model.disposed).toBe(true);
  });

  test('dispose is idempotent, loads nothing when unused, and later calls are refused', async () => {
    const unused = embedder();
    await unused.dispose();
    expect(usersOf(REAL_MODEL)).toEqual([]);
    const used = embedder();
    await used.embed({ values: ['x'], role: 'document' });
    await used.dispose();
    await used.dispose();
    await expect(used.embed({ values: ['x'], role: 'document' })).rejects.toMatchObject({
      name: 'ConflictError',
      message: expect.stringContaining('was disposed'),
    });
    await expect(used.space()).rejects.toMatchObject({ name: 'ConflictError' });
  });

  test('dispose during an embed call stops it between texts and frees the model', async () => {
    const e = embedder();
    const pending = e.embed({ values: Array.from({ length: 20 }, (_, i) => `text ${i}`), role: 'document' });
    const disposing = e.dispose();
    await expect(pending).rejects.toMatchObject({ name: 'ConflictError' });
    await disposing;
    expect(usersOf(REAL_MODEL)).toEqual([]);
  });
});

describe('options and errors', () => {
  test('a missing GGUF is a NotFoundError naming the path, and leaves nothing in the registry', async () => {
    const missing = join(scratch, 'nope', 'missing.gguf');
    const e = createLlamaCppEmbedder({ modelPath: missing, threads: 1 });
    expect(e.modelId).toBe('missing.gguf');
    await expect(e.embed({ values: ['x'], role: 'document' })).rejects.toMatchObject({
      name: 'NotFoundError',
      resourceName: missing,
      message: `GGUF model file "${missing}" does not exist. Check modelPath: it must point at a local .gguf file (modelPath is never downloaded; pass a URI as \`model\` to download one).`,
    });
    await expect(e.space()).rejects.toMatchObject({ name: 'NotFoundError' });
    await e.dispose();
    expect(describeLlamaModels().filter((model) => model.modelPath.startsWith(scratch))).toEqual([]);
  });

  test('a file that is not a GGUF model, a truncated one and a directory are InvalidArgumentErrors naming the path', async () => {
    const bogus = join(scratch, 'bogus.gguf');
    writeFileSync(bogus, 'this is not a model'.repeat(100));
    const e = embedder({ modelPath: bogus });
    await expect(e.embed({ values: ['x'], role: 'document' })).rejects.toMatchObject({
      name: 'InvalidArgumentError',
      message: expect.stringContaining(`"${bogus}" is not a readable GGUF model file`),
    });
    await e.dispose();
    const truncated = join(scratch, 'truncated.gguf');
    writeFileSync(truncated, readFileSync(modelPath()).subarray(0, 600_000));
    const cut = embedder({ modelPath: truncated });
    await expect(cut.embed({ values: ['x'], role: 'document' })).rejects.toMatchObject({
      name: 'InvalidArgumentError',
      message: expect.stringMatching(
        new RegExp(
          `^Invalid modelPath: "${truncated}" is not a readable GGUF model file \\(Failed to load model; llama\\.cpp logged: .*corrupted or incomplete`,
        ),
      ),
    });
    await cut.dispose();
    const directory = embedder({ modelPath: scratch });
    await expect(directory.space()).rejects.toMatchObject({
      name: 'InvalidArgumentError',
      message: `Invalid modelPath: "${scratch}" is not a file; pass the path of a .gguf file`,
    });
    expect(describeLlamaModels().filter((model) => model.modelPath.startsWith(scratch))).toEqual([]);
  });

  test('bad options are InvalidArgumentErrors naming each problem', () => {
    expect(() => createLlamaCppEmbedder({ modelPath: MODEL, threads: 0 })).toThrow(
      'Invalid llama.cpp embedder options: threads: threads must be at least 1',
    );
    expect(() => createLlamaCppEmbedder({ modelPath: '' })).toThrow('modelPath: modelPath is empty');
    expect(() => createLlamaCppEmbedder({ modelPath: MODEL, overflow: 'drop' as never })).toThrow(
      "overflow: overflow must be 'truncate' or 'error'",
    );
    expect(() => createLlamaCppEmbedder({ modelPath: MODEL, gpu: 'tpu' as never })).toThrow(
      "gpu: gpu must be false, 'auto', 'cuda', 'vulkan' or 'metal'",
    );
    expect(() => createLlamaCppEmbedder({ modelPath: MODEL, thread: 2 } as never)).toThrow(/Unrecognized key.*thread/);
  });

  test('space: dimensions from the model, pooling and name from the GGUF, and a stable fingerprint', async () => {
    const e = embedder({ contextSize: 128 });
    try {
      const space = await e.space();
      const { model } = await e.native();
      expect(space).toEqual({
        provider: 'llama-cpp',
        model: 'stories260K.gguf (llama)',
        revision: 'sha256:270cba1bd5109f42d03350f60406024560464db173c0e387d91f0426d3bd256d',
        dimensions: model.embeddingVectorSize,
        kind: 'dense',
        pooling: 'none',
        normalize: true,
        queryPrefix: '',
        documentPrefix: '',
        extra: { maxInputTokens: 127 },
      });
      expect(space.dimensions).toBe(64);
    } finally {
      await e.dispose();
    }
  });

  test('normalize gives unit vectors; without it the raw vectors point the same way', async () => {
    const texts = ['Once upon a time', 'a little dog ran home', ''];
    const unit = embedder();
    const raw = embedder({ normalize: false });
    try {
      const normalized = (await unit.embed({ values: texts, role: 'document' })).vectors;
      const plain = (await raw.embed({ values: texts, role: 'document' })).vectors;
      normalized.forEach((vector, i) => {
        expect(norm(vector)).toBeCloseTo(1, 5);
        const original = plain[i] as Float32Array;
        expect(Math.abs(norm(original) - 1)).toBeGreaterThan(1e-3);
        for (const [j, value] of original.entries()) expect(value / norm(original)).toBeCloseTo(vector[j] as number, 5);
      });
      expect(fingerprint(await unit.space())).not.toBe(fingerprint(await raw.space()));
    } finally {
      await Promise.all([unit.dispose(), raw.dispose()]);
    }
  });

  test('prefixes are prepended by role and change the vectors and the fingerprint', async () => {
    const plain = embedder();
    const prefixed = embedder({ queryPrefix: 'query: ', documentPrefix: 'passage: ' });
    try {
      const text = 'the cat sat';
      const [query, document, reference] = await Promise.all([
        prefixed.embed({ values: [text], role: 'query' }),
        prefixed.embed({ values: [text], role: 'document' }),
        plain.embed({ values: [text, `query: ${text}`, `passage: ${text}`], role: 'document' }),
      ]);
      const [bare, asQuery, asPassage] = reference.vectors as [Float32Array, Float32Array, Float32Array];
      expect(query.vectors[0]).toEqual(asQuery);
      expect(document.vectors[0]).toEqual(asPassage);
      expect(query.vectors[0]).not.toEqual(bare);
      expect(query.vectors[0]).not.toEqual(document.vectors[0]);
      const spaces = [await plain.space(), await prefixed.space()];
      expect(spaces[1]).toMatchObject({ queryPrefix: 'query: ', documentPrefix: 'passage: ' });
      expect(fingerprint(spaces[0]!)).not.toBe(fingerprint(spaces[1]!));
    } finally {
      await Promise.all([plain.dispose(), prefixed.dispose()]);
    }
  });

  test('revision: a copy of the same bytes keeps the fingerprint, changed bytes change it, and it can be set', async () => {
    mkdirSync(join(scratch, 'copy'));
    mkdirSync(join(scratch, 'changed'));
    const copy = join(scratch, 'copy', 'stories260K.gguf');
    copyFileSync(modelPath(), copy);
    const changed = join(scratch, 'changed', 'stories260K.gguf');
    const bytes = readFileSync(modelPath());
    bytes[bytes.length - 1] = (bytes[bytes.length - 1] as number) ^ 1;
    writeFileSync(changed, bytes);
    const embedders = [
      embedder(),
      embedder({ modelPath: copy }),
      embedder({ modelPath: changed }),
      embedder({ revision: 'v1' }),
    ];
    try {
      const [original, copied, altered, pinned] = await Promise.all(embedders.map((e) => e.space()));
      expect(fingerprint(copied!)).toBe(fingerprint(original!));
      expect(altered!.revision).not.toBe(original!.revision);
      expect(fingerprint(altered!)).not.toBe(fingerprint(original!));
      expect(pinned!.revision).toBe('v1');
    } finally {
      await Promise.all(embedders.map((e) => e.dispose()));
    }
  });

  test('a text longer than the context is truncated with a warning, or rejected before anything runs', async () => {
    const long = 'lorem ipsum dolor sit amet '.repeat(40);
    const truncating = embedder({ contextSize: 64 });
    const strict = embedder({ contextSize: 64, overflow: 'error' });
    try {
      const result = await truncating.embed({
        values: ['short', `${long} one ending`, `${long} another`],
        role: 'document',
      });
      expect(result.vectors).toHaveLength(3);
      expect(result.warnings).toEqual([
        expect.stringMatching(/^values\.1: truncated from \d+ to 63 tokens to fit the context$/),
        expect.stringMatching(/^values\.2: truncated from \d+ to 63 tokens to fit the context$/),
      ]);
      expect(result.vectors[1]).toEqual(result.vectors[2]);
      expect(result.usage?.tokens).toBeGreaterThan(2 * 63);
      expect((await truncating.embed({ values: ['short'], role: 'document' })).warnings).toBeUndefined();

      await expect(strict.embed({ values: ['short', long], role: 'document' })).rejects.toMatchObject({
        name: 'InvalidArgumentError',
        message: expect.stringMatching(
          /^Invalid embed options: values\.1: the text is \d+ tokens, more than the 63 that fit the context; shorten or split it, raise contextSize, or set overflow: 'truncate'$/,
        ),
      });
      expect(fingerprint(await truncating.space())).toBe(fingerprint(await strict.space()));
      const wider = embedder({ contextSize: 128 });
      expect(fingerprint(await wider.space())).not.toBe(fingerprint(await truncating.space()));
      await wider.dispose();
    } finally {
      await Promise.all([truncating.dispose(), strict.dispose()]);
    }
  });

  test('concurrent embed calls on one embedder equal the same calls one after another', async () => {
    const e = embedder();
    try {
      const batches = [
        ['Once upon a time', 'there was a girl'],
        ['she liked to play', 'in the park', 'with her dog'],
        ['the end'],
      ];
      const together = await Promise.all(batches.map((values) => e.embed({ values, role: 'document' })));
      for (const [i, values] of batches.entries()) {
        const alone = await e.embed({ values, role: 'document' });
        expect(together[i]!.vectors).toEqual(alone.vectors);
      }
    } finally {
      await e.dispose();
    }
  });

  test('an abort while the model loads rejects that call; the load goes on for the next one', async () => {
    const e = embedder();
    try {
      const controller = new AbortController();
      const pending = e.embed({ values: ['one'], role: 'document', abortSignal: controller.signal });
      controller.abort();
      await expect(pending).rejects.toMatchObject({ name: 'AbortedError' });
      const { vectors } = await e.embed({ values: ['one'], role: 'document' });
      expect(vectors).toHaveLength(1);
    } finally {
      await e.dispose();
    }
  });

  test('the abort signal is checked between texts', async () => {
    const e = embedder();
    try {
      const controller = new AbortController();
      let checks = 0;
      // Two reads before the loop, one before each text: the fourth read (before text 2) sees the abort.
      Object.defineProperty(controller.signal, 'aborted', { get: () => ++checks > 3 });
      await expect(
        e.embed({ values: ['one', 'two', 'three'], role: 'document', abortSignal: controller.signal }),
      ).rejects.toMatchObject({ name: 'AbortedError' });
      expect(checks).toBe(4);
    } finally {
      await e.dispose();
    }
  });
});

describe('tokenizer()', () => {
  test('counts tokens with the shared model: model.tokenize(text).length, id names the GGUF and its hash', async () => {
    const e = embedder();
    try {
      const counter = await e.tokenizer();
      const { model } = await e.native();
      const space = await e.space();
      expect(counter.id).toBe(`llama-cpp/${space.model}@${space.revision}`);
      for (const text of [
        '',
        'hello world',
        'Once upon a time there was a little cat.',
        'über 猫 😀',
        'a'.repeat(500),
      ]) {
        expect(counter.count(text)).toBe(model.tokenize(text).length);
      }
      expect(counter.count('Once upon a time')).toBeGreaterThan(0);
    } finally {
      await e.dispose();
    }
    await expect(e.tokenizer()).rejects.toMatchObject({ name: 'ConflictError' });
  });
});
