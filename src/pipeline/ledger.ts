import { z } from 'zod';

/**
 * What the ledger knows about one source in one collection.
 *
 * `key` identifies the stored version completely (content hash, chunker settings, embedding spaces,
 * title and metadata): a source whose key is unchanged costs nothing to re-ingest. `pending` is the
 * version being written (its chunk ids may be partly in the store) and `stale` the chunk ids of
 * superseded versions not yet deleted; both are cleared when a write completes. `removing` marks a
 * source that `prune` is deleting: its chunks may be partly gone already. Whatever a crash leaves in
 * these fields is cleaned up by the next ingest before it does anything else.
 */
export type LedgerEntry = {
  collection: string;
  source: string;
  /** Version key of the committed chunks; empty when no version is committed yet. */
  key: string;
  contentHash: string;
  chunkIds: string[];
  /** The run that wrote the committed version. */
  runId: string;
  ingestedAt: string;
  pending?: { key: string; chunkIds: string[] };
  stale?: string[];
  removing?: true;
};

/**
 * The last checkpoint of an ingest into a collection: the collection's `epoch`, an id of this ledger
 * (`ledger`, also written into every chunk it writes, so it can tell its chunks from other ledgers')
 * and, on stores that keep collection state, a random `checkpoint` token that the same ingest saved
 * with the collection's data. `ingest` trusts the ledger's entries for a collection only while the
 * store shows the same epoch and the same checkpoint; otherwise it checks them against the store.
 */
export type LedgerMark = { collection: string; epoch: string; ledger?: string; checkpoint?: string };

export type LedgerChanges = {
  put?: readonly LedgerEntry[];
  remove?: readonly { collection: string; source: string }[];
  mark?: LedgerMark;
};

/**
 * Where `ingest()` keeps its per-source records. `write` is durable when it resolves: after a crash,
 * `entries()` returns every write that resolved (and possibly the one in flight, whole or not at all).
 * The entries returned are read-only (frozen): copy one to change it.
 * A ledger that several processes can share offers `acquire`/`release`: `ingest` holds it for its
 * whole run, so two writers never interleave.
 */
export type Ledger = {
  /** Where the ledger lives, for messages (`memory`, a file path). */
  readonly location: string;
  entries(): Promise<LedgerEntry[]>;
  write(changes: LedgerChanges): Promise<void>;
  /** The last mark of each collection (see `LedgerMark`); a ledger without it is always checked against the store. */
  marks?(): Promise<LedgerMark[]>;
  /** Takes exclusive use across processes, waiting up to `timeoutMs`, else `LockedError` naming the holder. */
  acquire?(options: { timeoutMs: number; abortSignal?: AbortSignal }): Promise<void>;
  release?(): Promise<void>;
  dispose?(): Promise<void>;
};

export const ledgerEntrySchema = z
  .object({
    collection: z.string().min(1),
    source: z.string().min(1),
    key: z.string(),
    contentHash: z.string(),
    chunkIds: z.array(z.string()),
    runId: z.string(),
    ingestedAt: z.string(),
    pending: z
      .object({ key: z.string(), chunkIds: z.array(z.string()) })
      .strict()
      .optional(),
    stale: z.array(z.string()).optional(),
    removing: z.literal(true).optional(),
  })
  .strict();

export const ledgerMarkSchema = z
  .object({
    collection: z.string().min(1),
    epoch: z.string().min(1),
    ledger: z.string().min(1).optional(),
    checkpoint: z.string().min(1).optional(),
  })
  .strict();

export const ledgerKey = (collection: string, source: string) => JSON.stringify([collection, source]);

/** A ledger's contents: entries by `ledgerKey`, marks by collection. */
export type LedgerState = { entries: Map<string, LedgerEntry>; marks: Map<string, LedgerMark> };

export const emptyLedgerState = (): LedgerState => ({ entries: new Map(), marks: new Map() });

/** A frozen copy of an entry: ledgers hand out their entries without copying them again. */
export function frozenEntry(entry: LedgerEntry): LedgerEntry {
  const copy: LedgerEntry = { ...entry, chunkIds: Object.freeze([...entry.chunkIds]) as string[] };
  if (entry.pending) {
    copy.pending = Object.freeze({
      key: entry.pending.key,
      chunkIds: Object.freeze([...entry.pending.chunkIds]) as string[],
    });
  }
  if (entry.stale) copy.stale = Object.freeze([...entry.stale]) as string[];
  return Object.freeze(copy);
}

/** Applies changes to a ledger's contents (entries are kept frozen). */
export function applyLedgerChanges(state: LedgerState, changes: LedgerChanges): void {
  for (const entry of changes.put ?? [])
    state.entries.set(ledgerKey(entry.collection, entry.source), frozenEntry(entry));
  for (const { collection, source } of changes.remove ?? []) state.entries.delete(ledgerKey(collection, source));
  if (changes.mark) state.marks.set(changes.mark.collection, { ...changes.mark });
}

/** A ledger in memory: for tests and short-lived processes (a restart re-ingests everything). */
export function createMemoryLedger(): Ledger {
  const state = emptyLedgerState();
  return {
    location: 'memory',
    async entries() {
      return [...state.entries.values()];
    },
    async marks() {
      return [...state.marks.values()].map((mark) => ({ ...mark }));
    },
    async write(changes) {
      applyLedgerChanges(state, changes);
    },
  };
}
