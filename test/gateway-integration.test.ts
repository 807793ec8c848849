import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createTokenVerifier } from '../src/auth/oidc/index.js';
import { scopeStore } from '../src/auth/scoped.js';
import { createGateway, type GatewayLogEntry, type ServedGateway, serveGateway } from '../src/gateway/index.js';
import { createLlamaCppRunner, type LlamaCppRunner } from '../src/runners/llama-cpp/index.js';
import { createOpenAICompatibleRunner } from '../src/runners/openai-compatible/index.js';
import { createMemoryStore } from '../src/stores/memory/index.js';
import { type FakeVllm, startFakeVllm } from './helpers/fake-vllm-server.js';
import { type StartedOidcProvider, startOidcProvider } from './helpers/oidc-provider.js';
import { trigramEmbedder } from './helpers/trigram-embedder.mjs';

const MODEL = fileURLToPath(new URL('../../shared/models/stories260K.gguf', import.meta.url));

describe('real OpenID provider → real token → openai client → gateway', () => {
  let provider: StartedOidcProvider;
  let served: ServedGateway;
  let vllm: FakeVllm;
  const logs: GatewayLogEntry[] = [];
  const embedder = trigramEmbedder(64, 'trigram-64');

  beforeAll(async () => {
    provider = await startOidcProvider();
    vllm = await startFakeVllm();
    const verifier = createTokenVerifier({ issuer: provider.issuer, audience: provider.audience });
    const store = createMemoryStore();
    await store.createCollection({ name: 'handbook', dimensions: 64, embeddingSpace: await embedder.space() });
    const docs = [
      { tenant: 'acme', text: 'acme holiday policy: twenty days' },
      { tenant: 'globex', text: 'globex holiday policy: thirty days' },
    ];
    const { vectors } = await embedder.embed({ values: docs.map((doc) => doc.text), role: 'document' });
    // Each tenant's records are written through a scoped store, so they live in the tenant's id space.
    for (const [index, doc] of docs.entries()) {
      const loader = { subject: 'loader', tenant: doc.tenant, roles: [], scopes: [], claims: {} };
      await scopeStore(store, loader).upsert({
        collection: 'handbook',
        records: [
          {
            id: doc.tenant,
            vector: vectors[index] as Float32Array,
            payload: { text: doc.text, source: `${doc.tenant}.md`, chunk: 0, start: 0, end: doc.text.length },
          },
        ],
      });
    }
    const app = createGateway({
      models: { chat: createOpenAICompatibleRunner({ baseURL: vllm.url, model: 'fake-vllm', flavor: 'vllm' }) },
      knowledge: { 'handbook-qa': { model: 'chat', collection: 'handbook', limit: 5 } },
      embedders: { trigram: embedder },
      search: { collections: { handbook: { store, collection: 'handbook', embedder } }, scopeByTenant: true },
      authenticate: verifier.authenticate,
      logger: (entry) => logs.push(entry),
    });
    served = await serveGateway(app);
  });

  afterAll(async () => {
    await served?.close();
    await provider?.close();
    await vllm?.close();
  });

  test('a token from the provider is accepted; search sees only the caller’s tenant', async () => {
    const token = await provider.getToken('service', { scope: 'embed search', resource: provider.audience });
    const client = new OpenAI({ baseURL: `${served.url}/v1`, apiKey: token, maxRetries: 0 });
    const embedding = await client.embeddings.create({ model: 'trigram', input: 'hello', encoding_format: 'float' });
    expect(embedding.data[0]?.embedding).toHaveLength(64);
    const search = async (bearer: string) => {
      const response = await fetch(`${served.url}/v1/search`, {
        method: 'POST',
        headers: { authorization: `Bearer ${bearer}`, 'content-type': 'application/json' },
        body: JSON.stringify({ collection: 'handbook', query: 'holiday policy', limit: 5 }),
      });
      expect(response.status).toBe(200);
      return ((await response.json()) as { data: { id: string; payload: Record<string, unknown> }[] }).data;
    };
    const acme = await search(token);
    expect(acme.map((hit) => hit.id)).toEqual(['acme']);
    expect(acme[0]?.payload.tenant).toBeUndefined();
    const globexToken = await provider.getToken('servicePost', { scope: 'search', resource: provider.audience });
    expect((await search(globexToken)).map((hit) => hit.id)).toEqual(['globex']);
    expect(JSON.stringify(logs)).not.toContain(token);
    expect(logs.find((entry) => entry.route === '/v1/search')?.subject).toBeTruthy();
  });

  test('a knowledge model retrieves only from the caller’s tenant, chat and Responses alike', async () => {
    const ask = async (token: string) => {
      const client = new OpenAI({ baseURL: `${served.url}/v1`, apiKey: token, maxRetries: 0 });
      const chat = (await client.chat.completions.create({
        model: 'handbook-qa',
        messages: [{ role: 'user', content: 'What is the holiday policy?' }],
        max_tokens: 8,
      })) as OpenAI.ChatCompletion & { sources: { source: string }[] };
      const prompt = (vllm.requests.at(-1)?.body as { messages: { content: string }[] } | undefined)?.messages.at(
        -1,
      )?.content;
      const response = (await client.responses.create({
        model: 'handbook-qa',
        input: 'What is the holiday policy?',
        max_output_tokens: 8,
      })) as unknown as { sources: { source: string }[] };
      return {
        sources: chat.sources.map((s) => s.source),
        prompt,
        responseSources: response.sources.map((s) => s.source),
      };
    };
    const acme = await ask(await provider.getToken('service', { scope: 'embed search', resource: provider.audience }));
    expect(acme.sources).toEqual(['acme.md']);
    expect(acme.responseSources).toEqual(['acme.md']);
    expect(acme.prompt).toContain('twenty days');
    expect(acme.prompt).not.toContain('thirty days');
    const globex = await ask(await provider.getToken('servicePost', { scope: 'search', resource: provider.audience }));
    expect(globex.sources).toEqual(['globex.md']);
    expect(globex.prompt).not.toContain('twenty days');
  });

  test('a tampered or missing token → 401 in the OpenAI shape', async () => {
    const tampered = await provider.mint({}, { tamper: true });
    const client = new OpenAI({ baseURL: `${served.url}/v1`, apiKey: tampered, maxRetries: 0 });
    const error = await client.models.list().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.AuthenticationError);
    const body = (error as InstanceType<typeof OpenAI.AuthenticationError>).error as Record<string, unknown>;
    expect(Object.keys(body).sort()).toEqual(['code', 'message', 'param', 'type']);
    expect(JSON.stringify(body)).not.toContain(tampered);
    const none = await fetch(`${served.url}/v1/models`);
    expect(none.status).toBe(401);
    expect(((await none.json()) as { error: { type: string } }).error.type).toBe('invalid_request_error');
    expect(JSON.stringify(logs)).not.toContain(tampered);
  });
});

