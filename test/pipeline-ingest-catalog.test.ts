import { describe, expect, test } from 'vitest';
import { createLocalCatalog } from '../src/catalogs/local/index.js';
import {
  AbortedError,
  type Catalog,
  CHUNK_FIELDS,
  createBm25Encoder,
  createMemoryStore,
  type DenseEmbedder,
  fingerprint,
  type IngestionRun,
} from '../src/index.js';
import { ingest } from '../src/pipeline/ingest.js';
import { createMemoryLedger } from '../src/pipeline/ledger.js';
import { createRecursiveSplitter } from '../src/pipeline/splitter.js';
import type { SourceDocument } from '../src/pipeline/types.js';
import { trigramEmbedder } from './helpers/trigram-embedder.mjs';

const splitter = createRecursiveSplitter({ chunkSize: 200, chunkOverlap: 0, unit: 'characters' });

const documents: SourceDocument[] = [
  { uri: 'mem://a', contentType: 'text/plain', text: 'Lighthouses warn ships of rocks.' },
  { uri: 'mem://b', contentType: 'text/plain', text: 'Keepers trimmed the wicks every night.' },
];

/** A dense embedder whose space names every property a catalog records for a model. */
function describedEmbedder(): DenseEmbedder {
  const inner = trigramEmbedder(16, 'trigram');
  return {
    ...inner,
    space: async () => ({
      provider: 'test',
      model: 'trigram',
      revision: 'r2',
      dimensions: 16,
      kind: 'dense' as const,
      normalize: true,
    }),
  };
}

