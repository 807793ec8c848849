import { open, readFile } from 'node:fs/promises';
import { z } from 'zod';
import { crc32 } from '../core/crc32.js';
import { CorruptDataError, UnavailableError } from '../core/errors.js';
import { parseArgument } from '../core/validate.js';
import { createFilePersistence } from '../stores/memory/file.js';
import { applyLedgerChanges, type Ledger, type LedgerChanges, type LedgerEntry, ledgerEntrySchema } from './ledger.js';

const lineSchema = z.union([
  z.object({ put: ledgerEntrySchema }).strict(),
  z.object({ remove: z.object({ collection: z.string(), source: z.string() }).strict() }).strict(),
]);

const encoder = new TextEncoder();
const hex = (value: number) => value.toString(16).padStart(8, '0');

function encodeLines(changes: LedgerChanges): string {
  const records = [
    ...(changes.put ?? []).map((entry) => ({ put: entry })),
    ...(changes.remove ?? []).map((remove) => ({ remove: { collection: remove.collection, source: remove.source } })),
  ];
  return records
    .map((record) => {
      const json = JSON.stringify(record);
      return `${hex(crc32(encoder.encode(json)))} ${json}\n`;
    })
    .join('');
}

/**
 * A crash-safe ledger in an append-only journal file (Node only).
 *
 * Each `write` appends one checksummed line per change and flushes the file to disk before it
 * resolves. A crash can only tear the last line, which the next open drops (it was never
 * acknowledged); a damaged line anywhere else is refused with `CorruptDataError`. On open, a journal
 * much longer than its live entries is compacted by an atomic rewrite.
 */
export function createFileLedger(path: string): Ledger {
  const target = parseArgument(z.string().min(1, 'path must not be empty'), path, 'ledger path');
  const entries = new Map<string, LedgerEntry>();
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

  const load = async () => {
    let text: string;
    try {
      text = await readFile(target, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw failure('read', error);
    }
    const lines = text.split('\n');
    // A last line without its newline is an append the crash cut short: never acknowledged, dropped.
    const complete = lines.slice(0, -1);
    let lineCount = 0;
    for (const [index, line] of complete.entries()) {
      const space = line.indexOf(' ');
      const json = line.slice(space + 1);
      const valid = space === 8 && line.slice(0, 8) === hex(crc32(encoder.encode(json)));
      const parsed = valid ? lineSchema.safeParse(safeJson(json)) : undefined;
      if (!parsed?.success) {
        throw new CorruptDataError({
          location: target,
          reason: `line ${index + 1} fails its checksum or format`,
          component: 'ledger',
        });
      }
      lineCount++;
      applyLedgerChanges(entries, 'put' in parsed.data ? { put: [parsed.data.put] } : { remove: [parsed.data.remove] });
    }
    const torn = (lines.at(-1) ?? '') !== '';
    if (torn || lineCount > 2 * entries.size + 64) {
      await createFilePersistence(target).save(encoder.encode(encodeLines({ put: [...entries.values()] })));
    }
  };
  let loaded: Promise<void> | undefined;
  const ready = () => {
    loaded ??= serial(load);
    return loaded;
  };

  return {
    location: target,
    async entries() {
      await ready();
      return [...entries.values()].map((entry) => structuredClone(entry));
    },
    async write(changes) {
      await ready();
      const lines = encodeLines(changes);
      if (lines === '') return;
      await serial(async () => {
        try {
          const handle = await open(target, 'a');
          try {
            await handle.writeFile(lines);
            await handle.datasync();
          } finally {
            await handle.close();
          }
        } catch (error) {
          throw failure('append to', error);
        }
        applyLedgerChanges(entries, changes);
      });
    },
  };
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
