import type { JsonObject } from './types.js';

/**
 * A dataset the catalog knows: a source (file, folder, URL), a collection in a Store, or a model
 * (the embedding model that produced a collection's vectors).
 */
export type DatasetRef = {
  kind: 'source' | 'collection' | 'model';
  /** Stable name: a URI for sources, `store/collection` for collections, the model fingerprint for models. */
  name: string;
};

export type DatasetField = { name: string; type: string; description?: string };

export type DatasetInfo = DatasetRef & {
  description?: string;
  /** Payload fields and their JSON types, described as a schema. */
  fields?: DatasetField[];
  properties?: JsonObject;
};

export type RunStatus = 'running' | 'succeeded' | 'failed';

/** One ingestion run: what went in, how (chunker settings), with which embedding space. */
export type IngestionRun = {
  id: string;
  status: RunStatus;
  startedAt: string;
  finishedAt?: string;
  inputs: DatasetRef[];
  output: DatasetRef;
  /** Fingerprint of the embedding space used (`kmf1:…`). */
  embeddingFingerprint?: string;
  /** Human-readable model id, e.g. `Xenova/all-MiniLM-L6-v2`. */
  embeddingModel?: string;
  /** The chunker's settings, exactly as the ledger records them. */
  chunker?: JsonObject;
  /** Counts and timings, e.g. `{ added, updated, unchanged, deleted, embeddingCalls, durationMs }`. */
  stats?: JsonObject;
  error?: string;
};

export type LineageEdge = { upstream: DatasetRef; downstream: DatasetRef; via?: string };

export type CatalogCapabilities = {
  /** `searchDatasets` is implemented. */
  search: boolean;
  /** Entries survive the process. */
  persistent: boolean;
};

/**
 * What every `Catalog` call takes last. An aborted call rejects with `AbortedError`; a write aborted
 * before it is applied writes nothing (see each catalog's page for what an abort in the middle leaves).
 */
export type CatalogCallOptions = {
  /** Cancels the call: waiting for other writes, and any request in flight to a catalog server. */
  abortSignal?: AbortSignal;
};

/**
 * Records what was ingested, how and with which model. Version 2 of the contract; every catalog
 * passes `catalogConformance` from `kumiki/testing`.
 *
 * Writes are idempotent: registering a dataset again replaces its description, recording a run again
 * (same id) replaces it (a run is recorded when it starts and again when it ends), adding an existing
 * edge is a no-op.
 */
export type Catalog = {
  readonly specificationVersion: 'kumiki.catalog.v2';
  readonly provider: string;
  readonly capabilities: CatalogCapabilities;
  registerDataset(dataset: DatasetInfo, options?: CatalogCallOptions): Promise<void>;
  getDataset(dataset: DatasetRef, options?: CatalogCallOptions): Promise<DatasetInfo | undefined>;
  recordRun(run: IngestionRun, options?: CatalogCallOptions): Promise<void>;
  getRun(id: string, options?: CatalogCallOptions): Promise<IngestionRun | undefined>;
  addLineage(edges: readonly LineageEdge[], options?: CatalogCallOptions): Promise<void>;
  /**
   * Everything upstream of `dataset` (transitively, nearest first, each edge once) and the runs
   * whose output is `dataset`, newest first.
   */
  getLineage(
    dataset: DatasetRef,
    options?: CatalogCallOptions,
  ): Promise<{ upstream: LineageEdge[]; runs: IngestionRun[] }>;
  /** Datasets whose name or description contains the query (case-insensitive). */
  searchDatasets?(
    query: string,
    options?: CatalogCallOptions & { kind?: DatasetRef['kind']; limit?: number },
  ): Promise<DatasetInfo[]>;
  dispose?(): Promise<void>;
};