describe('ingest records its runs in a catalog', () => {
  test('the collection with its fields, the sources, the model, lineage and the finished run', async () => {
    const catalog = createLocalCatalog();
    const embedder = describedEmbedder();
    const space = await embedder.space();
    const report = await ingest({
      store: createMemoryStore(),
      collection: 'notes',
      storeName: 'main',
      documents,
      embedder,
      splitter,
      catalog,
    });
    const collection = { kind: 'collection' as const, name: 'main/notes' };
    const model = { kind: 'model' as const, name: fingerprint(space) };
    expect(await catalog.getDataset(collection)).toEqual({
      ...collection,
      description: 'Chunks written by kumiki ingest into notes',
      fields: CHUNK_FIELDS,
      properties: { embeddingFingerprint: fingerprint(space) },
    });
    expect(await catalog.getDataset({ kind: 'source', name: 'mem://a' })).toEqual({ kind: 'source', name: 'mem://a' });
    expect(await catalog.getDataset(model)).toEqual({
      ...model,
      description: 'test trigram',
      properties: { provider: 'test', model: 'trigram', kind: 'dense', dimensions: 16, revision: 'r2' },
    });
    const lineage = await catalog.getLineage(collection);
    const byName = (a: { upstream: { name: string } }, b: { upstream: { name: string } }) =>
      a.upstream.name < b.upstream.name ? -1 : 1;
    expect([...lineage.upstream].sort(byName)).toEqual(
      [
        { upstream: { kind: 'source', name: 'mem://a' }, downstream: collection, via: report.runId },
        { upstream: { kind: 'source', name: 'mem://b' }, downstream: collection, via: report.runId },
        { upstream: model, downstream: collection, via: report.runId },
      ].sort(byName),
    );
    expect(lineage.runs).toHaveLength(1);
    const run = lineage.runs[0] as IngestionRun;
    expect(run).toEqual({
      id: report.runId,
      status: 'succeeded',
      startedAt: expect.any(String),
      finishedAt: expect.any(String),
      inputs: [
        { kind: 'source', name: 'mem://a' },
        { kind: 'source', name: 'mem://b' },
      ],
      output: collection,
      chunker: splitter.settings,
      embeddingFingerprint: fingerprint(space),
      embeddingModel: 'trigram',
      stats: {
        added: 2,
        updated: 0,
        unchanged: 0,
        deleted: 0,
        chunksWritten: 2,
        chunksDeleted: 0,
        embeddingCalls: 1,
        durationMs: report.durationMs,
        sources: 2,
      },
    });
    expect(Date.parse(run.finishedAt as string)).toBeGreaterThanOrEqual(Date.parse(run.startedAt));
  });

  test('the collection is named after the store provider by default; a sparse model is recorded too', async () => {
    const catalog = createLocalCatalog();
    const bm25 = createBm25Encoder();
    const sparseSpace = await bm25.space();
    const report = await ingest({
      store: createMemoryStore(),
      collection: 'notes',
      documents,
      sparseEmbedder: bm25,
      splitter,
      catalog,
    });
    const collection = { kind: 'collection' as const, name: 'memory/notes' };
    expect((await catalog.getDataset(collection))?.properties).toEqual({ sparseFingerprint: fingerprint(sparseSpace) });
    const run = await catalog.getRun(report.runId);
    expect(run?.embeddingModel).toBe('bm25');
    expect(run?.embeddingFingerprint).toBeUndefined();
    const model = { kind: 'model' as const, name: fingerprint(sparseSpace) };
    expect((await catalog.getDataset(model))?.description).toBe(`${sparseSpace.provider} ${sparseSpace.model}`);
    const upstream = (await catalog.getLineage(collection)).upstream.map((edge) => edge.upstream);
    expect(upstream).toContainEqual(model);
  });

  test('a run that changes nothing records no model edge; one that only prunes does', async () => {
    const catalog = createLocalCatalog();
    const store = createMemoryStore();
    const embedder = trigramEmbedder(16, 'trigram');
    const model = { kind: 'model' as const, name: fingerprint(await embedder.space()) };
    const collection = { kind: 'collection' as const, name: 'memory/notes' };
    const ledger = createMemoryLedger();
    const once = (docs: SourceDocument[], prune = false) =>
      ingest({ store, collection: 'notes', documents: docs, embedder, splitter, ledger, catalog, prune });
    const modelEdge = async () =>
      (await catalog.getLineage(collection)).upstream.find((edge) => edge.upstream.name === model.name)?.via;

    const first = await once(documents);
    expect(await modelEdge()).toBe(first.runId);
    // A space without kind or revision: the model's properties name only what it has.
    expect((await catalog.getDataset(model))?.properties).toStrictEqual({
      provider: 'test',
      model: 'trigram',
      dimensions: 16,
    });
    const unchanged = await once(documents);
    expect(unchanged.unchanged).toBe(2);
    expect(await modelEdge()).toBe(first.runId);
    expect(await catalog.getRun(unchanged.runId)).toMatchObject({ status: 'succeeded', inputs: [] });
    const pruned = await once(documents.slice(1), true);
    expect(pruned.deleted).toBe(1);
    expect(await modelEdge()).toBe(pruned.runId);
  });

  test('the run is recorded as running first, then as failed with the error and what it wrote', async () => {
    const local = createLocalCatalog();
    const recorded: IngestionRun[] = [];
    const catalog: Catalog = {
      ...local,
      recordRun: async (run, options) => {
        recorded.push(structuredClone(run));
        return local.recordRun(run, options);
      },
    };
    const embedder = trigramEmbedder(16, 'trigram');
    const embed = embedder.embed;
    let calls = 0;
    embedder.embed = async (options) => {
      if (++calls === 2) throw new Error('the model server went away');
      return embed(options);
    };
    const failed = ingest({
      store: createMemoryStore(),
      collection: 'notes',
      documents,
      embedder,
      splitter,
      catalog,
      runId: 'run-1',
      writeBatchChunks: 1,
    });
    await expect(failed).rejects.toThrow('the model server went away');
    expect(recorded.map((run) => run.status)).toEqual(['running', 'failed']);
    expect(recorded[0]).toMatchObject({
      id: 'run-1',
      inputs: [],
      output: { kind: 'collection', name: 'memory/notes' },
    });
    expect(recorded[0]?.finishedAt).toBeUndefined();
    expect(await local.getRun('run-1')).toMatchObject({
      status: 'failed',
      error: 'the model server went away',
      inputs: [{ kind: 'source', name: 'mem://a' }],
      finishedAt: expect.any(String),
    });
  });

  test('a catalog that fails to record the failure does not hide the error that failed the run', async () => {
    const local = createLocalCatalog();
    const catalog: Catalog = {
      ...local,
      recordRun: async (run, options) => {
        if (run.status === 'failed') throw new Error('catalog down');
        return local.recordRun(run, options);
      },
    };
    const embedder = trigramEmbedder(16, 'trigram');
    embedder.embed = async () => {
      throw new Error('embedder down');
    };
    await expect(
      ingest({ store: createMemoryStore(), collection: 'notes', documents, embedder, splitter, catalog }),
    ).rejects.toThrow('embedder down');
  });

  test('a non-Error thrown in a run is recorded as its text', async () => {
    const catalog = createLocalCatalog();
    const embedder = trigramEmbedder(16, 'trigram');
    embedder.embed = async () => {
      throw 'plain text failure';
    };
    await expect(
      ingest({ store: createMemoryStore(), collection: 'notes', documents, embedder, splitter, catalog, runId: 'r' }),
    ).rejects.toBe('plain text failure');
    expect((await catalog.getRun('r'))?.error).toBe('plain text failure');
  });

  test("the run's abort reaches the catalog's calls, and the aborted run is still recorded as failed", async () => {
    const local = createLocalCatalog();
    const controller = new AbortController();
    const catalog: Catalog = {
      ...local,
      registerDataset: async (dataset, options) => {
        controller.abort();
        return local.registerDataset(dataset, options);
      },
    };
    const failed = await ingest({
      store: createMemoryStore(),
      collection: 'notes',
      documents,
      embedder: trigramEmbedder(16, 'trigram'),
      splitter,
      catalog,
      runId: 'aborted',
      abortSignal: controller.signal,
    }).catch((error: unknown) => error);
    expect(AbortedError.isInstance(failed)).toBe(true);
    expect(await local.getRun('aborted')).toMatchObject({ status: 'failed' });
    expect(await local.getDataset({ kind: 'collection', name: 'memory/notes' })).toBeUndefined();
  });
});
