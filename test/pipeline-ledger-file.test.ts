/**
 * The file ledger's journal format and its edges: every record shape it refuses (a checksum is no
 * proof that a line is a ledger record), the messages of its errors, empty and cut-short files, the
 * first format, compaction, a failed append that cannot be cut back, and its lock options.
 */
import { mkdtemp, open, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { crc32 } from '../src/core/crc32.js';
import { AbortedError, CorruptDataError, InvalidArgumentError, LockedError, UnavailableError } from '../src/index.js';
import type { LedgerEntry, LedgerMark } from '../src/pipeline/ledger.js';
import { createFileLedger } from '../src/pipeline/ledger-file.js';

const HEADER = 'KUMIKI-LEDGER 2';
const encoder = new TextEncoder();
const checksum = (text: string) => crc32(encoder.encode(text)).toString(16).padStart(8, '0');
/** A line of the current format: checksum, sequence number, JSON. */
const line = (sequence: number, record: unknown) => {
  const body = `${sequence} ${typeof record === 'string' ? record : JSON.stringify(record)}`;
  return `${checksum(body)} ${body}\n`;
};
/** A journal of the current format holding these records, numbered from 1. */
const journal = (records: unknown[]) => `${HEADER}\n${records.map((record, i) => line(i + 1, record)).join('')}`;
/** A line of the first format: checksum and JSON. */
const v1Line = (record: unknown) => {
  const json = JSON.stringify(record);
  return `${checksum(json)} ${json}\n`;
};

const entry = (source: string, extra: Partial<LedgerEntry> = {}): LedgerEntry => ({
  collection: 'c',
  source,
  key: `k-${source}`,
  contentHash: 'h',
  chunkIds: [`${source}-0`],
  runId: 'run-1',
  ingestedAt: '2026-12-03T00:00:00.000Z',
  ...extra,
});
const mark = (extra: Partial<LedgerMark> = {}): LedgerMark => ({ collection: 'c', epoch: 'e1', ...extra });
const lines = (text: string) => text.split('\n').filter((l) => l !== '');

let directory: string;
let counter = 0;
const file = () => join(directory, `ledger-${counter++}.jsonl`);
beforeAll(async () => {
  directory = await mkdtemp(join(tmpdir(), 'kumiki-ledger-file-'));
});
afterAll(() => rm(directory, { recursive: true, force: true }));

async function refusal(path: string): Promise<CorruptDataError> {
  const error = await createFileLedger(path)
    .entries()
    .catch((caught: unknown) => caught);
  expect(CorruptDataError.isInstance(error), String(error)).toBe(true);
  return error as CorruptDataError;
}

describe('records the journal refuses', () => {
  const valid = entry('s1');
  const without = (key: keyof LedgerEntry) => {
    const copy: Record<string, unknown> = { ...valid };
    delete copy[key];
    return copy;
  };
  const bad: Record<string, unknown> = {
    'a number': 5,
    null: null,
    'a one-letter string': 'p',
    'an array': [{ put: valid }],
    'no kind': {},
    'two kinds': { put: valid, mark: mark() },
    'a put and something else': { put: valid, extra: 1 },
    'an unknown kind': { other: valid },
    'a put of null': { put: null },
    'a put of an array': { put: [valid] },
    'a put with an unknown field': { put: { ...valid, extra: 1 } },
    'a put with an empty collection': { put: { ...valid, collection: '' } },
    'a put with an empty source': { put: { ...valid, source: '' } },
    'a put with a numeric collection': { put: { ...valid, collection: 7 } },
    'a put without collection': { put: without('collection') },
    'a put without source': { put: without('source') },
    'a put without key': { put: without('key') },
    'a put with a numeric key': { put: { ...valid, key: 1 } },
    'a put with a null content hash': { put: { ...valid, contentHash: null } },
    'a put without content hash': { put: without('contentHash') },
    'a put with chunk ids as a string': { put: { ...valid, chunkIds: 'abc' } },
    'a put with numeric chunk ids': { put: { ...valid, chunkIds: [1] } },
    'a put without chunk ids': { put: without('chunkIds') },
    'a put with a numeric run id': { put: { ...valid, runId: 1 } },
    'a put without run id': { put: without('runId') },
    'a put with a numeric ingestedAt': { put: { ...valid, ingestedAt: 1 } },
    'a put without ingestedAt': { put: without('ingestedAt') },
    'a put with pending as a string': { put: { ...valid, pending: 'p' } },
    'a put with pending null': { put: { ...valid, pending: null } },
    'a put with pending holding an unknown field': {
      put: { ...valid, pending: { key: 'k', chunkIds: [], extra: 1 } },
    },
    'a put with a numeric pending key': { put: { ...valid, pending: { key: 1, chunkIds: [] } } },
    'a put with pending without key': { put: { ...valid, pending: { chunkIds: [] } } },
    'a put with numeric pending chunk ids': { put: { ...valid, pending: { key: 'k', chunkIds: [1] } } },
    'a put with pending without chunk ids': { put: { ...valid, pending: { key: 'k' } } },
    'a put with stale as a string': { put: { ...valid, stale: 'x' } },
    'a put with numeric stale ids': { put: { ...valid, stale: [1] } },
    'a put with removing false': { put: { ...valid, removing: false } },
    'a put with removing "yes"': { put: { ...valid, removing: 'yes' } },
    'a remove of null': { remove: null },
    'a remove of an array': { remove: [{ collection: 'c', source: 's1' }] },
    'a remove without source': { remove: { collection: 'c' } },
    'a remove without collection': { remove: { source: 's1' } },
    'a remove with a numeric collection': { remove: { collection: 1, source: 's1' } },
    'a remove with a numeric source': { remove: { collection: 'c', source: 1 } },
    'a remove with an unknown field': { remove: { collection: 'c', source: 's1', extra: 1 } },
    'a mark of null': { mark: null },
    'a mark of a string': { mark: 'c' },
    'a mark with an unknown field': { mark: { ...mark(), extra: 1 } },
    'a mark with an empty collection': { mark: mark({ collection: '' }) },
    'a mark without collection': { mark: { epoch: 'e1' } },
    'a mark with an empty epoch': { mark: mark({ epoch: '' }) },
    'a mark without epoch': { mark: { collection: 'c' } },
    'a mark with a numeric epoch': { mark: { collection: 'c', epoch: 1 } },
    'a mark with an empty ledger id': { mark: mark({ ledger: '' }) },
    'a mark with a numeric ledger id': { mark: { ...mark(), ledger: 1 } },
    'a mark with an empty checkpoint': { mark: mark({ checkpoint: '' }) },
    'a mark with a numeric checkpoint': { mark: { ...mark(), checkpoint: 5 } },
  };

  test.each(Object.entries(bad))('%s, with a right checksum and number, is not a ledger record', async (_, record) => {
    const path = file();
    const text = journal([{ put: entry('s0') }, record]);
    await writeFile(path, text);
    const error = await refusal(path);
    expect(error.message).toBe(
      `${path} is not a valid kumiki ledger journal: line 3 is not a ledger record. It was not loaded or changed; restore it from a backup, or move it away to start empty.`,
    );
    expect(error.location).toBe(path);
    expect(error.component).toBe('ledger');
    expect(error.isRetryable).toBe(false);
    await expect(createFileLedger(path).write({ put: [entry('s5')] })).rejects.toThrow(/line 3 is not a ledger record/);
    expect(await readFile(path, 'utf8')).toBe(text);
  });

  test('JSON that does not parse is not a ledger record either', async () => {
    const path = file();
    await writeFile(path, `${HEADER}\n${line(1, '{"put":')}`);
    expect((await refusal(path)).message).toContain('line 2 is not a ledger record');
  });

  test('every optional field, present and valid, is read back as written', async () => {
    const path = file();
    const full = entry('s1', { pending: { key: 'k2', chunkIds: ['s1-9'] }, stale: ['s1-old'], removing: true });
    const bare = mark();
    const named = { collection: 'd', epoch: 'e2', ledger: 'L1', checkpoint: 'cp' };
    await writeFile(
      path,
      journal([
        { put: full },
        { put: entry('s2') },
        { mark: bare },
        { mark: named },
        { remove: { collection: 'c', source: 's2' } },
      ]),
    );
    const ledger = createFileLedger(path);
    expect(await ledger.entries()).toEqual([full]);
    expect(await ledger.marks?.()).toEqual([bare, named]);
  });
});

describe('files that are not a journal, and their messages', () => {
  const message = (path: string, reason: string) =>
    `${path} is not a valid kumiki ledger journal: ${reason}. It was not loaded or changed; restore it from a backup, or move it away to start empty.`;

  test('a file of other text does not start with the header', async () => {
    for (const content of ['remember the milk\n', 'GER 2', '0badc0de hello\n', `${HEADER.slice(0, 6)}x\n`]) {
      const path = file();
      await writeFile(path, content);
      expect((await refusal(path)).message, content).toBe(message(path, `it does not start with the line "${HEADER}"`));
    }
  });

  test('a header cut short (a crash while the journal was created) says so', async () => {
    for (const content of ['KUMIKI', HEADER]) {
      const path = file();
      await writeFile(path, content);
      expect((await refusal(path)).message, content).toBe(message(path, 'its header was cut short'));
    }
  });

  test('bytes that are not UTF-8', async () => {
    const path = file();
    await writeFile(path, Buffer.from([0x4b, 0xff, 0xfe, 0x0a]));
    expect((await refusal(path)).message).toBe(message(path, 'it is not UTF-8 text'));
  });

  test('a line whose checksum fails names its line number', async () => {
    const path = file();
    const text = journal([{ put: entry('s1') }, { put: entry('s2') }]).replace('"s2"', '"s3"');
    await writeFile(path, text);
    expect((await refusal(path)).message).toBe(message(path, 'line 3 fails its checksum or format'));
  });

  test('a line out of sequence names the number found and the one expected', async () => {
    const path = file();
    await writeFile(path, `${HEADER}\n${line(1, { put: entry('s1') })}${line(3, { put: entry('s2') })}`);
    expect((await refusal(path)).message).toBe(
      message(path, 'line 3 has sequence number 3 where 2 was expected (a line was removed, repeated or moved)'),
    );
  });

  test('a folder where the journal should be cannot be read: UnavailableError naming the ledger', async () => {
    const path = file();
    await (await import('node:fs/promises')).mkdir(path);
    const error = await createFileLedger(path)
      .entries()
      .catch((caught: unknown) => caught);
    expect(UnavailableError.isInstance(error)).toBe(true);
    expect((error as UnavailableError).message).toMatch(new RegExp(`^Cannot read ledger ${path}: .*EISDIR`));
    expect((error as UnavailableError).component).toBe('ledger');
    expect((error as UnavailableError).isRetryable).toBe(false);
  });
});

describe('the first format', () => {
  test('a damaged or foreign line after a first-format line is refused with its line number', async () => {
    const first = v1Line({ put: entry('s1') });
    const cases = {
      'a foreign line': `${first}hello\n`,
      'a wrong checksum': `${first}${v1Line({ put: entry('s2') }).replace('"s2"', '"s3"')}`,
      'not a record': `${first}${v1Line({ put: 1 })}`,
    };
    for (const [name, content] of Object.entries(cases)) {
      const path = file();
      await writeFile(path, content);
      expect((await refusal(path)).message, name).toContain(': line 2 fails its checksum or format.');
      expect(await readFile(path, 'utf8')).toBe(content);
    }
  });

  test('a long first-format journal is rewritten whole before the next append, marks included', async () => {
    const path = file();
    const sources = Array.from({ length: 20 }, (_, i) => `source-${i}`);
    await writeFile(
      path,
      [...sources.map((source) => v1Line({ put: entry(source) })), v1Line({ mark: mark({ checkpoint: 'x' }) })].join(
        '',
      ),
    );
    const ledger = createFileLedger(path);
    await ledger.write({ put: [entry('new')] });
    await ledger.dispose?.();
    const reread = createFileLedger(path);
    expect((await reread.entries()).map((e) => e.source)).toEqual([...sources, 'new']);
    expect(await reread.marks?.()).toEqual([mark({ checkpoint: 'x' })]);
    expect(lines(await readFile(path, 'utf8'))).toHaveLength(1 + 21 + 1);
  });
});

describe('empty, torn and long journals', () => {
  test('an empty file (cut before its header was written) is an empty ledger, and the next write adds the header', async () => {
    const path = file();
    await writeFile(path, '');
    const ledger = createFileLedger(path);
    expect(await ledger.entries()).toEqual([]);
    expect(await ledger.marks?.()).toEqual([]);
    await ledger.write({ put: [entry('s1')] });
    await ledger.dispose?.();
    expect(await readFile(path, 'utf8')).toBe(journal([{ put: entry('s1') }]));
  });

  test('a write with nothing in it leaves the disk alone', async () => {
    const path = file();
    const ledger = createFileLedger(path);
    await ledger.write({});
    await ledger.write({ put: [], remove: [] });
    await ledger.dispose?.();
    expect((await readdir(directory)).filter((name) => name.startsWith(path.split('/').pop() as string))).toEqual([]);
  });

  test('a torn tail longer than the next append is cut away, not left behind it', async () => {
    const path = file();
    const torn = line(2, { put: entry('s-long', { chunkIds: Array.from({ length: 50 }, (_, i) => `x-${i}`) }) });
    await writeFile(path, `${journal([{ put: entry('s1') }])}${torn.slice(0, -20)}`);
    const ledger = createFileLedger(path);
    await ledger.write({ remove: [{ collection: 'c', source: 's1' }] });
    await ledger.dispose?.();
    expect(await createFileLedger(path).entries()).toEqual([]);
    expect(await readFile(path, 'utf8')).toBe(
      journal([{ put: entry('s1') }, { remove: { collection: 'c', source: 's1' } }]),
    );
  });

  test('a journal is compacted when it holds more than 64 lines beyond twice its live records (marks count)', async () => {
    // One entry and one mark: up to 2 * 2 + 64 = 68 lines are kept as they are.
    for (const [count, compacted] of [
      [68, false],
      [69, true],
    ] as const) {
      const path = file();
      const records = [
        { mark: mark() },
        ...Array.from({ length: count - 1 }, (_, i) => ({ put: entry('s1', { key: `k${i}` }) })),
      ];
      await writeFile(path, journal(records));
      const ledger = createFileLedger(path);
      await ledger.write({ put: [entry('s2')] });
      await ledger.dispose?.();
      const text = await readFile(path, 'utf8');
      expect(lines(text), String(count)).toHaveLength(compacted ? 1 + 3 : 1 + count + 1);
      const reread = createFileLedger(path);
      expect((await reread.entries()).map((e) => [e.source, e.key])).toEqual([
        ['s1', `k${count - 2}`],
        ['s2', 'k-s2'],
      ]);
      expect(await reread.marks?.()).toEqual([mark()]);
    }
  });
});

/** Makes file handle methods fail while `armed` (a full disk, a file system that refuses a truncate). */
async function failingDisk() {
  const probe = await open(join(directory, '.probe'), 'w');
  const proto = Object.getPrototypeOf(probe) as Record<string, (...args: unknown[]) => Promise<unknown>>;
  await probe.close();
  const original = { write: proto.write, truncate: proto.truncate, writeFile: proto.writeFile } as Record<
    string,
    (...args: unknown[]) => Promise<unknown>
  >;
  const state = { write: false, truncate: false, writeFile: false };
  const full = () => Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' });
  proto.write = async function (this: unknown, ...args: unknown[]) {
    if (!state.write) return original.write?.apply(this, args);
    const [buffer, offset, length, position] = args as [Uint8Array, number, number, number];
    await original.write?.call(this, buffer, offset, Math.floor(length / 2), position);
    throw full();
  };
  proto.truncate = async function (this: unknown, ...args: unknown[]) {
    if (state.truncate) throw Object.assign(new Error('EIO: i/o error, truncate'), { code: 'EIO' });
    return original.truncate?.apply(this, args);
  };
  proto.writeFile = async function (this: unknown, ...args: unknown[]) {
    // Only the journal's own rewrites fail, not the lock file beside it.
    if (state.writeFile && String(args[0]).startsWith(HEADER)) throw full();
    return original.writeFile?.apply(this, args);
  };
  return {
    state,
    restore: () => {
      Object.assign(proto, original);
    },
  };
}

describe('failures while writing', () => {
  test('a long append that fails half-way is cut back, so a shorter later append is not followed by its remains', async () => {
    const path = file();
    const ledger = createFileLedger(path);
    await ledger.write({ put: [entry('s1')] });
    const disk = await failingDisk();
    try {
      disk.state.write = true;
      const many = Array.from({ length: 30 }, (_, i) => entry(`big-${i}`));
      const error = await ledger.write({ put: many }).catch((caught: unknown) => caught);
      expect(UnavailableError.isInstance(error)).toBe(true);
      expect((error as UnavailableError).message).toBe(
        `Cannot append to ledger ${path}: ENOSPC: no space left on device`,
      );
      expect((error as UnavailableError).isRetryable).toBe(false);
      expect((error as UnavailableError).component).toBe('ledger');
    } finally {
      disk.restore();
    }
    await ledger.write({ remove: [{ collection: 'c', source: 's1' }] });
    await ledger.dispose?.();
    expect(await createFileLedger(path).entries()).toEqual([]);
  });

  test('an append whose cut-back fails too refuses further appends until the lock is taken again', async () => {
    const path = file();
    const ledger = createFileLedger(path);
    await ledger.write({ put: [entry('s1')] });
    const disk = await failingDisk();
    try {
      disk.state.write = true;
      disk.state.truncate = true;
      await expect(ledger.write({ put: [entry('s2')] })).rejects.toThrow(/no space left/);
    } finally {
      disk.restore();
    }
    // The disk works again, but the torn line could not be cut away: no append may follow it.
    const refused = await ledger.write({ put: [entry('s3')] }).catch((caught: unknown) => caught);
    expect(UnavailableError.isInstance(refused)).toBe(true);
    expect((refused as Error).message).toBe(`Cannot append to ledger ${path}: EIO: i/o error, truncate`);
    // Taking the lock again re-reads the journal, which drops the torn line.
    await ledger.release?.();
    await ledger.write({ put: [entry('s3')] });
    await ledger.dispose?.();
    expect((await createFileLedger(path).entries()).map((e) => e.source)).toEqual(['s1', 's3']);
  });

  test('a journal that cannot be opened for appending: UnavailableError, nothing written', async () => {
    const path = file();
    await symlink(join(directory, 'missing-folder', 'journal.jsonl'), path);
    const ledger = createFileLedger(path);
    const error = await ledger.write({ put: [entry('s1')] }).catch((caught: unknown) => caught);
    await ledger.dispose?.();
    expect(UnavailableError.isInstance(error), String(error)).toBe(true);
    expect((error as Error).message).toMatch(new RegExp(`^Cannot append to ledger ${path}: ENOENT`));
  });

  test('a compaction that cannot be written: UnavailableError, the journal as it was', async () => {
    const path = file();
    const text = `${journal([{ put: entry('s1') }])}${line(2, { put: entry('s2') }).slice(0, 30)}`;
    await writeFile(path, text);
    const disk = await failingDisk();
    const ledger = createFileLedger(path);
    try {
      disk.state.writeFile = true;
      const error = await ledger.write({ put: [entry('s3')] }).catch((caught: unknown) => caught);
      expect(UnavailableError.isInstance(error)).toBe(true);
      expect((error as Error).message).toBe(`Cannot rewrite ledger ${path}: ENOSPC: no space left on device`);
    } finally {
      disk.restore();
    }
    expect(await readFile(path, 'utf8')).toBe(text);
    await ledger.write({ put: [entry('s3')] });
    await ledger.dispose?.();
    expect((await createFileLedger(path).entries()).map((e) => e.source)).toEqual(['s1', 's3']);
  });
});

describe('options and the lock', () => {
  test('an empty path and bad options are refused, naming what was wrong', () => {
    expect(() => createFileLedger('')).toThrow(InvalidArgumentError);
    expect(() => createFileLedger('')).toThrow(
      /ledger path.*path must not be empty|path must not be empty.*ledger path/s,
    );
    expect(() => createFileLedger(file(), { lockTimeoutMs: -1 })).toThrow(/file ledger options/);
    expect(() => createFileLedger(file(), { lockTimeoutMs: 1.5 })).toThrow(InvalidArgumentError);
    expect(() => createFileLedger(file(), { other: 1 } as never)).toThrow(/file ledger options/);
    expect(createFileLedger(file(), { lockTimeoutMs: 5000 }).location).toMatch(/ledger-\d+\.jsonl$/);
  });

  test('with lockTimeoutMs a writer waits for the holder to finish instead of failing', async () => {
    const path = file();
    const holder = createFileLedger(path);
    await holder.write({ put: [entry('s1')] });
    const waiter = createFileLedger(path, { lockTimeoutMs: 60_000 });
    const waiting = waiter.write({ put: [entry('s2')] });
    setTimeout(() => void holder.dispose?.(), 50);
    await waiting;
    expect((await waiter.entries()).map((e) => e.source)).toEqual(['s1', 's2']);
    await waiter.dispose?.();
  });

  test('acquire holds the lock before any write; its error names the component', async () => {
    const path = file();
    const holder = createFileLedger(path);
    await holder.acquire?.({ timeoutMs: 0 });
    const error = await createFileLedger(path)
      .write({ put: [entry('s1')] })
      .catch((caught: unknown) => caught);
    expect(LockedError.isInstance(error)).toBe(true);
    expect((error as LockedError).component).toBe('ledger');
    expect((error as LockedError).location).toBe(path);
    await holder.dispose?.();
  });

  test('a wait for the lock ends when its signal aborts', async () => {
    const path = file();
    const holder = createFileLedger(path);
    await holder.acquire?.({ timeoutMs: 0 });
    const controller = new AbortController();
    const waiter = createFileLedger(path);
    const waiting = waiter.acquire?.({ timeoutMs: 60_000, abortSignal: controller.signal });
    setTimeout(() => controller.abort(), 50);
    const error = await waiting?.catch((caught: unknown) => caught);
    expect(AbortedError.isInstance(error)).toBe(true);
    await holder.dispose?.();
    await waiter.dispose?.();
  });

  test('a writer that takes the lock again after nobody else wrote appends where it left off', async () => {
    const path = file();
    const ledger = createFileLedger(path);
    await ledger.write({ put: [entry('s1')] });
    await ledger.release?.();
    await ledger.write({ put: [entry('s2')] });
    await ledger.release?.();
    await ledger.write({ remove: [{ collection: 'c', source: 's1' }] });
    await ledger.dispose?.();
    expect(await readFile(path, 'utf8')).toBe(
      journal([{ put: entry('s1') }, { put: entry('s2') }, { remove: { collection: 'c', source: 's1' } }]),
    );
  });
});
