import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import type { Catalog } from '../core/catalog.js';
import type { DenseEmbedder } from '../core/embedder.js';
import { InvalidArgumentError, NotFoundError } from '../core/errors.js';
import type { ModelRunner } from '../core/runner.js';
import type { Store } from '../core/store.js';

const secretEnv = z
  .string()
  .regex(
    /^[A-Za-z_][A-Za-z0-9_]*$/,
    'must be the NAME of an environment variable (secrets never go in the config file)',
  );

const storeSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('memory') }).strict(),
  z.object({ kind: z.literal('qdrant'), url: z.url(), apiKeyEnv: secretEnv.optional() }).strict(),
  z.object({ kind: z.literal('milvus'), address: z.string().min(1), tokenEnv: secretEnv.optional() }).strict(),
  z.object({ kind: z.literal('pgvector'), connectionStringEnv: secretEnv }).strict(),
]);

const embedderSchema = z.discriminatedUnion('kind', [
  z
    .object({
      kind: z.literal('transformers'),
      model: z.string().min(1),
      offline: z.boolean().optional(),
      queryPrefix: z.string().optional(),
      documentPrefix: z.string().optional(),
    })
    .strict(),
  z
    .object({ kind: z.literal('llama-cpp'), modelPath: z.string().min(1), threads: z.number().int().min(1).default(1) })
    .strict(),
  z
    .object({
      kind: z.literal('openai-compatible'),
      baseURL: z.url(),
      model: z.string().min(1),
      apiKeyEnv: secretEnv.optional(),
    })
    .strict(),
]);

const runnerSchema = z.discriminatedUnion('kind', [
  z
    .object({
      kind: z.literal('llama-cpp'),
      modelPath: z.string().min(1),
      threads: z.number().int().min(1).default(1),
      contextSize: z.number().int().min(256).default(2048),
    })
    .strict(),
  z
    .object({
      kind: z.literal('openai-compatible'),
      baseURL: z.url(),
      model: z.string().min(1),
      apiKeyEnv: secretEnv.optional(),
      flavor: z.enum(['vllm', 'openai', 'llama-server', 'ollama']).optional(),
    })
    .strict(),
]);

/** `kumiki ingest --distributed` and `kumiki worker` (docs/distributed.md). */
const distributedSchema = z
  .object({
    /** Environment variable holding the Redis/Valkey URL (`redis://…`, `rediss://…`). */
    redisUrlEnv: secretEnv,
    namespace: z.string().min(1).optional(),
    queue: z.string().min(1).optional(),
    /** Attempts per job before it is parked. */
    maxAttempts: z.number().int().min(1).max(100).optional(),
    /** Jobs queued or being written at once (backpressure). */
    maxOpenJobs: z.number().int().min(1).optional(),
    /** Chunks per job. */
    jobChunks: z.number().int().min(1).optional(),
    /** Lease of a job (workers) and of the run (coordinator), in ms. */
    leaseMs: z.number().int().min(100).optional(),
    /** Jobs each worker writes at once. */
    workerJobs: z.number().int().min(1).max(256).optional(),
    /** Texts embedded per second across all workers (a token bucket in Redis). */
    embeddingRate: z
      .object({ perSecond: z.number().positive(), burst: z.number().min(1).optional() })
      .strict()
      .optional(),
  })
  .strict();

const catalogSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('local') }).strict(),
  z.object({ kind: z.literal('datahub'), url: z.url(), tokenEnv: secretEnv.optional() }).strict(),
  z.object({ kind: z.literal('none') }).strict(),
]);

