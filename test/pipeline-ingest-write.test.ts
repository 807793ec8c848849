/**
 * Ingest's write protocol, step by step against a real memory store and memory ledger: intent goes to
 * the ledger before the store is written, the new version is committed before the old chunks are
 * deleted, recovery removes what a killed run left, prune marks before it deletes, and each completed
 * step ends with a checkpoint in the ledger's mark and the collection's state.
 */
import { describe, expect, test } from 'vitest';
import type { DatasetRef } from '../src/core/catalog.js';
import { type CollectionInfo, createMemoryStore, type Store } from '../src/index.js';
import { emptyReport, type IngestPhase } from '../src/pipeline/ingest-options.js';
import type { Work } from '../src/pipeline/ingest-sources.js';
import { createIngestWriter } from '../src/pipeline/ingest-write.js';
import { createMemoryLedger, type Ledger, type LedgerChanges, type LedgerEntry } from '../src/pipeline/ledger.js';
import { INGEST_STATE_KEY } from '../src/pipeline/statistics.js';

const LEDGER_ID = 'L1';
const STARTED = '2026-12-03T10:00:00.000Z';

/** One line per ledger write, readable in an expectation. */
function describeChanges(changes: LedgerChanges): string[] {
  return [
    ...(changes.put ?? []).map(
      (e) =>
        `put ${e.source} key=${e.key} chunks=${e.chunkIds.join(',')}` +
        (e.pending ? ` pending=${e.pending.key}:${e.pending.chunkIds.join(',')}` : '') +
        (e.stale ? ` stale=${e.stale.join(',')}` : '') +
        (e.removing ? ' removing' : ''),
    ),
    ...(changes.remove ?? []).map((r) => `remove ${r.source}`),
    ...(changes.mark ? [`mark ledger=${changes.mark.ledger}`] : []),
  ];
}

type Setup = {
  /** Store records by source: ids. */
  stored?: Record<string, string[]>;
  known?: LedgerEntry[];
  /** A store without epochs, write versions or collection state (like pgvector). */
  plain?: boolean;
  failUpsert?: boolean;
};

async function setup(options: Setup = {}) {
  const base = createMemoryStore();
  const created = await base.createCollection({ name: 'kb', dimensions: 2 });
  for (const [source, ids] of Object.entries(options.stored ?? {})) {
    await base.upsert({
      collection: 'kb',
      records: ids.map((id) => ({ id, vector: [1, 0], payload: { text: id, source, ledger: LEDGER_ID } })),
    });
  }
  await base.setCollectionState?.({
    collection: 'kb',
    key: INGEST_STATE_KEY,
    value: { checkpoints: { L2: 'theirs' } },
  });
  const log: string[] = [];
  const { setCollectionState: _set, getCollectionState: _get, ...plainStore } = base;
  const store: Store = {
    ...(options.plain ? plainStore : base),
    upsert: async (o) => {
      log.push(`upsert ${o.records.map((r) => r.id).join(',')}`);
      if (options.failUpsert) throw new Error('the store is down');
      return base.upsert(o);
    },
    delete: async (o) => {
      log.push(`delete ${(o.ids ?? []).join(',')}`);
      return base.delete(o);
    },
  };
  const inner = createMemoryLedger();
  if (options.known) await inner.write({ put: options.known });
  const ledger: Ledger = {
    ...inner,
    write: async (changes) => {
      const lines = describeChanges(changes);
      log.push(...(lines.length > 0 ? lines : ['ledger write of nothing']));
      await inner.write(changes);
    },
  };
  const { epoch: _epoch, version: _version, ...bare } = created;
  const info: CollectionInfo = options.plain ? bare : created;
  const known = new Map((options.known ?? []).map((entry) => [entry.source, entry]));
  const report = emptyReport('run-1', 'kb');
  const changed: DatasetRef[] = [];
  const phases: IngestPhase[] = [];
  const writer = createIngestWriter({
    store,
    collection: 'kb',
    info,
    ledger,
    ledgerId: LEDGER_ID,
    known,
    statistics: undefined,
    runId: 'run-1',
    startedAt: STARTED,
    report,
    changed,
    embed: async (ids) => [ids.map(() => new Float32Array([1, 0])), undefined],
    progress: (phase) => phases.push(phase),
    abortSignal: undefined,
  });
  const ids = async () =>
    (await base.scroll({ collection: 'kb', limit: 1000 })).records.map((r) => String(r.id)).sort();
  return { base, store, inner, log, known, report, changed, phases, writer, ids };
}

const entry = (source: string, key: string, chunkIds: string[], extra: Partial<LedgerEntry> = {}): LedgerEntry => ({
  collection: 'kb',
  source,
  key,
  contentHash: `hash-${source}`,
  chunkIds,
  runId: 'run-0',
  ingestedAt: '2026-12-01T00:00:00.000Z',
  ...extra,
});

