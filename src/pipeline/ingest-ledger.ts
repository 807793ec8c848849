import { LockedError } from '../core/errors.js';
import type { CollectionInfo, Store } from '../core/store.js';
import type { Ledger, LedgerEntry, LedgerMark } from './ledger.js';

/** How `ingest` judged its ledger against the store at the start of a run. */
export type LedgerCheck = {
  /** Whether the ledger's entries were taken as they are (same collection epoch, no lost writes). */
  trusted: boolean;
  /** Why they were checked against the store instead, when they were. */
  reason: string | undefined;
  /** Sources with a committed version whose chunks were looked up in the store. */
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
 * and, where the store keeps collection state, the checkpoint saved with the data. Otherwise the collection is read once (ids and
 * sources) and the ledger is brought in line with it: a source with chunks missing turns into a
 * pending write, which recovery removes, so it is written again instead of being called unchanged;
 * chunks the ledger does not list (a restored backup, an earlier version, a source the ledger
 * forgot) become stale or pending, which recovery deletes. Records of sources this ledger does not
 * know are left alone unless they carry this ledger's id (`payload.ledger`): other ledgers' chunks
 * and records not written by ingest are never touched.
 */
export async function checkLedger(options: {
  store: Store;
  collection: string;
  info: CollectionInfo;
  known: Map<string, LedgerEntry>;
  mark: LedgerMark | undefined;
  ledgerKeepsMarks: boolean;
  /** The checkpoint saved with the collection (stores with collection state; `null` when none was saved). */
  checkpoint: string | null | undefined;
  /** This ledger's id: chunks with another `payload.ledger` belong to another ledger and are left alone. */
  ledgerId: string;
  abortSignal?: AbortSignal;
}): Promise<LedgerCheck> {
  const { store, collection, info, known, mark } = options;
  const reason = distrust(options.ledgerKeepsMarks, store, info, mark, options.checkpoint);
  if (reason === undefined) return { trusted: true, reason, sourcesChecked: 0, sourcesMissing: 0 };
  const stored = await storedSources(store, collection, options.ledgerId, options.abortSignal);
  if (known.size === 0 && stored.size === 0) return { trusted: false, reason, sourcesChecked: 0, sourcesMissing: 0 };
  let checked = 0;
  let missing = 0;
  for (const [source, { ids, ours }] of stored) {
    if (!known.has(source) && ours) {
      // Chunks of a source the ledger does not know: removed by recovery.
      known.set(source, {
        collection,
        source,
        key: '',
        contentHash: '',
        chunkIds: [],
        runId: '',
        ingestedAt: '',
        pending: { key: '', chunkIds: [...ids] },
      });
    }
  }
  for (const entry of [...known.values()]) {
    const present = stored.get(entry.source)?.ids ?? new Set<string>();
    const listed = new Set([...entry.chunkIds, ...(entry.pending?.chunkIds ?? []), ...(entry.stale ?? [])]);
    const unlisted = [...present].filter((id) => !listed.has(id));
    if (entry.key === '' || entry.removing) {
      if (unlisted.length > 0) known.set(entry.source, { ...entry, stale: [...(entry.stale ?? []), ...unlisted] });
      continue;
    }
    checked++;
    if (entry.chunkIds.every((id) => present.has(id))) {
      if (unlisted.length > 0) known.set(entry.source, { ...entry, stale: [...(entry.stale ?? []), ...unlisted] });
      continue;
    }
    missing++;
    const { stale, ...rest } = entry;
    known.set(entry.source, {
      ...rest,
      key: '',
      chunkIds: [],
      pending: { key: entry.key, chunkIds: [...new Set([...entry.chunkIds, ...(entry.pending?.chunkIds ?? [])])] },
      stale: [...(stale ?? []), ...unlisted],
    });
  }
  return { trusted: false, reason, sourcesChecked: checked, sourcesMissing: missing };
}

/**
 * The ids of the collection's chunks by source (`payload.source`), read in one scroll, and whether
 * all of a source's chunks were written through this ledger.
 */
async function storedSources(
  store: Store,
  collection: string,
  ledgerId: string,
  abortSignal: AbortSignal | undefined,
): Promise<Map<string, { ids: Set<string>; ours: boolean }>> {
  const sources = new Map<string, { ids: Set<string>; ours: boolean }>();
  let cursor: string | undefined;
  do {
    const page = await store.scroll({
      collection,
      limit: 1000,
      ...(cursor ? { cursor } : {}),
      ...(abortSignal ? { abortSignal } : {}),
    });
    for (const record of page.records) {
      const source = record.payload.source;
      if (typeof source !== 'string') continue;
      const found = sources.get(source) ?? { ids: new Set<string>(), ours: true };
      found.ids.add(String(record.id));
      found.ours &&= record.payload.ledger === ledgerId;
      sources.set(source, found);
    }
    cursor = page.nextCursor;
  } while (cursor);
  return sources;
}

function distrust(
  keepsMarks: boolean,
  store: Store,
  info: CollectionInfo,
  mark: LedgerMark | undefined,
  checkpoint: string | null | undefined,
): string | undefined {
  if (!keepsMarks) return 'the ledger keeps no marks (it has no marks() method)';
  if (info.epoch === undefined) return `the ${store.provider} store keeps no epoch for this collection`;
  if (!mark) return 'the ledger has no mark for this collection (written before kumiki recorded marks)';
  if (mark.epoch !== info.epoch) {
    return `the collection's epoch is ${info.epoch} but the ledger recorded ${mark.epoch}: the ledger describes another collection (deleted and created again, or another store)`;
  }
  if (checkpoint !== undefined && checkpoint !== (mark.checkpoint ?? null)) {
    return `the collection's last checkpoint is ${checkpoint ?? 'none'} but the ledger recorded ${mark.checkpoint ?? 'none'}: the store lost writes the ledger relies on, or another ledger wrote it since (an older snapshot or backup, writes never flushed)`;
  }
  return undefined;
}