export const configSchema = z
  .object({
    /** Folder for the embedded store, the ledger and the local catalog. Relative to the config file. */
    dataDir: z.string().min(1).default('.kumiki'),
    collection: z
      .string()
      .regex(/^[A-Za-z0-9_-]+$/, 'collection must be letters, digits, `_` or `-`')
      .default('docs'),
    store: storeSchema.default({ kind: 'memory' }),
    /** A dense embedding model; without one, retrieval is lexical (BM25) only. */
    embedder: embedderSchema.optional(),
    /** Keep a BM25 index beside the dense vectors (hybrid search); default true. */
    lexical: z.boolean().default(true),
    splitter: z
      .object({
        chunkSize: z.number().int().min(16).optional(),
        chunkOverlap: z.number().int().min(0).optional(),
        unit: z.enum(['tokens', 'characters']).optional(),
      })
      .strict()
      .optional(),
    runner: runnerSchema.optional(),
    catalog: catalogSchema.default({ kind: 'local' }),
    distributed: distributedSchema.optional(),
    retrieval: z
      .object({
        limit: z.number().int().min(1).max(100).default(5),
        mmr: z
          .object({ lambda: z.number().min(0).max(1) })
          .strict()
          .optional(),
        minScore: z.number().optional(),
      })
      .strict()
      .default({ limit: 5 }),
    gateway: z
      .object({
        hostname: z.string().default('127.0.0.1'),
        port: z.number().int().min(0).max(65535).default(8080),
        /** OIDC access-token verification; without it the gateway serves anonymous callers (loopback only). */
        auth: z
          .object({ issuer: z.url(), audience: z.string().min(1), requiredScopes: z.array(z.string()).optional() })
          .strict()
          .optional(),
        requestsPerMinute: z.number().int().min(1).optional(),
        /** Keep rate-limit counters in Redis/Valkey (shared by every gateway instance); default in memory. */
        redisUrlEnv: secretEnv.optional(),
      })
      .strict()
      .default({ hostname: '127.0.0.1', port: 8080 }),
  })
  .strict()
  .refine((config) => config.embedder || config.lexical, {
    message: 'with lexical: false an embedder is required (nothing would index the text)',
    path: ['lexical'],
  });

export type KumikiConfig = z.output<typeof configSchema>;
export type ConfigOverrides = {
  dataDir?: string;
  collection?: string;
  modelPath?: string;
  modelURL?: string;
  modelName?: string;
};

export const CONFIG_FILE = 'kumiki.config.json';

/**
 * Reads `kumiki.config.json` (or `path`), validates it and resolves `dataDir` against the file's folder.
 * Without a file the defaults apply: the embedded store in `.kumiki`, BM25, the local catalog, no model.
 */
export async function loadConfig(path: string | undefined, overrides: ConfigOverrides = {}): Promise<KumikiConfig> {
  const file = resolve(path ?? CONFIG_FILE);
  let raw: unknown = {};
  try {
    raw = JSON.parse(await readFile(file, 'utf8'));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' && path !== undefined) throw new NotFoundError({ resource: 'config file', name: file });
    if (code !== 'ENOENT') {
      throw new InvalidArgumentError({
        argument: 'config',
        issues: [{ path: '', message: `${file} is not valid JSON: ${(error as Error).message}` }],
      });
    }
  }
  const parsed = configSchema.safeParse(raw);
  if (!parsed.success) {
    throw new InvalidArgumentError({
      argument: `config ${file}`,
      issues: parsed.error.issues.map((issue) => ({ path: issue.path.join('.'), message: issue.message })),
    });
  }
  const config = parsed.data;
  const base = resolve(file, '..');
  config.dataDir = resolve(base, overrides.dataDir ?? config.dataDir);
  if (overrides.collection) config.collection = overrides.collection;
  if (overrides.modelPath)
    config.runner = { kind: 'llama-cpp', modelPath: resolve(overrides.modelPath), threads: 1, contextSize: 2048 };
  if (overrides.modelURL) {
    config.runner = { kind: 'openai-compatible', baseURL: overrides.modelURL, model: overrides.modelName ?? 'default' };
  }
  return config;
}

export const secret = (name: string | undefined): string | undefined => {
  if (name === undefined) return undefined;
  const value = process.env[name];
  if (!value) {
    throw new InvalidArgumentError({
      argument: 'environment',
      issues: [{ path: name, message: `the config names environment variable ${name}, which is not set` }],
    });
  }
  return value;
};

