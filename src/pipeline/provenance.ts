import * as z from 'zod';
import type { Catalog, IngestionRun } from '../core/catalog.js';
import { NotFoundError } from '../core/errors.js';
import { catalogSchema, storeSchema } from '../core/schemas.js';
import type { Store } from '../core/store.js';
import type { RecordId } from '../core/types.js';
import { recordIdSchema } from '../core/types.js';
import { parseArgument } from '../core/validate.js';
import { type RetrievedChunk, toChunk } from './retrieve.js';

export type ChunkProvenance = {
  chunk: RetrievedChunk;
  /** The run that wrote the chunk, as the catalog recorded it (embedding model, chunker, time, stats). */
  run: IngestionRun | undefined;
  runId: string | undefined;
  ingestedAt: string | undefined;
  sourceHash: string | undefined;
};

const optionsSchema = z
  .object({ store: storeSchema, collection: z.string().min(1), id: recordIdSchema, catalog: catalogSchema.optional() })
  .strict();

/**
 * Where a chunk came from: its source and position (from the record), and when, with which embedding
 * model and chunker settings it was ingested (from the catalog's record of the run that wrote it).
 */
export async function explainChunk(options: {
  store: Store;
  collection: string;
  id: RecordId;
  catalog?: Catalog;
}): Promise<ChunkProvenance> {
  const { store, collection, id, catalog } = parseArgument(optionsSchema, options, 'explainChunk options');
  const [record] = await store.get({ collection, ids: [id] });
  if (!record) throw new NotFoundError({ resource: 'chunk', name: String(id), hint: `It is not in "${collection}".` });
  const chunk = toChunk({ ...record, score: 1 }, collection);
  const text = (key: string) => (typeof record.payload[key] === 'string' ? (record.payload[key] as string) : undefined);
  const runId = text('runId');
  return {
    chunk,
    run: runId && catalog ? await catalog.getRun(runId) : undefined,
    runId,
    ingestedAt: text('ingestedAt'),
    sourceHash: text('sourceHash'),
  };
}
