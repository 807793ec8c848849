// A Cloudflare Worker: hybrid search (BM25 + dense through an OpenAI-compatible embedder) and answers
// streamed to the AI SDK's useChat, over a memory-store snapshot kept in Workers KV.
//   GET  /search?q=…&lang=en   the best passages, JSON
//   POST /api/chat             { messages } from useChat → the answer as a UI message stream
// wrangler.toml: kv_namespaces = [{ binding = "KUMIKI", id = "…" }], vars OPENAI_BASE_URL,
// EMBEDDING_MODEL, CHAT_MODEL, and the secret OPENAI_API_KEY. Upload the snapshot (build-snapshot.ts)
// with `wrangler kv key put snapshot --path snapshot.bin --binding KUMIKI`.
import { conversationFromUIMessages, f, InvalidArgumentError, retrieve, uiMessageStreamResponse } from 'kumiki';
import { type Knowledge, knowledge, readOnlySnapshot } from './serve-snapshot.js';

export type Env = {
  /** Workers KV (only the call used here). */
  KUMIKI: { get(key: string, type: 'arrayBuffer'): Promise<ArrayBuffer | null> };
  OPENAI_BASE_URL: string;
  OPENAI_API_KEY?: string;
  EMBEDDING_MODEL: string;
  CHAT_MODEL: string;
};

/** One per isolate: the snapshot is read on the first request and reused by the following ones. */
let loaded: Knowledge | undefined;

function knowledgeFor(env: Env): Knowledge {
  loaded ??= knowledge(
    readOnlySnapshot('KV KUMIKI/snapshot', async () => {
      const bytes = await env.KUMIKI.get('snapshot', 'arrayBuffer');
      return bytes ? new Uint8Array(bytes) : undefined;
    }),
    {
      baseURL: env.OPENAI_BASE_URL,
      embeddingModel: env.EMBEDDING_MODEL,
      chatModel: env.CHAT_MODEL,
      ...(env.OPENAI_API_KEY ? { apiKey: env.OPENAI_API_KEY } : {}),
    },
  );
  return loaded;
}

export default {
  async fetch(request: Request, env: Env): Promise<Response> {
    const { store, collection, embedder, bm25, runner } = knowledgeFor(env);
    const url = new URL(request.url);
    try {
      if (request.method === 'GET' && url.pathname === '/search') {
        const lang = url.searchParams.get('lang');
        const hits = await retrieve({
          store,
          collection,
          query: url.searchParams.get('q') ?? '',
          embedder,
          sparseEmbedder: bm25,
          limit: 5,
          ...(lang ? { filter: f.eq('metadata.lang', lang) } : {}),
        });
        return Response.json(hits.map((hit) => ({ score: hit.score, source: hit.citation.source, text: hit.text })));
      }
      if (request.method === 'POST' && url.pathname === '/api/chat') {
        const { messages } = (await request.json()) as { messages: unknown };
        return await uiMessageStreamResponse({
          messages: conversationFromUIMessages(messages),
          runner,
          retrieval: { store, collection, embedder, sparseEmbedder: bm25, limit: 4 },
          abortSignal: request.signal,
        });
      }
      return new Response('not found', { status: 404 });
    } catch (error) {
      if (InvalidArgumentError.isInstance(error)) return Response.json({ error: error.message }, { status: 400 });
      throw error;
    }
  },
};
