import { describe, expect, test } from 'vitest';
import { createLocalCatalog } from '../src/catalogs/local/index.js';
import { sha256Hex } from '../src/core/sha256.js';
import {
  createBm25Encoder,
  createMemoryStore,
  type DenseEmbedder,
  LockedError,
  type Store,
  type UpsertOptions,
} from '../src/index.js';
import { ingest, runIngest } from '../src/pipeline/ingest.js';
import type { DispatchedSource, IngestOptions, IngestProgress } from '../src/pipeline/ingest-options.js';
import { createMemoryLedger, type Ledger } from '../src/pipeline/ledger.js';
import { createRecursiveSplitter } from '../src/pipeline/splitter.js';
import type { SourceDocument } from '../src/pipeline/types.js';
import { trigramEmbedder } from './helpers/trigram-embedder.mjs';

/** One chunk per short source. */
const splitter = createRecursiveSplitter({ chunkSize: 200, chunkOverlap: 0, unit: 'characters' });

const note = (i: number, extra: Partial<SourceDocument> = {}): SourceDocument => ({
  uri: `mem://note/${i}`,
  contentType: 'text/plain',
  text: `Note ${i} is about lighthouses, tides and the keepers who logged them.`,
  ...extra,
});
const notes = (count: number) => Array.from({ length: count }, (_, i) => note(i));

/** `ingest` with the test's embedder and splitter; `options` override. */
const into = (
  store: Store,
  ledger: Ledger,
  documents: IngestOptions['documents'],
  options: Partial<IngestOptions> = {},
) =>
  ingest({
    store,
    collection: 'notes',
    documents,
    embedder: trigramEmbedder(16, 'trigram'),
    splitter,
    ledger,
    ...options,
  });

/** Counts the store's upserts (one per batch a run writes). */
function countingUpserts(store: Store): Store & { upserts: number[] } {
  const upserts: number[] = [];
  return {
    ...store,
    upserts,
    upsert: (options: UpsertOptions) => {
      upserts.push(options.records.length);
      return store.upsert(options);
    },
  };
}

const messageOf = async (promise: Promise<unknown>) =>
  promise.then(
    () => 'resolved',
    (error: unknown) => (error instanceof Error ? error.message : String(error)),
  );

describe('ingest options', () => {
  const base = () => ({ store: createMemoryStore(), collection: 'c', documents: notes(1) });

  test('an embedder, a sparse embedder or both; neither is refused', async () => {
    expect((await ingest({ ...base(), embedder: trigramEmbedder(16, 'x') })).added).toBe(1);
    expect((await ingest({ ...base(), sparseEmbedder: createBm25Encoder() })).added).toBe(1);
    expect(await messageOf(ingest(base() as IngestOptions))).toBe(
      'Invalid ingest options: embedder: give an embedder, a sparseEmbedder or both',
    );
  });

  test('documents must be an iterable or an async iterable of objects', async () => {
    const sparseEmbedder = createBm25Encoder();
    const refused =
      'Invalid ingest options: documents: documents must be an iterable or async iterable of SourceDocument (see loadPath, fromStrings)';
    for (const documents of ['a text', {}, null]) {
      expect(await messageOf(ingest({ ...base(), documents, sparseEmbedder } as never))).toBe(refused);
    }
    async function* generate() {
      yield note(1);
      yield note(2);
    }
    expect((await ingest({ ...base(), documents: generate(), sparseEmbedder })).added).toBe(2);
    expect((await ingest({ ...base(), documents: new Set(notes(3)), sparseEmbedder })).added).toBe(3);
  });

  test('a splitter needs split(), a ledger write() and entries()', async () => {
    const sparseEmbedder = createBm25Encoder();
    expect(await messageOf(ingest({ ...base(), sparseEmbedder, splitter: { settings: {} } } as never))).toBe(
      'Invalid ingest options: splitter: splitter must have split() and settings (see createRecursiveSplitter)',
    );
    for (const splitter of ['recursive', null]) {
      expect(await messageOf(ingest({ ...base(), sparseEmbedder, splitter } as never))).toMatch(
        /^Invalid ingest options: splitter: splitter must have split\(\)/,
      );
    }
    const ledger = createMemoryLedger();
    const ledgerMessage =
      'Invalid ingest options: ledger: ledger must be a Ledger (createMemoryLedger, createFileLedger)';
    for (const bad of [{ ...ledger, write: undefined }, { ...ledger, entries: 'x' }, 'memory', null]) {
      expect(await messageOf(ingest({ ...base(), sparseEmbedder, ledger: bad } as never))).toBe(ledgerMessage);
    }
    expect((await ingest({ ...base(), sparseEmbedder, ledger, splitter })).added).toBe(1);
  });
});

