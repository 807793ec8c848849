/**
 * BM25 statistics per collection (src/pipeline/statistics.ts) against the memory store: what is
 * saved with a collection, when saved statistics are restored and when they are rebuilt from the
 * stored texts, the fork kept per collection, and an ingest's writer (removals, drift, publishing).
 */
import { describe, expect, test } from 'vitest';
import { type Bm25State, createBm25Encoder, createMemoryStore, type Store, UnavailableError } from '../src/index.js';
import {
  bindStatistics,
  INGEST_STATE_KEY,
  keepsStatistics,
  readIngestState,
  resetStatistics,
  type StatisticalEmbedder,
  statisticsWriter,
} from '../src/pipeline/statistics.js';

/** A sparse-only collection holding `texts` as `payload.text` (ids 0, 1, …). */
async function collectionOf(texts: readonly (string | number)[], name = 'kb') {
  const store = createMemoryStore();
  await store.createCollection({ name });
  if (texts.length > 0) {
    await store.upsert({ collection: name, records: texts.map((text, id) => ({ id, payload: { text } })) });
  }
  return store;
}

const stats = (embedder: StatisticalEmbedder) => embedder.exportState() as Bm25State;

/** The store with its reads counted, and the abort signal of each read (the memory store's own, called through). */
function counted(store: Store) {
  const calls = { openCollection: 0, scroll: 0, get: 0 };
  const signals: [string, AbortSignal | undefined][] = [];
  const wrapped: Store = {
    ...store,
    openCollection: (options) => {
      calls.openCollection++;
      if (options.abortSignal) signals.push(['openCollection', options.abortSignal]);
      return store.openCollection(options);
    },
    scroll: (options) => {
      calls.scroll++;
      if (options.abortSignal) signals.push(['scroll', options.abortSignal]);
      return store.scroll(options);
    },
    get: (options) => {
      calls.get++;
      if (options.abortSignal) signals.push(['get', options.abortSignal]);
      return store.get(options);
    },
    getCollectionState: store.getCollectionState
      ? (options) => {
          if (options.abortSignal) signals.push(['getCollectionState', options.abortSignal]);
          return (store.getCollectionState as NonNullable<Store['getCollectionState']>)(options);
        }
      : undefined,
  };
  return { store: wrapped, calls, signals };
}

describe('keepsStatistics', () => {
  test('a BM25 encoder keeps statistics; a sparse embedder lacking any of the five methods does not', () => {
    const bm25 = createBm25Encoder();
    expect(keepsStatistics(bm25)).toBe(true);
    expect(keepsStatistics(undefined)).toBe(false);
    for (const method of ['addDocuments', 'removeDocuments', 'exportState', 'importState', 'fork']) {
      const partial = { ...bm25, [method]: 'not a function' };
      expect(keepsStatistics(partial as never), method).toBe(false);
    }
  });
});

describe('readIngestState', () => {
  test('undefined on a store that keeps no collection state', async () => {
    const store = await collectionOf(['a']);
    expect(await readIngestState({ ...store, getCollectionState: undefined }, 'kb', {})).toBeUndefined();
  });

  test('nothing saved: no state, not current', async () => {
    expect(await readIngestState(await collectionOf(['a']), 'kb', {})).toEqual({ state: undefined, current: false });
  });

  test('the checkpoints and statistics saved, current until the next write', async () => {
    const store = await collectionOf(['a']);
    const value = { checkpoints: { ledger: 'tok-1' }, sparseStatistics: { documentCount: 1 } };
    await store.setCollectionState?.({ collection: 'kb', key: INGEST_STATE_KEY, value });
    expect(await readIngestState(store, 'kb', {})).toEqual({ state: value, current: true });
    await store.upsert({ collection: 'kb', records: [{ id: 9, payload: { text: 'b' } }] });
    expect(await readIngestState(store, 'kb', {})).toEqual({ state: value, current: false });
  });

  test.each([
    ['null', null],
    ['a string', 'checkpoints'],
    ['no checkpoints', { sparseStatistics: {} }],
    ['checkpoints that are a list', { checkpoints: ['tok-1'] }],
    ['checkpoints that are text', { checkpoints: 'tok-1' }],
  ])('a saved value that is not an ingest state (%s) gives no state', async (_, value) => {
    const store = await collectionOf(['a']);
    await store.setCollectionState?.({ collection: 'kb', key: INGEST_STATE_KEY, value });
    expect(await readIngestState(store, 'kb', {})).toEqual({ state: undefined, current: true });
  });

  test('the abort signal is passed to the store', async () => {
    const { store, signals } = counted(await collectionOf(['a']));
    const abort = new AbortController();
    await readIngestState(store, 'kb', { abortSignal: abort.signal });
    expect(signals).toEqual([['getCollectionState', abort.signal]]);
  });
});

