import { describe, expect, test } from 'vitest';
import {
  createBm25Encoder,
  createMemoryStore,
  type DeleteOptions,
  InvalidArgumentError,
  type Store,
  type UpsertOptions,
} from '../src/index.js';
import { ingest } from '../src/pipeline/ingest.js';
import { createMemoryLedger, type Ledger } from '../src/pipeline/ledger.js';
import { createRecursiveSplitter } from '../src/pipeline/splitter.js';
import type { SourceDocument } from '../src/pipeline/types.js';
import { collectionContents } from './helpers/collection-contents.js';
import { trigramEmbedder } from './helpers/trigram-embedder.mjs';

const TOPICS = ['rivers and their deltas', 'violin making in Cremona', 'steam engines', 'the Dewey decimal system'];

function corpus(count: number, edit: (i: number) => string = () => ''): SourceDocument[] {
  return Array.from({ length: count }, (_, i) => ({
    uri: `mem://doc/${i}`,
    contentType: 'text/markdown',
    text: `# Note ${i}\n\n${Array.from({ length: 6 }, (_, p) => `Paragraph ${p} of note ${i} is about ${TOPICS[(i + p) % 4]}. ${edit(i)}`).join('\n\n')}`,
  }));
}

const splitter = createRecursiveSplitter({ chunkSize: 120, chunkOverlap: 10, unit: 'characters' });

async function run(documents: SourceDocument[], setup: { store?: Store; ledger?: Ledger; prune?: boolean } = {}) {
  const store = setup.store ?? createMemoryStore();
  const ledger = setup.ledger ?? createMemoryLedger();
  const embedder = trigramEmbedder(32, 'trigram');
  const report = await ingest({
    store,
    collection: 'notes',
    documents,
    embedder,
    splitter,
    ledger,
    ...(setup.prune ? { prune: true } : {}),
  });
  return { store, ledger, embedder, report };
}