describe('llama.cpp runner behind the gateway', () => {
  let runner: LlamaCppRunner;
  let served: ServedGateway;

  beforeAll(async () => {
    if (!existsSync(MODEL)) throw new Error(`The test model ${MODEL} is missing (../shared/models/stories260K.gguf).`);
    runner = createLlamaCppRunner({ modelPath: MODEL, threads: 1, contextSize: 512, logLevel: 'error' });
    served = await serveGateway(createGateway({ models: { stories: runner }, allowAnonymous: true }));
  });

  afterAll(async () => {
    await served?.close();
    await runner?.dispose();
  });

  test('chat and streamed chat equal the runner called directly (greedy)', async () => {
    const client = new OpenAI({ baseURL: `${served.url}/v1`, apiKey: 'unused', maxRetries: 0 });
    const messages = [{ role: 'user' as const, content: 'Once upon a time' }];
    const direct = await runner.generate({ messages, maxTokens: 16, temperature: 0, seed: 1 });
    const completion = await client.chat.completions.create({
      model: 'stories',
      messages,
      max_tokens: 16,
      temperature: 0,
      seed: 1,
    });
    expect(completion.choices[0]?.message.content).toBe(direct.text);
    expect(completion.usage?.completion_tokens).toBe(direct.usage?.completionTokens);
    const stream = await client.chat.completions.create({
      model: 'stories',
      messages,
      max_tokens: 16,
      temperature: 0,
      seed: 1,
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = '';
    let usage: OpenAI.CompletionUsage | null | undefined;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? '';
      usage = chunk.usage ?? usage;
    }
    expect(text).toBe(direct.text);
    expect(usage?.completion_tokens).toBe(direct.usage?.completionTokens);
    const ready = await fetch(`${served.url}/readyz`);
    expect(await ready.json()).toEqual({ status: 'ready', models: { stories: 'ok' } });
  });
});
