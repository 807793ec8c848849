/**
 * How ingest takes its ledger (one ingest per ledger object in a process, the ledger's own lock
 * across processes) and how it judges the ledger against the store at the start of a run: why it
 * distrusts it, and how each source's entry is brought in line with the chunks the store holds.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { AbortedError, type CollectionInfo, createMemoryStore, LockedError, type Store } from '../src/index.js';
import { checkLedger, holdLedger } from '../src/pipeline/ingest-ledger.js';
import { createMemoryLedger, type LedgerEntry, type LedgerMark } from '../src/pipeline/ledger.js';
import { createFileLedger } from '../src/pipeline/ledger-file.js';

let directory: string;
beforeAll(async () => {
  directory = await mkdtemp(join(tmpdir(), 'kumiki-ingest-check-'));
});
afterAll(() => rm(directory, { recursive: true, force: true }));

describe('holdLedger', () => {
  test('a second ingest on the same ledger object in this process is refused at once, naming it', async () => {
    const ledger = createMemoryLedger();
    const release = await holdLedger(ledger, 0, undefined);
    const error = await holdLedger(ledger, 0, undefined).catch((caught: unknown) => caught);
    expect(LockedError.isInstance(error)).toBe(true);
    // (A busy machine may take a millisecond between the two calls: the message then says so.)
    expect((error as LockedError).message).toMatch(
      /^memory is locked by another ingest in this process(; waited \d+ ms)?\. Only one writer at a time: wait for it to finish \(or pass a lock timeout to wait\), or stop it\.$/,
    );
    expect((error as LockedError).holder).toBeUndefined();
    expect((error as LockedError).location).toBe('memory');
    expect((error as LockedError).component).toBe('ingest');
    await release();
    await (await holdLedger(ledger, 0, undefined))();
  });

  test('with a timeout it waits for the other ingest to finish; other ledgers are not held up', async () => {
    const ledger = createMemoryLedger();
    const release = await holdLedger(ledger, 0, undefined);
    await (await holdLedger(createMemoryLedger(), 0, undefined))();
    const waiting = holdLedger(ledger, 60_000, undefined);
    setTimeout(() => void release(), 30);
    const second = await waiting;
    await expect(holdLedger(ledger, 0, undefined)).rejects.toThrow(LockedError);
    await second();
  });

  test('a timeout that runs out while the other ingest still holds it is LockedError', async () => {
    const ledger = createMemoryLedger();
    const release = await holdLedger(ledger, 0, undefined);
    const error = await holdLedger(ledger, 20, undefined).catch((caught: unknown) => caught);
    expect(LockedError.isInstance(error)).toBe(true);
    expect((error as Error).message).toContain('is locked by another ingest in this process');
    await release();
  });

  test("a ledger with its own lock: another process's hold is waited for within the timeout, then it is held", async () => {
    const path = join(directory, 'held.jsonl');
    const other = createFileLedger(path);
    await other.acquire?.({ timeoutMs: 0 });
    const ledger = createFileLedger(path);
    const refused = await holdLedger(ledger, 0, undefined).catch((caught: unknown) => caught);
    expect(LockedError.isInstance(refused)).toBe(true);
    expect((refused as LockedError).holder?.pid).toBe(process.pid);
    const waiting = holdLedger(ledger, 60_000, undefined);
    setTimeout(() => void other.release?.(), 30);
    const release = await waiting;
    await expect(other.write({ put: [] })).rejects.toThrow(LockedError);
    await release();
    const after = createFileLedger(path);
    await after.acquire?.({ timeoutMs: 0 });
    await after.dispose?.();
  });

  test('an aborted wait for the ledger lock is AbortedError and leaves the ledger free for the next ingest', async () => {
    const path = join(directory, 'abort.jsonl');
    const other = createFileLedger(path);
    await other.acquire?.({ timeoutMs: 0 });
    const ledger = createFileLedger(path);
    const controller = new AbortController();
    const waiting = holdLedger(ledger, 60_000, controller.signal);
    setTimeout(() => controller.abort(), 30);
    const error = await waiting.catch((caught: unknown) => caught);
    expect(AbortedError.isInstance(error)).toBe(true);
    await other.release?.();
    const release = await holdLedger(ledger, 0, undefined);
    await release();
  });
});

const LEDGER_ID = 'L1';

async function collection(records: { id: string; source?: string; ledger?: string }[] = []) {
  const store = createMemoryStore();
  const info = await store.createCollection({ name: 'kb', dimensions: 2 });
  if (records.length > 0) {
    await store.upsert({
      collection: 'kb',
      records: records.map(({ id, source, ledger }) => ({
        id,
        vector: [1, 0],
        payload: {
          text: id,
          ...(source !== undefined ? { source } : {}),
          ...(ledger !== undefined ? { ledger } : {}),
        },
      })),
    });
  }
  return { store, info: await store.openCollection({ name: 'kb' }), created: info };
}

const committed = (source: string, chunkIds: string[], extra: Partial<LedgerEntry> = {}): LedgerEntry => ({
  collection: 'kb',
  source,
  key: `key-${source}`,
  contentHash: `hash-${source}`,
  chunkIds,
  runId: 'run-0',
  ingestedAt: '2026-12-03T00:00:00.000Z',
  ...extra,
});

function check(
  store: Store,
  info: CollectionInfo,
  known: Map<string, LedgerEntry>,
  options: { mark?: LedgerMark; keepsMarks?: boolean; checkpoint?: string | null } = {},
) {
  return checkLedger({
    store,
    collection: 'kb',
    info,
    known,
    mark: options.mark,
    ledgerKeepsMarks: options.keepsMarks ?? true,
    checkpoint: options.checkpoint,
    ledgerId: LEDGER_ID,
  });
}

describe('checkLedger: whether the ledger is trusted', () => {
  test('the same epoch and checkpoint: trusted without reading the store', async () => {
    const { store, info } = await collection([{ id: 'x-0', source: 'x', ledger: LEDGER_ID }]);
    const epoch = info.epoch as string;
    const known = new Map<string, LedgerEntry>();
    const trusted = { trusted: true, reason: undefined, sourcesChecked: 0, sourcesMissing: 0 };
    expect(
      await check(store, info, known, { mark: { collection: 'kb', epoch, checkpoint: 'cp' }, checkpoint: 'cp' }),
    ).toEqual(trusted);
    // A store without collection state has no checkpoint to compare; none saved matches a mark without one.
    expect(await check(store, info, known, { mark: { collection: 'kb', epoch } })).toEqual(trusted);
    expect(await check(store, info, known, { mark: { collection: 'kb', epoch }, checkpoint: null })).toEqual(trusted);
    expect(known.size).toBe(0);
  });

  test('each reason to distrust it is reported', async () => {
    const { store, info } = await collection();
    const epoch = info.epoch as string;
    const reason = async (
      options: { mark?: LedgerMark; keepsMarks?: boolean; checkpoint?: string | null },
      at: CollectionInfo = info,
    ) => {
      const result = await check(store, at, new Map(), options);
      expect(result).toMatchObject({ trusted: false, sourcesChecked: 0, sourcesMissing: 0 });
      return result.reason;
    };
    const mark = { collection: 'kb', epoch };
    expect(await reason({ mark, keepsMarks: false })).toBe('the ledger keeps no marks (it has no marks() method)');
    const { epoch: _epoch, ...withoutEpoch } = info;
    expect(await reason({ mark }, withoutEpoch)).toBe('the memory store keeps no epoch for this collection');
    expect(await reason({})).toBe('the ledger has no mark for this collection (written before kumiki recorded marks)');
    expect(await reason({ mark: { collection: 'kb', epoch: 'other' } })).toBe(
      `the collection's epoch is ${epoch} but the ledger recorded other: the ledger describes another collection (deleted and created again, or another store)`,
    );
    const lost =
      ': the store lost writes the ledger relies on, or another ledger wrote it since (an older snapshot or backup, writes never flushed)';
    expect(await reason({ mark, checkpoint: 'cp2' })).toBe(
      `the collection's last checkpoint is cp2 but the ledger recorded none${lost}`,
    );
    expect(await reason({ mark: { ...mark, checkpoint: 'cp1' }, checkpoint: null })).toBe(
      `the collection's last checkpoint is none but the ledger recorded cp1${lost}`,
    );
    expect(await reason({ mark: { ...mark, checkpoint: 'cp1' }, checkpoint: 'cp2' })).toBe(
      `the collection's last checkpoint is cp2 but the ledger recorded cp1${lost}`,
    );
  });
});

describe('checkLedger: bringing a distrusted ledger in line with the store', () => {
  test('an empty ledger and an empty collection: nothing to check', async () => {
    const { store, info } = await collection();
    const known = new Map<string, LedgerEntry>();
    expect(await check(store, info, known)).toEqual({
      trusted: false,
      reason: 'the ledger has no mark for this collection (written before kumiki recorded marks)',
      sourcesChecked: 0,
      sourcesMissing: 0,
    });
    expect(known.size).toBe(0);
  });

  test("chunks of sources the ledger forgot become pending (removed by recovery) only when all are this ledger's", async () => {
    const { store, info } = await collection([
      { id: 'mine-0', source: 'mine', ledger: LEDGER_ID },
      { id: 'mine-1', source: 'mine', ledger: LEDGER_ID },
      { id: 'theirs-0', source: 'theirs', ledger: 'L2' },
      { id: 'mixed-0', source: 'mixed', ledger: LEDGER_ID },
      { id: 'mixed-1', source: 'mixed', ledger: 'L2' },
      { id: 'plain-0', source: 'plain' },
      { id: 'nameless-0', ledger: LEDGER_ID },
    ]);
    const known = new Map<string, LedgerEntry>();
    expect(await check(store, info, known)).toMatchObject({ trusted: false, sourcesChecked: 0, sourcesMissing: 0 });
    expect([...known.entries()]).toEqual([
      [
        'mine',
        {
          collection: 'kb',
          source: 'mine',
          key: '',
          contentHash: '',
          chunkIds: [],
          runId: '',
          ingestedAt: '',
          pending: { key: '', chunkIds: ['mine-0', 'mine-1'] },
        },
      ],
    ]);
  });

  test('each entry against the chunks stored for its source', async () => {
    const { store, info } = await collection([
      // complete, plus a chunk it does not list
      { id: 'a-0', source: 'a', ledger: LEDGER_ID },
      { id: 'a-extra', source: 'a', ledger: 'L2' },
      // one committed chunk missing
      { id: 'b-0', source: 'b', ledger: LEDGER_ID },
      { id: 'b-x', source: 'b', ledger: LEDGER_ID },
      // nothing committed yet, being written, plus an unlisted chunk
      { id: 'c-0', source: 'c', ledger: LEDGER_ID },
      { id: 'c-9', source: 'c', ledger: LEDGER_ID },
      // being removed, plus an unlisted chunk
      { id: 'd-0', source: 'd', ledger: LEDGER_ID },
      { id: 'd-5', source: 'd', ledger: LEDGER_ID },
      // complete, nothing else
      { id: 'e-0', source: 'e', ledger: LEDGER_ID },
      { id: 'e-1', source: 'e', ledger: LEDGER_ID },
    ]);
    const entries = {
      a: committed('a', ['a-0'], { stale: ['a-old'] }),
      b: committed('b', ['b-0', 'b-1'], { pending: { key: 'key-b2', chunkIds: ['b-2', 'b-0'] }, stale: ['b-old'] }),
      c: committed('c', [], { key: '', pending: { key: 'key-c', chunkIds: ['c-0'] } }),
      d: committed('d', ['d-0'], { removing: true }),
      e: committed('e', ['e-0', 'e-1']),
      f: committed('f', [], { key: '', pending: { key: 'key-f', chunkIds: ['f-0'] } }),
    };
    const known = new Map<string, LedgerEntry>(Object.entries(entries));
    expect(await check(store, info, known)).toMatchObject({ trusted: false, sourcesChecked: 3, sourcesMissing: 1 });
    expect(Object.fromEntries(known)).toEqual({
      a: { ...entries.a, stale: ['a-old', 'a-extra'] },
      b: {
        ...committed('b', [], { key: '' }),
        pending: { key: 'key-b', chunkIds: ['b-0', 'b-1', 'b-2'] },
        stale: ['b-old', 'b-x'],
      },
      c: { ...entries.c, stale: ['c-9'] },
      d: { ...entries.d, stale: ['d-5'] },
      e: entries.e,
      f: entries.f,
    });
  });

  test('a missing source without pending or stale chunks: its committed ids become pending', async () => {
    const { store, info } = await collection([{ id: 'g-0', source: 'g', ledger: LEDGER_ID }]);
    const known = new Map<string, LedgerEntry>([['g', committed('g', ['g-0', 'g-1'])]]);
    expect(await check(store, info, known)).toMatchObject({ sourcesChecked: 1, sourcesMissing: 1 });
    expect(known.get('g')).toEqual({
      ...committed('g', [], { key: '' }),
      pending: { key: 'key-g', chunkIds: ['g-0', 'g-1'] },
      stale: [],
    });
  });

  test('a collection larger than one page of the store is read to its end', async () => {
    const ids = Array.from({ length: 1005 }, (_, i) => `big-${i}`);
    const { store, info } = await collection(ids.map((id) => ({ id, source: 'big', ledger: LEDGER_ID })));
    const known = new Map<string, LedgerEntry>([['big', committed('big', ids)]]);
    expect(await check(store, info, known)).toMatchObject({ sourcesChecked: 1, sourcesMissing: 0 });
    expect(known.get('big')).toEqual(committed('big', ids));
  });
});
