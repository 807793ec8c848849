// The layer order of src/, the one source for the dependency rules (.dependency-cruiser.mjs, run by
// `npm test`) and for the "Layers" section of docs/architecture.md (scripts/architecture.mjs writes
// and checks it). Layers are listed from the bottom up: a module may import modules of its own unit
// and of every layer below its own, never one above, and never another unit of its own layer.

/** @typedef {{ name: string, path: string }} Unit */
/** @typedef {{ name: string, summary: string, units: Unit[] }} Layer */

/** @type {Layer[]} */
export const LAYERS = [
  {
    name: 'core',
    summary:
      'types, zod schemas, errors, the five interfaces, the filter AST, fingerprints, SHA-256/CRC-32, reciprocal-rank fusion; imports nothing but zod',
    units: [{ name: 'core', path: '^src/core/' }],
  },
  {
    name: 'filter',
    summary: 'the reference evaluator of the filter language; imports nothing but zod and core',
    units: [{ name: 'filter', path: '^src/filter/' }],
  },
  {
    name: 'internal',
    summary:
      'utilities every layer above may use: optional imports, retry/backoff, bounded concurrency, abort races, embedMany, the HTTP transport, structured-output helpers, seeded random numbers; Node file locks and atomic writes in src/internal/node',
    units: [{ name: 'internal', path: '^src/internal/' }],
  },
  {
    name: 'kits',
    summary: 'code shared by the adapters of one kind: the store kernel, catalog validation, llama.cpp models',
    units: [
      { name: 'store kernel', path: '^src/stores/kernel/' },
      { name: 'catalog kit', path: '^src/catalogs/shared\\.ts$' },
      { name: 'llama.cpp kit', path: '^src/llama/' },
    ],
  },
  {
    name: 'adapters',
    summary: 'one folder per backend, one subpath each, libraries imported lazily; no adapter imports another',
    units: [
      { name: 'memory store', path: '^src/stores/memory/' },
      { name: 'pgvector store', path: '^src/stores/pgvector/' },
      { name: 'Qdrant store', path: '^src/stores/qdrant/' },
      { name: 'Milvus store', path: '^src/stores/milvus/' },
      { name: 'BM25 encoder', path: '^src/bm25/' },
      { name: 'transformers.js embedder', path: '^src/embedders/transformers/' },
      { name: 'llama.cpp embedder', path: '^src/embedders/llama-cpp/' },
      { name: 'OpenAI-compatible embedder', path: '^src/embedders/openai-compatible/' },
      { name: 'static embedder', path: '^src/embedders/static/' },
      { name: 'llama.cpp runner', path: '^src/runners/llama-cpp/' },
      { name: 'OpenAI-compatible runner', path: '^src/runners/openai-compatible/' },
      { name: 'keyv cache', path: '^src/caches/keyv/' },
      { name: 'local catalog', path: '^src/catalogs/local/' },
      { name: 'DataHub catalog', path: '^src/catalogs/datahub/' },
    ],
  },
  {
    name: 'compose',
    summary: 'middleware and composition over the interfaces: embedding cache, response caches, router, reembed',
    units: [{ name: 'compose', path: '^src/compose/' }],
  },
  {
    name: 'pipeline, access',
    summary: 'loaders, splitter, ingest and ledgers, retrieve, answer; policies, caller-scoped stores and caches, OIDC',
    units: [
      { name: 'pipeline', path: '^src/pipeline/' },
      { name: 'access', path: '^src/auth/' },
    ],
  },
  {
    name: 'edges',
    summary:
      'the gateway, the conformance kit, evaluation, the Node entry (files, ledgers and catalogs on disk), distributed ingest',
    units: [
      { name: 'gateway', path: '^src/gateway/' },
      { name: 'testing', path: '^src/testing/' },
      { name: 'eval', path: '^src/eval/' },
      { name: 'node', path: '^src/node/' },
      { name: 'distributed', path: '^src/distributed/' },
    ],
  },
  {
    name: 'entries',
    summary: 'the root entry and the CLI',
    units: [
      { name: 'root', path: '^src/index\\.ts$' },
      { name: 'cli', path: '^src/cli/' },
    ],
  },
];

/**
 * Modules that may import Node built-ins (`node:*`). Everything else runs in any JavaScript runtime.
 * @type {{ path: string, why: string }[]}
 */
export const NODE_ONLY = [
  { path: '^src/internal/node/', why: 'file locks and atomic file writes' },
  { path: '^src/node/', why: 'the kumiki/node entry' },
  {
    path: '^src/pipeline/(loaders-node|loaders-files|ledger-file)\\.ts$',
    why: 'loading files and folders, the file ledger',
  },
  { path: '^src/llama/', why: 'node-llama-cpp' },
  { path: '^src/embedders/(llama-cpp|transformers)/', why: 'in-process models' },
  { path: '^src/runners/llama-cpp/', why: 'in-process models' },
  { path: '^src/caches/keyv/', why: 'keyv and Redis' },
  { path: '^src/stores/milvus/', why: 'the Milvus gRPC SDK' },
  { path: '^src/eval/', why: 'reads evaluation data from files' },
  { path: '^src/distributed/', why: 'BullMQ workers and the Redis ledger' },
  { path: '^src/cli/', why: 'the kumiki bin' },
];

/** Packages core and filter may import. */
export const CORE_PACKAGES = ['zod'];