describe('ingest', () => {
  test('writes every chunk with its source, position and text, and reports what it did', async () => {
    const documents = corpus(5);
    const { store, report, embedder } = await run(documents);
    const expectedChunks = documents.reduce((sum, document) => sum + splitter.split(document).length, 0);
    expect(report).toMatchObject({ added: 5, updated: 0, unchanged: 0, deleted: 0, chunksWritten: expectedChunks });
    expect(report.embeddingCalls).toBe(embedder.calls);
    expect(await store.count({ collection: 'notes' })).toBe(expectedChunks);
    const document = documents[2] as SourceDocument;
    const first = splitter.split(document)[0];
    const page = await store.scroll({
      collection: 'notes',
      filter: { op: 'eq', field: 'source', value: document.uri },
    });
    const chunk0 = page.records.find((r) => r.payload.chunk === 0);
    expect(chunk0?.payload).toMatchObject({
      text: first?.text,
      start: first?.start,
      end: first?.end,
      heading: 'Note 2',
    });
    expect(document.text.slice(chunk0?.payload.start as number, chunk0?.payload.end as number)).toBe(first?.text);
  });

  test('re-ingesting an unchanged corpus makes no embedding call and writes nothing', async () => {
    const documents = corpus(20);
    const first = await run(documents);
    const writes: string[] = [];
    const watched: Store = {
      ...first.store,
      upsert: (o: UpsertOptions) => {
        writes.push('upsert');
        return first.store.upsert(o);
      },
      delete: (o: DeleteOptions) => {
        writes.push('delete');
        return first.store.delete(o);
      },
    };
    const again = await run(documents, { store: watched, ledger: first.ledger });
    expect(again.embedder.calls).toBe(0);
    expect(again.report).toMatchObject({ added: 0, updated: 0, unchanged: 20, embeddingCalls: 0, chunksWritten: 0 });
    expect(writes).toEqual([]);
  });

  test('a changed source replaces its chunks: new ones are stored before the old ones are deleted', async () => {
    const before = corpus(4);
    const first = await run(before);
    const oldIds = (
      await first.store.scroll({ collection: 'notes', filter: { op: 'eq', field: 'source', value: 'mem://doc/1' } })
    ).records.map((r) => r.id);
    const after = corpus(4, (i) => (i === 1 ? 'Edited.' : ''));
    const log: string[] = [];
    const watched: Store = {
      ...first.store,
      upsert: (o: UpsertOptions) => {
        log.push(`upsert:${o.records.length}`);
        return first.store.upsert(o);
      },
      delete: (o: DeleteOptions) => {
        log.push(`delete:${JSON.stringify(o.ids)}`);
        return first.store.delete(o);
      },
    };
    const second = await run(after, { store: watched, ledger: first.ledger });
    expect(second.report).toMatchObject({ added: 0, updated: 1, unchanged: 3, chunksDeleted: oldIds.length });
    expect(log[0]).toMatch(/^upsert:/);
    expect(log[1]).toBe(`delete:${JSON.stringify(oldIds)}`);
    // The collection is exactly what a fresh ingest of the new corpus gives.
    const fresh = await run(after);
    expect(await collectionContents(first.store, 'notes')).toEqual(await collectionContents(fresh.store, 'notes'));
  });

  test('prune removes the chunks of sources that vanished, and only when asked', async () => {
    const first = await run(corpus(5));
    const fewer = corpus(5).filter((d) => d.uri !== 'mem://doc/3');
    const kept = await run(fewer, { store: first.store, ledger: first.ledger });
    expect(kept.report.deleted).toBe(0);
    expect(
      await first.store.count({ collection: 'notes', filter: { op: 'eq', field: 'source', value: 'mem://doc/3' } }),
    ).toBeGreaterThan(0);
    const pruned = await run(fewer, { store: first.store, ledger: first.ledger, prune: true });
    expect(pruned.report).toMatchObject({ deleted: 1, unchanged: 4, embeddingCalls: 0 });
    expect(await collectionContents(first.store, 'notes')).toEqual(
      await collectionContents((await run(fewer)).store, 'notes'),
    );
    expect((await first.ledger.entries()).map((e) => e.source).sort()).toEqual(fewer.map((d) => d.uri).sort());
  });

  test('changing the chunker settings or the model re-ingests every source', async () => {
    const documents = corpus(3);
    const first = await run(documents);
    const resized = await ingest({
      store: first.store,
      collection: 'notes',
      documents,
      embedder: trigramEmbedder(32, 'trigram'),
      splitter: createRecursiveSplitter({ chunkSize: 200, chunkOverlap: 0, unit: 'characters' }),
      ledger: first.ledger,
    });
    expect(resized).toMatchObject({ updated: 3, unchanged: 0 });
    await expect(
      ingest({
        store: first.store,
        collection: 'notes',
        documents,
        embedder: trigramEmbedder(32, 'other'),
        splitter,
        ledger: first.ledger,
      }),
    ).rejects.toThrow(/embedding space|fingerprint/i);
  });

  const failurePoints = [
    'embed call 3 throws',
    'upsert 2 writes, then throws',
    'delete 1 deletes, then throws',
    'ledger write 4 throws',
    'ledger write 5 lands, then throws',
  ] as const;
  test.each(failurePoints)('an ingest that fails (%s) leaves nothing a re-run does not fix', async (point) => {
    const store = createMemoryStore();
    const ledger = createMemoryLedger();
    // A first version, so that the failing run replaces chunks and has stale ones to delete.
    await run(
      corpus(12, (i) => (i % 2 === 0 ? 'First version.' : '')),
      { store, ledger },
    );
    const counts = { embed: 0, upsert: 0, delete: 0, ledger: 0 };
    const boom = () => new Error(`injected failure: ${point}`);
    const failing = trigramEmbedder(32, 'trigram');
    const embed = failing.embed;
    failing.embed = async (options) => {
      if (++counts.embed === 3 && point.startsWith('embed')) throw boom();
      return embed(options);
    };
    const faultyStore: Store = {
      ...store,
      upsert: async (options: UpsertOptions) => {
        const result = await store.upsert(options);
        if (++counts.upsert === 2 && point.startsWith('upsert')) throw boom();
        return result;
      },
      delete: async (options: DeleteOptions) => {
        const result = await store.delete(options);
        if (++counts.delete === 1 && point.startsWith('delete')) throw boom();
        return result;
      },
    };
    const faultyLedger: Ledger = {
      ...ledger,
      entries: () => ledger.entries(),
      write: async (changes) => {
        counts.ledger++;
        if (counts.ledger === 4 && point === 'ledger write 4 throws') throw boom();
        await ledger.write(changes);
        if (counts.ledger === 5 && point.startsWith('ledger write 5')) throw boom();
      },
    };
    await expect(
      ingest({
        store: faultyStore,
        collection: 'notes',
        documents: corpus(12, (i) => (i % 3 === 0 ? 'Second version.' : '')),
        embedder: failing,
        splitter,
        ledger: faultyLedger,
        batchSize: 4,
        writeBatchChunks: 8,
      }),
    ).rejects.toThrow('injected failure');
    // The corpus changes again before the re-run: leftovers of the failed version must go too.
    const edited = corpus(12, (i) => (i % 4 === 0 ? 'Third version.' : ''));
    await run(edited, { store, ledger });
    expect(await collectionContents(store, 'notes')).toEqual(
      await collectionContents((await run(edited)).store, 'notes'),
    );
    for (const entry of await ledger.entries()) {
      expect(entry.pending).toBeUndefined();
      expect(entry.stale).toBeUndefined();
    }
  });

  test('keeps BM25 statistics in step with what is stored, for sparse and hybrid collections', async () => {
    const bm25 = createBm25Encoder();
    const store = createMemoryStore();
    const ledger = createMemoryLedger();
    const documents = corpus(6);
    await ingest({
      store,
      collection: 'hybrid',
      documents,
      embedder: trigramEmbedder(32, 'trigram'),
      sparseEmbedder: bm25,
      splitter,
      ledger,
    });
    const chunks = await store.count({ collection: 'hybrid' });
    expect(bm25.stats().documentCount).toBe(chunks);
    const edited = corpus(6, (i) => (i === 0 ? 'A new sentence about lighthouses.' : ''));
    await ingest({
      store,
      collection: 'hybrid',
      documents: edited.slice(1),
      sparseEmbedder: bm25,
      embedder: trigramEmbedder(32, 'trigram'),
      splitter,
      ledger,
      prune: true,
    });
    const reference = createBm25Encoder();
    const all = await store.scroll({ collection: 'hybrid', limit: 1000 });
    reference.addDocuments(all.records.map((r) => String(r.payload.text)));
    expect(bm25.stats()).toEqual(reference.stats());
  });

  test('bad input is refused with errors naming the problem', async () => {
    const store = createMemoryStore();
    const twice = [...corpus(2), corpus(1)[0] as SourceDocument];
    await expect(
      ingest({ store, collection: 'c', documents: twice, sparseEmbedder: createBm25Encoder() }),
    ).rejects.toThrow(/appears twice/);
    await expect(ingest({ store, collection: 'c', documents: corpus(1) } as never)).rejects.toBeInstanceOf(
      InvalidArgumentError,
    );
    await expect(
      ingest({
        store,
        collection: 'c',
        documents: [{ uri: '', text: 'x', contentType: 'text/plain' }],
        sparseEmbedder: createBm25Encoder(),
      }),
    ).rejects.toThrow(/uri must not be empty/);
  });
});
