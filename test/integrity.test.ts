/**
 * Regression tests for the integrity defects reproduced on 82eac9a (issue 11): each test names the
 * item it guards and fails on that commit.
 */
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  CorruptDataError,
  createBm25Encoder,
  createMemoryStore,
  type DeleteOptions,
  EmbeddingSpaceMismatchError,
  fromStrings,
  retrieve,
  type SnapshotPersistence,
  type Store,
  UnavailableError,
} from '../src/index.js';
import { createFileCatalog } from '../src/node/catalog-file.js';
import { createFilePersistence } from '../src/node/snapshot-file.js';
import { ingest } from '../src/pipeline/ingest.js';
import { createMemoryLedger } from '../src/pipeline/ledger.js';
import { createFileLedger } from '../src/pipeline/ledger-file.js';
import { loadPath } from '../src/pipeline/loaders-node.js';
import { bindStatistics } from '../src/pipeline/statistics.js';
import type { SourceDocument } from '../src/pipeline/types.js';
import { collectionContents } from './helpers/collection-contents.js';
import { trigramEmbedder } from './helpers/trigram-embedder.mjs';

let directory: string;
beforeAll(async () => {
  directory = await mkdtemp(join(tmpdir(), 'kumiki-integrity-'));
});
afterAll(() => rm(directory, { recursive: true, force: true }));

const doc = (uri: string, text: string): SourceDocument => ({ uri, text, contentType: 'text/plain' });
const A = doc('mem://a', 'Reciprocal rank fusion combines dense and sparse rankings into one list.');
const B = doc('mem://b', 'BM25 weighs rare terms more than common ones, and saturates term frequency.');
const C = doc('mem://c', 'Lighthouses guide ships along rocky coasts at night.');

/** A store whose `delete` throws right after it succeeded, once `armed`: a process killed at that moment. */
function dyingAfterDelete(store: Store) {
  const state = { armed: false };
  const wrapped: Store = {
    ...store,
    delete: async (options: DeleteOptions) => {
      const result = await store.delete(options);
      if (state.armed) throw new Error('killed after the delete');
      return result;
    },
  };
  return { store: wrapped, state };
}

const sources = async (store: Store, collection = 'notes') =>
  [
    ...new Set(
      Object.values(await collectionContents(store, collection)).map(
        (r) => (r as { payload: { source: string } }).payload.source,
      ),
    ),
  ].sort();

/** Runs `call` after a random delay of a few milliseconds, as a server would answer. */
async function later<T>(call: () => Promise<T>): Promise<T> {
  await new Promise((resolve) => setTimeout(resolve, Math.floor(Math.random() * 4)));
  return call();
}

/** One BM25 ingest as a process of its own would run it: the dir's file store and the named ledger, opened and closed. */
async function ingestProcess(dir: string, documents: SourceDocument[], ledgerName = 'ledger') {
  const store = createMemoryStore({ persistence: createFilePersistence(join(dir, 'store.kmk')) });
  const ledger = createFileLedger(join(dir, `${ledgerName}.jsonl`));
  try {
    return await ingest({ store, collection: 'notes', documents, sparseEmbedder: createBm25Encoder(), ledger });
  } finally {
    await ledger.dispose?.();
    await store.dispose();
  }
}

