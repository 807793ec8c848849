import { z } from 'zod';
import type { DenseEmbedder, EmbedOptions, EmbedResult } from '../../core/embedder.js';
import { ConflictError, DimensionMismatchError, InvalidArgumentError, throwIfAborted } from '../../core/errors.js';
import type { EmbeddingSpace } from '../../core/fingerprint.js';
import { functionSchema, parseArgument } from '../../core/validate.js';
import { resolveToken, serverConnectionShape, type TokenProvider } from '../../internal/http/credentials.js';
import { describeUrl, httpDetails } from '../../internal/http/errors.js';
import { type FetchFunction, openHttpRequest } from '../../internal/http/request.js';
import { lazy } from '../../internal/optional.js';
import { withRetry } from '../../internal/retry.js';
import { parseEmbeddingResponse } from './response.js';

const COMPONENT = 'openai-compatible';
const OPERATION = 'OpenAI-compatible embeddings request';
const DEFAULT_MAX_BATCH_SIZE = 256;
const DEFAULT_TIMEOUT_MS = 60_000;
const DEFAULT_RETRIES = 3;
/** Text embedded once by `space()` to discover the dimensions when the `dimensions` option is not set. */
const PROBE_TEXT = 'kumiki dimension probe';
/** How servers word "too many inputs in one request" (with 413, or with 400/422). */
const BATCH_TOO_LARGE =
  /too many (inputs|items|texts|sentences|documents)|batch[ _]?size|batch (is )?too (large|big)|max(imum)? (number of )?(inputs|items|batch)/i;
/** How servers word "one input is too long": a 413 saying so is not about the batch. */
const INPUT_TOO_LONG = /tokens|too long|context|sequence length|longer than/i;

/** Returns the API key or bearer token; called before every request, so rotating tokens work. */

export type OpenAICompatibleEmbedderOptions = {
  /** Base URL of the API, usually ending in `/v1` (`http://localhost:8000/v1`); requests go to `${baseURL}/embeddings`. */
  baseURL: string;
  /** Model name as the server knows it. */
  model: string;
  /** Sent as `Authorization: Bearer …`: a string, or a function called before every request. */
  apiKey?: string | TokenProvider;
  /**
   * Output dimensions. When set, sent as the OpenAI `dimensions` parameter (for models that can
   * shorten their vectors) and checked on every response; when not, learnt from the first response.
   */
  dimensions?: number;
  /** Wire format of the vectors: `'float'` (default, JSON numbers) or `'base64'` (float32, smaller). Same vectors either way. */
  encodingFormat?: 'float' | 'base64';
  /** Most inputs per request, default 256; halved for this embedder when the server says a batch is too large. */
  maxBatchSize?: number;
  /** Extra request headers (e.g. `api-key` for Azure); their values are never shown in errors when they look like credentials. */
  headers?: Record<string, string>;
  /** Deadline per HTTP request, default 60,000 ms. */
  timeoutMs?: number;
  /** Retries of 408, 429, 5xx, timeouts and network errors, with exponential backoff and full jitter, honouring Retry-After; default 3. */
  retries?: number;
  /** Prepended to every query (`role: 'query'`), e.g. `'query: '` for e5 models. */
  queryPrefix?: string;
  /** Prepended to every document (`role: 'document'`), e.g. `'passage: '` for e5 models. */
  documentPrefix?: string;
  /** Model revision or version, recorded in the embedding space (the server does not receive it). */
  revision?: string;
  /** The fetch implementation, default `globalThis.fetch` (inject one for proxies, tracing or tests). */
  fetch?: FetchFunction;
};

export interface OpenAICompatibleEmbedder extends DenseEmbedder {
  readonly provider: 'openai-compatible';
  /** Most inputs per request: the option, or less once the server has refused a batch as too large. */
  readonly maxBatchSize: number;
  embed(options: EmbedOptions): Promise<EmbedResult<Float32Array>>;
  /** Later `embed` calls reject with ConflictError; there is nothing else to release. */
  dispose(): Promise<void>;
}

