/**
 * explainChunk: where a stored chunk came from, read from the record and the catalog's record of the
 * ingestion run that wrote it.
 */
import { describe, expect, test } from 'vitest';
import { createLocalCatalog } from '../src/catalogs/local/index.js';
import { createMemoryStore, explainChunk, InvalidArgumentError, NotFoundError } from '../src/index.js';
import { ingest } from '../src/pipeline/ingest.js';
import { createRecursiveSplitter } from '../src/pipeline/splitter.js';
import { trigramEmbedder } from './helpers/trigram-embedder.mjs';

const embedder = trigramEmbedder(32, 'trigram');

async function ingested() {
  const store = createMemoryStore();
  const catalog = createLocalCatalog();
  const report = await ingest({
    store,
    collection: 'kb',
    documents: [
      {
        uri: 'mem://lighthouses',
        title: 'Lighthouses',
        contentType: 'text/markdown',
        text: '# Lamps\n\nA lighthouse warns ships with a bright lamp.',
      },
    ],
    embedder,
    splitter: createRecursiveSplitter({ chunkSize: 500, unit: 'characters' }),
    catalog,
    runId: 'run-1',
  });
  const [record] = (await store.scroll({ collection: 'kb', limit: 10 })).records;
  if (!record) throw new Error('nothing ingested');
  return { store, catalog, report, record };
}

describe('explainChunk', () => {
  test('the chunk with its citation, the run that wrote it (from the catalog), when, and the source hash', async () => {
    const { store, catalog, record } = await ingested();
    const provenance = await explainChunk({ store, collection: 'kb', id: record.id, catalog });
    expect(provenance.chunk).toMatchObject({
      id: record.id,
      score: 1,
      text: record.payload.text,
      citation: { source: 'mem://lighthouses', title: 'Lighthouses', chunk: 0 },
    });
    expect(provenance.runId).toBe('run-1');
    expect(provenance.run).toEqual(await catalog.getRun('run-1'));
    expect(provenance.run?.id).toBe('run-1');
    expect(provenance.ingestedAt).toBe(record.payload.ingestedAt);
    expect(provenance.ingestedAt).toMatch(/^\d{4}-\d\d-\d\dT/);
    expect(provenance.sourceHash).toBe(record.payload.sourceHash);
    expect(provenance.sourceHash).toMatch(/^[0-9a-f]{64}$/);
  });

  test('without a catalog: the run id and times from the record, no run', async () => {
    const { store, record } = await ingested();
    const provenance = await explainChunk({ store, collection: 'kb', id: record.id });
    expect(provenance.run).toBeUndefined();
    expect(provenance.runId).toBe('run-1');
  });

  test('a record written by hand, without those fields (or with other types), explains only itself', async () => {
    const store = createMemoryStore();
    const catalog = createLocalCatalog();
    await store.createCollection({ name: 'raw' });
    await store.upsert({
      collection: 'raw',
      records: [{ id: 'r', payload: { text: 'Hand-made.', source: 'app', runId: 7, ingestedAt: null } }],
    });
    const provenance = await explainChunk({ store, collection: 'raw', id: 'r', catalog });
    expect(provenance).toEqual({
      chunk: {
        id: 'r',
        text: 'Hand-made.',
        score: 1,
        payload: { text: 'Hand-made.', source: 'app', runId: 7, ingestedAt: null },
        citation: { source: 'app', chunk: 0, start: 0, end: 10 },
      },
      run: undefined,
      runId: undefined,
      ingestedAt: undefined,
      sourceHash: undefined,
    });
  });

  test('an id not in the collection is a NotFoundError naming the chunk and the collection', async () => {
    const { store } = await ingested();
    const missing = explainChunk({ store, collection: 'kb', id: 'nope' });
    await expect(missing).rejects.toBeInstanceOf(NotFoundError);
    await expect(missing).rejects.toThrow('chunk "nope" does not exist. It is not in "kb".');
  });

  test('bad options are refused before the store is read', async () => {
    const { store } = await ingested();
    await expect(explainChunk({ store, collection: '', id: 1 })).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(explainChunk({ store, collection: 'kb', id: 1, extra: true } as never)).rejects.toThrow(
      /explainChunk options/,
    );
  });
});