describe('resetStatistics', () => {
  test('empties the statistics and keeps the analyzer', () => {
    const bm25 = createBm25Encoder({ stemmer: 'none', stopwords: 'none' });
    bm25.addDocuments(['lamps and lenses', 'wicks']);
    const analyzer = stats(bm25).analyzer;
    resetStatistics(bm25);
    expect(stats(bm25)).toMatchObject({
      analyzer,
      documentCount: 0,
      totalLength: 0,
      indices: [],
      documentFrequencies: [],
    });
  });
});

describe('bindStatistics', () => {
  test('rebuilt from the stored texts when nothing is saved; records without a string text are left out', async () => {
    const store = await collectionOf(['lamps and lenses', 'wicks trimmed', 42]);
    const bm25 = createBm25Encoder();
    bm25.addDocuments(['the caller’s own statistics are not used']);
    const bound = await bindStatistics({ store, collection: 'kb', embedder: bm25 });
    const clean = createBm25Encoder();
    clean.addDocuments(['lamps and lenses', 'wicks trimmed']);
    expect(stats(bound)).toEqual(stats(clean));
    expect(stats(bm25).documentCount).toBe(1);
  });

  test('every stored text counts, past the first page of 1000', async () => {
    const texts = Array.from({ length: 1003 }, (_, i) => `text number ${i}`);
    const bound = await bindStatistics({
      store: await collectionOf(texts),
      collection: 'kb',
      embedder: createBm25Encoder(),
    });
    expect(stats(bound).documentCount).toBe(1003);
  });

  test('a missing collection gives empty statistics', async () => {
    const store = createMemoryStore();
    const bm25 = createBm25Encoder();
    bm25.addDocuments(['something']);
    const bound = await bindStatistics({ store, collection: 'nowhere', embedder: bm25 });
    expect(stats(bound)).toMatchObject({ documentCount: 0, totalLength: 0, indices: [] });
  });

  test('a store failure other than a missing collection is thrown', async () => {
    const store = await collectionOf(['a']);
    const failing: Store = {
      ...store,
      openCollection: async () => {
        throw new UnavailableError({ message: 'the store is down', component: 'test' });
      },
    };
    await expect(bindStatistics({ store: failing, collection: 'kb', embedder: createBm25Encoder() })).rejects.toThrow(
      'the store is down',
    );
  });

  test('restored from the saved statistics while they are current, rebuilt once the collection is written', async () => {
    const store = await collectionOf(['lamps', 'wicks']);
    const saved = createBm25Encoder();
    saved.addDocuments(['a', 'b', 'c', 'd', 'e']);
    await store.setCollectionState?.({
      collection: 'kb',
      key: INGEST_STATE_KEY,
      value: { checkpoints: {}, sparseStatistics: saved.exportState() },
    });
    const bm25 = createBm25Encoder();
    expect(stats(await bindStatistics({ store, collection: 'kb', embedder: bm25 })).documentCount).toBe(5);
    await store.upsert({ collection: 'kb', records: [{ id: 7, payload: { text: 'lens' } }] });
    expect(stats(await bindStatistics({ store, collection: 'kb', embedder: bm25 })).documentCount).toBe(3);
  });

  test('a current saved value without statistics (or not an ingest state) is rebuilt from the texts', async () => {
    for (const value of [null, { checkpoints: { ledger: 'tok' } }]) {
      const store = await collectionOf(['lamps', 'wicks']);
      await store.setCollectionState?.({ collection: 'kb', key: INGEST_STATE_KEY, value });
      const bound = await bindStatistics({ store, collection: 'kb', embedder: createBm25Encoder() });
      expect(stats(bound).documentCount).toBe(2);
    }
  });

  test('a collection deleted and created again under its name is not taken for the old one', async () => {
    const store = await collectionOf(['lamps', 'wicks']);
    const bm25 = createBm25Encoder();
    const before = await bindStatistics({ store, collection: 'kb', embedder: bm25 });
    expect(stats(before).documentCount).toBe(2);
    const old = await store.openCollection({ name: 'kb' });
    await store.deleteCollection({ name: 'kb' });
    await store.createCollection({ name: 'kb' });
    await store.upsert({ collection: 'kb', records: ['a', 'b', 'c'].map((text, id) => ({ id, payload: { text } })) });
    // The same write version: only the epoch tells the two apart.
    const recreated = await store.openCollection({ name: 'kb' });
    expect(recreated.version).toBe(old.version);
    expect(recreated.epoch).not.toBe(old.epoch);
    expect(stats(await bindStatistics({ store, collection: 'kb', embedder: bm25 })).documentCount).toBe(3);
  });

  test.each([
    ['with', (info: { epoch?: string }) => info],
    ['without', (info: { epoch?: string }) => ({ ...info, epoch: undefined })],
  ])('a collection deleted since it was bound (store %s epochs) gives empty statistics', async (_, strip) => {
    const memory = await collectionOf(['lamps', 'wicks']);
    const store: Store = {
      ...memory,
      openCollection: async (options) => strip(await memory.openCollection(options)) as never,
    };
    const bm25 = createBm25Encoder();
    expect(stats(await bindStatistics({ store, collection: 'kb', embedder: bm25 })).documentCount).toBe(2);
    await memory.deleteCollection({ name: 'kb' });
    expect(stats(await bindStatistics({ store, collection: 'kb', embedder: bm25 })).documentCount).toBe(0);
  });

  test('saved statistics of another analyzer are rebuilt from the texts', async () => {
    const store = await collectionOf(['lamps', 'wicks']);
    const other = createBm25Encoder({ stemmer: 'none' });
    other.addDocuments(['a', 'b', 'c', 'd', 'e']);
    await store.setCollectionState?.({
      collection: 'kb',
      key: INGEST_STATE_KEY,
      value: { checkpoints: {}, sparseStatistics: other.exportState() },
    });
    expect(stats(await bindStatistics({ store, collection: 'kb', embedder: createBm25Encoder() })).documentCount).toBe(
      2,
    );
  });

  test('an unexpected failure restoring the statistics is thrown, not hidden by a rebuild', async () => {
    const store = await collectionOf(['lamps']);
    await store.setCollectionState?.({
      collection: 'kb',
      key: INGEST_STATE_KEY,
      value: { checkpoints: {}, sparseStatistics: {} },
    });
    const bm25 = createBm25Encoder();
    const broken: StatisticalEmbedder = {
      ...bm25,
      fork: () => {
        const fork = bm25.fork();
        return {
          ...fork,
          // Fails on the saved statistics only: emptying them for a rebuild would work.
          importState: (state: Bm25State) => {
            if (!('format' in state)) throw new TypeError('importState broke');
            fork.importState(state);
          },
        };
      },
    };
    await expect(bindStatistics({ store, collection: 'kb', embedder: broken })).rejects.toThrow('importState broke');
  });

  test('the fork is kept while the collection is unchanged, and concurrent calls share one load', async () => {
    const { store, calls } = counted(await collectionOf(['lamps', 'wicks']));
    const bm25 = createBm25Encoder();
    const [a, b] = await Promise.all([
      bindStatistics({ store, collection: 'kb', embedder: bm25 }),
      bindStatistics({ store, collection: 'kb', embedder: bm25 }),
    ]);
    expect(a).toBe(b);
    expect(calls.scroll).toBe(1);
    expect(await bindStatistics({ store, collection: 'kb', embedder: bm25 })).toBe(a);
    expect(calls.scroll).toBe(1);
    // Another encoder, or another collection, has its own fork.
    const other = await bindStatistics({ store, collection: 'kb', embedder: createBm25Encoder() });
    expect(other).not.toBe(a);
    expect(calls.scroll).toBe(2);
    await store.upsert({ collection: 'kb', records: [{ id: 5, payload: { text: 'lens' } }] });
    const after = await bindStatistics({ store, collection: 'kb', embedder: bm25 });
    expect(after).not.toBe(a);
    expect(stats(after).documentCount).toBe(3);
    expect(calls.scroll).toBe(3);
  });

  test('the collection info given by the caller saves opening the collection', async () => {
    const { store, calls } = counted(await collectionOf(['lamps']));
    const info = await store.openCollection({ name: 'kb' });
    const before = calls.openCollection;
    const bound = await bindStatistics({ store, collection: 'kb', embedder: createBm25Encoder(), info });
    expect(calls.openCollection).toBe(before);
    expect(stats(bound).documentCount).toBe(1);
  });

  test('a store without write versions is read once, and not asked again', async () => {
    const memory = await collectionOf(['lamps', 'wicks']);
    const { store, calls } = counted({
      ...memory,
      openCollection: async (options) => ({ ...(await memory.openCollection(options)), version: undefined }),
      getCollectionState: undefined,
    });
    const bm25 = createBm25Encoder();
    const first = await bindStatistics({ store, collection: 'kb', embedder: bm25 });
    await memory.upsert({ collection: 'kb', records: [{ id: 5, payload: { text: 'lens' } }] });
    const second = await bindStatistics({ store, collection: 'kb', embedder: bm25 });
    expect(second).toBe(first);
    expect(calls.openCollection).toBe(1);
    expect(stats(second).documentCount).toBe(2);
  });
});

