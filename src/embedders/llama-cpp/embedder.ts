import { basename, resolve } from 'node:path';
import type { Llama, LlamaEmbeddingContext, LlamaModel, Token } from 'node-llama-cpp';
import { z } from 'zod';
import type { DenseEmbedder, EmbedOptions, EmbedResult, TokenCounter } from '../../core/embedder.js';
import { ConflictError, DimensionMismatchError, InvalidArgumentError, throwIfAborted } from '../../core/errors.js';
import type { EmbeddingSpace } from '../../core/fingerprint.js';
import { parseArgument } from '../../core/validate.js';
import { raceAbort } from '../../internal/abort.js';
import { lazy } from '../../internal/optional.js';
import { translateLlamaError } from '../../llama/errors.js';
import {
  acquireLlamaModel,
  ggufRevision,
  type LlamaGpu,
  type LlamaGpuLayers,
  type LlamaLogLevel,
  type LlamaModelLease,
  llamaLoadShape,
  loadNodeLlamaCpp,
} from '../../llama/registry.js';
import {
  checkModelSource,
  type LlamaModelSource,
  modelSourceShape,
  resolveLlamaModelFile,
} from '../../llama/resolve.js';

const COMPONENT = 'llama-cpp';
const DEFAULT_MAX_BATCH_SIZE = 256;
const MAX_BATCH_SIZE_LIMIT = 4096;
/** Default context cap: the model's training context, but no more than this many tokens. */
const DEFAULT_CONTEXT_CAP = 2048;

export type LlamaCppEmbedderOptions = LlamaModelSource & {
  /**
   * CPU threads for this embedder's context. Default 1. Always explicit: node-llama-cpp's own default
   * for embedding contexts (6) oversubscribes small machines and runs hundreds of times slower. Capped
   * at the machine's core count.
   */
  threads?: number;
  /** Tokens the context holds. Default: the model's training context, at most 2,048. */
  contextSize?: number;
  /** Tokens evaluated in one llama.cpp batch. Default `contextSize`, so a whole input is one batch. */
  batchSize?: number;
  /** Scale every vector to unit length (L2). Default `true`. */
  normalize?: boolean;
  /** Prepended to every query text (e.g. `'query: '` for e5 models). Default `''`. */
  queryPrefix?: string;
  /** Prepended to every document text (e.g. `'passage: '`). Default `''`. */
  documentPrefix?: string;
  /** The most texts one `embed` call accepts. Default 256. */
  maxBatchSize?: number;
  /**
   * A text longer than the context: `'truncate'` (default) keeps its first tokens and reports it in
   * `warnings`; `'error'` rejects the call with `InvalidArgumentError` before embedding anything.
   */
  overflow?: 'truncate' | 'error';
  /** The fingerprint's revision. Default: `sha256:` + the SHA-256 of the GGUF file's bytes. */
  revision?: string;
  /** Default `false` (CPU only). `'auto'` probes CUDA, Vulkan and Metal binaries on first use. */
  gpu?: LlamaGpu;
  /** Layers to offload when `gpu` is set: a count, `'max'` or `'auto'` (default). */
  gpuLayers?: LlamaGpuLayers;
  /** llama.cpp's log threshold. Default `'warn'`. */
  logLevel?: LlamaLogLevel;
};

/** The node-llama-cpp objects behind an embedder, for what kumiki does not wrap. */
export type LlamaCppEmbedderNative = {
  llama: Llama;
  /** Shared with every other embedder and runner on the same GGUF file: do not dispose it. */
  model: LlamaModel;
  /** This embedder's own context. */
  context: LlamaEmbeddingContext;
};

export interface LlamaCppEmbedder extends DenseEmbedder {
  readonly provider: 'llama-cpp';
  /** The GGUF file name. */
  readonly modelId: string;
  /** Loads the model (once, shared) and creates this embedder's context, if not done yet. */
  native(): Promise<LlamaCppEmbedderNative>;
  /**
   * Counts tokens with the shared model's tokenizer (`model.tokenize(text).length`: no prefix, no
   * BOS/EOS); loads the model if needed. Its id names the GGUF and its revision (content hash).
   */
  tokenizer(): Promise<TokenCounter>;
  /** Closes this embedder's context and releases its hold on the shared model. Idempotent. */
  dispose(): Promise<void>;
}

