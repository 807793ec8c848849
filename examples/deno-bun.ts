// A script for Deno or Bun (or Node): web-standard APIs only.
//   deno run npm:kumiki … / bun run examples/deno-bun.ts
// Ingests notes from strings, finds the best passages with BM25, and streams an OpenAI-format answer
// body to stdout when OPENAI_BASE_URL is set (any OpenAI-compatible server).
import {
  chatCompletionStreamResponse,
  createBm25Encoder,
  createMemoryStore,
  fromStrings,
  ingest,
  retrieve,
} from 'kumiki';
import { createOpenAICompatibleRunner } from 'kumiki/runners/openai-compatible';

const store = createMemoryStore();
const bm25 = createBm25Encoder();
await ingest({
  store,
  collection: 'notes',
  sparseEmbedder: bm25,
  documents: fromStrings([
    { uri: 'notes/workers', text: 'Cloudflare Workers run JavaScript in V8 isolates at the edge.' },
    { uri: 'notes/deno', text: 'Deno runs TypeScript directly and asks for permissions.' },
    { uri: 'notes/bun', text: 'Bun is a JavaScript runtime with a bundler and a test runner built in.' },
  ]),
});

const question = 'Which runtime runs TypeScript directly?';
const hits = await retrieve({ store, collection: 'notes', query: question, sparseEmbedder: bm25, limit: 2 });
console.log(hits.map((hit) => `${hit.citation.source}: ${hit.text}`).join('\n'));

const baseURL = (globalThis as { process?: { env: Record<string, string | undefined> } }).process?.env.OPENAI_BASE_URL;
if (baseURL) {
  const response = await chatCompletionStreamResponse({
    question,
    runner: createOpenAICompatibleRunner({ baseURL, model: 'default' }),
    chunks: hits,
  });
  console.log(await response.text());
}