describe('statisticsWriter', () => {
  async function writerOn(texts: readonly string[]) {
    const { store, calls } = counted(await collectionOf(texts));
    const bm25 = createBm25Encoder();
    const info = await store.openCollection({ name: 'kb' });
    const writer = await statisticsWriter({ store, collection: 'kb', embedder: bm25, info });
    return { store, calls, bm25, writer };
  }

  test('removeStored takes out the stored texts of the ids given, skipping ids not stored', async () => {
    const { writer, calls } = await writerOn(['lamps', 'wicks', 'lens']);
    await writer.removeStored([]);
    expect(calls.get).toBe(0);
    await writer.removeStored([99]);
    expect(stats(writer.embedder).documentCount).toBe(3);
    await writer.removeStored([0, 2, 98]);
    const expected = createBm25Encoder();
    expected.addDocuments(['wicks']);
    expect(stats(writer.embedder)).toEqual(stats(expected));
  });

  test('settle after this ingest’s own writes returns the working statistics as they are', async () => {
    const { store, writer } = await writerOn(['lamps']);
    writer.embedder.addDocuments(['wicks', 'lens']);
    await store.upsert({ collection: 'kb', records: [{ id: 1, payload: { text: 'wicks' } }] });
    writer.wrote();
    await store.upsert({ collection: 'kb', records: [{ id: 2, payload: { text: 'lens' } }] });
    writer.wrote();
    // A text the store does not hold: kept, as nothing tells the writer its statistics are off.
    writer.embedder.addDocuments(['phantom']);
    const settled = (await writer.settle(await store.openCollection({ name: 'kb' }))) as Bm25State;
    expect(settled.documentCount).toBe(4);
    // Counting starts again from the settled version.
    writer.embedder.addDocuments(['extra']);
    writer.wrote();
    await store.upsert({ collection: 'kb', records: [{ id: 3, payload: { text: 'extra' } }] });
    expect(((await writer.settle(await store.openCollection({ name: 'kb' }))) as Bm25State).documentCount).toBe(5);
  });

  test('settle rebuilds from the stored texts when someone else wrote the collection meanwhile', async () => {
    const { store, writer } = await writerOn(['lamps']);
    writer.embedder.addDocuments(['wicks']);
    await store.upsert({ collection: 'kb', records: [{ id: 1, payload: { text: 'wicks' } }] });
    writer.wrote();
    // Another process's write, not counted by this writer.
    await store.upsert({ collection: 'kb', records: [{ id: 2, payload: { text: 'lens' } }] });
    const settled = (await writer.settle(await store.openCollection({ name: 'kb' }))) as Bm25State;
    const expected = createBm25Encoder();
    expected.addDocuments(['lamps', 'wicks', 'lens']);
    expect(settled).toEqual(stats(expected));
  });

  test('settle without a version to compare keeps the working statistics', async () => {
    const { writer } = await writerOn(['lamps']);
    writer.embedder.addDocuments(['not stored']);
    expect(((await writer.settle(undefined)) as Bm25State).documentCount).toBe(2);
  });

  test('a writer started without a write version does not take the first one it sees for someone else’s writes', async () => {
    const store = await collectionOf(['lamps']);
    const info = await store.openCollection({ name: 'kb' });
    const writer = await statisticsWriter({
      store,
      collection: 'kb',
      embedder: createBm25Encoder(),
      info: { ...info, version: undefined },
    });
    writer.embedder.addDocuments(['not stored']);
    expect(((await writer.settle(info)) as Bm25State).documentCount).toBe(2);
  });

  test('publish without collection info still copies the statistics into the embedder', async () => {
    const { writer, bm25 } = await writerOn(['lamps']);
    writer.embedder.addDocuments(['wicks']);
    writer.publish(undefined);
    expect(stats(bm25).documentCount).toBe(2);
  });

  test('texts the statistics never held mark them drifted: removals stop, and settle rebuilds them', async () => {
    const { store, writer, calls } = await writerOn(['lamps']);
    // Stored behind the writer's back, with the version it expects: only the removal can tell.
    await store.upsert({ collection: 'kb', records: [{ id: 1, payload: { text: 'unheard words here' } }] });
    writer.wrote();
    await writer.removeStored([1]);
    const gets = calls.get;
    await writer.removeStored([0]);
    expect(calls.get).toBe(gets);
    const settled = (await writer.settle(await store.openCollection({ name: 'kb' }))) as Bm25State;
    const expected = createBm25Encoder();
    expected.addDocuments(['lamps', 'unheard words here']);
    expect(settled).toEqual(stats(expected));
    // Rebuilt once: later removals work again.
    await writer.removeStored([0]);
    expect(stats(writer.embedder).documentCount).toBe(1);
  });

  test('a stored record without text is removed as an empty text', async () => {
    const { store, writer } = await writerOn([]);
    await store.upsert({ collection: 'kb', records: [{ id: 1, payload: {} }] });
    writer.embedder.addDocuments(['']);
    await writer.removeStored([1]);
    expect(stats(writer.embedder).documentCount).toBe(0);
  });

  test('an unexpected failure removing texts is thrown', async () => {
    const store = await collectionOf(['lamps']);
    const bm25 = createBm25Encoder();
    const broken: StatisticalEmbedder = {
      ...bm25,
      fork: () => ({
        ...bm25.fork(),
        fork: () => ({
          ...bm25.fork(),
          removeDocuments: () => {
            throw new TypeError('removeDocuments broke');
          },
        }),
      }),
    };
    const info = await store.openCollection({ name: 'kb' });
    const writer = await statisticsWriter({ store, collection: 'kb', embedder: broken, info });
    await expect(writer.removeStored([0])).rejects.toThrow('removeDocuments broke');
  });

  test('publish makes the statistics the collection’s in this process and copies them into the embedder', async () => {
    const { store, writer, bm25, calls } = await writerOn(['lamps']);
    writer.embedder.addDocuments(['wicks']);
    await store.upsert({ collection: 'kb', records: [{ id: 1, payload: { text: 'wicks' } }] });
    writer.wrote();
    const info = await store.openCollection({ name: 'kb' });
    await writer.settle(info);
    writer.publish(info);
    expect(stats(bm25).documentCount).toBe(2);
    const scrolls = calls.scroll;
    const bound = await bindStatistics({ store, collection: 'kb', embedder: bm25 });
    expect(calls.scroll).toBe(scrolls);
    expect(stats(bound).documentCount).toBe(2);
    // A copy: the writer's later changes do not reach it.
    writer.embedder.addDocuments(['later']);
    expect(stats(bound).documentCount).toBe(2);
  });

  test('the abort signal reaches every store call', async () => {
    const { store, signals } = counted(await collectionOf(['lamps']));
    const abort = new AbortController();
    const writer = await statisticsWriter({
      store,
      collection: 'kb',
      embedder: createBm25Encoder(),
      info: await store.openCollection({ name: 'kb' }),
      abortSignal: abort.signal,
    });
    await writer.removeStored([0]);
    await store.upsert({ collection: 'kb', records: [{ id: 1, payload: { text: 'other' } }] });
    await writer.settle(await store.openCollection({ name: 'kb' }));
    expect(signals).toEqual([
      ['getCollectionState', abort.signal],
      ['scroll', abort.signal],
      ['get', abort.signal],
      ['scroll', abort.signal],
    ]);
    await bindStatistics({ store, collection: 'kb', embedder: createBm25Encoder(), abortSignal: abort.signal });
    expect(signals.slice(4)).toEqual([
      ['openCollection', abort.signal],
      ['getCollectionState', abort.signal],
      ['scroll', abort.signal],
    ]);
  });
});