const optionsSchema = z
  .object({
    ...modelSourceShape,
    threads: z.number().int('threads must be an integer').min(1, 'threads must be at least 1').optional(),
    contextSize: z.number().int('contextSize must be an integer').min(8, 'contextSize must be at least 8').optional(),
    batchSize: z.number().int('batchSize must be an integer').min(8, 'batchSize must be at least 8').optional(),
    normalize: z.boolean().optional(),
    queryPrefix: z.string().optional(),
    documentPrefix: z.string().optional(),
    maxBatchSize: z
      .number()
      .int('maxBatchSize must be an integer')
      .min(1, 'maxBatchSize must be at least 1')
      .max(MAX_BATCH_SIZE_LIMIT, `maxBatchSize must be at most ${MAX_BATCH_SIZE_LIMIT}`)
      .optional(),
    overflow: z.enum(['truncate', 'error'], { error: "overflow must be 'truncate' or 'error'" }).optional(),
    ...llamaLoadShape,
  })
  .strict()
  .superRefine(checkModelSource);

/** llama.cpp's pooling types, by the number a GGUF stores in `<architecture>.pooling_type`. */
const POOLING = ['none', 'mean', 'cls', 'last', 'rank'] as const;

type State = {
  lease: LlamaModelLease;
  context: LlamaEmbeddingContext;
  dimensions: number;
  /** Longest evaluated input, special tokens included. */
  maxInputTokens: number;
  pooling: (typeof POOLING)[number];
  ggufName: string | undefined;
  quantization: string | undefined;
};

function readPooling(model: LlamaModel): (typeof POOLING)[number] {
  const metadata = model.fileInfo.metadata as unknown as Record<string, { pooling_type?: unknown } | undefined>;
  const architecture = model.fileInfo.metadata.general.architecture;
  const value = metadata[architecture]?.pooling_type;
  return typeof value === 'number' && value >= 0 ? (POOLING[value] ?? 'none') : 'none';
}

function l2Normalize(values: readonly number[]): Float32Array {
  let sum = 0;
  for (const value of values) sum += value * value;
  const norm = Math.sqrt(sum);
  return Float32Array.from(values, (value) => (norm > 0 ? value / norm : value));
}

/**
 * Creates a dense embedder that runs a GGUF model in-process with llama.cpp (node-llama-cpp). Nothing
 * loads until the first `embed`, `space` or `native` call; embedders on the same file share one
 * model in memory. See docs/adapters/llama-cpp.md.
 */
