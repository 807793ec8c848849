// kumiki: the root entry. Runtime-neutral: no `node:` modules and no adapter libraries load from here.

export {
  type ClaimMapping,
  createPolicy,
  type PolicyOptions,
  type PolicyRule,
  principalFromClaims,
} from './auth/policy.js';
export {
  type ScopeCacheOptions,
  type ScopeStoreOptions,
  scopeCache,
  scopeStore,
  tenantIdSpace,
} from './auth/scoped.js';
export { type Bm25Encoder, type Bm25Options, type Bm25State, createBm25Encoder } from './bm25/index.js';
export {
  type CachedEmbedder,
  type EmbeddingCacheOptions,
  type EmbeddingCacheStats,
  withEmbeddingCache,
} from './compose/embedding-cache.js';
export { type ReembedOptions, type ReembedResult, reembed } from './compose/reembed.js';
export {
  type CachedGenerateResult,
  type ResponseCachedRunner,
  type ResponseCacheOptions,
  type ResponseCacheStats,
  withResponseCache,
} from './compose/response-cache.js';
export {
  type CircuitState,
  createRouterRunner,
  type EndpointMetrics,
  type RouterCircuitBreaker,
  type RouterEndpoint,
  type RouterHealthCheck,
  type RouterMetrics,
  type RouterOptions,
  type RouterRunner,
  type RouterStrategy,
} from './compose/router.js';
export {
  type SemanticCachedRunner,
  type SemanticCacheOptions,
  type SemanticCacheStats,
  type SemanticGenerateResult,
  withSemanticCache,
} from './compose/semantic-cache.js';
export type * from './core/auth.js';
export type * from './core/cache.js';
export type * from './core/catalog.js';
export type * from './core/embedder.js';
export {
  AbortedError,
  type ArgumentIssue,
  ConflictError,
  ContextLengthExceededError,
  CorruptDataError,
  DimensionMismatchError,
  EmbeddingSpaceMismatchError,
  ForbiddenError,
  InvalidArgumentError,
  KumikiError,
  type KumikiErrorOptions,
  LockedError,
  type LockHolder,
  MissingDependencyError,
  NotFoundError,
  PartialWriteError,
  RateLimitedError,
  TimeoutError,
  UnauthorizedError,
  UnavailableError,
  UnreadableSourceError,
  UnsupportedFilterError,
  UnsupportedServerError,
} from './core/errors.js';
export {
  type FieldFilter,
  type Filter,
  type FilterOperator,
  type FilterScalar,
  f,
  MAX_FILTER_DEPTH,
  parseFilter,
} from './core/filter.js';
export { diffSpaces, type EmbeddingSpace, fingerprint } from './core/fingerprint.js';
export { DEFAULT_RRF_K, reciprocalRankFusion } from './core/fusion.js';
export { FLOAT32_MAX, MAX_ID_BYTES, MAX_PAYLOAD_DEPTH } from './core/json.js';
export {
  type ChatMessage,
  type ChatRole,
  type FinishReason,
  type GenerateOptions,
  type GenerateResult,
  type ModelDescription,
  type ModelRunner,
  modelFingerprint,
  type OutputSchema,
  type RunnerCapabilities,
  type StreamPart,
  type StructuredOutputMode,
  type ToolCall,
  type ToolDefinition,
  type Usage,
} from './core/runner.js';
export type * from './core/store.js';
export type {
  DenseVectorInput,
  JsonObject,
  JsonValue,
  Match,
  RecordId,
  SparseVector,
  StoredRecord,
  VectorRecord,
} from './core/types.js';
export { type Wrapped, type WrapperMembers, wrapEmbedder, wrapRunner } from './core/wrap.js';
export { evaluateFilter, filterFields } from './filter/evaluate.js';
export {
  type AnswerOptions,
  type AnswerPart,
  type AnswerResult,
  type AnswerSource,
  answer,
  citedSources,
  DEFAULT_MAX_HISTORY_CHARS,
  streamAnswer,
} from './pipeline/answer.js';
export {
  type AnswerResponseOptions,
  type ChatCompletionResponseOptions,
  chatCompletionStreamResponse,
  conversationFromUIMessages,
  type UIMessageResponseOptions,
  uiMessageStreamResponse,
} from './pipeline/answer-http.js';
export { type HtmlText, htmlToText } from './pipeline/html.js';
export {
  type IngestOptions,
  type IngestPhase,
  type IngestProgress,
  type IngestReport,
  ingest,
} from './pipeline/ingest.js';
export { CHUNK_FIELDS } from './pipeline/ingest-catalog.js';
export {
  createMemoryLedger,
  type Ledger,
  type LedgerChanges,
  type LedgerEntry,
  type LedgerMark,
} from './pipeline/ledger.js';
export {
  fromIterable,
  fromStrings,
  guessContentType,
  stringUri,
  type TextItem,
  type TextToDocumentOptions,
  textToDocument,
  textToDocuments,
  type UnsupportedPolicy,
} from './pipeline/loaders.js';
export { type ChunkProvenance, explainChunk } from './pipeline/provenance.js';
export {
  type Citation,
  type Reranker,
  type RetrievalMode,
  type RetrievedChunk,
  type RetrieveOptions,
  retrieve,
} from './pipeline/retrieve.js';
export {
  createRecursiveSplitter,
  DEFAULT_SEPARATORS,
  type RecursiveSplitterOptions,
  type SplitUnit,
} from './pipeline/splitter.js';
export type { Chunk, SkippedSource, SkipReason, SourceDocument, Splitter } from './pipeline/types.js';
export {
  createMemoryStore,
  type FilterPlanNode,
  type KernelChoice,
  type KernelName,
  type MemoryExplainedFilter,
  type MemoryStore,
  type MemoryStoreDescription,
  type MemoryStoreOptions,
  type QueryPlan,
  type SnapshotPersistence,
  type SnapshotReader,
} from './stores/memory/index.js';