describe('ingest sources', () => {
  test('each document is checked, named by its position; a uri seen twice is refused', async () => {
    const store = createMemoryStore();
    const ledger = createMemoryLedger();
    expect(await messageOf(into(store, ledger, [note(0), { ...note(1), uri: '' }]))).toBe(
      'Invalid document 1: uri: uri must not be empty',
    );
    expect(await messageOf(into(store, ledger, [note(0), note(1), note(0)]))).toBe(
      'Invalid documents: 2: source "mem://note/0" appears twice in one ingest; uris must be unique',
    );
  });

  test('a source is unchanged only when its text, title, type, metadata and pages are', async () => {
    const store = createMemoryStore();
    const ledger = createMemoryLedger();
    const paged = { text: 'Page one.\nPage two.', pageStarts: [0, 10] };
    const first = [note(0), note(1), note(2), note(3), note(4, paged), note(5, { metadata: { shelf: 'a' } })];
    expect((await into(store, ledger, first)).added).toBe(6);
    expect(await into(store, ledger, first)).toMatchObject({ unchanged: 6, updated: 0, embeddingCalls: 0 });
    const second = [
      note(0),
      note(1, { text: 'Note 1 is now about something else.' }),
      note(2, { title: 'Two' }),
      note(3, { contentType: 'text/markdown' }),
      note(4, { ...paged, pageStarts: [0, 5] }),
      note(5, { metadata: { shelf: 'b' } }),
    ];
    const report = await into(store, ledger, second);
    expect(report).toMatchObject({ unchanged: 1, updated: 5, added: 0 });
    expect(await into(store, ledger, second)).toMatchObject({ unchanged: 6 });
  });

  test('chunks carry what the source says of itself, and ids that depend only on the source version', async () => {
    const store = createMemoryStore();
    const ledger = createMemoryLedger();
    const documents: SourceDocument[] = [
      {
        uri: 'mem://paged',
        contentType: 'text/markdown',
        title: 'Paged',
        modifiedAt: '2024-05-01T00:00:00.000Z',
        metadata: { shelf: 'b' },
        text: '# Intro\nFirst page text.\nSecond page text.',
        pageStarts: [0, 25],
      },
      { uri: 'mem://bare', contentType: 'text/plain', text: 'Nothing but text.' },
    ];
    const report = await into(store, ledger, documents, { runId: 'run-x' });
    const [entry] = (await ledger.entries()).filter((e) => e.source === 'mem://paged');
    const page = await store.scroll({ collection: 'notes', limit: 10 });
    const paged = page.records.find((record) => record.payload.source === 'mem://paged');
    const bare = page.records.find((record) => record.payload.source === 'mem://bare');
    expect(paged?.id).toBe(`${sha256Hex(`mem://paged\n${entry?.key}`).slice(0, 32)}-0`);
    expect(paged?.payload).toEqual({
      text: '# Intro\nFirst page text.\nSecond page text.',
      source: 'mem://paged',
      title: 'Paged',
      heading: 'Intro',
      page: 1,
      pageEnd: 2,
      chunk: 0,
      start: 0,
      end: 42,
      contentType: 'text/markdown',
      modifiedAt: '2024-05-01T00:00:00.000Z',
      sourceHash: sha256Hex(documents[0]?.text as string),
      runId: report.runId,
      ingestedAt: expect.any(String),
      ledger: expect.stringMatching(/^[0-9a-f]{16}$/),
      metadata: { shelf: 'b' },
    });
    expect(Object.keys(bare?.payload ?? {}).sort()).toEqual(
      ['text', 'source', 'chunk', 'start', 'end', 'contentType', 'sourceHash', 'runId', 'ingestedAt', 'ledger'].sort(),
    );
    // The same version written by another run into another store gets the same ids.
    const again = createMemoryStore();
    await into(again, createMemoryLedger(), documents);
    const ids = async (s: Store) => (await s.scroll({ collection: 'notes' })).records.map((r) => r.id).sort();
    expect(await ids(again)).toEqual(await ids(store));
  });

  test('prune keeps the sources the loader could not read this time, and says which', async () => {
    const store = createMemoryStore();
    const ledger = createMemoryLedger();
    await into(store, ledger, notes(9));
    const unread = (uris: number[], seen: number[]) =>
      Object.assign(
        seen.map((i) => note(i)),
        { skipped: [...uris.map((i) => ({ uri: `mem://note/${i}`, reason: 'parse-error' })), { reason: 'x' }, null] },
      );
    const one = await into(store, ledger, unread([8], [0, 1, 2, 3, 4, 5, 6]), { prune: true });
    expect(one.deleted).toBe(1);
    expect(one.warnings).toEqual([
      '1 source(s) the loader could not read this time were kept as last ingested, not pruned: mem://note/8',
    ]);
    expect((await ledger.entries()).map((e) => e.source)).toContain('mem://note/8');
    expect((await ledger.entries()).map((e) => e.source)).not.toContain('mem://note/7');

    const five = await into(store, ledger, unread([1, 2, 3, 4, 5], [0, 6]), { prune: true });
    expect(five.warnings).toEqual([
      '5 source(s) the loader could not read this time were kept as last ingested, not pruned: mem://note/1, mem://note/2, mem://note/3, mem://note/4, mem://note/5',
    ]);
    expect(five.deleted).toBe(1);

    const six = await into(store, ledger, unread([1, 2, 3, 4, 5, 6], [0]), { prune: true });
    expect(six.warnings).toEqual([
      '6 source(s) the loader could not read this time were kept as last ingested, not pruned: mem://note/1, mem://note/2, mem://note/3, mem://note/4, mem://note/5, …',
    ]);
    expect(six.deleted).toBe(0);

    // A `skipped` that is not a list of `{ uri }` keeps nothing.
    const notListed = Object.assign([note(0)], { skipped: 'mem://note/1' });
    const all = await into(store, ledger, notListed, { prune: true });
    expect(all).toMatchObject({ deleted: 6, warnings: [] });
  });
});

describe('ingest runs', () => {
  test('a run id of the form run-<UTC time>-<hex> unless one is given', async () => {
    const store = createMemoryStore();
    const report = await into(store, createMemoryLedger(), notes(1));
    expect(report.runId).toMatch(/^run-\d{8}T\d{9}Z-[0-9a-f]{8}$/);
    const given = await into(store, createMemoryLedger(), notes(1), { collection: 'other', runId: 'nightly-7' });
    expect(given.runId).toBe('nightly-7');
    const { records } = await store.scroll({ collection: 'other' });
    expect(records.map((r) => r.payload.runId)).toEqual(['nightly-7']);
  });

  test('progress: each phase in order, with the counts so far', async () => {
    const store = createMemoryStore();
    const ledger = createMemoryLedger();
    await into(store, ledger, notes(3));
    const events: IngestProgress[] = [];
    const documents = [note(0), note(1, { title: 'changed' }), note(2), note(3)];
    const report = await into(store, ledger, documents, {
      total: 4,
      onProgress: (progress) => events.push({ ...progress }),
      writeBatchChunks: 1,
    });
    expect(report).toMatchObject({ added: 1, updated: 1, unchanged: 2, chunksWritten: 2 });
    const summary = events.map(
      (e) => `${e.phase}:${e.sources}/${e.total}:${e.unchanged}:${e.chunksEmbedded}:${e.chunksWritten}`,
    );
    expect(summary).toEqual([
      'recover:0/4:0:0:0',
      'scan:0/4:0:0:0',
      'scan:1/4:1:0:0',
      'embed:2/4:1:0:0',
      'embed:2/4:1:1:0',
      'write:2/4:1:1:0',
      'write:2/4:1:1:1',
      'scan:3/4:2:1:1',
      'embed:4/4:2:1:1',
      'embed:4/4:2:2:1',
      'write:4/4:2:2:1',
      'write:4/4:2:2:2',
      'done:4/4:2:2:2',
    ]);
  });

  test('an unchanged run reports only scanning; pruning is a phase of its own', async () => {
    const store = createMemoryStore();
    const ledger = createMemoryLedger();
    await into(store, ledger, notes(2));
    const phases: string[] = [];
    await into(store, ledger, notes(2), { prune: true, onProgress: (p) => phases.push(p.phase) });
    expect(phases).toEqual(['recover', 'scan', 'scan', 'scan', 'done']);
    phases.length = 0;
    await into(store, ledger, notes(1), { prune: true, onProgress: (p) => phases.push(p.phase) });
    expect(phases).toEqual(['recover', 'scan', 'scan', 'prune', 'done']);
    phases.length = 0;
    const catalog = createLocalCatalog();
    await into(store, ledger, notes(1), { catalog, onProgress: (p) => phases.push(p.phase) });
    expect(phases).toEqual(['recover', 'scan', 'scan', 'catalog', 'done']);
  });

  test('sources are written in batches of writeBatchChunks chunks, 256 by default', async () => {
    const ledger = createMemoryLedger();
    const store = countingUpserts(createMemoryStore());
    await into(store, ledger, notes(300));
    expect(store.upserts).toEqual([256, 44]);
    const small = countingUpserts(createMemoryStore());
    await into(small, createMemoryLedger(), notes(5), { writeBatchChunks: 2 });
    expect(small.upserts).toEqual([2, 2, 1]);
    const exact = countingUpserts(createMemoryStore());
    await into(exact, createMemoryLedger(), notes(4), { writeBatchChunks: 4 });
    expect(exact.upserts).toEqual([4]);
  });

  test('the collection is created with the embedders’ spaces and the metric asked for', async () => {
    const store = createMemoryStore();
    await into(store, createMemoryLedger(), notes(1));
    expect(await store.openCollection({ name: 'notes' })).toMatchObject({ dimensions: 16, metric: 'cosine' });
    await into(store, createMemoryLedger(), notes(1), { collection: 'dot', metric: 'dot' });
    expect(await store.openCollection({ name: 'dot' })).toMatchObject({ dimensions: 16, metric: 'dot' });
    const bm25 = createBm25Encoder();
    await into(store, createMemoryLedger(), notes(1), {
      collection: 'sparse',
      embedder: undefined,
      sparseEmbedder: bm25,
    });
    const sparse = await store.openCollection({ name: 'sparse' });
    expect(sparse).toMatchObject({ dimensions: undefined, sparse: true, fingerprint: undefined });
    expect(sparse.sparseFingerprint).toEqual(expect.any(String));
  });

  test('without a splitter, chunks are sized in the dense embedder’s tokens when it has a tokenizer', async () => {
    const words = { id: 'words', count: (text: string) => text.split(/\s+/).filter(Boolean).length };
    const embedder: DenseEmbedder = { ...trigramEmbedder(16, 'trigram'), tokenizer: async () => words };
    const long = {
      uri: 'mem://long',
      contentType: 'text/plain',
      text: Array.from({ length: 600 }, () => 'tide').join(' '),
    };
    const tokens = createMemoryStore();
    const byTokens = await ingest({ store: tokens, collection: 'c', documents: [long], embedder });
    const characters = createMemoryStore();
    const byCharacters = await ingest({
      store: characters,
      collection: 'c',
      documents: [long],
      embedder: trigramEmbedder(16, 'trigram'),
    });
    expect(byTokens.chunksWritten).toBe(createRecursiveSplitter({ tokenizer: words }).split(long).length);
    expect(byCharacters.chunksWritten).toBe(createRecursiveSplitter().split(long).length);
    expect(byTokens.chunksWritten).not.toBe(byCharacters.chunksWritten);
  });

  test('one ingest at a time per ledger: a second one fails at once, or waits lockTimeoutMs', async () => {
    const store = createMemoryStore();
    const ledger = createMemoryLedger();
    let release!: () => void;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    const slow = trigramEmbedder(16, 'trigram');
    const embed = slow.embed;
    slow.embed = async (options) => {
      await held;
      return embed(options);
    };
    const first = into(store, ledger, notes(2), { embedder: slow });
    await new Promise((resolve) => setTimeout(resolve, 5));
    const refused = await into(store, ledger, notes(3)).catch((error: unknown) => error);
    expect(LockedError.isInstance(refused)).toBe(true);
    const waiting = into(store, ledger, notes(3), { lockTimeoutMs: 60_000 });
    release();
    expect((await first).added).toBe(2);
    expect(await waiting).toMatchObject({ added: 1, unchanged: 2 });
  });

  test('a failed ingest lets go of the ledger', async () => {
    const store = createMemoryStore();
    const ledger = createMemoryLedger();
    const failing = trigramEmbedder(16, 'trigram');
    failing.embed = async () => {
      throw new Error('model down');
    };
    await expect(into(store, ledger, notes(2), { embedder: failing })).rejects.toThrow('model down');
    expect((await into(store, ledger, notes(2))).added).toBe(2);
  });

  test('a ledger that describes another collection is checked against the store, with a warning', async () => {
    const ledger = createMemoryLedger();
    const store = createMemoryStore();
    await into(store, ledger, notes(2));
    const trusted = await into(store, ledger, notes(2));
    expect(trusted.warnings).toEqual([]);
    expect(trusted.ledger).toEqual({ trusted: true, reason: undefined, sourcesChecked: 0, sourcesMissing: 0 });
    const moved = await into(createMemoryStore(), ledger, notes(2));
    expect(moved.ledger).toMatchObject({ trusted: false, sourcesChecked: 2, sourcesMissing: 2 });
    expect(moved.warnings).toEqual([
      `The ledger at memory did not describe collection "notes" (${moved.ledger.reason}); 2 of 2 sources it lists were missing from the store and are written again.`,
    ]);
    expect(moved.added).toBe(2);
  });

  test('one ledger keeps several collections apart', async () => {
    const store = createMemoryStore();
    const ledger = createMemoryLedger();
    expect((await into(store, ledger, notes(2), { collection: 'a' })).added).toBe(2);
    // The entries of collection a say nothing about b: nothing of b is missing, no warning.
    expect(await into(store, ledger, notes(2), { collection: 'b' })).toMatchObject({
      added: 2,
      warnings: [],
      ledger: { sourcesChecked: 0, sourcesMissing: 0 },
    });
    expect(await store.count({ collection: 'b' })).toBe(2);
    for (const collection of ['a', 'b']) {
      const again = await into(store, ledger, notes(2), { collection });
      expect(again).toMatchObject({ unchanged: 2, ledger: { trusted: true } });
    }
  });

  test('a ledger without marks is checked against the store on every run', async () => {
    const store = createMemoryStore();
    const { marks: _marks, ...unmarked } = createMemoryLedger();
    const first = await into(store, unmarked, notes(2));
    const again = await into(store, unmarked, notes(2));
    expect(again).toMatchObject({
      unchanged: 2,
      warnings: [],
      ledger: {
        trusted: false,
        reason: 'the ledger keeps no marks (it has no marks() method)',
        sourcesChecked: 2,
        sourcesMissing: 0,
      },
    });
    expect(first.added).toBe(2);
  });

  test('with a store that keeps no collection state, the ledger’s mark alone is trusted', async () => {
    const { getCollectionState: _get, setCollectionState: _set, ...stateless } = createMemoryStore();
    const ledger = createMemoryLedger();
    expect((await into(stateless, ledger, notes(2))).added).toBe(2);
    expect(await into(stateless, ledger, notes(2))).toMatchObject({
      unchanged: 2,
      ledger: { trusted: true, reason: undefined, sourcesChecked: 0, sourcesMissing: 0 },
    });
  });

  test('a store restored from an older backup is checked, and what it lost is written again', async () => {
    let saved: Uint8Array | undefined;
    const persistence = {
      location: 'memory://backup',
      load: async () => saved,
      save: async (bytes: Uint8Array) => {
        saved = bytes.slice();
      },
    };
    const ledger = createMemoryLedger();
    await into(createMemoryStore({ persistence }), ledger, notes(3));
    const backup = saved;
    const edited = [note(0), note(1, { title: 'edited' }), note(2)];
    await into(createMemoryStore({ persistence }), ledger, edited);
    saved = backup;
    const restored = createMemoryStore({ persistence });
    const report = await into(restored, ledger, edited);
    expect(report.ledger).toMatchObject({ trusted: false, sourcesChecked: 3, sourcesMissing: 1 });
    expect(report.ledger.reason).toMatch(/^the collection's last checkpoint is [0-9a-f]{16} but the ledger recorded/);
    expect(report).toMatchObject({ unchanged: 2, added: 1 });
    const titles = (await restored.scroll({ collection: 'notes' })).records.map((r) => r.payload.title ?? null);
    expect(titles.sort()).toEqual(['edited', null, null]);
  });

  test('changing the model writes every source again, even into a store that records no embedding space', async () => {
    const memory = createMemoryStore();
    const forgetful: Store = {
      ...memory,
      createCollection: ({ embeddingSpace: _dense, sparseEmbeddingSpace: _sparse, ...options }) =>
        memory.createCollection(options),
    };
    const ledger = createMemoryLedger();
    await into(forgetful, ledger, notes(2), { sparseEmbedder: createBm25Encoder() });
    expect(await into(forgetful, ledger, notes(2), { sparseEmbedder: createBm25Encoder() })).toMatchObject({
      unchanged: 2,
    });
    const newDense = await into(forgetful, ledger, notes(2), {
      embedder: trigramEmbedder(16, 'trigram-2'),
      sparseEmbedder: createBm25Encoder(),
    });
    expect(newDense).toMatchObject({ updated: 2, unchanged: 0 });
    const newSparse = await into(forgetful, ledger, notes(2), {
      embedder: trigramEmbedder(16, 'trigram-2'),
      sparseEmbedder: createBm25Encoder({ k1: 1.5 }),
    });
    expect(newSparse).toMatchObject({ updated: 2, unchanged: 0 });
  });

  test('the collection ingest creates: cosine unless asked, sparse with a sparse embedder, with the run’s signal', async () => {
    const memory = createMemoryStore();
    const created: Record<string, unknown>[] = [];
    const recording: Store = {
      ...memory,
      createCollection: (options) => {
        created.push({ ...options });
        return memory.createCollection(options);
      },
    };
    const controller = new AbortController();
    await into(recording, createMemoryLedger(), notes(1), { abortSignal: controller.signal });
    await into(recording, createMemoryLedger(), notes(1), {
      collection: 'words',
      embedder: undefined,
      sparseEmbedder: createBm25Encoder(),
    });
    expect(created).toEqual([
      {
        name: 'notes',
        ifExists: 'open',
        dimensions: 16,
        embeddingSpace: await trigramEmbedder(16, 'trigram').space(),
        metric: 'cosine',
        abortSignal: controller.signal,
      },
      {
        name: 'words',
        ifExists: 'open',
        sparse: true,
        sparseEmbeddingSpace: await createBm25Encoder().space(),
      },
    ]);
  });

  test('an abort while the sources are read stops the run before the next one', async () => {
    const controller = new AbortController();
    const seen: string[] = [];
    async function* documents() {
      for (const document of notes(3)) {
        seen.push(document.uri);
        yield document;
        controller.abort();
      }
    }
    const store = createMemoryStore();
    const failed = into(store, createMemoryLedger(), documents(), { abortSignal: controller.signal });
    await expect(failed).rejects.toThrow('ingest was aborted.');
    expect(seen).toEqual(['mem://note/0', 'mem://note/1']);
    expect(await store.count({ collection: 'notes' })).toBe(0);
  });

  test('the report of a first run into a new collection', async () => {
    const report = await into(createMemoryStore(), createMemoryLedger(), notes(2));
    expect(report).toEqual({
      runId: report.runId,
      collection: 'notes',
      added: 2,
      updated: 0,
      unchanged: 0,
      deleted: 0,
      chunksWritten: 2,
      chunksDeleted: 0,
      embeddingCalls: 1,
      durationMs: expect.any(Number),
      ledger: {
        trusted: false,
        reason: 'the ledger has no mark for this collection (written before kumiki recorded marks)',
        sourcesChecked: 0,
        sourcesMissing: 0,
      },
      warnings: [],
    });
  });
});

describe('runIngest with a dispatch', () => {
  test('changed sources go to dispatch.write, and what the writers did comes back into the report', async () => {
    const store = createMemoryStore();
    const ledger = createMemoryLedger();
    await into(store, ledger, notes(2));
    const batches: DispatchedSource[][] = [];
    const catalog = createLocalCatalog();
    const report = await runIngest(
      {
        store,
        collection: 'notes',
        documents: [note(0), note(1, { title: 'new title' }), note(2), note(3)],
        embedder: trigramEmbedder(16, 'trigram'),
        splitter,
        ledger,
        writeBatchChunks: 2,
        catalog,
      },
      {
        write: async (batch) => {
          batches.push(batch);
        },
        drain: async () => ({
          written: batches.flat(),
          chunksWritten: 3,
          chunksDeleted: 1,
          embeddingCalls: 2,
        }),
      },
    );
    expect(batches.map((batch) => batch.map((source) => [source.document.uri, source.chunks, source.updated]))).toEqual(
      [
        [
          ['mem://note/1', 1, true],
          ['mem://note/2', 1, false],
        ],
        [['mem://note/3', 1, false]],
      ],
    );
    expect(batches[0]?.[0]?.key).toMatch(/^[0-9a-f]{64}$/);
    expect(report).toMatchObject({
      added: 2,
      updated: 1,
      unchanged: 1,
      chunksWritten: 3,
      chunksDeleted: 1,
      embeddingCalls: 2,
    });
    // The catalog lists the sources the writers wrote as the run's inputs.
    expect((await catalog.getRun(report.runId))?.inputs).toEqual(
      ['mem://note/1', 'mem://note/2', 'mem://note/3'].map((name) => ({ kind: 'source', name })),
    );
    // Nothing was written here: the writers do that.
    expect(await store.count({ collection: 'notes' })).toBe(2);
  });
});
