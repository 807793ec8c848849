import { resolve } from 'node:path';
import type { PreTrainedModel, PreTrainedTokenizer, ProgressInfo, Tensor } from '@huggingface/transformers';
import * as z from 'zod';
import type { DenseEmbedder, EmbedOptions, EmbedResult, TokenCounter } from '../../core/embedder.js';
import { ConflictError, InvalidArgumentError, throwIfAborted } from '../../core/errors.js';
import type { EmbeddingSpace } from '../../core/fingerprint.js';
import { embedOptionsSchema } from '../../core/schemas.js';
import { parseArgument } from '../../core/validate.js';
import { raceAbort } from '../../internal/abort.js';
import { importOptional } from '../../internal/optional.js';
import {
  COMPONENT,
  DTYPE_SUFFIX,
  locateModel,
  type ModelSource,
  type TransformersDtype,
  translateLoadError,
} from './locate.js';
import { POOLINGS, poolTokens, type TransformersPooling } from './pooling.js';

const MAX_BATCH_SIZE = 2048;
const DEFAULT_BATCH_SIZE = 32;
/** Used when neither the tokenizer nor the config states a limit. */
const FALLBACK_MAX_LENGTH = 512;
const DEVICES = ['cpu', 'cuda', 'dml', 'coreml', 'webgpu', 'wasm'] as const;

export type TransformersDevice = (typeof DEVICES)[number];

export type TransformersEmbedderOptions = {
  /** A Hugging Face model id (`Xenova/all-MiniLM-L6-v2`) or a model folder (`./models/minilm`, `/abs/path`). */
  model: string;
  /** Hub branch, tag or commit; default `main`. Part of the fingerprint. */
  revision?: string;
  /** Which ONNX file to run: `fp32` (default, `onnx/model.onnx`), `q8` (`onnx/model_quantized.onnx`), … */
  dtype?: TransformersDtype;
  /** onnxruntime execution provider; default `cpu`. Not part of the fingerprint. */
  device?: TransformersDevice;
  /** How token vectors become a text vector; default `mean`. */
  pooling?: TransformersPooling;
  /** Scale vectors to length 1; default true. */
  normalize?: boolean;
  /** Prepended to every query (e5: `'query: '`, bge: `'Represent this sentence for searching relevant passages: '`). */
  queryPrefix?: string;
  /** Prepended to every document (e5: `'passage: '`). */
  documentPrefix?: string;
  /** Texts per forward pass; default 32. `embed` accepts up to 2,048 texts and splits them. */
  batchSize?: number;
  /** Tokens kept per text (longer texts are truncated, with a warning); default and ceiling: the model's limit. */
  maxLength?: number;
  /** Folder of the download cache; default transformers.js's `env.cacheDir`. */
  cacheDir?: string;
  /** Never touch the network: load from `model` as a folder, or from the cache / `env.localModelPath`. */
  offline?: boolean;
  /** transformers.js download progress (`initiate`, `download`, `progress`, `done`), then one `ready` per load. */
  onProgress?: (info: ProgressInfo) => void;
};

/** The loaded transformers.js objects, for what this adapter does not cover. */
export type TransformersNative = { tokenizer: PreTrainedTokenizer; model: PreTrainedModel };

export interface TransformersEmbedder extends DenseEmbedder {
  readonly provider: 'transformers.js';
  /** Loads the model if needed. `dimensions` come from the model's output; `extra.maxLength` is the limit in effect. */
  space(): Promise<EmbeddingSpace>;
  /**
   * Embeds up to 2,048 texts in batches of `batchSize`, with the role's prefix. The signal is checked
   * before the load and between batches. Texts cut at `maxLength` are named in `warnings`.
   */
  embed(options: EmbedOptions): Promise<EmbedResult<Float32Array>>;
  /** The tokenizer and model (loads them if needed): an escape hatch. */
  native(): Promise<TransformersNative>;
  /**
   * Counts tokens as `embed` does (special tokens included, no prefix, no truncation); loads the model
   * if needed. Its id names the model and revision.
   */
  tokenizer(): Promise<TokenCounter>;
  /**
   * Waits for running `embed` calls to stop (they stop at their next batch), then releases the ONNX
   * session. Afterwards every method throws ConflictError; create a new embedder instead.
   */
  dispose(): Promise<void>;
}