const optionsSchema = z
  .object({
    ...serverConnectionShape,
    model: z.string({ error: 'model must be a string' }).min(1, 'model must name the model'),
    dimensions: z.number().int('dimensions must be an integer').min(1, 'dimensions must be at least 1').optional(),
    encodingFormat: z.enum(['float', 'base64'], { error: "encodingFormat must be 'float' or 'base64'" }).optional(),
    maxBatchSize: z
      .number()
      .int('maxBatchSize must be an integer')
      .min(1, 'maxBatchSize must be at least 1')
      .optional(),
    queryPrefix: z.string().optional(),
    documentPrefix: z.string().optional(),
    revision: z.string().min(1, 'revision must not be empty').optional(),
    fetch: functionSchema<FetchFunction>('fetch must be a function').optional(),
  })
  .strict();

const embedSchema = z.object({
  values: z.array(z.string({ error: 'values must be strings' }), { error: 'values must be an array of strings' }),
  role: z.enum(['query', 'document'], { error: "role must be 'query' or 'document'" }),
  abortSignal: z.instanceof(AbortSignal, { error: 'abortSignal must be an AbortSignal' }).optional(),
});

/**
 * True when the server refused a request for holding too many inputs: a 413 that does not blame the
 * length of an input, or a 400/422 whose body says the batch is too large.
 */
function isBatchTooLarge(error: unknown): boolean {
  const details = httpDetails(error);
  if (details === undefined || ![400, 413, 422].includes(details.status)) return false;
  if (BATCH_TOO_LARGE.test(details.bodyExcerpt)) return true;
  return details.status === 413 && !INPUT_TOO_LONG.test(details.bodyExcerpt);
}

type BatchResult = { vectors: Float32Array[]; tokens: number | undefined };

/**
 * Creates a dense embedder for any server that speaks the OpenAI `/v1/embeddings` protocol: OpenAI,
 * vLLM, Hugging Face TEI, llama.cpp's llama-server, Ollama, LiteLLM and others. Uses fetch; no
 * dependency. See docs/adapters/openai-compatible.md.
 */
