import { type open, readFile, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { z } from 'zod';
import { crc32 } from '../core/crc32.js';
import { CorruptDataError, UnavailableError } from '../core/errors.js';
import { parseArgument } from '../core/validate.js';
import { openCreatingFolder, removeLeftovers, syncDirectory, writeFileAtomic } from '../internal/node/atomic-file.js';
import { createFileLock } from '../internal/node/file-lock.js';
import {
  applyLedgerChanges,
  emptyLedgerState,
  type Ledger,
  type LedgerChanges,
  type LedgerEntry,
  type LedgerMark,
  type LedgerState,
} from './ledger.js';

/** First line of every journal; anything else at the start is not ours and is never touched. */
const HEADER = 'KUMIKI-LEDGER 2';

type JournalRecord = { put: LedgerEntry } | { remove: { collection: string; source: string } } | { mark: LedgerMark };

/**
 * A line's record, checked exactly as `ledgerEntrySchema` / `ledgerMarkSchema` would (no extra
 * fields, the right types) but by hand: a journal of 20,000 sources is read in milliseconds, not a
 * second. Its checksum has already been checked.
 */
function asRecord(value: unknown): JournalRecord | undefined {
  if (!isPlain(value)) return undefined;
  const keys = Object.keys(value);
  if (keys.length !== 1) return undefined;
  if ('put' in value) {
    const entry = value.put;
    return isEntry(entry) ? { put: entry } : undefined;
  }
  if ('remove' in value) {
    const remove = value.remove;
    return isPlain(remove) && hasOnly(remove, REMOVE_KEYS) && isString(remove.collection) && isString(remove.source)
      ? { remove: { collection: remove.collection, source: remove.source } }
      : undefined;
  }
  if ('mark' in value) {
    const mark = value.mark;
    return isPlain(mark) &&
      hasOnly(mark, MARK_KEYS) &&
      isText(mark.collection) &&
      isText(mark.epoch) &&
      (mark.ledger === undefined || isText(mark.ledger)) &&
      (mark.checkpoint === undefined || isText(mark.checkpoint))
      ? { mark: mark as LedgerMark }
      : undefined;
  }
  return undefined;
}

const ENTRY_KEYS = new Set([
  'collection',
  'source',
  'key',
  'contentHash',
  'chunkIds',
  'runId',
  'ingestedAt',
  'pending',
  'stale',
  'removing',
]);
const REMOVE_KEYS = new Set(['collection', 'source']);
const MARK_KEYS = new Set(['collection', 'epoch', 'ledger', 'checkpoint']);
const PENDING_KEYS = new Set(['key', 'chunkIds']);
const isString = (value: unknown): value is string => typeof value === 'string';
const isText = (value: unknown): value is string => typeof value === 'string' && value.length > 0;
const isStrings = (value: unknown): value is string[] => Array.isArray(value) && value.every(isString);
const isPlain = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);
const hasOnly = (value: Record<string, unknown>, allowed: Set<string>) =>
  Object.keys(value).every((key) => allowed.has(key));

function isEntry(value: unknown): value is LedgerEntry {
  if (!isPlain(value) || !hasOnly(value, ENTRY_KEYS)) return false;
  const { pending } = value;
  return (
    isText(value.collection) &&
    isText(value.source) &&
    isString(value.key) &&
    isString(value.contentHash) &&
    isStrings(value.chunkIds) &&
    isString(value.runId) &&
    isString(value.ingestedAt) &&
    (pending === undefined ||
      (isPlain(pending) && hasOnly(pending, PENDING_KEYS) && isString(pending.key) && isStrings(pending.chunkIds))) &&
    (value.stale === undefined || isStrings(value.stale)) &&
    (value.removing === undefined || value.removing === true)
  );
}

const encoder = new TextEncoder();
const hex = (value: number) => value.toString(16).padStart(8, '0');
const LINE = /^([0-9a-f]{8}) (\d+) (.*)$/;
/** A line of the first format (no header, no sequence numbers), read once and rewritten. */
const V1_LINE = /^([0-9a-f]{8}) (.*)$/;

function records(changes: LedgerChanges): JournalRecord[] {
  return [
    ...(changes.put ?? []).map((entry) => ({ put: entry })),
    ...(changes.remove ?? []).map((remove) => ({ remove: { collection: remove.collection, source: remove.source } })),
    ...(changes.mark ? [{ mark: changes.mark }] : []),
  ];
}

function encodeLines(list: readonly JournalRecord[], firstSequence: number): string {
  return list
    .map((record, i) => {
      const body = `${firstSequence + i} ${JSON.stringify(record)}`;
      return `${hex(crc32(encoder.encode(body)))} ${body}\n`;
    })
    .join('');
}

function stateRecords(state: LedgerState): JournalRecord[] {
  return [
    ...[...state.entries.values()].map((entry) => ({ put: entry })),
    ...[...state.marks.values()].map((mark) => ({ mark })),
  ];
}