const optionsSchema = z
  .object({
    model: z.string().min(1, 'model must be a Hugging Face model id or a folder path'),
    revision: z.string().min(1, 'revision must be a branch, tag or commit').optional(),
    dtype: z
      .enum(Object.keys(DTYPE_SUFFIX) as [TransformersDtype, ...TransformersDtype[]], {
        error: `dtype must be one of: ${Object.keys(DTYPE_SUFFIX).join(', ')}`,
      })
      .optional(),
    device: z.enum(DEVICES, { error: `device must be one of: ${DEVICES.join(', ')}` }).optional(),
    pooling: z.enum(POOLINGS, { error: `pooling must be one of: ${POOLINGS.join(', ')}` }).optional(),
    normalize: z.boolean().optional(),
    queryPrefix: z.string().optional(),
    documentPrefix: z.string().optional(),
    batchSize: z
      .number()
      .int('batchSize must be an integer')
      .min(1, 'batchSize must be at least 1')
      .max(MAX_BATCH_SIZE, `batchSize must be at most ${MAX_BATCH_SIZE}`)
      .optional(),
    maxLength: z.number().int('maxLength must be an integer').min(2, 'maxLength must be at least 2').optional(),
    cacheDir: z.string().min(1, 'cacheDir must be a folder path').optional(),
    offline: z.boolean().optional(),
    onProgress: z
      .custom<(info: ProgressInfo) => void>((value) => typeof value === 'function', 'onProgress must be a function')
      .optional(),
  })
  .strict();

const embedSchema = embedOptionsSchema(MAX_BATCH_SIZE);

/** What the tokenizer returns with `return_tensor` on (the default). */
type Encoded = { input_ids: Tensor; attention_mask: Tensor; token_type_ids?: Tensor };

type Loaded = TransformersNative & {
  /** The model output holding token vectors. */
  output: 'last_hidden_state' | 'token_embeddings';
  dimensions: number;
  maxLength: number;
};

const TOKEN_OUTPUTS = ['last_hidden_state', 'token_embeddings'] as const;

/**
 * Creates a dense embedder that runs a Hugging Face ONNX model in-process through transformers.js.
 * Nothing loads until the first `space()`, `embed()` or `native()`; concurrent first calls share one
 * load. See docs/adapters/transformers.md.
 */