export function createOpenAICompatibleEmbedder(options: OpenAICompatibleEmbedderOptions): OpenAICompatibleEmbedder {
  const parsed = parseArgument(optionsSchema, options, 'OpenAI-compatible embedder options');
  const url = `${parsed.baseURL.replace(/\/+$/, '')}/embeddings`;
  const shownUrl = describeUrl(url);
  const fetchFunction = parsed.fetch ?? globalThis.fetch;
  const encodingFormat = parsed.encodingFormat ?? 'float';
  const timeoutMs = parsed.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const retries = parsed.retries ?? DEFAULT_RETRIES;
  const queryPrefix = parsed.queryPrefix ?? '';
  const documentPrefix = parsed.documentPrefix ?? '';
  const apiKey = parsed.apiKey;
  let batchSize = parsed.maxBatchSize ?? DEFAULT_MAX_BATCH_SIZE;
  /** Declared by the option, or learnt from the first response; fixed from then on. */
  let dimensions = parsed.dimensions;
  let disposed = false;

  function checkDimensions(vectors: readonly Float32Array[]): void {
    for (const vector of vectors) {
      if (dimensions === undefined) {
        dimensions = vector.length;
      } else if (vector.length !== dimensions) {
        throw new DimensionMismatchError({
          expected: dimensions,
          actual: vector.length,
          context: `Model "${parsed.model}" at ${shownUrl} returned an embedding whose length differs from the embedder's dimensions (${parsed.dimensions === undefined ? 'learnt from its first response' : 'the dimensions option'})`,
          component: COMPONENT,
        });
      }
    }
  }

  /** One request for `inputs`, retried on retryable failures. */
  function request(inputs: readonly string[], abortSignal: AbortSignal | undefined): Promise<BatchResult> {
    return withRetry(
      async () => {
        const token = await resolveToken(apiKey, COMPONENT);
        const headers = new Headers(parsed.headers);
        headers.set('content-type', 'application/json');
        headers.set('accept', 'application/json');
        if (token !== undefined) headers.set('authorization', `Bearer ${token}`);
        const body = JSON.stringify({
          model: parsed.model,
          input: inputs,
          ...(encodingFormat === 'base64' ? { encoding_format: 'base64' } : {}),
          ...(parsed.dimensions === undefined ? {} : { dimensions: parsed.dimensions }),
        });
        const secrets = token === undefined ? [] : [token];
        const exchange = await openHttpRequest({
          url,
          method: 'POST',
          headers,
          body,
          timeoutMs,
          abortSignal,
          fetch: fetchFunction,
          operation: OPERATION,
          component: COMPONENT,
          secrets,
        });
        const text = await exchange.text();
        const result = parseEmbeddingResponse(text, inputs.length, {
          url: shownUrl,
          operation: OPERATION,
          component: COMPONENT,
          secrets,
        });
        checkDimensions(result.vectors);
        return result;
      },
      { retries, abortSignal, operation: `${OPERATION} (POST ${shownUrl})` },
    );
  }

  /**
   * Embeds one batch; when the server refuses it as too large, halves this embedder's batch size and
   * embeds the parts, so every vector comes back, in order.
   */
  async function embedBatch(inputs: readonly string[], abortSignal: AbortSignal | undefined): Promise<BatchResult> {
    try {
      return await request(inputs, abortSignal);
    } catch (error) {
      if (!isBatchTooLarge(error)) throw error;
      if (inputs.length === 1) {
        const details = httpDetails(error);
        throw new InvalidArgumentError({
          argument: 'values',
          issues: [
            {
              path: '',
              message: `the server refused a single input of ${inputs[0]?.length ?? 0} characters as too large (HTTP ${details?.status}: ${details?.bodyExcerpt}); shorten it or raise the server's limit`,
            },
          ],
          cause: error,
          component: COMPONENT,
        });
      }
      batchSize = Math.min(batchSize, Math.ceil(inputs.length / 2));
      return embedInBatches(inputs, abortSignal);
    }
  }

  /** Embeds `inputs` in consecutive batches of the current batch size, which may shrink on the way. */
  async function embedInBatches(inputs: readonly string[], abortSignal: AbortSignal | undefined): Promise<BatchResult> {
    const vectors: Float32Array[] = [];
    let tokens: number | undefined;
    for (let start = 0; start < inputs.length; ) {
      const batch = inputs.slice(start, start + batchSize);
      const result = await embedBatch(batch, abortSignal);
      for (const vector of result.vectors) vectors.push(vector);
      if (result.tokens !== undefined) tokens = (tokens ?? 0) + result.tokens;
      start += batch.length;
    }
    return { vectors, tokens };
  }

  const probe = lazy(async () => {
    await embedBatch([PROBE_TEXT], undefined);
  });

  return {
    specificationVersion: 'kumiki.embedder.v1',
    provider: 'openai-compatible',
    modelId: parsed.model,
    kind: 'dense',
    get maxBatchSize() {
      return batchSize;
    },
    supportsParallelCalls: true,

    async space(): Promise<EmbeddingSpace> {
      if (dimensions === undefined) await probe();
      return {
        provider: 'openai-compatible',
        model: parsed.model,
        ...(parsed.revision === undefined ? {} : { revision: parsed.revision }),
        dimensions: dimensions as number,
        kind: 'dense',
        ...(queryPrefix ? { queryPrefix } : {}),
        ...(documentPrefix ? { documentPrefix } : {}),
      };
    },

    async embed(embedOptions) {
      const { values, role, abortSignal } = parseArgument(embedSchema, embedOptions, 'embed options');
      throwIfAborted(abortSignal, `${OPERATION} (POST ${shownUrl})`);
      if (disposed) {
        throw new ConflictError({
          message: 'This OpenAI-compatible embedder was disposed; create a new one.',
          component: COMPONENT,
        });
      }
      const prefix = role === 'query' ? queryPrefix : documentPrefix;
      const inputs = prefix ? values.map((value) => prefix + value) : values;
      const before = batchSize;
      const { vectors, tokens } = await embedInBatches(inputs, abortSignal);
      const warnings =
        batchSize < before
          ? [
              `${shownUrl} refused requests of up to ${before} inputs as too large; this embedder now sends at most ${batchSize} inputs per request (set maxBatchSize: ${batchSize} to start there).`,
            ]
          : [];
      return {
        vectors,
        ...(tokens === undefined ? {} : { usage: { tokens } }),
        ...(warnings.length > 0 ? { warnings } : {}),
      };
    },

    async dispose() {
      disposed = true;
    },
  };
}
