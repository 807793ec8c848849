/**
 * What `createGateway` builds once from its options and hands to every endpoint's sub-app, with the
 * generation service (`prepare`, `admitted`, `collected`) of generate.ts.
 */
import type { DenseEmbedder } from '../core/embedder.js';
import type { KnowledgeEntry, ModelEntry, RetrieveFor } from './context.js';
import type { Generations } from './generate.js';
import type { GatewayMetrics } from './metrics.js';
import type { Access } from './middleware/access.js';
import type { ReadJson } from './middleware/body.js';
import type { RetrieveConfig } from './options.js';

export type Served = Generations & {
  /** Chat models by name. */
  models: Map<string, ModelEntry>;
  /** Knowledge models by name. */
  knowledge: Map<string, KnowledgeEntry>;
  embedders: Map<string, DenseEmbedder>;
  /** Collections searchable through /v1/search. */
  collections: Map<string, RetrieveConfig>;
  metrics: GatewayMetrics;
  /** Whether /metrics is served. */
  serveMetrics: boolean;
  access: Access;
  readJson: ReadJson;
  retrieveOptions: RetrieveFor;
  /** Loads a model (again, after a failure); `/readyz` reports the state. */
  load: (entry: ModelEntry) => void;
  /** When the gateway was built, in seconds: every model's `created`. */
  createdAt: number;
};