export function createLlamaCppEmbedder(options: LlamaCppEmbedderOptions): LlamaCppEmbedder {
  const parsed = parseArgument(optionsSchema, options, 'llama.cpp embedder options');
  // With `model`, the URI until the first call resolves it to a file (see load()).
  let modelPath = parsed.modelPath === undefined ? (parsed.model ?? '') : resolve(parsed.modelPath);
  let modelId = parsed.modelPath === undefined ? modelPath : basename(modelPath);
  const threads = parsed.threads ?? 1;
  const normalize = parsed.normalize ?? true;
  const queryPrefix = parsed.queryPrefix ?? '';
  const documentPrefix = parsed.documentPrefix ?? '';
  const maxBatchSize = parsed.maxBatchSize ?? DEFAULT_MAX_BATCH_SIZE;
  const overflow = parsed.overflow ?? 'truncate';

  const embedSchema = z.object({
    values: z
      .array(z.string({ error: 'each value must be a string' }), { error: 'values must be an array of strings' })
      .max(maxBatchSize, `at most ${maxBatchSize} values per call (maxBatchSize); split larger inputs`),
    role: z.enum(['query', 'document'], { error: "role must be 'query' or 'document'" }),
    abortSignal: z.instanceof(AbortSignal, { error: 'abortSignal must be an AbortSignal' }).optional(),
  });

  let disposed = false;
  const inFlight = new Set<Promise<unknown>>();

  async function load(): Promise<State> {
    if (parsed.model !== undefined) {
      modelPath = await resolveLlamaModelFile({
        model: parsed.model,
        modelsDirectory: parsed.modelsDirectory,
        offline: parsed.offline,
        onProgress: parsed.onProgress,
        component: COMPONENT,
      });
      modelId = basename(modelPath);
    }
    const lease = await acquireLlamaModel({
      modelPath,
      gpu: parsed.gpu,
      gpuLayers: parsed.gpuLayers,
      logLevel: parsed.logLevel,
      component: COMPONENT,
    });
    const mark = lease.errorLog.count;
    try {
      const { model } = lease;
      const pooling = readPooling(model);
      if (pooling === 'rank') {
        throw new InvalidArgumentError({
          argument: 'modelPath',
          issues: [
            { path: '', message: `"${modelPath}" is a reranking model (pooling: rank), not an embedding model` },
          ],
          component: COMPONENT,
        });
      }
      const contextSize = parsed.contextSize ?? Math.min(model.trainContextSize, DEFAULT_CONTEXT_CAP);
      const batchSize = parsed.batchSize ?? contextSize;
      const context = await model.createEmbeddingContext({ contextSize, batchSize, threads });
      const fileType = model.fileInfo.metadata.general.file_type;
      const lib = await loadNodeLlamaCpp();
      return {
        lease,
        context,
        dimensions: model.embeddingVectorSize,
        // node-llama-cpp refuses inputs of contextSize tokens or more; an input must also fit one batch.
        maxInputTokens: Math.min(contextSize, batchSize) - 1,
        pooling,
        ggufName: model.fileInfo.metadata.general.name,
        quantization: fileType === undefined ? undefined : (lib.GgufFileType[fileType] ?? String(fileType)),
      };
    } catch (error) {
      await lease.release();
      throw translateLlamaError(error, {
        operation: `creating an embedding context for ${modelId}`,
        modelPath,
        component: COMPONENT,
        log: await lease.errorLog.since(mark),
      });
    }
  }

  /** The loaded state: one load however many calls race for it; a failed load is retried by the next call. */
  let loading: Promise<State> | undefined;
  function init(): Promise<State> {
    loading ??= load().catch((error: unknown) => {
      loading = undefined;
      throw error;
    });
    return loading;
  }

  /** Runs `task` unless disposed, and lets `dispose()` wait for it. */
  function guarded<T>(operation: string, task: () => Promise<T>): Promise<T> {
    if (disposed) {
      return Promise.reject(
        new ConflictError({
          message: `Cannot ${operation}: this llama.cpp embedder (${modelId}) was disposed. Create a new one.`,
          component: COMPONENT,
        }),
      );
    }
    const running = task();
    const settled = running.then(
      () => undefined,
      () => undefined,
    );
    inFlight.add(settled);
    void settled.then(() => inFlight.delete(settled));
    return running;
  }

  const space = lazy(async (): Promise<EmbeddingSpace> => {
    const state = await init();
    const revision = parsed.revision ?? (await ggufRevision(state.lease.file, COMPONENT));
    return {
      provider: 'llama-cpp',
      model: state.ggufName ? `${modelId} (${state.ggufName})` : modelId,
      revision,
      dimensions: state.dimensions,
      kind: 'dense',
      pooling: state.pooling,
      normalize,
      queryPrefix,
      documentPrefix,
      ...(state.quantization === undefined ? {} : { quantization: state.quantization }),
      extra: { maxInputTokens: state.maxInputTokens },
    };
  });

  /** Tokenizes one text and fits it to the context; an empty text becomes the model's BOS (or EOS) token. */
  function prepare(state: State, text: string, index: number, warnings: string[]): Token[] {
    const { model } = state.lease;
    let tokens = model.tokenize(text);
    if (tokens.length === 0) {
      const marker = model.tokens.bos ?? model.tokens.eos;
      if (marker === null) {
        throw new InvalidArgumentError({
          argument: 'embed options',
          issues: [
            {
              path: `values.${index}`,
              message: `the text has no tokens and ${modelId} has no BOS or EOS token to embed instead`,
            },
          ],
          component: COMPONENT,
        });
      }
      return [marker];
    }
    const length = state.context.calculateInputLength(tokens);
    if (length <= state.maxInputTokens) return tokens;
    if (overflow === 'error') {
      throw new InvalidArgumentError({
        argument: 'embed options',
        issues: [
          {
            path: `values.${index}`,
            message: `the text is ${length} tokens, more than the ${state.maxInputTokens} that fit the context; shorten or split it, raise contextSize, or set overflow: 'truncate'`,
          },
        ],
        component: COMPONENT,
      });
    }
    const specials = length - tokens.length;
    tokens = tokens.slice(0, state.maxInputTokens - specials);
    while (tokens.length > 0 && state.context.calculateInputLength(tokens) > state.maxInputTokens) tokens.pop();
    warnings.push(`values.${index}: truncated from ${length} to ${state.maxInputTokens} tokens to fit the context`);
    return tokens;
  }

  async function embedValues(options: EmbedOptions): Promise<EmbedResult<Float32Array>> {
    const { values, role, abortSignal } = parseArgument(embedSchema, options, 'embed options');
    const operation = `llama.cpp embedding with ${modelId}`;
    throwIfAborted(abortSignal, operation);
    if (values.length === 0) return { vectors: [], usage: { tokens: 0 } };
    const state = await raceAbort(init(), abortSignal, operation, COMPONENT);
    throwIfAborted(abortSignal, operation);
    const prefix = role === 'query' ? queryPrefix : documentPrefix;
    const warnings: string[] = [];
    const inputs = values.map((value, index) => prepare(state, prefix + value, index, warnings));
    const vectors: Float32Array[] = [];
    let tokens = 0;
    for (const [index, input] of inputs.entries()) {
      throwIfAborted(abortSignal, operation);
      if (disposed) {
        throw new ConflictError({
          message: `${operation} stopped at text ${index}: the embedder was disposed meanwhile.`,
          component: COMPONENT,
        });
      }
      tokens += state.context.calculateInputLength(input);
      let vector: readonly number[];
      const mark = state.lease.errorLog.count;
      try {
        vector = (await state.context.getEmbeddingFor(input)).vector;
      } catch (error) {
        const log = await state.lease.errorLog.since(mark);
        throw translateLlamaError(error, { operation, modelPath, component: COMPONENT, log });
      }
      if (vector.length !== state.dimensions) {
        throw new DimensionMismatchError({
          expected: state.dimensions,
          actual: vector.length,
          context: `${modelId} returned a vector for text ${index} that does not match its embedding size`,
          component: COMPONENT,
        });
      }
      vectors.push(normalize ? l2Normalize(vector) : Float32Array.from(vector));
    }
    return warnings.length > 0 ? { vectors, usage: { tokens }, warnings } : { vectors, usage: { tokens } };
  }

  return {
    specificationVersion: 'kumiki.embedder.v1',
    provider: 'llama-cpp',
    get modelId() {
      return modelId;
    },
    kind: 'dense',
    maxBatchSize,
    supportsParallelCalls: true,
    space: () => guarded('describe the embedding space', space),
    embed: (embedOptions) => guarded('embed', () => embedValues(embedOptions)),
    native: () =>
      guarded('get the llama.cpp instance', async () => {
        const state = await init();
        return { llama: state.lease.llama, model: state.lease.model, context: state.context };
      }),
    tokenizer: () =>
      guarded('get the tokenizer', async (): Promise<TokenCounter> => {
        const state = await init();
        const { model, revision } = await space();
        const { model: llamaModel } = state.lease;
        return { id: `llama-cpp/${model}@${revision}`, count: (text: string) => llamaModel.tokenize(text).length };
      }),
    async dispose() {
      if (disposed) return;
      disposed = true;
      await Promise.all(inFlight);
      if (loading === undefined) return;
      let state: State;
      try {
        state = await loading;
      } catch {
        return;
      }
      try {
        await state.context.dispose();
      } finally {
        await state.lease.release();
      }
    },
  };
}