describe('data loss', () => {
  test('item 1: a prune killed after its delete does not lose the source: the next run writes it again', async () => {
    const base = createMemoryStore();
    const ledger = createMemoryLedger();
    const embedder = trigramEmbedder(16, 'trigram');
    await ingest({ store: base, collection: 'notes', documents: [A, B], embedder, ledger });
    const dying = dyingAfterDelete(base);
    dying.state.armed = true;
    await expect(
      ingest({ store: dying.store, collection: 'notes', documents: [A], embedder, ledger, prune: true }),
    ).rejects.toThrow(/killed after the delete/);
    const third = await ingest({ store: base, collection: 'notes', documents: [A, B], embedder, ledger });
    expect(third).toMatchObject({ unchanged: 1, added: 1 });
    expect(await sources(base)).toEqual(['mem://a', 'mem://b']);
  });

  test('item 3: BM25 ingest recovers after a kill when each process makes its own encoder', async () => {
    const dir = await mkdtemp(join(directory, 'bm25-'));
    const open = () => ({
      store: createMemoryStore({ persistence: createFilePersistence(join(dir, 'store.kmk')) }),
      ledger: createFileLedger(join(dir, 'ledger.jsonl')),
      bm25: createBm25Encoder(),
    });
    const first = open();
    await ingest({
      store: first.store,
      collection: 'notes',
      documents: [A, B],
      sparseEmbedder: first.bm25,
      ledger: first.ledger,
    });
    await first.store.dispose();
    await first.ledger.dispose?.();
    // The second process is killed after writing B's new version, before committing it.
    const second = open();
    const upsert = second.store.upsert;
    second.store.upsert = async (options) => {
      const result = await upsert(options);
      throw Object.assign(new Error('killed after the upsert'), { result });
    };
    await expect(
      ingest({
        store: second.store,
        collection: 'notes',
        documents: [A, doc('mem://b', `${B.text} Edited.`)],
        sparseEmbedder: second.bm25,
        ledger: second.ledger,
      }),
    ).rejects.toThrow(/killed after the upsert/);
    await second.store.dispose();
    await second.ledger.dispose?.();
    const third = open();
    const report = await ingest({
      store: third.store,
      collection: 'notes',
      documents: [A, doc('mem://b', `${B.text} Edited.`)],
      sparseEmbedder: third.bm25,
      ledger: third.ledger,
    });
    expect(report).toMatchObject({ unchanged: 1, updated: 1 });
    // The statistics equal a clean ingest of the final texts.
    const clean = createBm25Encoder();
    await ingest({
      store: createMemoryStore(),
      collection: 'notes',
      documents: [A, doc('mem://b', `${B.text} Edited.`)],
      sparseEmbedder: clean,
    });
    expect(third.bm25.exportState()).toEqual(clean.exportState());
    await third.store.dispose();
    await third.ledger.dispose?.();
  });

  test('item 5: a write whose snapshot cannot be saved is rolled back, never saved later by another write', async () => {
    const dir = await mkdtemp(join(directory, 'rollback-'));
    const file = createFilePersistence(join(dir, 'store.kmk'));
    const flaky = { fail: false };
    const persistence: SnapshotPersistence = {
      ...file,
      location: file.location,
      load: () => file.load(),
      save: async (bytes) => {
        if (flaky.fail) throw new UnavailableError({ message: 'disk full', component: 'memory' });
        return file.save(bytes);
      },
      saveFrom: async (write) => {
        if (flaky.fail) throw new UnavailableError({ message: 'disk full', component: 'memory' });
        return file.saveFrom?.(write);
      },
    };
    const store = createMemoryStore({ persistence });
    await store.createCollection({ name: 'c', dimensions: 2 });
    await store.upsert({ collection: 'c', records: [{ id: 'kept', vector: [1, 0] }] });
    flaky.fail = true;
    await expect(store.upsert({ collection: 'c', records: [{ id: 'lost', vector: [0, 1] }] })).rejects.toThrow(
      /disk full/,
    );
    await expect(store.delete({ collection: 'c', ids: ['kept'] })).rejects.toThrow(/disk full/);
    expect((await store.get({ collection: 'c', ids: ['kept', 'lost'] })).map((r) => r.id)).toEqual(['kept']);
    flaky.fail = false;
    await store.upsert({ collection: 'c', records: [{ id: 'later', vector: [1, 1] }] });
    await store.dispose();
    const reopened = createMemoryStore({ persistence: createFilePersistence(join(dir, 'store.kmk')) });
    expect((await reopened.scroll({ collection: 'c' })).records.map((r) => r.id)).toEqual(['kept', 'later']);
  });

  test('item 5: temporary files a killed writer left are removed when the snapshot is opened', async () => {
    const dir = await mkdtemp(join(directory, 'tmp-'));
    const store = createMemoryStore({ persistence: createFilePersistence(join(dir, 'store.kmk')) });
    await store.createCollection({ name: 'c', dimensions: 2 });
    await store.dispose();
    // pid 2^22 + 1 is above Linux's pid_max default range: no process has it.
    await writeFile(join(dir, `.store.kmk.${2 ** 22 + 1}.1700000000000.0.tmp`), 'half a snapshot');
    const reopened = createMemoryStore({ persistence: createFilePersistence(join(dir, 'store.kmk')) });
    await reopened.listCollections();
    expect(await readdir(dir)).toEqual(['store.kmk']);
  });
});

