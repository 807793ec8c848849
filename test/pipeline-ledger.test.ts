/**
 * The memory ledger and the helpers every ledger shares: entries handed out frozen (a caller cannot
 * change what the ledger holds), puts replacing by (collection, source), removals, and the last mark
 * of each collection.
 */
import { describe, expect, test } from 'vitest';
import {
  applyLedgerChanges,
  createMemoryLedger,
  emptyLedgerState,
  frozenEntry,
  type LedgerEntry,
  ledgerKey,
} from '../src/pipeline/ledger.js';

const entry = (source: string, extra: Partial<LedgerEntry> = {}): LedgerEntry => ({
  collection: 'kb',
  source,
  key: `key-${source}`,
  contentHash: `hash-${source}`,
  chunkIds: [`${source}#0`, `${source}#1`],
  runId: 'run-1',
  ingestedAt: '2026-12-03T00:00:00.000Z',
  ...extra,
});

describe('memory ledger', () => {
  test('puts replace by collection and source; removals delete; a source in two collections is two entries', async () => {
    const ledger = createMemoryLedger();
    expect(ledger.location).toBe('memory');
    expect(await ledger.entries()).toEqual([]);
    expect(await ledger.marks!()).toEqual([]);
    await ledger.write({ put: [entry('a'), entry('b'), entry('a', { collection: 'other' })] });
    await ledger.write({ put: [entry('a', { key: 'key-a2' })] });
    const entries = await ledger.entries();
    expect(entries.map((e) => [e.collection, e.source, e.key])).toEqual([
      ['kb', 'a', 'key-a2'],
      ['kb', 'b', 'key-b'],
      ['other', 'a', 'key-a'],
    ]);
    await ledger.write({ remove: [{ collection: 'kb', source: 'a' }] });
    expect((await ledger.entries()).map((e) => [e.collection, e.source])).toEqual([
      ['kb', 'b'],
      ['other', 'a'],
    ]);
    // One write may put, remove and mark at once.
    await ledger.write({
      put: [entry('c')],
      remove: [{ collection: 'other', source: 'a' }],
      mark: { collection: 'kb', epoch: 'e1', ledger: 'L' },
    });
    expect((await ledger.entries()).map((e) => e.source)).toEqual(['b', 'c']);
    expect(await ledger.marks!()).toEqual([{ collection: 'kb', epoch: 'e1', ledger: 'L' }]);
  });

  test('marks: the last one per collection; the ones handed out are copies', async () => {
    const ledger = createMemoryLedger();
    const mark = { collection: 'kb', epoch: 'e1', checkpoint: 'c1' };
    await ledger.write({ mark });
    mark.epoch = 'changed by the caller';
    await ledger.write({ mark: { collection: 'other', epoch: 'x' } });
    await ledger.write({ mark: { collection: 'kb', epoch: 'e2' } });
    const marks = await ledger.marks!();
    expect(marks).toEqual([
      { collection: 'kb', epoch: 'e2' },
      { collection: 'other', epoch: 'x' },
    ]);
    marks[0]!.epoch = 'changed again';
    expect((await ledger.marks!())[0]).toEqual({ collection: 'kb', epoch: 'e2' });
  });

  test('entries are frozen copies: changing what was written or what was read changes nothing', async () => {
    const ledger = createMemoryLedger();
    const written = entry('a', { pending: { key: 'k2', chunkIds: ['a#2'] }, stale: ['old#0'] });
    await ledger.write({ put: [written] });
    written.chunkIds.push('a#9');
    written.pending!.chunkIds.push('a#9');
    written.stale!.push('old#9');
    written.key = 'changed';
    const read = (await ledger.entries())[0]!;
    expect(read).toEqual(entry('a', { pending: { key: 'k2', chunkIds: ['a#2'] }, stale: ['old#0'] }));
    expect(Object.isFrozen(read)).toBe(true);
    expect(Object.isFrozen(read.chunkIds)).toBe(true);
    expect(Object.isFrozen(read.pending)).toBe(true);
    expect(Object.isFrozen(read.pending!.chunkIds)).toBe(true);
    expect(Object.isFrozen(read.stale)).toBe(true);
    expect(() => read.chunkIds.push('x')).toThrow(TypeError);
    expect(() => read.pending!.chunkIds.push('x')).toThrow(TypeError);
    expect(() => read.stale!.push('x')).toThrow(TypeError);
  });
});

describe('ledger helpers', () => {
  test('frozenEntry keeps absent optional fields absent', () => {
    const plain = frozenEntry(entry('a'));
    expect(plain).toEqual(entry('a'));
    expect('pending' in plain).toBe(false);
    expect('stale' in plain).toBe(false);
    const removing = frozenEntry(entry('a', { removing: true }));
    expect(removing.removing).toBe(true);
  });

  test('ledgerKey tells apart names that a plain separator would join the same way', () => {
    expect(ledgerKey('a:b', 'c')).not.toBe(ledgerKey('a', 'b:c'));
    expect(ledgerKey('kb', 'x')).toBe(ledgerKey('kb', 'x'));
  });

  test('applyLedgerChanges on an empty state; nothing to change is fine', () => {
    const state = emptyLedgerState();
    applyLedgerChanges(state, {});
    expect(state.entries.size).toBe(0);
    expect(state.marks.size).toBe(0);
    applyLedgerChanges(state, { put: [entry('a')], mark: { collection: 'kb', epoch: 'e' } });
    expect([...state.entries.keys()]).toEqual([ledgerKey('kb', 'a')]);
    expect(Object.isFrozen(state.entries.get(ledgerKey('kb', 'a')))).toBe(true);
    expect(state.marks.get('kb')).toEqual({ collection: 'kb', epoch: 'e' });
    applyLedgerChanges(state, { remove: [{ collection: 'kb', source: 'missing' }] });
    expect(state.entries.size).toBe(1);
  });
});
