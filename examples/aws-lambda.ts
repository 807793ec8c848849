// An AWS Lambda handler behind an API Gateway HTTP API (payload format 2.0) or a function URL:
// POST { "question": "…" } → { answer, citations }. The snapshot (build-snapshot.ts) ships with the
// function as snapshot.bin (or set KUMIKI_SNAPSHOT) and is read once per container.
import { answer, createMemoryStore, InvalidArgumentError } from 'kumiki';
import { createFilePersistence } from 'kumiki/node';
import { type Knowledge, knowledge } from './serve-snapshot.js';

/** The parts of the API Gateway v2 event and result this handler uses. */
export type HttpApiEvent = { body?: string; isBase64Encoded?: boolean; requestContext: { http: { method: string } } };
export type HttpApiResult = { statusCode: number; headers: Record<string, string>; body: string };

let loaded: Knowledge | undefined;

function knowledgeFromEnv(): Knowledge {
  const env = process.env;
  loaded ??= knowledge(
    createMemoryStore({
      persistence: createFilePersistence(env.KUMIKI_SNAPSHOT ?? 'snapshot.bin'),
      durability: 'manual',
    }),
    {
      baseURL: env.OPENAI_BASE_URL ?? 'https://api.openai.com/v1',
      embeddingModel: env.EMBEDDING_MODEL ?? 'text-embedding-3-small',
      chatModel: env.CHAT_MODEL ?? 'gpt-4o-mini',
      ...(env.OPENAI_API_KEY ? { apiKey: env.OPENAI_API_KEY } : {}),
    },
  );
  return loaded;
}

const json = (statusCode: number, body: unknown): HttpApiResult => ({
  statusCode,
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify(body),
});

export async function handler(event: HttpApiEvent): Promise<HttpApiResult> {
  if (event.requestContext.http.method !== 'POST') return json(405, { error: 'POST { "question": "…" }' });
  const { store, collection, embedder, bm25, runner } = knowledgeFromEnv();
  try {
    const raw = event.isBase64Encoded ? atob(event.body ?? '') : (event.body ?? '');
    const { question } = JSON.parse(raw || '{}') as { question?: string };
    const reply = await answer({
      ...(question === undefined ? {} : { question }),
      runner,
      retrieval: { store, collection, embedder, sparseEmbedder: bm25, limit: 4 },
    });
    return json(200, {
      answer: reply.text,
      grounded: reply.grounded,
      citations: reply.citations.map(({ n, source, title }) => ({ n, source, title })),
    });
  } catch (error) {
    if (error instanceof SyntaxError) return json(400, { error: 'the body must be JSON: { "question": "…" }' });
    if (InvalidArgumentError.isInstance(error)) return json(400, { error: error.message });
    throw error;
  }
}