export const dataFile = (config: KumikiConfig, name: string) => join(config.dataDir, name);

/** Builds the configured Store; adapter libraries load only when configured. */
export async function openStore(config: KumikiConfig): Promise<Store> {
  const store = config.store;
  switch (store.kind) {
    case 'memory': {
      const [{ createMemoryStore }, { createFilePersistence }] = await Promise.all([
        import('../stores/memory/index.js'),
        import('../node/snapshot-file.js'),
      ]);
      return createMemoryStore({ persistence: createFilePersistence(dataFile(config, 'store.snapshot')) });
    }
    case 'qdrant': {
      const { createQdrantStore } = await import('../stores/qdrant/index.js');
      const apiKey = secret(store.apiKeyEnv);
      return createQdrantStore({ url: store.url, ...(apiKey ? { apiKey } : {}) });
    }
    case 'milvus': {
      const { createMilvusStore } = await import('../stores/milvus/index.js');
      const token = secret(store.tokenEnv);
      return createMilvusStore({ address: store.address, ...(token ? { token } : {}) });
    }
    case 'pgvector': {
      const { createPgvectorStore } = await import('../stores/pgvector/index.js');
      return createPgvectorStore({ connectionString: secret(store.connectionStringEnv) as string });
    }
  }
}

export async function openEmbedder(config: KumikiConfig): Promise<DenseEmbedder | undefined> {
  const embedder = config.embedder;
  if (!embedder) return undefined;
  switch (embedder.kind) {
    case 'transformers': {
      const { createTransformersEmbedder } = await import('../embedders/transformers/index.js');
      const { kind: _kind, ...options } = embedder;
      return createTransformersEmbedder(options);
    }
    case 'llama-cpp': {
      const { createLlamaCppEmbedder } = await import('../embedders/llama-cpp/index.js');
      return createLlamaCppEmbedder({ modelPath: resolve(embedder.modelPath), threads: embedder.threads });
    }
    case 'openai-compatible': {
      const { createOpenAICompatibleEmbedder } = await import('../embedders/openai-compatible/index.js');
      const apiKey = secret(embedder.apiKeyEnv);
      return createOpenAICompatibleEmbedder({
        baseURL: embedder.baseURL,
        model: embedder.model,
        ...(apiKey ? { apiKey } : {}),
      });
    }
  }
}

export async function openRunner(config: KumikiConfig): Promise<ModelRunner | undefined> {
  const runner = config.runner;
  if (!runner) return undefined;
  switch (runner.kind) {
    case 'llama-cpp': {
      const { createLlamaCppRunner } = await import('../runners/llama-cpp/index.js');
      return createLlamaCppRunner({
        modelPath: resolve(runner.modelPath),
        threads: runner.threads,
        contextSize: runner.contextSize,
        logLevel: 'error',
      });
    }
    case 'openai-compatible': {
      const { createOpenAICompatibleRunner } = await import('../runners/openai-compatible/index.js');
      const apiKey = secret(runner.apiKeyEnv);
      return createOpenAICompatibleRunner({
        baseURL: runner.baseURL,
        model: runner.model,
        ...(apiKey ? { apiKey } : {}),
        ...(runner.flavor ? { flavor: runner.flavor } : {}),
      });
    }
  }
}

export async function openCatalog(config: KumikiConfig): Promise<Catalog | undefined> {
  const catalog = config.catalog;
  switch (catalog.kind) {
    case 'none':
      return undefined;
    case 'local': {
      const { createFileCatalog } = await import('../node/catalog-file.js');
      return createFileCatalog(dataFile(config, 'catalog.kcat'));
    }
    case 'datahub': {
      const { createDataHubCatalog } = await import('../catalogs/datahub/index.js');
      const token = secret(catalog.tokenEnv);
      return createDataHubCatalog({ url: catalog.url, ...(token ? { token } : {}) });
    }
  }
}
