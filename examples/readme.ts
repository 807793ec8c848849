import { createBm25Encoder, createMemoryStore, f } from 'kumiki';

const docs = [
  { id: 'a', text: 'Reciprocal rank fusion combines dense and sparse rankings.', lang: 'en' },
  { id: 'b', text: 'BM25 weighs rare terms more than common ones.', lang: 'en' },
  { id: 'c', text: 'BM25 gewichtet seltene Begriffe stärker.', lang: 'de' },
];
const bm25 = createBm25Encoder({ corpus: docs.map((d) => d.text) });
const store = createMemoryStore();
await store.createCollection({ name: 'notes', sparse: true, sparseEmbeddingSpace: await bm25.space() });

const { vectors } = await bm25.embed({ values: docs.map((d) => d.text), role: 'document' });
await store.upsert({
  collection: 'notes',
  records: docs.map((d, i) => ({ id: d.id, sparseVector: vectors[i]!, payload: { text: d.text, lang: d.lang } })),
});

const {
  vectors: [query],
} = await bm25.embed({ values: ['how does BM25 weigh terms?'], role: 'query' });
const hits = await store.search({ collection: 'notes', sparseVector: query!, filter: f.eq('lang', 'en'), limit: 3 });
console.log(hits.map((h) => `${h.score.toFixed(2)}  ${h.payload.text}`));
