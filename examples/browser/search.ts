// A page that searches offline: the notes are indexed with BM25 in the browser, nothing is fetched.
// Bundle it (any bundler; kumiki's root entry has no Node imports), e.g.
//   npx esbuild examples/browser/search.ts --bundle --format=esm --outfile=examples/browser/search.js
// and open index.html, which allows only its own scripts (Content-Security-Policy script-src 'self').
import { createBm25Encoder, createMemoryStore, fromStrings, ingest, retrieve } from 'kumiki';

const NOTES = [
  { uri: 'notes/bm25', text: 'BM25 weighs rare terms more than common ones and dampens repeated terms.' },
  { uri: 'notes/rrf', text: 'Reciprocal rank fusion merges the dense and the sparse ranking by rank.' },
  { uri: 'notes/chunks', text: 'Documents are split into chunks that keep their headings and offsets.' },
];

const store = createMemoryStore();
const bm25 = createBm25Encoder();
const ready = ingest({ store, collection: 'notes', documents: fromStrings(NOTES), sparseEmbedder: bm25 });

/** The notes that match `query`, best first. */
export async function search(query: string): Promise<{ source: string; text: string; score: number }[]> {
  await ready;
  if (!query.trim()) return [];
  const hits = await retrieve({ store, collection: 'notes', query, sparseEmbedder: bm25, limit: 3 });
  return hits.map((hit) => ({ source: hit.citation.source, text: hit.text, score: hit.score }));
}

/** The few DOM calls this page makes (the project type-checks without the DOM library). */
type Page = {
  querySelector(selector: string): {
    value: string;
    textContent: string | null;
    addEventListener(type: string, listener: () => void): void;
  } | null;
};
const page = (globalThis as { document?: Page }).document;
const input = page?.querySelector('#query');
const output = page?.querySelector('#results');
if (input && output) {
  input.addEventListener('input', async () => {
    const hits = await search(input.value);
    output.textContent = hits.map((hit) => `${hit.score.toFixed(2)}  ${hit.source}  ${hit.text}`).join('\n');
  });
}