describe('two writers on one file', () => {
  test('item 2: two memory stores on one snapshot take turns and reload, so neither overwrites the other', async () => {
    const dir = await mkdtemp(join(directory, 'two-stores-'));
    const path = join(dir, 'store.kmk');
    const seed = createMemoryStore({ persistence: createFilePersistence(path) });
    await seed.createCollection({ name: 'c', dimensions: 2 });
    await seed.dispose();
    const a = createMemoryStore({ persistence: createFilePersistence(path) });
    const b = createMemoryStore({ persistence: createFilePersistence(path) });
    await Promise.all([a.listCollections(), b.listCollections()]); // both loaded before either writes
    for (let i = 0; i < 10; i++) {
      await Promise.all([
        a.upsert({ collection: 'c', records: [{ id: `a${i}`, vector: [1, i] }] }),
        b.upsert({ collection: 'c', records: [{ id: `b${i}`, vector: [i, 1] }] }),
      ]);
    }
    await Promise.all([a.dispose(), b.dispose()]);
    const reopened = createMemoryStore({ persistence: createFilePersistence(path) });
    expect(await reopened.count({ collection: 'c' })).toBe(20);
  });

  test('a reload that fails (another process saved, the file cannot be read) leaves nothing to overwrite it with', async () => {
    const dir = await mkdtemp(join(directory, 'failed-reload-'));
    const path = join(dir, 'store.kmk');
    const file = createFilePersistence(path);
    const unreadable = { on: false };
    const refuse = () => {
      throw new UnavailableError({ message: 'read refused (test)', component: 'memory' });
    };
    const a = createMemoryStore({
      persistence: {
        ...file,
        load: () => (unreadable.on ? refuse() : file.load()),
        open: () => (unreadable.on ? refuse() : (file.open?.() ?? Promise.resolve(undefined))),
      },
    });
    await a.createCollection({ name: 'a', dimensions: 2 });
    const b = createMemoryStore({ persistence: createFilePersistence(path) });
    await b.createCollection({ name: 'b', dimensions: 2 });
    await b.upsert({ collection: 'b', records: [{ id: 1, vector: [1, 0] }] });
    await b.dispose();
    unreadable.on = true;
    // a must reload before writing (b saved since): the read fails, and so does every call after it.
    await expect(a.createCollection({ name: 'c', dimensions: 2 })).rejects.toThrow(/read refused/);
    await expect(a.createCollection({ name: 'd', dimensions: 2 })).rejects.toThrow(/read refused/);
    await expect(a.listCollections()).rejects.toThrow(/read refused/);
    unreadable.on = false;
    await a.createCollection({ name: 'e', dimensions: 2 });
    expect((await a.listCollections()).map((c) => c.name).sort()).toEqual(['a', 'b', 'e']);
    await a.dispose();
    const reopened = createMemoryStore({ persistence: createFilePersistence(path) });
    expect((await reopened.listCollections()).map((c) => c.name).sort()).toEqual(['a', 'b', 'e']);
    expect(await reopened.count({ collection: 'b' })).toBe(1);
  });

  test('a first load that fails is tried again by the next call, not remembered as failed', async () => {
    const dir = await mkdtemp(join(directory, 'failed-load-'));
    const path = join(dir, 'store.kmk');
    const seed = createMemoryStore({ persistence: createFilePersistence(path) });
    await seed.createCollection({ name: 'c', dimensions: 2 });
    await seed.dispose();
    const file = createFilePersistence(path);
    let failures = 1;
    const store = createMemoryStore({
      persistence: {
        ...file,
        open: undefined,
        load: async () => {
          if (failures-- > 0) throw new UnavailableError({ message: 'read refused (test)', component: 'memory' });
          return file.load();
        },
      },
    });
    await expect(store.listCollections()).rejects.toThrow(/read refused/);
    expect((await store.listCollections()).map((c) => c.name)).toEqual(['c']);
    await store.dispose();
    // Disposed while its first read is failing: disposing does not read again, and does not throw.
    let reads = 0;
    const unreadable = createMemoryStore({
      persistence: {
        ...file,
        open: undefined,
        load: async () => {
          reads++;
          throw new UnavailableError({ message: 'read refused (test)', component: 'memory' });
        },
      },
    });
    const first = unreadable.listCollections();
    await unreadable.dispose();
    await expect(first).rejects.toThrow(/read refused/);
    expect(reads).toBe(1);
  });

  test("two local catalogs on one file keep each other's records", async () => {
    const dir = await mkdtemp(join(directory, 'two-catalogs-'));
    const path = join(dir, 'catalog.kcat');
    const a = createFileCatalog(path);
    const b = createFileCatalog(path);
    await Promise.all([a.getRun('none'), b.getRun('none')]);
    await Promise.all(
      Array.from({ length: 10 }, (_, i) => [
        a.registerDataset({ kind: 'source', name: `a${i}` }),
        b.registerDataset({ kind: 'source', name: `b${i}` }),
      ]).flat(),
    );
    const reread = createFileCatalog(path);
    for (let i = 0; i < 10; i++) {
      expect(await reread.getDataset({ kind: 'source', name: `a${i}` })).toBeDefined();
      expect(await reread.getDataset({ kind: 'source', name: `b${i}` })).toBeDefined();
    }
  });
});

