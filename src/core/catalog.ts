import type { JsonObject } from './types.js';

/** A dataset the catalog knows: a source (file, folder, URL) or a collection in a Store. */
export type DatasetRef = {
  /** `source` or `collection`. */
  kind: 'source' | 'collection';
  /** Stable name: a URI for sources, `store/collection` for collections. */
  name: string;
};

export type DatasetInfo = DatasetRef & {
  description?: string;
  /** Payload fields and their JSON types, described as a schema. */
  fields?: { name: string; type: string; description?: string }[];
  properties?: JsonObject;
};

/** One ingestion run: what went in, how (chunker settings), with which embedding space. */
export type IngestionRun = {
  id: string;
  startedAt: string;
  finishedAt?: string;
  inputs: DatasetRef[];
  output: DatasetRef;
  /** Fingerprint of the embedding space used. */
  embeddingFingerprint?: string;
  embeddingModel?: string;
  chunker?: JsonObject;
  stats?: JsonObject;
};

export type LineageEdge = { upstream: DatasetRef; downstream: DatasetRef; via?: string };

export type CatalogCapabilities = { search: boolean; persistent: boolean };

/** Records what was ingested, how and with which model. Version 1 of the contract. */
export type Catalog = {
  readonly specificationVersion: 'kumiki.catalog.v1';
  readonly provider: string;
  readonly capabilities: CatalogCapabilities;
  registerDataset(dataset: DatasetInfo): Promise<void>;
  recordRun(run: IngestionRun): Promise<void>;
  addLineage(edges: readonly LineageEdge[]): Promise<void>;
  /** Datasets upstream of `dataset`, nearest first, with the runs that produced it. */
  getLineage(dataset: DatasetRef): Promise<{ upstream: LineageEdge[]; runs: IngestionRun[] }>;
  dispose?(): Promise<void>;
};