export function createTransformersEmbedder(options: TransformersEmbedderOptions): TransformersEmbedder {
  const parsed = parseArgument(optionsSchema, options, 'transformers.js embedder options');
  const modelId = parsed.model;
  const revision = parsed.revision ?? 'main';
  const dtype = parsed.dtype ?? 'fp32';
  const pooling = parsed.pooling ?? 'mean';
  const normalize = parsed.normalize ?? true;
  const queryPrefix = parsed.queryPrefix ?? '';
  const documentPrefix = parsed.documentPrefix ?? '';
  const batchSize = parsed.batchSize ?? DEFAULT_BATCH_SIZE;
  const offline = parsed.offline ?? false;
  const onProgress = parsed.onProgress;
  const cacheDir = parsed.cacheDir === undefined ? undefined : resolve(parsed.cacheDir);

  let loading: Promise<Loaded> | undefined;
  let disposed = false;
  const running = new Set<Promise<unknown>>();

  const assertUsable = () => {
    if (disposed) {
      throw new ConflictError({
        component: COMPONENT,
        message: `The transformers.js embedder for "${modelId}" was disposed. Create a new one with createTransformersEmbedder().`,
      });
    }
  };

  async function loadModel(): Promise<Loaded> {
    const library = await importOptional(
      '@huggingface/transformers',
      COMPONENT,
      () => import('@huggingface/transformers'),
    );
    const { env } = library;
    let source: ModelSource = { path: modelId, local: false };
    try {
      source = await locateModel({
        model: modelId,
        revision,
        dtype,
        offline,
        cacheDir: cacheDir ?? (env.useFSCache ? env.cacheDir : null),
        localModelPath: env.allowLocalModels ? env.localModelPath : null,
      });
      const pretrained = {
        revision,
        dtype,
        ...(parsed.device ? { device: parsed.device } : {}),
        ...(cacheDir ? { cache_dir: cacheDir } : {}),
        local_files_only: offline || source.local,
        ...(onProgress ? { progress_callback: onProgress } : {}),
      };
      const [tokenizer, model] = await Promise.allSettled([
        library.AutoTokenizer.from_pretrained(source.path, pretrained),
        library.AutoModel.from_pretrained(source.path, pretrained),
      ]);
      if (model.status === 'rejected' || tokenizer.status === 'rejected') {
        if (model.status === 'fulfilled') await model.value.dispose();
        // The model's failure says more (a missing config.json or ONNX file) than the tokenizer's.
        throw model.status === 'rejected' ? model.reason : (tokenizer as PromiseRejectedResult).reason;
      }
      const loaded = await describe(tokenizer.value, model.value);
      onProgress?.({ status: 'ready', task: 'feature-extraction', model: modelId });
      return loaded;
    } catch (error) {
      throw translateLoadError(error, modelId, source);
    }
  }

  /** Finds the token-vector output and its width with one forward pass, and the length limit. */
  async function describe(tokenizer: PreTrainedTokenizer, model: PreTrainedModel): Promise<Loaded> {
    const outputs = (await model(tokenizer(['a'], { padding: true, truncation: true }))) as Record<string, Tensor>;
    const output = TOKEN_OUTPUTS.find((name) => outputs[name]?.dims.length === 3);
    if (output === undefined) {
      await model.dispose();
      throw new InvalidArgumentError({
        argument: 'transformers.js embedder options',
        component: COMPONENT,
        issues: [
          {
            path: 'model',
            message: `"${modelId}" returns ${Object.keys(outputs).join(', ')} but no token vectors (last_hidden_state or token_embeddings of shape [batch, sequence, hidden]); use a feature-extraction export of the model`,
          },
        ],
      });
    }
    const limits = [
      parsed.maxLength,
      tokenizer.model_max_length as number | undefined,
      model.config.max_position_embeddings as number | undefined,
    ].filter((limit): limit is number => typeof limit === 'number' && Number.isFinite(limit) && limit > 0);
    const maxLength = limits.length > 0 ? Math.min(...limits) : FALLBACK_MAX_LENGTH;
    return { tokenizer, model, output, dimensions: (outputs[output] as Tensor).dims[2] as number, maxLength };
  }

  const load = (): Promise<Loaded> => {
    loading ??= loadModel().catch((error: unknown) => {
      loading = undefined;
      throw error;
    });
    return loading;
  };

  /** Keeps a call in `running` until it settles, so that dispose can wait for it. */
  const track = <T>(promise: Promise<T>): Promise<T> => {
    running.add(promise);
    const forget = () => running.delete(promise);
    promise.then(forget, forget);
    return promise;
  };

  async function embedBatches(
    loaded: Loaded,
    values: readonly string[],
    prefix: string,
    signal: AbortSignal | undefined,
    operation: string,
  ): Promise<EmbedResult<Float32Array>> {
    const { tokenizer, model, output, maxLength } = loaded;
    const vectors: Float32Array[] = [];
    const warnings: string[] = [];
    let tokens = 0;
    for (let start = 0; start < values.length; start += batchSize) {
      throwIfAborted(signal, operation);
      assertUsable();
      const texts = values.slice(start, start + batchSize).map((value) => prefix + value);
      const encoded = tokenizer(texts, { padding: true, truncation: true, max_length: maxLength }) as Encoded;
      let hidden = ((await model(encoded)) as Record<string, Tensor>)[output] as Tensor;
      if (hidden.type !== 'float32') hidden = hidden.to('float32');
      const mask = encoded.attention_mask.data as BigInt64Array;
      const [, sequence = 0] = encoded.attention_mask.dims;
      vectors.push(...poolTokens(hidden.data as Float32Array, hidden.dims, mask, pooling, normalize));
      for (let row = 0; row < texts.length; row++) {
        let length = 0;
        for (let s = 0; s < sequence; s++) if (mask[row * sequence + s] !== 0n) length++;
        tokens += length;
        if (length < maxLength) continue;
        const full = tokenizer.encode(texts[row] as string).length;
        if (full > maxLength) {
          warnings.push(
            `text ${start + row} has ${full} tokens; only the first ${maxLength} (maxLength) were embedded`,
          );
        }
      }
    }
    return { vectors, usage: { tokens }, ...(warnings.length > 0 ? { warnings } : {}) };
  }

  return {
    specificationVersion: 'kumiki.embedder.v1',
    provider: 'transformers.js',
    modelId,
    kind: 'dense',
    maxBatchSize: MAX_BATCH_SIZE,
    supportsParallelCalls: true,

    async space() {
      assertUsable();
      const { dimensions, maxLength } = await track(load());
      return {
        provider: 'transformers.js',
        model: modelId,
        revision,
        dimensions,
        kind: 'dense',
        pooling,
        normalize,
        queryPrefix,
        documentPrefix,
        quantization: dtype,
        extra: { maxLength },
      };
    },

    async embed(embedOptions) {
      const { values, role, abortSignal } = parseArgument(embedSchema, embedOptions, 'embed options');
      assertUsable();
      const operation = `Embedding ${values.length} texts with "${modelId}"`;
      throwIfAborted(abortSignal, operation);
      if (values.length === 0) return { vectors: [] };
      return track(
        (async () => {
          const loaded = await raceAbort(load(), abortSignal, operation, COMPONENT);
          return embedBatches(loaded, values, role === 'query' ? queryPrefix : documentPrefix, abortSignal, operation);
        })(),
      );
    },

    async native() {
      assertUsable();
      const { tokenizer, model } = await track(load());
      return { tokenizer, model };
    },

    async tokenizer() {
      assertUsable();
      const { tokenizer } = await track(load());
      return {
        id: `transformers.js/${modelId}@${revision}`,
        count: (text: string) => tokenizer.encode(text).length,
      };
    },

    async dispose() {
      if (disposed) return;
      disposed = true;
      await Promise.allSettled(running);
      const pending = loading;
      loading = undefined;
      const loaded = await pending?.catch(() => undefined);
      await loaded?.model.dispose();
    },
  };
}