describe('prune and unreadable files', () => {
  test('a file that cannot be read this time is kept by prune, with a warning; a file that is gone is removed', async () => {
    const dir = await mkdtemp(join(directory, 'prune-unread-'));
    const docs = join(dir, 'docs');
    await mkdir(docs);
    await writeFile(join(docs, 'a.md'), '# A\n\nReciprocal rank fusion.');
    await writeFile(join(docs, 'b.json'), JSON.stringify({ text: 'BM25 weighs rare terms.' }));
    const store = createMemoryStore();
    const ledger = createMemoryLedger();
    const bm25 = createBm25Encoder();
    const run = () =>
      ingest({ store, collection: 'notes', documents: loadPath(docs), sparseEmbedder: bm25, ledger, prune: true });
    expect(await run()).toMatchObject({ added: 2 });
    await writeFile(join(docs, 'b.json'), '{ "text": "BM25 weighs'); // broken now
    const second = await run();
    expect(second).toMatchObject({ unchanged: 1, deleted: 0 });
    expect(second.warnings.join('\n')).toMatch(
      /could not read this time were kept as last ingested, not pruned: file:.*b\.json/,
    );
    expect((await sources(store)).length).toBe(2);
    await rm(join(docs, 'b.json'));
    expect(await run()).toMatchObject({ unchanged: 1, deleted: 1 });
    expect((await sources(store)).length).toBe(1);
  });
});

