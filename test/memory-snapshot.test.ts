import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { config } from 'zod/mini';
import { crc32 } from '../src/core/crc32.js';
import { CorruptDataError, createMemoryStore, f } from '../src/index.js';
import { createFilePersistence } from '../src/node/snapshot-file.js';
import { MemoryCollection } from '../src/stores/memory/collection.js';
import type { VectorArena } from '../src/stores/memory/kernel/arena.js';
import type { SnapshotPersistence, SnapshotReader } from '../src/stores/memory/memory-store.js';
import { encodeSnapshot, MemoryMovedError, writeSnapshot } from '../src/stores/memory/snapshot.js';

/**
 * An in-memory persistence whose bytes the test can read and replace; with `pieces`, it also offers
 * `open()`, so the store reads the snapshot in pieces (`reads` lists where each read went).
 */
function memoryPersistence(
  initial?: Uint8Array,
  reading: 'whole' | 'pieces' = 'whole',
): SnapshotPersistence & { bytes: Uint8Array | undefined; reads: Uint8Array[] } {
  const target = {
    location: 'memory://snapshot',
    bytes: initial,
    reads: [] as Uint8Array[],
    async load() {
      return target.bytes;
    },
    async save(snapshot: Uint8Array) {
      target.bytes = snapshot.slice();
    },
  };
  if (reading === 'whole') return target;
  return Object.assign(target, {
    async open(): Promise<SnapshotReader | undefined> {
      const bytes = target.bytes;
      if (!bytes) return undefined;
      return {
        size: bytes.length,
        async read(into: Uint8Array, position: number) {
          target.reads.push(into);
          const piece = bytes.subarray(position, position + into.length);
          into.set(piece);
          return piece.length;
        },
        async close() {},
      };
    },
  });
}

/** A snapshot in format version 1, as kumiki wrote them before version 2. */
function versionOne(header: unknown, vectors: number[]): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(header));
  const vectorsAt = (4 + json.length + 3) & ~3;
  const body = new Uint8Array(vectorsAt + vectors.length * 4);
  const view = new DataView(body.buffer);
  view.setUint32(0, json.length, true);
  body.set(json, 4);
  for (const [i, value] of vectors.entries()) view.setFloat32(vectorsAt + i * 4, value, true);
  const bytes = new Uint8Array(16 + body.length);
  bytes.set(new TextEncoder().encode('KUMIKIS1'));
  const preamble = new DataView(bytes.buffer);
  preamble.setUint32(8, body.length, true);
  preamble.setUint32(12, crc32(body), true);
  bytes.set(body, 16);
  return bytes;
}

