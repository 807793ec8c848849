import type { Catalog, DatasetRef, IngestionRun } from '../core/catalog.js';
import type { EmbeddingSpace } from '../core/fingerprint.js';
import type { JsonObject } from '../core/types.js';
import { mapLimit } from '../internal/concurrency.js';
import { withSpan } from './telemetry.js';

/** The payload fields of every chunk ingest writes (described to catalogs as the collection's schema). */
export const CHUNK_FIELDS = [
  { name: 'text', type: 'string', description: 'the chunk text' },
  { name: 'source', type: 'string', description: 'URI of the source document' },
  { name: 'title', type: 'string', description: 'title of the source, when it has one' },
  { name: 'heading', type: 'string', description: 'nearest heading above the chunk' },
  { name: 'page', type: 'number', description: 'paged sources (PDF): page the chunk starts on (1-based)' },
  { name: 'pageEnd', type: 'number', description: 'paged sources: page the chunk ends on' },
  { name: 'chunk', type: 'number', description: 'position of the chunk in its source' },
  { name: 'start', type: 'number', description: 'character offset of the chunk in the source text' },
  { name: 'end', type: 'number', description: 'character offset just after the chunk' },
  { name: 'contentType', type: 'string', description: 'MIME type of the source' },
  { name: 'modifiedAt', type: 'string', description: 'modification time of the source (ISO 8601)' },
  { name: 'sourceHash', type: 'string', description: 'SHA-256 of the source text' },
  { name: 'runId', type: 'string', description: 'ingestion run that wrote the chunk' },
  { name: 'ingestedAt', type: 'string', description: 'start time of that run (ISO 8601)' },
  { name: 'ledger', type: 'string', description: 'id of the ingest ledger that wrote the chunk' },
  { name: 'metadata', type: 'object', description: 'fields the application attached to the source' },
];

/** One embedding space of the run and its fingerprint (dense, sparse). */
export type RunSpace = { space: EmbeddingSpace | undefined; fingerprint: string | undefined };

/**
 * Records a finished run in a catalog: the collection and its fields, the sources it read, the
 * models, lineage source → collection and model → collection, and the run itself.
 */
export async function recordIngestCatalog(options: {
  catalog: Catalog;
  run: Omit<IngestionRun, 'status' | 'inputs'>;
  collection: DatasetRef & { kind: 'collection' };
  /** The collection's name in the store (the dataset's name is `<store>/<collection>`). */
  collectionName: string;
  changed: DatasetRef[];
  /** Whether the run wrote or removed anything (no-op runs record no model edge). */
  wrote: boolean;
  spaces: { dense: RunSpace; sparse: RunSpace };
  stats: JsonObject;
  abortSignal?: AbortSignal;
}): Promise<void> {
  const { catalog, run, collection, changed } = options;
  const call = options.abortSignal ? { abortSignal: options.abortSignal } : {};
  await withSpan('kumiki.catalog.record', { 'kumiki.catalog.provider': catalog.provider }, async () => {
    await catalog.registerDataset(
      {
        ...collection,
        description: `Chunks written by kumiki ingest into ${options.collectionName}`,
        fields: CHUNK_FIELDS,
        properties: {
          ...(options.spaces.dense.fingerprint ? { embeddingFingerprint: options.spaces.dense.fingerprint } : {}),
          ...(options.spaces.sparse.fingerprint ? { sparseFingerprint: options.spaces.sparse.fingerprint } : {}),
        },
      },
      call,
    );
    const edges = changed.map((source) => ({ upstream: source, downstream: collection, via: run.id }));
    // Several at a time: the local catalog saves them in groups, DataHub receives parallel requests.
    await mapLimit(changed, 16, (source) => catalog.registerDataset({ ...source }, call));
    for (const { space, fingerprint } of [options.spaces.dense, options.spaces.sparse]) {
      if (!space || !fingerprint || !options.wrote) continue;
      const model: DatasetRef = { kind: 'model', name: fingerprint };
      await catalog.registerDataset(
        {
          ...model,
          description: `${space.provider} ${space.model}`,
          properties: spaceProperties(space),
        },
        call,
      );
      edges.push({ upstream: model, downstream: collection, via: run.id });
    }
    await catalog.addLineage(edges, call);
    await catalog.recordRun(
      {
        ...run,
        status: 'succeeded',
        inputs: changed,
        finishedAt: new Date().toISOString(),
        stats: options.stats,
      },
      call,
    );
  });
}

function spaceProperties(space: EmbeddingSpace): JsonObject {
  return {
    provider: space.provider,
    model: space.model,
    ...(space.kind !== undefined ? { kind: space.kind } : {}),
    ...(space.dimensions !== undefined ? { dimensions: space.dimensions } : {}),
    ...(space.revision !== undefined ? { revision: space.revision } : {}),
  };
}