describe('silently wrong results', () => {
  test('item 7: a file ledger beside an in-memory store does not call missing sources unchanged', async () => {
    const dir = await mkdtemp(join(directory, 'mismatch-'));
    const documents = () =>
      fromStrings([
        { uri: 'a', text: A.text },
        { uri: 'b', text: B.text },
        { uri: 'c', text: C.text },
      ]);
    const runOnce = async () => {
      const store = createMemoryStore();
      const bm25 = createBm25Encoder();
      const ledger = createFileLedger(join(dir, 'ledger.jsonl'));
      const report = await ingest({ store, collection: 'notes', documents: documents(), sparseEmbedder: bm25, ledger });
      await ledger.dispose?.();
      const hits = await retrieve({ store, collection: 'notes', query: 'lighthouses and ships', sparseEmbedder: bm25 });
      return { report, hits };
    };
    await runOnce();
    const second = await runOnce();
    expect(second.report).toMatchObject({ unchanged: 0, added: 3 });
    expect(second.report.ledger).toMatchObject({ trusted: false, sourcesChecked: 3, sourcesMissing: 3 });
    expect(second.report.ledger.reason).toMatch(/describes another collection/);
    expect(second.report.warnings[0]).toMatch(/3 of 3 sources it lists were missing/);
    expect(second.hits[0]?.citation.source).toBe('c');
  });

  test('a store restored from a backup older than the ledger: missing chunks written again, orphaned ones removed', async () => {
    const dir = await mkdtemp(join(directory, 'restore-'));
    const path = join(dir, 'store.kmk');
    const runOnce = (documents: SourceDocument[]) => ingestProcess(dir, documents);
    await runOnce([A, B]);
    await copyFile(path, join(dir, 'backup.kmk'));
    const edited = doc('mem://a', 'Fusion of rankings, edited after the backup was taken.');
    await runOnce([edited, C]); // B is no longer there (not pruned); C is new
    await copyFile(join(dir, 'backup.kmk'), path); // the backup comes back: A's old version, B, no C
    const report = await runOnce([edited, C]);
    expect(report.ledger).toMatchObject({ trusted: false, sourcesMissing: 2 });
    expect(report.ledger.reason).toMatch(/the store lost writes the ledger relies on/);
    const store = createMemoryStore({ persistence: createFilePersistence(path) });
    const texts = Object.values(await collectionContents(store, 'notes')).map(
      (record) => (record as { payload: { text: string } }).payload.text,
    );
    // The old version of A is gone; B stays as ingested (no prune), C and the new A are there.
    expect(texts.sort()).toEqual([edited.text, B.text, C.text].sort());
  });

  test('after a restored backup, writes through another ledger do not make the first one trusted again', async () => {
    const dir = await mkdtemp(join(directory, 'restore-two-'));
    const path = join(dir, 'store.kmk');
    const runAs = (name: string, documents: SourceDocument[]) => ingestProcess(dir, documents, name);
    await runAs('first', [A]);
    await copyFile(path, join(dir, 'backup.kmk'));
    await runAs('second', [B]);
    await copyFile(join(dir, 'backup.kmk'), path); // B's chunks are gone again
    await runAs('first', [doc('mem://a', 'A, edited.'), C]); // more writes than B's run made
    const report = await runAs('second', [B]);
    expect(report).toMatchObject({ unchanged: 0, added: 1 });
    const store = createMemoryStore({ persistence: createFilePersistence(path) });
    expect(await sources(store)).toEqual(['mem://a', 'mem://b', 'mem://c']);
  });

  test('item 8: a new process ranks with the collection BM25 statistics, not empty ones', async () => {
    const dir = await mkdtemp(join(directory, 'stats-'));
    const path = join(dir, 'store.kmk');
    const writer = createMemoryStore({ persistence: createFilePersistence(path) });
    const bm25 = createBm25Encoder();
    await ingest({ store: writer, collection: 'notes', documents: [A, B, C], sparseEmbedder: bm25 });
    const before = await retrieve({ store: writer, collection: 'notes', query: 'rare terms', sparseEmbedder: bm25 });
    await writer.dispose();
    const reader = createMemoryStore({ persistence: createFilePersistence(path) });
    const fresh = createBm25Encoder();
    const after = await retrieve({ store: reader, collection: 'notes', query: 'rare terms', sparseEmbedder: fresh });
    expect(after.map((hit) => [hit.id, hit.score])).toEqual(before.map((hit) => [hit.id, hit.score]));
    // Restored from the state saved with the collection, not rebuilt from the texts.
    expect((await reader.getCollectionState?.({ collection: 'notes', key: 'kumiki.ingest' }))?.current).toBe(true);
  });

  test('one BM25 encoder serves several collections at once, each ranked with its own statistics', async () => {
    const store = createMemoryStore();
    const shared = createBm25Encoder();
    const small = [A, B];
    const large = [A, B, C, doc('mem://d', 'Ships and rare lighthouses.'), doc('mem://e', 'Terms, terms, terms.')];
    await ingest({ store, collection: 'small', documents: small, sparseEmbedder: shared });
    await ingest({ store, collection: 'large', documents: large, sparseEmbedder: shared });
    const alone = async (collection: string) => {
      const own = createBm25Encoder();
      return (await retrieve({ store, collection, query: 'rare terms and ships', sparseEmbedder: own })).map((hit) => [
        hit.id,
        hit.score,
      ]);
    };
    const expected = { small: await alone('small'), large: await alone('large') };
    // A store that answers after random delays, as a server would, so the calls interleave.
    const slow: Store = {
      ...store,
      openCollection: (options) => later(() => store.openCollection(options)),
      getCollectionState: (options) => later(async () => store.getCollectionState?.(options)),
      scroll: (options) => later(() => store.scroll(options)),
      search: (options) => later(() => store.search(options)),
    };
    const concurrent = await Promise.all(
      Array.from({ length: 40 }, (_, i) => (i % 2 === 0 ? 'small' : 'large')).map(async (collection) => ({
        collection,
        hits: (await retrieve({ store: slow, collection, query: 'rare terms and ships', sparseEmbedder: shared })).map(
          (hit) => [hit.id, hit.score],
        ),
      })),
    );
    for (const { collection, hits } of concurrent) expect(hits).toEqual(expected[collection as 'small' | 'large']);
  });

  test('an ingest and retrieves on another collection can share one BM25 encoder', async () => {
    const store = createMemoryStore();
    const shared = createBm25Encoder();
    await ingest({ store, collection: 'small', documents: [A, B], sparseEmbedder: shared });
    const slow: Store = {
      ...store,
      upsert: (options) => later(() => store.upsert(options)),
      get: (options) => later(() => store.get(options)),
      openCollection: (options) => later(() => store.openCollection(options)),
    };
    const many = Array.from({ length: 30 }, (_, i) =>
      doc(`mem://many/${i}`, `Note ${i} on ${['ships', 'terms', 'rare birds'][i % 3]}.`),
    );
    let writing = true;
    const reads = (async () => {
      while (writing) await retrieve({ store: slow, collection: 'small', query: 'rare terms', sparseEmbedder: shared });
    })();
    await ingest({ store: slow, collection: 'many', documents: many, sparseEmbedder: shared, writeBatchChunks: 3 });
    writing = false;
    await reads;
    const clean = createBm25Encoder();
    await ingest({ store: createMemoryStore(), collection: 'many', documents: many, sparseEmbedder: clean });
    const bound = await bindStatistics({ store, collection: 'many', embedder: createBm25Encoder() });
    expect(bound.exportState()).toEqual(clean.exportState());
  });

  test('two ingests with their own ledgers writing one collection at once leave its BM25 statistics right', async () => {
    const store = createMemoryStore();
    const slow: Store = {
      ...store,
      upsert: (options) => later(() => store.upsert(options)),
      get: (options) => later(() => store.get(options)),
    };
    const left = Array.from({ length: 12 }, (_, i) => doc(`mem://left/${i}`, `Left ${i} about ships and rare birds.`));
    const right = Array.from({ length: 12 }, (_, i) => doc(`mem://right/${i}`, `Right ${i} on terms, tides, ships.`));
    const shared = createBm25Encoder();
    await Promise.all([
      ingest({ store: slow, collection: 'kb', documents: left, sparseEmbedder: shared, writeBatchChunks: 2 }),
      ingest({
        store: slow,
        collection: 'kb',
        documents: right,
        sparseEmbedder: createBm25Encoder(),
        writeBatchChunks: 2,
      }),
    ]);
    const clean = createBm25Encoder();
    await ingest({
      store: createMemoryStore(),
      collection: 'kb',
      documents: [...left, ...right],
      sparseEmbedder: clean,
    });
    const bound = await bindStatistics({ store, collection: 'kb', embedder: createBm25Encoder() });
    expect(bound.exportState()).toEqual(clean.exportState());
  });

  test('item 9: retrieve refuses another model of the same dimensions and a BM25 query on a dense-only collection', async () => {
    const store = createMemoryStore();
    await ingest({ store, collection: 'dense', documents: [A, B], embedder: trigramEmbedder(16, 'model-a') });
    await expect(
      retrieve({ store, collection: 'dense', query: 'fusion', embedder: trigramEmbedder(16, 'model-b') }),
    ).rejects.toBeInstanceOf(EmbeddingSpaceMismatchError);
    const sparseOnDense = retrieve({
      store,
      collection: 'dense',
      query: 'fusion',
      sparseEmbedder: createBm25Encoder(),
    });
    await expect(sparseOnDense).rejects.toBeInstanceOf(EmbeddingSpaceMismatchError);
    await expect(sparseOnDense).rejects.toThrow(/records no sparse embedding space/);
  });
});

