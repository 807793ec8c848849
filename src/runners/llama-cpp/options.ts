/** The llama.cpp runner's options, their schema and defaults, and the runner's public types. */
import type { ChatWrapper, Llama, LlamaContext, LlamaModel } from 'node-llama-cpp';
import * as z from 'zod';
import type { ModelRunner } from '../../core/runner.js';
import { type LlamaGpu, type LlamaGpuLayers, type LlamaLogLevel, llamaLoadShape } from '../../llama/registry.js';
import { checkModelSource, type LlamaModelSource, modelSourceShape } from '../../llama/resolve.js';

export const COMPONENT = 'llama-cpp';
/** Default context cap: the model's training context, but no more than this many tokens. */
export const DEFAULT_CONTEXT_CAP = 2048;
export const DEFAULT_MAX_TOKENS = 256;
export const DEFAULT_TEMPERATURE = 0.8;

export type LlamaCppRunnerOptions = LlamaModelSource & {
  /**
   * CPU threads for this runner's context. Default 1. Always explicit: node-llama-cpp's own default
   * oversubscribes small machines and runs hundreds of times slower.
   */
  threads?: number;
  /** Tokens each request may fill (prompt plus answer). Default: the model's training context, at most 2,048. */
  contextSize?: number;
  /** Tokens llama.cpp evaluates in one batch. Default: node-llama-cpp's (512, at most contextSize). */
  batchSize?: number;
  /**
   * Requests that run at the same time, each on its own llama.cpp context (with one sequence); more
   * wait in line. Default 1. Separate contexts rather than one context with several sequences: in a
   * shared KV cache a request's sampled text depends on what its neighbours occupy, which breaks seeds.
   */
  sequences?: number;
  /** Default `maxTokens` of a call. Default 256. */
  maxTokens?: number;
  /** Default `temperature` of a call (0 = always the most likely token). Default 0.8. */
  temperature?: number;
  /** Default `topP` of a call. Default: off (1). */
  topP?: number;
  /** Sample only from the K most likely tokens (0 = all). Default: node-llama-cpp's (40). */
  topK?: number;
  /** The description's revision. Default: `sha256:` + the SHA-256 of the GGUF file's bytes. */
  revision?: string;
  /** Default `false` (CPU only). `'auto'` probes CUDA, Vulkan and Metal binaries on first use. */
  gpu?: LlamaGpu;
  /** Layers to offload when `gpu` is set: a count, `'max'` or `'auto'` (default). */
  gpuLayers?: LlamaGpuLayers;
  /** llama.cpp's log threshold. Default `'warn'`. */
  logLevel?: LlamaLogLevel;
  /**
   * A chat longer than the context (with the tokens asked for its answer): `'error'` (default)
   * refuses it with `ContextLengthExceededError`; `'drop-oldest-messages'` leaves out the oldest
   * messages other than system messages and the last one until it fits, and says so in `warnings`.
   */
  contextOverflow?: 'error' | 'drop-oldest-messages';
};

/** The node-llama-cpp objects behind a runner, for what kumiki does not wrap. */
export type LlamaCppRunnerNative = {
  llama: Llama;
  /** Shared with every other embedder and runner on the same GGUF file: do not dispose it. */
  model: LlamaModel;
  /** This runner's own contexts (`sequences` of them), each lent to one request at a time. */
  contexts: LlamaContext[];
  /** The chat template messages are rendered with. */
  chatWrapper: ChatWrapper;
};

export interface LlamaCppRunner extends ModelRunner {
  readonly provider: 'llama-cpp';
  /** The GGUF file name. */
  readonly modelId: string;
  /** Requests that run at the same time (the `sequences` option); the gateway gives the model as many slots. */
  readonly sequences: number;
  /** Loads the model (once, shared) and creates this runner's contexts, if not done yet. */
  native(): Promise<LlamaCppRunnerNative>;
  /** Waits for running requests, closes the contexts and releases the shared model. Idempotent. */
  dispose(): Promise<void>;
}

const positiveInt = (name: string) => z.number().int(`${name} must be an integer`).min(1, `${name} must be at least 1`);

export const optionsSchema = z
  .object({
    ...modelSourceShape,
    threads: positiveInt('threads').optional(),
    contextSize: z.number().int('contextSize must be an integer').min(16, 'contextSize must be at least 16').optional(),
    batchSize: z.number().int('batchSize must be an integer').min(8, 'batchSize must be at least 8').optional(),
    sequences: positiveInt('sequences').max(64, 'sequences must be at most 64').optional(),
    maxTokens: positiveInt('maxTokens').optional(),
    temperature: z.number().min(0, 'temperature must be at least 0').max(2, 'temperature must be at most 2').optional(),
    topP: z.number().gt(0, 'topP must be above 0').max(1, 'topP must be at most 1').optional(),
    topK: z.number().int('topK must be an integer').nonnegative('topK must not be negative').optional(),
    contextOverflow: z
      .enum(['error', 'drop-oldest-messages'], { error: "contextOverflow must be 'error' or 'drop-oldest-messages'" })
      .optional(),
    ...llamaLoadShape,
  })
  .strict()
  .superRefine(checkModelSource);

/** The runner's options once validated. */
export type ParsedOptions = z.output<typeof optionsSchema>;