export type FileLedgerOptions = {
  /**
   * How long a writer waits for another process's lock on the journal before `LockedError`, in ms.
   * Default 0: a second ingest on the same ledger fails at once, naming the holder.
   */
  lockTimeoutMs?: number;
};

/** What one read of the journal found. */
type Parsed = {
  state: LedgerState;
  /** Sequence number of the last complete line (0 when none). */
  sequence: number;
  /** Bytes up to the end of the last complete line. */
  goodBytes: number;
  /** Whether the file ends with a torn line, is in the first format, or holds far more lines than live records. */
  needsRewrite: boolean;
  exists: boolean;
};

/**
 * A crash-safe ledger in an append-only journal file (Node only).
 *
 * The journal starts with a header line and numbers every line; each line carries a CRC-32 of its
 * number and content. Each `write` appends one line per change and flushes the file before it
 * resolves; an append that fails (a full disk) is cut back to the last good line, so later appends
 * never follow a torn one. A crash can only tear the last line, which was never acknowledged and is
 * dropped; a damaged, missing, repeated or reordered line anywhere else, or a file that does not
 * start with the header, is refused with `CorruptDataError` and left untouched.
 *
 * Only one process writes at a time: the first `write` (or `acquire`, which `ingest` calls for its
 * whole run) takes a lock file beside the journal, re-reads it and holds the lock until `release` or
 * `dispose`. A second writer gets `LockedError` naming the holder (or waits `lockTimeoutMs`); a lock
 * whose holder died is taken over. Reads without the lock see the file as it is on disk.
 */