const work = (source: string, key: string, ids: string[]): Work => ({
  document: { uri: source, text: ids.join(' '), contentType: 'text/plain' },
  key,
  contentHash: `hash-${source}-${key}`,
  chunks: ids.map((id, index) => ({ index, text: id, start: 0, end: id.length })),
  ids,
});

describe('write', () => {
  test('intent, store write, commit, delete of the superseded chunks, clean entry, checkpoint: in that order', async () => {
    const s = await setup({ stored: { b: ['b-0', 'b-1'] }, known: [entry('b', 'kb1', ['b-0', 'b-1'])] });
    await s.writer.write([work('a', 'ka', ['a-0']), work('b', 'kb2', ['b-1', 'b-2'])]);
    expect(s.log).toEqual([
      'put a key= chunks= pending=ka:a-0',
      'put b key=kb1 chunks=b-0,b-1 pending=kb2:b-1,b-2',
      'upsert a-0,b-1,b-2',
      'put a key=ka chunks=a-0',
      'put b key=kb2 chunks=b-1,b-2 stale=b-0',
      'delete b-0',
      'put b key=kb2 chunks=b-1,b-2',
      `mark ledger=${LEDGER_ID}`,
    ]);
    expect(await s.ids()).toEqual(['a-0', 'b-1', 'b-2']);
    expect(s.report).toMatchObject({ added: 1, updated: 1, chunksWritten: 3, chunksDeleted: 1, deleted: 0 });
    expect(s.changed).toEqual([
      { kind: 'source', name: 'a' },
      { kind: 'source', name: 'b' },
    ]);
    expect(s.phases).toEqual(['embed', 'write', 'write']);
    const clean = {
      a: {
        collection: 'kb',
        source: 'a',
        key: 'ka',
        contentHash: 'hash-a-ka',
        chunkIds: ['a-0'],
        runId: 'run-1',
        ingestedAt: STARTED,
      },
      b: {
        collection: 'kb',
        source: 'b',
        key: 'kb2',
        contentHash: 'hash-b-kb2',
        chunkIds: ['b-1', 'b-2'],
        runId: 'run-1',
        ingestedAt: STARTED,
      },
    };
    expect(Object.fromEntries(s.known)).toEqual(clean);
    expect(await s.inner.entries()).toEqual([clean.b, clean.a]);
    // The checkpoint is the same token in the ledger's mark and the collection's state; other ledgers' are kept.
    const [mark] = (await s.inner.marks?.()) ?? [];
    const info = await s.base.openCollection({ name: 'kb' });
    expect(mark).toEqual({ collection: 'kb', epoch: info.epoch, ledger: LEDGER_ID, checkpoint: expect.any(String) });
    const state = await s.base.getCollectionState?.({ collection: 'kb', key: INGEST_STATE_KEY });
    expect(state).toEqual({ value: { checkpoints: { L2: 'theirs', [LEDGER_ID]: mark?.checkpoint } }, current: true });
  });

  test('a new version with no superseded chunks deletes nothing', async () => {
    const s = await setup({ known: [entry('c', '', [], { pending: { key: 'kc', chunkIds: [] } })] });
    await s.writer.write([work('c', 'kc', ['c-0'])]);
    expect(s.log).toEqual([
      'put c key= chunks= pending=kc:c-0',
      'upsert c-0',
      'put c key=kc chunks=c-0',
      `mark ledger=${LEDGER_ID}`,
    ]);
    // An entry with nothing committed yet is a source added, not updated.
    expect(s.report).toMatchObject({ added: 1, updated: 0, chunksDeleted: 0 });
  });

  test('a source with no chunks: nothing is written to the store', async () => {
    const s = await setup({ known: [entry('e', 'k1', ['e-0'])], stored: { e: ['e-0'] } });
    await s.writer.write([work('e', 'k2', [])]);
    expect(s.log).toEqual([
      'put e key=k1 chunks=e-0 pending=k2:',
      'put e key=k2 chunks= stale=e-0',
      'delete e-0',
      'put e key=k2 chunks=',
      `mark ledger=${LEDGER_ID}`,
    ]);
    expect(s.report).toMatchObject({ updated: 1, chunksWritten: 0, chunksDeleted: 1 });
    expect(await s.ids()).toEqual([]);
  });

  test('a failed store write leaves the intent in the ledger, for recovery to clean up', async () => {
    const s = await setup({ failUpsert: true });
    await expect(s.writer.write([work('a', 'ka', ['a-0', 'a-1'])])).rejects.toThrow('the store is down');
    expect(await s.inner.entries()).toEqual([
      {
        collection: 'kb',
        source: 'a',
        key: '',
        contentHash: 'hash-a-ka',
        chunkIds: [],
        runId: 'run-1',
        ingestedAt: STARTED,
        pending: { key: 'ka', chunkIds: ['a-0', 'a-1'] },
      },
    ]);
    expect(await s.inner.marks?.()).toEqual([]);
    expect(s.report).toMatchObject({ added: 0, chunksWritten: 0 });
  });

  test('a store without epochs or collection state: no mark, no state, the write still completes', async () => {
    const s = await setup({ plain: true });
    await s.writer.write([work('a', 'ka', ['a-0'])]);
    expect(s.log).toEqual(['put a key= chunks= pending=ka:a-0', 'upsert a-0', 'put a key=ka chunks=a-0']);
    expect(await s.inner.marks?.()).toEqual([]);
    expect(await s.base.getCollectionState?.({ collection: 'kb', key: INGEST_STATE_KEY })).toEqual({
      value: { checkpoints: { L2: 'theirs' } },
      current: false,
    });
  });
});

