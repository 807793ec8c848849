import { z } from 'zod';

/**
 * What the ledger knows about one source in one collection.
 *
 * `key` identifies the stored version completely (content hash, chunker settings, embedding spaces,
 * title and metadata): a source whose key is unchanged costs nothing to re-ingest. `pending` is the
 * version being written (its chunk ids may be partly in the store) and `stale` the chunk ids of
 * superseded versions not yet deleted; both are cleared when a write completes, and whatever a crash
 * leaves in them is cleaned up by the next ingest.
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
};

export type LedgerChanges = {
  put?: readonly LedgerEntry[];
  remove?: readonly { collection: string; source: string }[];
};

/**
 * Where `ingest()` keeps its per-source records. `write` is durable when it resolves: after a crash,
 * `entries()` returns every write that resolved (and possibly the one in flight, whole or not at all
 * per entry).
 */
export type Ledger = {
  /** Where the ledger lives, for messages (`memory`, a file path). */
  readonly location: string;
  entries(): Promise<LedgerEntry[]>;
  write(changes: LedgerChanges): Promise<void>;
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
  })
  .strict();

export const ledgerKey = (collection: string, source: string) => JSON.stringify([collection, source]);

/** Applies changes to a map of entries keyed by `ledgerKey`. */
export function applyLedgerChanges(entries: Map<string, LedgerEntry>, changes: LedgerChanges): void {
  for (const entry of changes.put ?? []) entries.set(ledgerKey(entry.collection, entry.source), structuredClone(entry));
  for (const { collection, source } of changes.remove ?? []) entries.delete(ledgerKey(collection, source));
}

/** A ledger in memory: for tests and short-lived processes (a restart re-ingests everything). */
export function createMemoryLedger(): Ledger {
  const entries = new Map<string, LedgerEntry>();
  return {
    location: 'memory',
    async entries() {
      return [...entries.values()].map((entry) => structuredClone(entry));
    },
    async write(changes) {
      applyLedgerChanges(entries, changes);
    },
  };
}
