import type { Filter, FilterOperator } from '../filter/ast.js';
import type { EmbeddingSpace } from './fingerprint.js';
import type {
  DenseVectorInput,
  JsonObject,
  Match,
  RecordId,
  SparseVector,
  StoredRecord,
  VectorRecord,
} from './types.js';

export type Metric = 'cosine' | 'dot' | 'euclidean';

export type CollectionConfig = {
  name: string;
  /** Dense dimensions; omit for a sparse-only collection. */
  dimensions?: number;
  /** Dense similarity; default `cosine`. */
  metric?: Metric;
  /** Whether records may carry sparse vectors; default `true`. */
  sparse?: boolean;
  /** The dense embedding space (or its fingerprint string) the collection is built with. */
  embeddingSpace?: EmbeddingSpace | string;
  /** The sparse embedding space (or its fingerprint), e.g. the BM25 encoder's. */
  sparseEmbeddingSpace?: EmbeddingSpace | string;
};

export type CollectionInfo = {
  name: string;
  dimensions: number | undefined;
  metric: Metric;
  sparse: boolean;
  /** Fingerprint of the dense embedding space, if one was given. */
  fingerprint: string | undefined;
  sparseFingerprint: string | undefined;
  count: number;
};

type Common = { collection: string; abortSignal?: AbortSignal };

export type CreateCollectionOptions = CollectionConfig & {
  /**
   * What to do when the collection exists: `error` (default) throws `ConflictError`; `open` returns it
   * after checking that dimensions, metric and fingerprints agree (else a typed mismatch error).
   */
  ifExists?: 'error' | 'open';
  abortSignal?: AbortSignal;
};

export type OpenCollectionOptions = {
  name: string;
  /** If given, must equal the collection's: otherwise `EmbeddingSpaceMismatchError`. */
  embeddingSpace?: EmbeddingSpace | string;
  sparseEmbeddingSpace?: EmbeddingSpace | string;
  abortSignal?: AbortSignal;
};

export type UpsertOptions = Common & { records: readonly VectorRecord[] };
export type GetOptions = Common & { ids: readonly RecordId[]; includeVectors?: boolean };
export type DeleteOptions = Common & ({ ids: readonly RecordId[]; filter?: never } | { filter: Filter; ids?: never });
export type CountOptions = Common & { filter?: Filter };
export type ScrollOptions = Common & {
  filter?: Filter;
  /** Page size, default 100. */
  limit?: number;
  /** `nextCursor` from the previous page. */
  cursor?: string;
  includeVectors?: boolean;
};
export type ScrollPage = { records: StoredRecord[]; nextCursor: string | undefined };

export type SearchOptions = Common & {
  /** Dense query vector. */
  vector?: DenseVectorInput;
  /** Sparse query vector. Given together with `vector`, the search is hybrid. */
  sparseVector?: SparseVector;
  /** Number of matches, default 10. */
  limit?: number;
  filter?: Filter;
  /** Hybrid fusion; only reciprocal-rank fusion for now. `k` defaults to 60. */
  fusion?: { method: 'rrf'; k?: number; prefetch?: number };
  /** Drop matches scoring below this (dense or sparse search only). */
  scoreThreshold?: number;
  includeVectors?: boolean;
};

export type StoreCapabilities = {
  dense: boolean;
  sparse: boolean;
  hybrid: boolean;
  metrics: readonly Metric[];
  filterOperators: readonly FilterOperator[];
  persistent: boolean;
  /** Whether `setAlias`/`deleteAlias`/`listAliases` exist (blue/green switches). */
  aliases: boolean;
};

/** A filter in the backend's own query language, as `explain` shows it. */
export type ExplainedFilter = {
  backend: string;
  /** The native form: a Qdrant filter object, a Milvus expression, SQL with parameters, … */
  native: unknown;
};

export type AliasInfo = { alias: string; collection: string };

/**
 * A vector store: collections of records with a dense and/or sparse vector and a JSON payload.
 * Version 1 of the contract; every adapter passes `storeConformance` from `kumiki/testing`.
 */
export type Store = {
  readonly specificationVersion: 'kumiki.store.v1';
  readonly provider: string;
  readonly capabilities: StoreCapabilities;
  createCollection(options: CreateCollectionOptions): Promise<CollectionInfo>;
  /** Returns a collection's info; `NotFoundError` when missing, `EmbeddingSpaceMismatchError` on another space. */
  openCollection(options: OpenCollectionOptions): Promise<CollectionInfo>;
  listCollections(options?: { abortSignal?: AbortSignal }): Promise<CollectionInfo[]>;
  /** Returns whether the collection existed. */
  deleteCollection(options: { name: string; abortSignal?: AbortSignal }): Promise<boolean>;
  /** Inserts or replaces records by id. Replacing is whole: fields left out are removed. */
  upsert(options: UpsertOptions): Promise<{ upserted: number }>;
  /** Returns the records that exist, in the order asked; missing ids are left out. */
  get(options: GetOptions): Promise<StoredRecord[]>;
  delete(options: DeleteOptions): Promise<{ deleted: number }>;
  count(options: CountOptions): Promise<number>;
  /** Pages through records in id order (integers ascending, then strings by code unit). */
  scroll(options: ScrollOptions): Promise<ScrollPage>;
  search(options: SearchOptions): Promise<Match[]>;
  /** The native form of a filter on this backend; `UnsupportedFilterError` for clauses it cannot express. */
  explain(options: { collection: string; filter: Filter }): Promise<ExplainedFilter>;
  /**
   * Points `alias` at `collection` in one atomic step, creating it or switching it from another
   * collection. Every method that takes a collection name also accepts an alias.
   */
  setAlias?(options: { alias: string; collection: string; abortSignal?: AbortSignal }): Promise<void>;
  /** Returns whether the alias existed. */
  deleteAlias?(options: { alias: string; abortSignal?: AbortSignal }): Promise<boolean>;
  listAliases?(options?: { abortSignal?: AbortSignal }): Promise<AliasInfo[]>;
  dispose(): Promise<void>;
};

export type { JsonObject };
