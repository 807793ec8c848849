// Shared by the server examples: a memory store that serves a snapshot read once per instance
// (Worker isolate, Lambda container, Next.js server), never written back, and the model clients.
import { type Bm25Encoder, createBm25Encoder, createMemoryStore, type Store } from 'kumiki';
import { createOpenAICompatibleEmbedder, type OpenAICompatibleEmbedder } from 'kumiki/embedders/openai-compatible';
import { createOpenAICompatibleRunner, type OpenAICompatibleRunner } from 'kumiki/runners/openai-compatible';

export type ModelSettings = {
  /** An OpenAI-compatible server: OpenAI, vLLM, llama.cpp's server, Ollama, the kumiki gateway. */
  baseURL: string;
  apiKey?: string;
  embeddingModel: string;
  chatModel: string;
};

export type Knowledge = {
  store: Store;
  collection: string;
  embedder: OpenAICompatibleEmbedder;
  bm25: Bm25Encoder;
  runner: OpenAICompatibleRunner;
};

/** A read-only store over the snapshot `load` returns (loaded on first use). */
export function readOnlySnapshot(location: string, load: () => Promise<Uint8Array | undefined>): Store {
  return createMemoryStore({
    persistence: {
      location,
      load,
      save: async () => {
        throw new Error(`${location} is read-only here; build a new snapshot instead`);
      },
    },
    durability: 'manual',
  });
}

export function knowledge(store: Store, settings: ModelSettings, collection = 'docs'): Knowledge {
  const auth = settings.apiKey ? { apiKey: settings.apiKey } : {};
  return {
    store,
    collection,
    embedder: createOpenAICompatibleEmbedder({ baseURL: settings.baseURL, model: settings.embeddingModel, ...auth }),
    bm25: createBm25Encoder(),
    runner: createOpenAICompatibleRunner({ baseURL: settings.baseURL, model: settings.chatModel, ...auth }),
  };
}
