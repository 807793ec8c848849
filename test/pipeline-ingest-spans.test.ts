import { context, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { expect, test } from 'vitest';
import { createLocalCatalog } from '../src/catalogs/local/index.js';
import { createMemoryStore } from '../src/index.js';
import { ingest } from '../src/pipeline/ingest.js';
import { createRecursiveSplitter } from '../src/pipeline/splitter.js';
import { trigramEmbedder } from './helpers/trigram-embedder.mjs';

test('ingest spans carry the collection, the run, the report, the embedder and the catalog', async () => {
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  trace.setGlobalTracerProvider(provider);
  try {
    const report = await ingest({
      store: createMemoryStore(),
      collection: 'notes',
      documents: [
        { uri: 'mem://a', contentType: 'text/plain', text: 'Lighthouses warn ships.' },
        { uri: 'mem://b', contentType: 'text/plain', text: 'Keepers trim wicks.' },
      ],
      embedder: trigramEmbedder(16, 'trigram'),
      splitter: createRecursiveSplitter({ chunkSize: 100, chunkOverlap: 0, unit: 'characters' }),
      catalog: createLocalCatalog(),
    });
    const spans = exporter.getFinishedSpans();
    const attributes = (name: string) => spans.find((span) => span.name === name)?.attributes;
    expect(attributes('kumiki.ingest')).toEqual({
      'kumiki.collection': 'notes',
      'kumiki.ingest.run': report.runId,
      'kumiki.ingest.added': 2,
      'kumiki.ingest.updated': 0,
      'kumiki.ingest.unchanged': 0,
      'kumiki.ingest.deleted': 0,
      'kumiki.ingest.chunksWritten': 2,
      'kumiki.ingest.chunksDeleted': 0,
      'kumiki.ingest.embeddingCalls': 1,
      'kumiki.ingest.durationMs': report.durationMs,
    });
    expect(attributes('kumiki.store.createCollection')).toEqual({
      'kumiki.store.provider': 'memory',
      'kumiki.collection': 'notes',
    });
    expect(attributes('kumiki.embed')).toEqual({
      'kumiki.embedder.provider': 'test',
      'kumiki.embedder.model': 'trigram',
      'kumiki.embed.count': 2,
    });
    expect(attributes('kumiki.catalog.record')).toEqual({ 'kumiki.catalog.provider': 'local' });
  } finally {
    trace.disable();
    context.disable();
    await provider.shutdown();
  }
});
