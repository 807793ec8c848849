import type { Filter, FilterOperator } from './filter.js';
import type { EmbeddingSpace } from './fingerprint.js';
import type {
  DenseVectorInput,
  JsonObject,
  JsonValue,
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
  /**
   * A random id the store gave the collection when it was created: a collection deleted and created
   * again under the same name gets a new one. `undefined` on stores (or collections from older
   * versions) that cannot keep one. `ingest` compares it with its ledger.
   */
  epoch?: string;
  /**
   * A counter of the writes (upserts, deletes) the collection has committed, kept with its data, on
   * stores that can keep it atomically (the memory store). `undefined` elsewhere.
   */
  version?: number;
};

/** A small JSON document kept with a collection (`getCollectionState`). */
export type CollectionState = {
  value: JsonValue;
  /** True when no record was written or deleted since the state was set (the state describes the data). */
  current: boolean;
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
  /**
   * The dense query vector's embedding space (or its fingerprint): the search is refused with
   * `EmbeddingSpaceMismatchError` when the collection was built with another one.
   */
  embeddingSpace?: EmbeddingSpace | string;
  /** The same check for the sparse query vector (e.g. the BM25 encoder's space). */
  sparseEmbeddingSpace?: EmbeddingSpace | string;
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
  /**
   * Reads a small JSON document kept with a collection under `key` (e.g. BM25 statistics), or
   * `undefined` when none is set. Only on stores that keep `version` (the memory store).
   */
  getCollectionState?(options: {
    collection: string;
    key: string;
    abortSignal?: AbortSignal;
  }): Promise<CollectionState | undefined>;
  /**
   * Sets (or, with `value: undefined`, removes) that document; it is saved with the collection's data.
   * `version`: the write version the value describes (default: the current one); it is `current` only
   * while the collection is still at that version.
   */
  setCollectionState?(options: {
    collection: string;
    key: string;
    value: JsonValue | undefined;
    version?: number;
    abortSignal?: AbortSignal;
  }): Promise<void>;
  dispose(): Promise<void>;
};

export type { JsonObject };
