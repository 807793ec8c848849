// A Next.js App Router route handler (app/api/chat/route.ts) streaming answers to useChat:
//   const { messages, sendMessage } = useChat(); // @ai-sdk/react, posts to /api/chat
// Each source the answer cites arrives as a `source-url` or `source-document` part of the message.
// The snapshot (build-snapshot.ts) is fetched once per server instance from KUMIKI_SNAPSHOT_URL (a blob
// store, say). Web-standard only, so `export const runtime = 'edge'` works as well.
import { conversationFromUIMessages, InvalidArgumentError, uiMessageStreamResponse } from 'kumiki';
import { type Knowledge, knowledge, readOnlySnapshot } from './serve-snapshot.js';

let loaded: Knowledge | undefined;

function knowledgeFromEnv(): Knowledge {
  const env = process.env;
  loaded ??= knowledge(
    readOnlySnapshot('KUMIKI_SNAPSHOT_URL', async () => {
      const response = await fetch(env.KUMIKI_SNAPSHOT_URL ?? '');
      if (!response.ok) throw new Error(`KUMIKI_SNAPSHOT_URL answered ${response.status}`);
      return new Uint8Array(await response.arrayBuffer());
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

export async function POST(req: Request): Promise<Response> {
  const { store, collection, embedder, bm25, runner } = knowledgeFromEnv();
  const { messages } = (await req.json()) as { messages: unknown };
  try {
    return await uiMessageStreamResponse({
      messages: conversationFromUIMessages(messages),
      condense: true,
      historyOverflow: 'drop-oldest',
      runner,
      retrieval: { store, collection, embedder, sparseEmbedder: bm25, limit: 4 },
      abortSignal: req.signal,
    });
  } catch (error) {
    if (InvalidArgumentError.isInstance(error)) return Response.json({ error: error.message }, { status: 400 });
    throw error;
  }
}
