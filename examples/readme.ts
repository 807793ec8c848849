import { createBm25Encoder, createMemoryStore, f, fromStrings, ingest, retrieve } from 'kumiki';

const store = createMemoryStore();
const bm25 = createBm25Encoder(); // lexical retrieval, no model download; add `embedder` for dense or hybrid
const notes = fromStrings([
  { uri: 'notes/rrf', text: 'Reciprocal rank fusion combines dense and sparse rankings.', metadata: { lang: 'en' } },
  { uri: 'notes/bm25', text: 'BM25 weighs rare terms more than common ones.', metadata: { lang: 'en' } },
  { uri: 'notes/bm25-de', text: 'BM25 gewichtet seltene Begriffe stärker.', metadata: { lang: 'de' } },
]);
const report = await ingest({ store, collection: 'notes', documents: notes, sparseEmbedder: bm25 });
console.log(`${report.added} sources added, ${report.chunksWritten} chunks written`);

const hits = await retrieve({
  store,
  collection: 'notes',
  query: 'how does BM25 weigh terms?',
  sparseEmbedder: bm25,
  filter: f.eq('metadata.lang', 'en'),
});
console.log(hits.map((hit) => `${hit.score.toFixed(2)}  ${hit.citation.source}  ${hit.text}`));
