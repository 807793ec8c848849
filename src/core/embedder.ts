import type { EmbeddingSpace } from './fingerprint.js';
import type { SparseVector } from './types.js';

/** Queries and documents may be embedded differently (e5/bge prefixes, BM25 weighting). */
export type EmbeddingRole = 'query' | 'document';

export type EmbedOptions = {
  values: readonly string[];
  role: EmbeddingRole;
  abortSignal?: AbortSignal;
};

/** Counts tokens the way the embedding model does, so splitters can size chunks in tokens. */
export type TokenCounter = {
  /** Identifies the tokenizer (e.g. the model id); part of the chunker settings a ledger records. */
  readonly id: string;
  count(text: string): number;
};

export type EmbedResult<TVector> = {
  vectors: TVector[];
  usage?: { tokens: number };
  warnings?: string[];
};

/**
 * Turns text into vectors. Dense embedders yield `Float32Array`s, sparse ones (BM25, SPLADE) yield
 * `{ indices, values }`. Version 1 of the contract.
 */
export type Embedder<TVector = Float32Array> = {
  readonly specificationVersion: 'kumiki.embedder.v1';
  readonly provider: string;
  readonly modelId: string;
  readonly kind: TVector extends Float32Array ? 'dense' : 'sparse';
  /** The most values one `embed` call accepts; callers split larger inputs. */
  readonly maxBatchSize: number;
  readonly supportsParallelCalls: boolean;
  /** Describes the embedding space; may load the model to discover its dimensions. */
  space(): Promise<EmbeddingSpace>;
  embed(options: EmbedOptions): Promise<EmbedResult<TVector>>;
  /** The model's tokenizer, when the adapter has one (may load the model). */
  tokenizer?(): Promise<TokenCounter>;
  dispose?(): Promise<void>;
};

export type DenseEmbedder = Embedder<Float32Array>;
export type SparseEmbedder = Embedder<SparseVector>;
