import type { Store } from '../../src/index.js';

/**
 * Every record of a collection by id, with the fields a fresh ingest of the same corpus determines
 * (run id, time and ledger id left out), for comparing a collection with a clean ingest's.
 */
export async function collectionContents(store: Store, collection: string): Promise<Record<string, unknown>> {
  const records: Record<string, unknown> = {};
  let cursor: string | undefined;
  do {
    const page = await store.scroll({ collection, cursor, limit: 500, includeVectors: true });
    for (const record of page.records) {
      const { runId: _runId, ingestedAt: _ingestedAt, ledger: _ledger, ...payload } = record.payload;
      records[String(record.id)] = { payload, vector: Array.from(record.vector ?? []) };
    }
    cursor = page.nextCursor;
  } while (cursor);
  return records;
}