describe('recover', () => {
  test('removes what an interrupted run left, keeps committed chunks, then checkpoints', async () => {
    const s = await setup({
      stored: { r: ['r-0', 'r-1'], p: ['p-0'], q: ['q-0', 'q-1', 'q-2', 'q-old'], s: ['s-0'] },
      known: [
        entry('r', 'kr', ['r-0'], { stale: ['r-1'], removing: true }),
        entry('p', '', [], { pending: { key: 'kp', chunkIds: ['p-0'] } }),
        entry('q', 'kq', ['q-0', 'q-1'], {
          pending: { key: 'kq2', chunkIds: ['q-1', 'q-2'] },
          stale: ['q-old', 'q-2'],
        }),
        entry('s', 'ks', ['s-0']),
      ],
    });
    await s.writer.recover();
    expect(s.log).toEqual([
      'delete r-0,r-1',
      'remove r',
      'delete p-0',
      'remove p',
      'delete q-2,q-old',
      'put q key=kq chunks=q-0,q-1',
      `mark ledger=${LEDGER_ID}`,
    ]);
    expect(await s.ids()).toEqual(['q-0', 'q-1', 's-0']);
    expect([...s.known.keys()]).toEqual(['q', 's']);
    expect(s.known.get('q')).toEqual(entry('q', 'kq', ['q-0', 'q-1']));
    expect((await s.inner.entries()).map((e) => e.source)).toEqual(['q', 's']);
    expect(s.report).toMatchObject({ deleted: 1, chunksDeleted: 5 });
  });

  test('a stale list alone is cleaned up too', async () => {
    const s = await setup({
      stored: { t: ['t-0', 't-old'] },
      known: [entry('t', 'kt', ['t-0'], { stale: ['t-old'] })],
    });
    await s.writer.recover();
    expect(s.log).toEqual(['delete t-old', 'put t key=kt chunks=t-0', `mark ledger=${LEDGER_ID}`]);
  });

  test('an interrupted rewrite of the committed version: nothing to delete, the entry is cleaned', async () => {
    const s = await setup({
      stored: { q: ['q-0'] },
      known: [entry('q', 'kq', ['q-0'], { pending: { key: 'kq', chunkIds: ['q-0'] } })],
    });
    await s.writer.recover();
    expect(s.log).toEqual(['put q key=kq chunks=q-0', `mark ledger=${LEDGER_ID}`]);
    expect(await s.ids()).toEqual(['q-0']);
  });

  test('nothing left over: nothing is written, not even a checkpoint', async () => {
    const s = await setup({ stored: { s: ['s-0'] }, known: [entry('s', 'ks', ['s-0'])] });
    await s.writer.recover();
    expect(s.log).toEqual([]);
    expect(s.report).toMatchObject({ deleted: 0, chunksDeleted: 0 });
  });
});

describe('prune', () => {
  test('marks the sources removing, deletes every chunk they may have, removes them, then checkpoints', async () => {
    const s = await setup({
      stored: { x: ['x-0', 'x-1', 'x-old'], y: ['y-0'], z: ['z-0'] },
      known: [
        entry('x', 'kx', ['x-0'], { pending: { key: 'kx2', chunkIds: ['x-1', 'x-0'] }, stale: ['x-old'] }),
        entry('y', 'ky', ['y-0']),
        entry('z', 'kz', ['z-0']),
      ],
    });
    await s.writer.prune([...s.known.values()].filter((e) => e.source !== 'z'));
    expect(s.log).toEqual([
      'put x key=kx chunks=x-0 pending=kx2:x-1,x-0 stale=x-old removing',
      'put y key=ky chunks=y-0 removing',
      'delete x-0,x-1,x-old,y-0',
      'remove x',
      'remove y',
      `mark ledger=${LEDGER_ID}`,
    ]);
    expect(await s.ids()).toEqual(['z-0']);
    expect([...s.known.keys()]).toEqual(['z']);
    expect(s.report).toMatchObject({ deleted: 2, chunksDeleted: 4 });
  });
});
