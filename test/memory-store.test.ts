import { mkdtemp, readdir, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { CorruptDataError, createMemoryStore, InvalidArgumentError, type VectorRecord } from '../src/index.js';
import { createFilePersistence } from '../src/node/snapshot-file.js';
import { storeArgumentSchemas } from '../src/stores/kernel/schemas.js';
import { storeConformance } from '../src/testing/index.js';

storeConformance(test, () => createMemoryStore(), { name: 'memory store' });

const dir = await mkdtemp(join(tmpdir(), 'kumiki-memory-'));
afterAll(() => rm(dir, { recursive: true, force: true }));

storeConformance(
  test,
  () => createMemoryStore({ persistence: createFilePersistence(join(dir, `conf-${Math.random()}.kmk`)) }),
  {
    name: 'memory store with file persistence',
    largeBatch: 2000,
    numRuns: 15,
  },
);

function records(n: number, dims: number, seed = 1): VectorRecord[] {
  let state = seed;
  const next = () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32 - 0.5;
  };
  return Array.from({ length: n }, (_, i) => ({
    id: i % 2 === 0 ? i : `id-${i}`,
    vector: Array.from({ length: dims }, next),
    sparseVector: { indices: [i % 7, 10 + (i % 5)], values: [1, 0.5] },
    payload: { i, group: i % 4, tags: [`t${i % 3}`] },
  }));
}

describe('int8 quantization', () => {
  test('returns exact float scores for the candidates it keeps, and the same top results on separated data', async () => {
    const exact = createMemoryStore();
    const quantized = createMemoryStore({ quantization: 'int8', rescore: 8 });
    const data = records(2000, 64, 9);
    for (const store of [exact, quantized]) {
      await store.createCollection({ name: 'q', dimensions: 64, metric: 'cosine' });
      await store.upsert({ collection: 'q', records: data });
    }
    let agreeing = 0;
    for (let i = 0; i < 20; i++) {
      const query = data[i * 37]?.vector as number[];
      const a = await exact.search({ collection: 'q', vector: query, limit: 10 });
      const b = await quantized.search({ collection: 'q', vector: query, limit: 10 });
      expect(b[0]?.id).toEqual(a[0]?.id);
      const exactScores = new Map(a.map((m) => [m.id, m.score]));
      for (const match of b)
        if (exactScores.has(match.id)) expect(match.score).toBeCloseTo(exactScores.get(match.id) as number, 5);
      agreeing += b.filter((m) => exactScores.has(m.id)).length;
    }
    expect(agreeing / 200).toBeGreaterThan(0.9);
  });
});

describe('file persistence', () => {
  test('a reopened store has exactly what was written', async () => {
    const path = join(dir, 'roundtrip.kmk');
    const first = createMemoryStore({ persistence: createFilePersistence(path) });
    await first.createCollection({ name: 'docs', dimensions: 5, metric: 'euclidean', embeddingSpace: 'kfp1:abc' });
    await first.createCollection({ name: 'sparse-only', sparse: true });
    const data = records(300, 5);
    await first.upsert({ collection: 'docs', records: data });
    await first.upsert({
      collection: 'sparse-only',
      records: [{ id: 'x', sparseVector: { indices: [4, 2], values: [1.5, 2.5] }, payload: { a: null } }],
    });
    await first.delete({ collection: 'docs', ids: [0, 'id-1'] });
    await first.dispose();

    const second = createMemoryStore({ persistence: createFilePersistence(path) });
    const info = await second.openCollection({ name: 'docs', embeddingSpace: 'kfp1:abc' });
    expect(info).toMatchObject({ dimensions: 5, metric: 'euclidean', count: 298, fingerprint: 'kfp1:abc' });
    const [stored] = await second.get({ collection: 'docs', ids: [2], includeVectors: true });
    expect(Array.from(stored?.vector ?? [])).toEqual(Array.from(new Float32Array(data[2]?.vector as number[])));
    expect(stored?.payload).toEqual(data[2]?.payload);
    const [sparse] = await second.get({ collection: 'sparse-only', ids: ['x'], includeVectors: true });
    expect(Array.from(sparse?.sparseVector?.indices ?? [])).toEqual([2, 4]);
    expect(sparse?.payload).toEqual({ a: null });
    await expect(second.openCollection({ name: 'docs', embeddingSpace: 'kfp1:other' })).rejects.toThrow(/kfp1:abc/);
    await second.dispose();
  });

  test('a torn or altered snapshot is refused with CorruptDataError and never loaded', async () => {
    const path = join(dir, 'torn.kmk');
    const store = createMemoryStore({ persistence: createFilePersistence(path) });
    await store.createCollection({ name: 'c', dimensions: 8 });
    await store.upsert({ collection: 'c', records: records(100, 8) });
    await store.dispose();
    const intact = await readFile(path);

    await truncate(path, intact.length - 13);
    const torn = createMemoryStore({ persistence: createFilePersistence(path) });
    const error = await torn.count({ collection: 'c' }).catch((e: unknown) => e);
    expect(CorruptDataError.isInstance(error)).toBe(true);
    expect(String((error as Error).message)).toContain('torn.kmk');

    const flipped = Buffer.from(intact);
    flipped[flipped.length - 5] = (flipped[flipped.length - 5] as number) ^ 0xff;
    await writeFile(path, flipped);
    const altered = createMemoryStore({ persistence: createFilePersistence(path) });
    await expect(altered.listCollections()).rejects.toThrow(/checksum/);

    await writeFile(path, intact);
    const restored = createMemoryStore({ persistence: createFilePersistence(path) });
    expect(await restored.count({ collection: 'c' })).toBe(100);
  });

  test('saves leave no temporary files behind and manual durability saves on flush', async () => {
    const sub = await mkdtemp(join(dir, 'manual-'));
    const path = join(sub, 'store.kmk');
    const store = createMemoryStore({ persistence: createFilePersistence(path), durability: 'manual' });
    await store.createCollection({ name: 'm', dimensions: 2 });
    await store.upsert({ collection: 'm', records: [{ id: 1, vector: [1, 2] }] });
    // Nothing saved yet; the writer lock is held from the first change until the flush.
    expect(await readdir(sub)).toEqual(['store.kmk.lock']);
    await store.flush();
    expect(await readdir(sub)).toEqual(['store.kmk']);
    const reopened = createMemoryStore({ persistence: createFilePersistence(path) });
    expect(await reopened.count({ collection: 'm' })).toBe(1);
  });

  test('a snapshot survives a process killed mid-write: the old or the new state, never a broken one', async () => {
    const { spawn } = await import('node:child_process');
    const path = join(dir, 'killed.kmk');
    const seed = createMemoryStore({ persistence: createFilePersistence(path) });
    await seed.createCollection({ name: 'k', dimensions: 32 });
    await seed.upsert({ collection: 'k', records: records(1000, 32) });
    await seed.dispose();
    const script = `
      import { createMemoryStore } from ${JSON.stringify(new URL('../src/index.ts', import.meta.url).pathname)};
      import { createFilePersistence } from ${JSON.stringify(new URL('../src/node/snapshot-file.ts', import.meta.url).pathname)};
      const store = createMemoryStore({ persistence: createFilePersistence(${JSON.stringify(path)}) });
      let i = 0;
      for (;;) {
        await store.upsert({ collection: 'k', records: Array.from({ length: 500 }, (_, j) => ({ id: 'n' + i++, vector: Array(32).fill(j) })) });
        process.stdout.write('.');
      }`;
    for (const delay of [30, 120, 400]) {
      const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      await new Promise((resolve) => child.stdout.once('data', resolve));
      await new Promise((resolve) => setTimeout(resolve, delay));
      child.kill('SIGKILL');
      await new Promise((resolve) => child.once('exit', resolve));
      const reopened = createMemoryStore({ persistence: createFilePersistence(path) });
      const count = await reopened.count({ collection: 'k' });
      expect(count).toBeGreaterThanOrEqual(1000);
      expect((count - 1000) % 500).toBe(0);
    }
  });
});