describe('files', () => {
  test('item 13: a snapshot or catalog file starting with non-UTF-8 bytes is CorruptDataError, not TypeError', async () => {
    const dir = await mkdtemp(join(directory, 'binary-'));
    const bytes = Uint8Array.from([0xff, 0xfe, 0x00, 0xc3, 0x28, 0xa0, 0xa1, 0xe2, 0x28, 0xa1, 0, 0, 0, 0, 0, 0, 1, 2]);
    await writeFile(join(dir, 'store.kmk'), bytes);
    await writeFile(join(dir, 'catalog.kcat'), bytes);
    const store = createMemoryStore({ persistence: createFilePersistence(join(dir, 'store.kmk')) });
    await expect(store.listCollections()).rejects.toBeInstanceOf(CorruptDataError);
    const catalog = createFileCatalog(join(dir, 'catalog.kcat'));
    const failure = await catalog.getRun('r').catch((error: unknown) => error);
    expect(CorruptDataError.isInstance(failure)).toBe(true);
    expect((failure as Error).message).toMatch(/is not a valid kumiki catalog file/);
  });

  test('item 14: the file store, catalog and ledger create their folders; errors name the component', async () => {
    const dir = await mkdtemp(join(directory, 'folders-'));
    const store = createMemoryStore({ persistence: createFilePersistence(join(dir, 'a/b/store.kmk')) });
    await store.createCollection({ name: 'c', dimensions: 2 });
    await store.dispose();
    const catalog = createFileCatalog(join(dir, 'c/d/catalog.kcat'));
    await catalog.registerDataset({ kind: 'source', name: 'x' });
    const ledger = createFileLedger(join(dir, 'e/f/ledger.jsonl'));
    await ledger.write({ mark: { collection: 'c', epoch: 'e' } });
    await ledger.dispose?.();
    expect((await readdir(dir)).sort()).toEqual(['a', 'c', 'e']);
    // A folder that cannot be made (a file is in the way): a non-retryable error naming the catalog.
    await writeFile(join(dir, 'blocker'), '');
    const blocked = createFileCatalog(join(dir, 'blocker/catalog.kcat'));
    const failure = await blocked.registerDataset({ kind: 'source', name: 'x' }).catch((error: unknown) => error);
    expect(UnavailableError.isInstance(failure)).toBe(true);
    expect(failure).toMatchObject({ component: 'catalog', isRetryable: false });
    expect((failure as Error).message).toMatch(/catalog file/);
    expect(await readFile(join(dir, 'blocker'), 'utf8')).toBe('');
  });
});