describe('memory store snapshots, format version 2', () => {
  test.each(['whole', 'pieces'] as const)(
    'dense (unpadded and padded rows, int8), sparse, payloads, state and declared indexes survive a reload (read %s)',
    async (reading) => {
      for (const quantization of ['none', 'int8'] as const) {
        const persistence = memoryPersistence();
        const store = createMemoryStore({ persistence, quantization });
        await store.createCollection({ name: 'odd', dimensions: 3, metric: 'euclidean' });
        await store.createCollection({ name: 'wide', dimensions: 8, metric: 'cosine' });
        await store.createCollection({ name: 'words', sparse: true });
        const odd = Array.from({ length: 70 }, (_, i) => ({
          id: i % 3 === 0 ? `s${i}` : i,
          vector: [Math.sin(i), Math.cos(i), i / 70],
          payload: { i, tags: [`t${i % 4}`], nested: { even: i % 2 === 0 } },
          ...(i % 5 === 0 ? { sparseVector: { indices: [i + 1, 3], values: [0.5, 1] } } : {}),
        }));
        await store.upsert({ collection: 'odd', records: odd });
        await store.upsert({
          collection: 'wide',
          records: Array.from({ length: 20 }, (_, i) => ({
            id: i,
            vector: Array.from({ length: 8 }, (_, j) => Math.sin(i * j + 1)),
          })),
        });
        await store.upsert({
          collection: 'words',
          records: [
            { id: 'a', sparseVector: { indices: [9, 2], values: [1, 2] }, payload: { text: 'x' } },
            { id: 'b', sparseVector: { indices: [2], values: [3] } },
          ],
        });
        await store.delete({ collection: 'odd', ids: [1, 's3'] });
        await store.createPayloadIndex({ collection: 'odd', field: 'nested.even' });
        await store.setCollectionState({ collection: 'words', key: 'k', value: { n: 1 } });
        await store.setAlias({ alias: 'current', collection: 'wide' });
        const queries = {
          odd: await store.search({ collection: 'odd', vector: [0.2, 0.9, 0.5], limit: 8, includeVectors: true }),
          filtered: await store.search({
            collection: 'odd',
            vector: [0.2, 0.9, 0.5],
            limit: 5,
            filter: f.eq('nested.even', true),
          }),
          wide: await store.search({ collection: 'current', vector: [1, 0, 1, 0, 1, 0, 1, 0], limit: 5 }),
          words: await store.search({ collection: 'words', sparseVector: { indices: [2, 9], values: [1, 1] } }),
          oddSparse: await store.search({ collection: 'odd', sparseVector: { indices: [3], values: [1] }, limit: 20 }),
        };
        expect(new TextDecoder().decode(persistence.bytes?.subarray(0, 8))).toBe('KUMIKIS2');

        const reader = memoryPersistence(persistence.bytes, reading);
        const reopened = createMemoryStore({ persistence: reader, quantization });
        expect(
          await reopened.search({ collection: 'odd', vector: [0.2, 0.9, 0.5], limit: 8, includeVectors: true }),
        ).toEqual(queries.odd);
        expect(
          await reopened.search({
            collection: 'odd',
            vector: [0.2, 0.9, 0.5],
            limit: 5,
            filter: f.eq('nested.even', true),
          }),
        ).toEqual(queries.filtered);
        expect(await reopened.search({ collection: 'current', vector: [1, 0, 1, 0, 1, 0, 1, 0], limit: 5 })).toEqual(
          queries.wide,
        );
        expect(
          await reopened.search({ collection: 'words', sparseVector: { indices: [2, 9], values: [1, 1] } }),
        ).toEqual(queries.words);
        expect(
          await reopened.search({ collection: 'odd', sparseVector: { indices: [3], values: [1] }, limit: 20 }),
        ).toEqual(queries.oddSparse);
        expect(await reopened.count({ collection: 'odd' })).toBe(68);
        expect(await reopened.getCollectionState({ collection: 'words', key: 'k' })).toEqual({
          value: { n: 1 },
          current: true,
        });
        const described = await reopened.describe();
        expect(described.collections.find((c) => c.name === 'odd')?.payloadIndexes).toEqual([
          { field: 'nested.even', source: 'declared' },
        ]);
        // Read in pieces, the dense rows (and int8 codes) went straight into the kernel's WebAssembly memory.
        const intoKernel = reader.reads.filter((into) => into.buffer.byteLength % 65536 === 0 && into.byteOffset > 0);
        expect(intoKernel.length).toBe(reading === 'whole' ? 0 : quantization === 'int8' ? 8 : 4);
        // Writes after the reload land where they should.
        await reopened.upsert({
          collection: 'odd',
          records: [{ id: 's0', vector: [0.2, 0.9, 0.5], payload: { nested: { even: true } } }],
        });
        const top = await reopened.search({
          collection: 'odd',
          vector: [0.2, 0.9, 0.5],
          limit: 1,
          filter: f.eq('nested.even', true),
        });
        expect(top[0]?.id).toBe('s0');
      }
    },
  );

  test('version 1 snapshots are still read', async () => {
    const bytes = versionOne(
      {
        aliases: { live: 'c' },
        collections: [
          {
            meta: { name: 'c', dimensions: 2, metric: 'dot', sparse: true, epoch: 'e1', version: 4 },
            state: { s: { value: 1, version: 4 } },
            records: [
              { id: 1, payload: { a: 1 } },
              { id: 'two', payload: {}, sparse: [[5], [2]] },
            ],
          },
        ],
      },
      [1, 0, 0.5, 0.5],
    );
    const store = createMemoryStore({ persistence: memoryPersistence(bytes) });
    const info = await store.openCollection({ name: 'live' });
    expect(info).toMatchObject({ name: 'c', count: 2, epoch: 'e1', version: 4 });
    expect((await store.search({ collection: 'c', vector: [1, 0], limit: 2 })).map((m) => m.id)).toEqual([1, 'two']);
    expect((await store.search({ collection: 'c', sparseVector: { indices: [5], values: [1] } }))[0]).toMatchObject({
      id: 'two',
      score: 2,
    });
  });

  test("a malformed header is refused with zod's English message, also where zod's classic API (its locale) is not loaded", async () => {
    const bytes = versionOne({ aliases: 5, collections: [] }, []);
    const refusal = () =>
      createMemoryStore({ persistence: memoryPersistence(bytes) })
        .listCollections()
        .then(
          () => new Error('expected a refusal'),
          (e: unknown) => e as Error,
        );
    const expected = 'Invalid input: expected record, received number';
    const withLocale = await refusal();
    expect(CorruptDataError.isInstance(withLocale)).toBe(true);
    expect(withLocale.message).toContain(expected);
    const { localeError } = config();
    config({ localeError: undefined });
    try {
      expect((await refusal()).message).toBe(withLocale.message);
    } finally {
      config({ localeError });
    }
  });

  test('another format version, torn files and sections of the wrong size are refused with CorruptDataError', async () => {
    const persistence = memoryPersistence();
    const store = createMemoryStore({ persistence });
    await store.createCollection({ name: 'c', dimensions: 4 });
    await store.upsert({ collection: 'c', records: [{ id: 1, vector: [1, 2, 3, 4] }] });
    const good = persistence.bytes as Uint8Array;
    const refused = async (bytes: Uint8Array, reason: RegExp) => {
      const messages: string[] = [];
      for (const reading of ['whole', 'pieces'] as const) {
        const error = await createMemoryStore({ persistence: memoryPersistence(bytes, reading) })
          .count({ collection: 'c' })
          .catch((e: unknown) => e);
        expect(CorruptDataError.isInstance(error)).toBe(true);
        expect((error as Error).message).toMatch(reason);
        messages.push((error as Error).message);
      }
      expect(messages[1]).toBe(messages[0]);
    };
    const future = good.slice();
    future[7] = '3'.charCodeAt(0);
    await refused(future, /format version "3".*reads versions 1 and 2/);
    await refused(good.subarray(0, good.length - 4), /torn write/);
    const flipped = good.slice();
    flipped[flipped.length - 1] = (flipped[flipped.length - 1] as number) ^ 1;
    await refused(flipped, /checksum/);
    // A byte of the dense rows, which a read in pieces puts straight into the kernel memory.
    const rowsAt = 24 + Math.ceil((4 + new DataView(good.buffer).getUint32(24, true)) / 16) * 16;
    const flippedRow = good.slice();
    flippedRow[rowsAt + 1] = (flippedRow[rowsAt + 1] as number) ^ 1;
    await refused(flippedRow, /checksum/);
    // Headers changed and re-checksummed, so only what they say is wrong.
    const json = new TextDecoder().decode(good.subarray(28, 28 + new DataView(good.buffer).getUint32(24, true)));
    type Entry = { count: number; ids: unknown[]; payloads: unknown[]; dense: { norms: { length: number } } };
    const rewritten = (change: (header: { collections: Entry[] }) => void) => {
      const header = JSON.parse(json);
      change(header);
      const text = new TextEncoder().encode(JSON.stringify(header));
      const binary = good.subarray(24 + Math.ceil((4 + json.length) / 16) * 16);
      const bodyAt = Math.ceil((4 + text.length) / 16) * 16;
      const body = new Uint8Array(bodyAt + binary.length);
      new DataView(body.buffer).setUint32(0, text.length, true);
      body.set(text, 4);
      body.set(binary, bodyAt);
      const bad = new Uint8Array(24 + body.length);
      bad.set(good.subarray(0, 8));
      new DataView(bad.buffer).setUint32(8, body.length, true);
      new DataView(bad.buffer).setUint32(16, crc32(body), true);
      bad.set(body, 24);
      return bad;
    };
    // Section lengths that disagree with the record count.
    const twoRecords = rewritten((header) => {
      const entry = header.collections[0] as Entry;
      entry.count = 2;
      entry.ids.push(2);
      entry.payloads.push({});
    });
    await refused(twoRecords, /wrong size/);
    // A section said to run far past the end of the file (a read in pieces allocates nothing for it).
    const pastTheEnd = rewritten((header) => {
      (header.collections[0] as Entry).dense.norms.length = 2 ** 40;
    });
    await refused(pastTheEnd, /norms section runs past the end of the file/);
  });

  test('read in pieces: rows saved without int8 codes get them computed; a file read through createFilePersistence is refused as the bytes are', async () => {
    const persistence = memoryPersistence();
    const store = createMemoryStore({ persistence });
    await store.createCollection({ name: 'c', dimensions: 5 });
    const records = Array.from({ length: 40 }, (_, i) => ({ id: i, vector: [1, i, Math.sin(i), 0.5, -i / 7] }));
    await store.upsert({ collection: 'c', records });
    const query = { collection: 'c', vector: [1, 2, 0.5, 0.5, -0.3], limit: 10 };
    const answers: unknown[] = [];
    for (const reading of ['whole', 'pieces'] as const) {
      const reopened = createMemoryStore({
        persistence: memoryPersistence(persistence.bytes, reading),
        quantization: 'int8',
      });
      answers.push(await reopened.search(query));
    }
    expect(answers[1]).toEqual(answers[0]);
    expect((answers[0] as unknown[]).length).toBe(10);

    const dir = await mkdtemp(join(tmpdir(), 'kumiki-snapshot-'));
    try {
      const path = join(dir, 'store.kmk');
      const good = persistence.bytes as Uint8Array;
      const opened = async (bytes: Uint8Array) => {
        await writeFile(path, bytes);
        return createMemoryStore({ persistence: createFilePersistence(path) })
          .search({ collection: 'c', vector: [1, 2, 0.5, 0.5, -0.3], limit: 3, includeVectors: true })
          .catch((e: unknown) => e);
      };
      expect(await opened(good)).toEqual(
        await createMemoryStore({ persistence: memoryPersistence(good) }).search({
          collection: 'c',
          vector: [1, 2, 0.5, 0.5, -0.3],
          limit: 3,
          includeVectors: true,
        }),
      );
      for (const [bytes, reason] of [
        [good.subarray(0, good.length - 20), /torn write/],
        [good.subarray(0, 20), /shorter than the header/],
        [
          (() => {
            const b = good.slice();
            b[good.length - 30] = (b[good.length - 30] as number) ^ 4;
            return b;
          })(),
          /checksum/,
        ],
      ] as const) {
        const error = await opened(bytes);
        expect(CorruptDataError.isInstance(error)).toBe(true);
        expect((error as Error).message).toMatch(reason);
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('writeSnapshot puts the bytes encodeSnapshot makes, the head last; memory that grows under it stops it with MemoryMovedError', async () => {
    const small = new MemoryCollection(
      {
        name: 'small',
        dimensions: 5,
        metric: 'cosine',
        sparse: true,
        fingerprint: undefined,
        sparseFingerprint: undefined,
      },
      { quantized: true },
    );
    small.write(
      Array.from({ length: 50 }, (_, i) => ({
        id: `r${i}`,
        vector: [1, i, Math.sin(i), 0.5, -i],
        payload: { i },
        ...(i % 3 ? { sparseVector: { indices: [i, 7], values: [1, 0.5] } } : {}),
      })),
    );
    // 700 rows of 384 floats: a section larger than one piece.
    const big = new MemoryCollection(
      {
        name: 'big',
        dimensions: 384,
        metric: 'dot',
        sparse: false,
        fingerprint: undefined,
        sparseFingerprint: undefined,
      },
      { quantized: false },
    );
    big.write(
      Array.from({ length: 700 }, (_, i) => ({
        id: i,
        vector: Array.from({ length: 384 }, (_, j) => Math.cos(i + j)),
      })),
    );
    const aliases = new Map([['a', 'small']]);
    const expected = encodeSnapshot([small, big], aliases);
    const written = new Uint8Array(expected.length);
    const positions: number[] = [];
    await writeSnapshot([small, big], aliases, async (bytes, position) => {
      written.set(bytes, position);
      positions.push(position);
    });
    expect(Buffer.compare(written, expected)).toBe(0);
    expect(positions.at(-1)).toBe(0);
    expect(positions.length).toBeGreaterThan(4);

    let grown = false;
    const moved = writeSnapshot([small, big], aliases, async () => {
      if (grown) return;
      grown = true;
      (big as unknown as { arena: VectorArena }).arena.reserve(100_000);
    });
    await expect(moved).rejects.toBeInstanceOf(MemoryMovedError);
    expect(Buffer.compare(encodeSnapshot([small, big], aliases), expected)).toBe(0);
    small.dispose();
    big.dispose();
  });

  test('a search that grows the kernel memory while a snapshot is written in pieces: the store saves it whole instead', async () => {
    const saved: { whole: number; pieces: number; bytes: Uint8Array | undefined } = {
      whole: 0,
      pieces: 0,
      bytes: undefined,
    };
    let during: (() => Promise<unknown>) | undefined;
    const persistence: SnapshotPersistence = {
      location: 'memory://pieces',
      async load() {
        return saved.bytes;
      },
      async save(snapshot) {
        saved.whole++;
        saved.bytes = snapshot.slice();
      },
      async saveFrom(write) {
        saved.pieces++;
        const pieces: [Uint8Array, number][] = [];
        await write(async (bytes, position) => {
          const meanwhile = during?.();
          during = undefined;
          await meanwhile;
          pieces.push([bytes.slice(), position]);
        });
        const size = Math.max(...pieces.map(([bytes, position]) => position + bytes.length));
        saved.bytes = new Uint8Array(size);
        for (const [bytes, position] of pieces) saved.bytes.set(bytes, position);
      },
    };
    const store = createMemoryStore({ persistence, ann: { minRecords: 10 } });
    // 1,500 rows of 384 floats: the rows are written in three pieces.
    await store.createCollection({ name: 'c', dimensions: 384 });
    const records = Array.from({ length: 1500 }, (_, i) => ({
      id: i,
      vector: Array.from({ length: 384 }, (_, j) => Math.sin(i * 3 + j)),
    }));
    await store.upsert({ collection: 'c', records: records.slice(0, 700) });
    expect(saved).toMatchObject({ whole: 0, pieces: 2 });
    // The first dense search builds the graph, growing the kernel memory, while the upsert saves.
    during = () => store.search({ collection: 'c', vector: records[5]?.vector as number[], limit: 3 });
    await store.upsert({ collection: 'c', records: records.slice(700) });
    expect((await store.describe()).collections[0]?.ann?.built).toBe(true);
    expect(saved).toMatchObject({ whole: 1, pieces: 3 });
    const reopened = createMemoryStore({ persistence: memoryPersistence(saved.bytes), ann: { minRecords: 10 } });
    expect(await reopened.count({ collection: 'c' })).toBe(1500);
    const query = { collection: 'c', vector: records[150]?.vector as number[], limit: 5, includeVectors: true };
    expect(await reopened.search(query)).toEqual(await store.search(query));
  });

  test('while a store reloads a snapshot another process saved, reading it in pieces, searches still see its collections', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kumiki-snapshot-'));
    try {
      const path = join(dir, 'store.kmk');
      const a = createMemoryStore({ persistence: createFilePersistence(path) });
      await a.createCollection({ name: 'c', dimensions: 2 });
      await a.upsert({ collection: 'c', records: [{ id: 1, vector: [1, 0] }] });
      const file = createFilePersistence(path);
      let reads = 0;
      const slow: SnapshotPersistence = {
        ...file,
        location: file.location,
        async open() {
          const reader = await file.open?.();
          return (
            reader && {
              size: reader.size,
              read: async (into: Uint8Array, position: number) => {
                reads++;
                await new Promise((resolve) => setTimeout(resolve, 2));
                return reader.read(into, position);
              },
              close: () => reader.close(),
            }
          );
        },
      };
      const b = createMemoryStore({ persistence: slow });
      expect(await b.count({ collection: 'c' })).toBe(1);
      await a.upsert({ collection: 'c', records: [{ id: 2, vector: [0, 1] }] });
      const before = reads;
      const write = b.upsert({ collection: 'c', records: [{ id: 3, vector: [1, 1] }] });
      let done = false;
      void write.finally(() => {
        done = true;
      });
      const counts: number[] = [];
      while (!done) {
        counts.push(await b.count({ collection: 'c' }));
        await new Promise((resolve) => setTimeout(resolve, 1));
      }
      await write;
      expect(reads).toBeGreaterThan(before);
      expect(counts.every((n) => n >= 1 && n <= 3)).toBe(true);
      expect(await b.count({ collection: 'c' })).toBe(3);
      await a.dispose();
      await b.dispose();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('a version 2 snapshot written before reads in pieces (int8 codes, sparse, ANN graph, state, alias) opens, read whole and in pieces', async () => {
    // Written by kumiki at 16b5ee7 (dense 'dense' with int8 codes and an HNSW graph, sparse 'words').
    const fixture = new Uint8Array(await readFile(new URL('./fixtures/snapshot-v2-main.kmk', import.meta.url)));
    const dir = await mkdtemp(join(tmpdir(), 'kumiki-snapshot-'));
    try {
      const path = join(dir, 'store.kmk');
      await writeFile(path, fixture);
      const options = { quantization: 'int8', ann: { minRecords: 10 } } as const;
      const results: unknown[] = [];
      const pieces = memoryPersistence(fixture, 'pieces');
      for (const persistence of [memoryPersistence(fixture), pieces, createFilePersistence(path)]) {
        const store = createMemoryStore({ persistence, ...options });
        const described = await store.describe();
        expect(described.collections.find((c) => c.name === 'dense')).toMatchObject({
          count: 40,
          payloadIndexes: [{ field: 'tag', source: 'declared' }],
          ann: { built: true },
        });
        const records = await store.get({ collection: 'live', ids: ['r0', 1, 39], includeVectors: true });
        expect(records.map((r) => [r.id, r.payload, Array.from(r.vector ?? [])])).toEqual(
          [0, 1, 39].map((i) => [
            i % 2 ? i : `r${i}`,
            { i, tag: `t${i % 3}` },
            Array.from({ length: 6 }, (_, j) => Math.fround(Math.sin(i * 7 + j))),
          ]),
        );
        const sparse = records[0]?.sparseVector;
        expect([Array.from(sparse?.indices ?? []), Array.from(sparse?.values ?? [])]).toEqual([
          [0, 1000],
          [0.5, 2],
        ]);
        expect(records[1]?.sparseVector).toBeUndefined();
        expect(await store.getCollectionState({ collection: 'words', key: 'k' })).toEqual({
          value: { n: 1 },
          current: true,
        });
        results.push([
          await store.search({
            collection: 'dense',
            vector: [1, 0.5, 0, 0, 0, 0.2],
            limit: 5,
            filter: f.eq('tag', 't1'),
          }),
          await store.search({ collection: 'dense', vector: [0, 1, 0, 1, 0, 1], limit: 10 }),
          await store.search({ collection: 'dense', sparseVector: { indices: [1008], values: [1] } }),
          await store.search({ collection: 'words', sparseVector: { indices: [9], values: [1] } }),
        ]);
        await store.dispose();
      }
      expect(results[1]).toEqual(results[0]);
      expect(results[2]).toEqual(results[0]);
      expect((results[0] as unknown[][])[2]).toMatchObject([{ id: 'r8', score: 2 }]);
      // Rows, norms, int8 codes and scales were read straight into the kernel memory.
      expect(pieces.reads.filter((into) => into.buffer.byteLength % 65536 === 0 && into.byteOffset > 0)).toHaveLength(
        4,
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