describe('upsert of Float32Arrays, whose values the arena checks as it stores them', () => {
  const { parseUpsert } = storeArgumentSchemas();
  /** What the upsert schema, checking every value up front, throws for `input`. */
  const schemaError = (input: unknown) => {
    try {
      parseUpsert(input);
    } catch (error) {
      return error as InvalidArgumentError;
    }
    throw new Error('the schema took this input');
  };
  const vector = (values: number[]) => new Float32Array(values);
  const inputs: [string, { collection: string; records: VectorRecord[] }][] = [
    [
      'two bad records, an update before them',
      {
        collection: 'c',
        records: [
          { id: 'kept', vector: vector([2, 2, 2]) },
          { id: 1, vector: vector([1, Number.NaN, 0]) },
          { id: 2, vector: vector([1, 0, 0]) },
          { id: 3, vector: vector([Number.NEGATIVE_INFINITY, 0, 0]) },
        ],
      },
    ],
    [
      'a new id written twice and an update before it',
      {
        collection: 'c',
        records: [
          { id: 'new', vector: vector([0, 1, 0]) },
          { id: 'kept', vector: vector([2, 2, 2]), payload: { a: 2 } },
          { id: 'new', vector: vector([0, 0, 1]) },
          { id: 'kept', vector: vector([3, 3, 3]) },
          { id: 'bad', vector: vector([0, Number.NaN, 0]) },
        ],
      },
    ],
    ['a missing collection', { collection: 'missing', records: [{ id: 1, vector: vector([0, 0, Number.NaN]) }] }],
    [
      'a short vector before the bad one',
      {
        collection: 'c',
        records: [
          { id: 1, vector: vector([1, 0]) },
          { id: 2, vector: vector([1, Number.POSITIVE_INFINITY, 0]) },
        ],
      },
    ],
  ];
  for (const kernel of ['wasm', 'js'] as const) {
    for (const [what, input] of inputs) {
      test(`${kernel} kernel, ${what}: the schema's error, and nothing written`, async () => {
        const store = createMemoryStore({ kernel });
        await store.createCollection({ name: 'c', dimensions: 3 });
        await store.upsert({ collection: 'c', records: [{ id: 'kept', vector: [1, 0, 0], payload: { a: 1 } }] });
        const error = await store.upsert(input).then(
          () => undefined,
          (caught: unknown) => caught,
        );
        const expected = schemaError(input);
        expect(error).toBeInstanceOf(InvalidArgumentError);
        expect((error as InvalidArgumentError).message).toBe(expected.message);
        expect((error as InvalidArgumentError).issues).toEqual(expected.issues);
        expect(await store.count({ collection: 'c' })).toBe(1);
        expect(await store.get({ collection: 'c', ids: ['kept'], includeVectors: true })).toEqual([
          { id: 'kept', vector: vector([1, 0, 0]), payload: { a: 1 } },
        ]);
      });
    }
  }
});