export function createFileLedger(path: string, options: FileLedgerOptions = {}): Ledger {
  const target = parseArgument(z.string().min(1, 'path must not be empty'), path, 'ledger path');
  const settings = parseArgument(
    z.object({ lockTimeoutMs: z.number().int().min(0).optional() }).strict(),
    options,
    'file ledger options',
  );
  const lock = createFileLock(target, { component: 'ledger' });
  type Journal = { state: LedgerState; sequence: number; bytes: number; exists: boolean };
  /** The journal as this writer holds it (only while it holds the lock). */
  let held: Journal | undefined;
  /** The journal as this object last wrote it, and the file's identity then: reused while the file is unchanged. */
  let last: { journal: Journal; identity: string } | undefined;
  /** Set when a failed append could not be cut back: no further appends until reopened. */
  let broken: Error | undefined;
  let chain: Promise<unknown> = Promise.resolve();
  const serial = <T>(fn: () => Promise<T>): Promise<T> => {
    const run = chain.then(fn);
    chain = run.catch(() => undefined);
    return run;
  };
  const failure = (action: string, error: unknown) =>
    new UnavailableError({
      message: `Cannot ${action} ledger ${target}: ${(error as Error).message}`,
      cause: error,
      isRetryable: false,
      component: 'ledger',
    });
  const corrupt = (reason: string) => new CorruptDataError({ location: target, reason, component: 'ledger' });

  const read = async (): Promise<Parsed> => {
    let buffer: Buffer;
    try {
      buffer = await readFile(target);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
        return { state: emptyLedgerState(), sequence: 0, goodBytes: 0, needsRewrite: false, exists: false };
      }
      throw failure('read', error);
    }
    // A file cut to nothing before its header was written (a crash at creation) is an empty ledger.
    if (buffer.length === 0) {
      return { state: emptyLedgerState(), sequence: 0, goodBytes: 0, needsRewrite: false, exists: true };
    }
    let text: string;
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(buffer);
    } catch {
      throw corrupt('it is not UTF-8 text');
    }
    const lines = text.split('\n');
    const torn = lines.pop() !== '';
    const first = lines[0];
    if (first === HEADER) return parseV2(lines, torn);
    if (first !== undefined && isV1Line(first)) return parseV1(lines);
    throw corrupt(
      torn && lines.length === 0 && HEADER.startsWith(text)
        ? 'its header was cut short'
        : `it does not start with the line "${HEADER}"`,
    );
  };

  const parseV2 = (lines: string[], torn: boolean): Parsed => {
    const state = emptyLedgerState();
    let bytes = encoder.encode(`${HEADER}\n`).length;
    let sequence = 0;
    for (let index = 1; index < lines.length; index++) {
      const line = lines[index] as string;
      const match = LINE.exec(line);
      const body = match ? line.slice(9) : '';
      if (!match || match[1] !== hex(crc32(encoder.encode(body)))) {
        throw corrupt(`line ${index + 1} fails its checksum or format`);
      }
      const number = Number(match[2]);
      if (number !== sequence + 1) {
        throw corrupt(
          `line ${index + 1} has sequence number ${number} where ${sequence + 1} was expected (a line was removed, repeated or moved)`,
        );
      }
      const record = asRecord(safeJson(match[3] as string));
      if (!record) throw corrupt(`line ${index + 1} is not a ledger record`);
      apply(state, record);
      sequence = number;
      bytes += encoder.encode(line).length + 1;
    }
    const live = state.entries.size + state.marks.size;
    return { state, sequence, goodBytes: bytes, needsRewrite: torn || sequence > 2 * live + 64, exists: true };
  };

  const parseV1 = (lines: string[]): Parsed => {
    const state = emptyLedgerState();
    for (const [index, line] of lines.entries()) {
      const match = V1_LINE.exec(line);
      const json = match?.[2] ?? '';
      const record = match && match[1] === hex(crc32(encoder.encode(json))) ? asRecord(safeJson(json)) : undefined;
      if (!record) throw corrupt(`line ${index + 1} fails its checksum or format`);
      apply(state, record);
    }
    return { state, sequence: 0, goodBytes: 0, needsRewrite: true, exists: true };
  };

  /** Rewrites the journal from its live records, atomically (compaction, a torn tail, the first format). */
  const rewrite = async (state: LedgerState) => {
    const list = stateRecords(state);
    const text = `${HEADER}\n${encodeLines(list, 1)}`;
    try {
      await writeFileAtomic(target, text);
    } catch (error) {
      throw failure('rewrite', error);
    }
    return { state, sequence: list.length, bytes: encoder.encode(text).length, exists: true };
  };

  const takeLock = async (timeoutMs: number, abortSignal?: AbortSignal) => {
    if (held) return;
    await lock.acquire({ timeoutMs, ...(abortSignal ? { abortSignal } : {}) });
    try {
      await removeLeftovers(target);
      const now = await identity();
      if (last && now !== undefined && last.identity === now) {
        // Nobody wrote the journal since this object did: no need to read it again.
        held = last.journal;
      } else {
        const parsed = await read();
        held = parsed.needsRewrite
          ? await rewrite(parsed.state)
          : { state: parsed.state, sequence: parsed.sequence, bytes: parsed.goodBytes, exists: parsed.exists };
      }
      broken = undefined;
    } catch (error) {
      await lock.release();
      throw error;
    }
  };

  const append = async (changes: LedgerChanges) => {
    if (broken) throw failure('append to', broken);
    const journal = held as NonNullable<typeof held>;
    lock.assertHeld();
    const list = records(changes);
    if (list.length === 0) return;
    const header = journal.exists && journal.bytes > 0 ? '' : `${HEADER}\n`;
    const text = header + encodeLines(list, journal.sequence + 1);
    const bytes = encoder.encode(text);
    const start = header === '' ? journal.bytes : 0;
    let handle: Awaited<ReturnType<typeof open>> | undefined;
    try {
      handle = await openCreatingFolder(target, journal.exists ? 'r+' : 'w');
      await handle.write(bytes, 0, bytes.length, start);
      await handle.datasync();
    } catch (error) {
      // Cut the file back to its last good line, so the next append does not follow a torn one.
      if (handle) {
        try {
          await handle.truncate(start);
          await handle.datasync();
        } catch (cutError) {
          broken = cutError as Error;
        }
        await handle.close().catch(() => undefined);
      }
      throw failure('append to', error);
    }
    await handle.close();
    if (!journal.exists) await syncDirectory(dirname(target)).catch(() => undefined);
    journal.exists = true;
    journal.bytes = start + bytes.length;
    journal.sequence += list.length;
    applyLedgerChanges(journal.state, changes);
    const written = await identity();
    last = written === undefined ? undefined : { journal, identity: written };
  };

  /** The file's identity (device, inode, size, modification time), or undefined when it is missing. */
  const identity = async (): Promise<string | undefined> => {
    const info = await stat(target).catch(() => undefined);
    return info && `${info.dev}:${info.ino}:${info.size}:${info.mtimeMs}`;
  };

  /** The current contents: the held copy while writing, else read fresh from disk. */
  const current = async (): Promise<LedgerState> => (held ? held.state : (await read()).state);

  return {
    location: target,
    async entries() {
      const state = await serial(current);
      return [...state.entries.values()];
    },
    async marks() {
      const state = await serial(current);
      return [...state.marks.values()].map((mark) => ({ ...mark }));
    },
    write(changes) {
      return serial(async () => {
        await takeLock(settings.lockTimeoutMs ?? 0);
        await append(changes);
      });
    },
    acquire({ timeoutMs, abortSignal }) {
      return serial(() => takeLock(timeoutMs, abortSignal));
    },
    release() {
      return serial(async () => {
        held = undefined;
        await lock.release();
      });
    },
    dispose() {
      return serial(async () => {
        held = undefined;
        await lock.release();
      });
    },
  };
}

function apply(state: LedgerState, record: JournalRecord): void {
  if ('put' in record) applyLedgerChanges(state, { put: [record.put] });
  else if ('remove' in record) applyLedgerChanges(state, { remove: [record.remove] });
  else applyLedgerChanges(state, { mark: record.mark });
}

function isV1Line(line: string): boolean {
  const match = V1_LINE.exec(line);
  return match !== null && match[1] === hex(crc32(encoder.encode(match[2] as string)));
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
