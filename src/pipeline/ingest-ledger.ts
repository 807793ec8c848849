import { LockedError } from '../core/errors.js';
import type { CollectionInfo, Store } from '../core/store.js';
import type { Ledger, LedgerEntry, LedgerMark } from './ledger.js';

/** How `ingest` judged its ledger against the store at the start of a run. */
export type LedgerCheck = {
  /** Whether the ledger's entries were taken as they are (same collection epoch, no lost writes). */
  trusted: boolean;
  /** Why they were checked against the store instead, when they were. */
  reason: string | undefined;
  /** Sources whose committed chunks were looked up in the store. */
  sourcesChecked: number;
  /** Of those, sources with chunks missing: their leftovers are removed and they are written again. */
  sourcesMissing: number;
};

const holders = new WeakMap<Ledger, Promise<void>>();

/**
 * Takes a ledger for one ingest: one at a time per ledger object in this process, and through the
 * ledger's own lock across processes. Waits up to `timeoutMs` in total, then `LockedError`.
 */
export async function holdLedger(
  ledger: Ledger,
  timeoutMs: number,
  abortSignal: AbortSignal | undefined,
): Promise<() => Promise<void>> {
  const started = Date.now();
  for (;;) {
    const current = holders.get(ledger);
    if (!current) break;
    const left = timeoutMs - (Date.now() - started);
    if (left <= 0) {
      throw new LockedError({
        location: ledger.location,
        holder: undefined,
        heldBy: 'another ingest in this process',
        waitedMs: Date.now() - started,
        component: 'ingest',
      });
    }
    await Promise.race([current, new Promise((resolve) => setTimeout(resolve, left))]);
  }
  let done!: () => void;
  holders.set(
    ledger,
    new Promise<void>((resolve) => {
      done = resolve;
    }),
  );
  const release = async () => {
    holders.delete(ledger);
    done();
    await ledger.release?.();
  };
  try {
    await ledger.acquire?.({
      timeoutMs: Math.max(0, timeoutMs - (Date.now() - started)),
      ...(abortSignal ? { abortSignal } : {}),
    });
  } catch (error) {
    holders.delete(ledger);
    done();
    throw error;
  }
  return release;
}

/**
 * Whether the ledger still describes the collection: it must have recorded the collection's epoch
 * and a write version the store has reached. Otherwise every committed source is looked up in the
 * store; those with chunks missing turn into pending writes, which recovery removes, so they are
 * written again instead of being called unchanged.
 */
export async function checkLedger(options: {
  store: Store;
  collection: string;
  info: CollectionInfo;
  known: Map<string, LedgerEntry>;
  mark: LedgerMark | undefined;
  ledgerKeepsMarks: boolean;
  abortSignal?: AbortSignal;
}): Promise<LedgerCheck> {
  const { store, collection, info, known, mark } = options;
  const committed = [...known.values()].filter((entry) => entry.key !== '' && !entry.removing);
  const reason = distrust(options.ledgerKeepsMarks, store, info, mark);
  if (reason === undefined || committed.length === 0) {
    return { trusted: reason === undefined, reason, sourcesChecked: 0, sourcesMissing: 0 };
  }
  const present = new Set<string>();
  const ids = committed.flatMap((entry) => entry.chunkIds);
  for (let i = 0; i < ids.length; i += 1000) {
    const found = await store.get({
      collection,
      ids: ids.slice(i, i + 1000),
      ...(options.abortSignal ? { abortSignal: options.abortSignal } : {}),
    });
    for (const record of found) present.add(String(record.id));
  }
  let missing = 0;
  for (const entry of committed) {
    if (entry.chunkIds.every((id) => present.has(id))) continue;
    missing++;
    const leftovers = [...entry.chunkIds, ...(entry.pending?.chunkIds ?? [])];
    const { stale, ...rest } = entry;
    known.set(entry.source, {
      ...rest,
      key: '',
      chunkIds: [],
      pending: { key: entry.key, chunkIds: [...new Set(leftovers)] },
      ...(stale ? { stale } : {}),
    });
  }
  return { trusted: false, reason, sourcesChecked: committed.length, sourcesMissing: missing };
}

function distrust(
  keepsMarks: boolean,
  store: Store,
  info: CollectionInfo,
  mark: LedgerMark | undefined,
): string | undefined {
  if (!keepsMarks) return 'the ledger keeps no marks (it has no marks() method)';
  if (info.epoch === undefined) return `the ${store.provider} store keeps no epoch for this collection`;
  if (!mark) return 'the ledger has no mark for this collection (written before kumiki recorded marks)';
  if (mark.epoch !== info.epoch) {
    return `the collection's epoch is ${info.epoch} but the ledger recorded ${mark.epoch}: the ledger describes another collection (deleted and created again, or another store)`;
  }
  if (mark.version !== undefined && (info.version ?? 0) < mark.version) {
    return `the collection is at write ${info.version ?? 0} but the ledger recorded write ${mark.version}: the store lost writes the ledger relies on (an older snapshot, or writes never flushed)`;
  }
  return undefined;
}
