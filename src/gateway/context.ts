/**
 * What the gateway's middleware and endpoints share: the per-request state (Hono's `c.get('state')`)
 * and the chat and knowledge models `createGateway` builds from its options.
 */
import type { Principal } from '../core/auth.js';
import type { ModelRunner } from '../core/runner.js';
import type { ModelScheduler } from './admission.js';
import type { GatewayHttpError } from './errors.js';
import type { KnowledgeModel, RetrieveConfig } from './options.js';

export type RequestState = {
  requestId: string;
  /** Unique per request, never from the client: the rate limiter's increment ids. */
  counterId: string;
  route: string;
  startedAt: number;
  secrets: string[];
  principal?: Principal;
  model?: string;
  stream?: boolean;
  tokens: { prompt: number; completion: number; embedding: number };
  error?: GatewayHttpError;
  warnings: string[];
  /** For streamed answers: resolves with the final status when the stream has ended. */
  streamDone?: Promise<number>;
};

export type Env = { Variables: { state: RequestState } };

/** A chat model as served: its runner, limits, slots and whether it is loaded. */
export type ModelEntry = {
  name: string;
  runner: ModelRunner;
  scheduler: ModelScheduler;
  maxTokens: number | undefined;
  timeoutMs: number;
  readiness: { state: 'idle' | 'loading' | 'ready' | 'failed'; error?: string };
};

export type KnowledgeEntry = {
  name: string;
  config: KnowledgeModel;
  model: ModelEntry;
  retrieval: RetrieveConfig;
};

/** What a generation request is answered by. */
export type Target = { name: string; model: ModelEntry; knowledge: KnowledgeEntry | undefined };

/** The options of `retrieve()` for a collection, as a request's caller may search it. */
export type RetrieveFor = (
  state: RequestState,
  config: RetrieveConfig,
) => Omit<RetrieveConfig, 'defaultMode' | 'maxLimit'> & { mode?: RetrieveConfig['defaultMode'] };
