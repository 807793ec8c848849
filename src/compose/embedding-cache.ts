import * as z from 'zod';
import type { Cache, CacheValue } from '../core/cache.js';
import type { Embedder, EmbeddingRole, EmbedOptions, EmbedResult } from '../core/embedder.js';
import { AbortedError, throwIfAborted } from '../core/errors.js';
import { fingerprintTracker } from '../core/fingerprint.js';
import { sha256Hex } from '../core/sha256.js';
import type { SparseVector } from '../core/types.js';
import { implementing, parseArgument } from '../core/validate.js';
import { wrapEmbedder } from '../core/wrap.js';
import { raceAbort } from '../internal/abort.js';

export type EmbeddingCacheOptions = {
  /** First part of every key; default `emb`. Change it to drop everything cached before. */
  keyPrefix?: string;
  /** Time to live of cached query vectors in ms; default: the cache's default. */
  queryTtlMs?: number;
  /** Time to live of cached document vectors in ms; default: the cache's default. */
  documentTtlMs?: number;
  /** Model calls in flight at once when the embedder supports parallel calls; default 4. */
  concurrency?: number;
};

export type EmbeddingCacheStats = {
  /** Texts served from the cache. */
  hits: number;
  /** Texts sent to the model. */
  misses: number;
  /** Texts that joined a request already in flight (same text, role and space), or repeated in one call. */
  shared: number;
  /** Calls made to the model's `embed`. */
  modelCalls: number;
};

/**
 * The wrapped embedder with a caching `embed`, plus cache statistics. Every other member (`space`,
 * `tokenizer`, `dispose`, an adapter's extras) is the wrapped embedder's own.
 */
export type CachedEmbedder<TVector> = Embedder<TVector> & {
  /** Counters since creation. */
  stats(): EmbeddingCacheStats;
  /** The wrapped embedder. */
  readonly embedder: Embedder<TVector>;
  readonly cache: Cache;
};

const optionsSchema = z
  .object({
    keyPrefix: z.string().min(1).optional(),
    queryTtlMs: z.number().int().positive().optional(),
    documentTtlMs: z.number().int().positive().optional(),
    concurrency: z.number().int().min(1).max(64).optional(),
  })
  .strict();

const embedderSchema = z.custom<Embedder<unknown>>(
  (value) =>
    typeof value === 'object' &&
    value !== null &&
    (value as Embedder<unknown>).specificationVersion === 'kumiki.embedder.v1' &&
    typeof (value as Embedder<unknown>).embed === 'function',
  'embedder must be a kumiki Embedder (specificationVersion kumiki.embedder.v1)',
);

const cacheSchema = implementing<Cache>('cache must be a kumiki Cache (with getMany and setMany)', {
  methods: ['getMany', 'setMany'],
});

const embedSchema = z
  .object({
    values: z.array(z.string({ error: 'values must be strings' }), { error: 'values must be an array of strings' }),
    role: z.enum(['query', 'document'], { error: 'role must be "query" or "document"' }),
    abortSignal: z
      .custom<AbortSignal>((value) => value instanceof AbortSignal, 'abortSignal must be an AbortSignal')
      .optional(),
  })
  .strict();

type AnyVector = Float32Array | SparseVector;

/** A vector on its way: settled by the caller that owns the key, awaited by everyone else. */
type Flight = {
  promise: Promise<AnyVector>;
  resolve: (vector: AnyVector) => void;
  reject: (error: unknown) => void;
};

function newFlight(): Flight {
  let resolve!: Flight['resolve'];
  let reject!: Flight['reject'];
  const promise = new Promise<AnyVector>((ok, fail) => {
    resolve = ok;
    reject = fail;
  });
  // Owners await their flights through other paths; a rejection nobody joined must not go unhandled.
  promise.catch(() => undefined);
  return { promise, resolve, reject };
}

const FLAG_TYPED_INDICES = 1;
const FLAG_FLOAT32_VALUES = 2;

/**
 * Sparse vectors as bytes: a flags byte, three bytes of padding, the entry count (u32), the indices
 * (u32 each), then the values (f32 when they came as a Float32Array, f64 otherwise), little-endian.
 * The flags bring back the same array types, so a cached vector equals a fresh one exactly.
 */
function packSparse(vector: SparseVector): Uint8Array {
  const count = vector.indices.length;
  const float32 = vector.values instanceof Float32Array;
  const bytes = new Uint8Array(8 + count * 4 + count * (float32 ? 4 : 8));
  const view = new DataView(bytes.buffer);
  view.setUint8(
    0,
    (vector.indices instanceof Uint32Array ? FLAG_TYPED_INDICES : 0) | (float32 ? FLAG_FLOAT32_VALUES : 0),
  );
  view.setUint32(4, count, true);
  let offset = 8;
  for (let i = 0; i < count; i++, offset += 4) view.setUint32(offset, vector.indices[i] as number, true);
  for (let i = 0; i < count; i++) {
    if (float32) {
      view.setFloat32(offset, vector.values[i] as number, true);
      offset += 4;
    } else {
      view.setFloat64(offset, vector.values[i] as number, true);
      offset += 8;
    }
  }
  return bytes;
}

function unpackSparse(bytes: Uint8Array): SparseVector | undefined {
  if (bytes.length < 8) return undefined;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const flags = view.getUint8(0);
  const count = view.getUint32(4, true);
  const float32 = (flags & FLAG_FLOAT32_VALUES) !== 0;
  if (bytes.length !== 8 + count * 4 + count * (float32 ? 4 : 8)) return undefined;
  const indices = (flags & FLAG_TYPED_INDICES) !== 0 ? new Uint32Array(count) : new Array<number>(count);
  const values = float32 ? new Float32Array(count) : new Array<number>(count);
  let offset = 8;
  for (let i = 0; i < count; i++, offset += 4) indices[i] = view.getUint32(offset, true);
  for (let i = 0; i < count; i++) {
    values[i] = float32 ? view.getFloat32(offset, true) : view.getFloat64(offset, true);
    offset += float32 ? 4 : 8;
  }
  return { indices, values };
}

/** A copy, so that callers sharing one computed vector cannot change each other's. */
function copyVector(vector: AnyVector): AnyVector {
  if (vector instanceof Float32Array) return vector.slice();
  const copy = (array: ArrayLike<number>) =>
    ArrayBuffer.isView(array) ? (array as unknown as Float32Array).slice() : Array.from(array);
  return { ...vector, indices: copy(vector.indices), values: copy(vector.values) };
}

/**
 * Wraps an embedder with a cache. Keys are `<keyPrefix>:<fingerprint of the embedding space>:<q|d>:
 * <SHA-256 of the exact text>`, so another model, revision, prefix or any other change of the space
 * never returns an old vector. One `getMany` looks up a call's texts; only the misses go to the model,
 * in batches of its `maxBatchSize`; then one `setMany` stores them. Concurrent requests for the same
 * text (same role and space) share one model call, also across overlapping batches. Cache failures
 * behave as the cache decides (the keyv cache fails open unless strict).
 *
 * ```ts
 * const embedder = withEmbeddingCache(createBm25Encoder({ corpus }), createKeyvCache({ url }), {
 *   queryTtlMs: 3_600_000,
 * });
 * ```
 */
export function withEmbeddingCache<TVector>(
  embedder: Embedder<TVector>,
  cache: Cache,
  options: EmbeddingCacheOptions = {},
): CachedEmbedder<TVector> {
  parseArgument(embedderSchema, embedder, 'embedder');
  parseArgument(cacheSchema, cache, 'cache');
  const parsed = parseArgument(optionsSchema, options, 'withEmbeddingCache options');
  const prefix = parsed.keyPrefix ?? 'emb';
  const concurrency = embedder.supportsParallelCalls ? (parsed.concurrency ?? 4) : 1;
  const ttlOf = (role: EmbeddingRole) => (role === 'query' ? parsed.queryTtlMs : parsed.documentTtlMs);
  const inner = embedder as unknown as Embedder<AnyVector>;
  const dense = embedder.kind === 'dense';
  const flights = new Map<string, Flight>();
  const stats: EmbeddingCacheStats = { hits: 0, misses: 0, shared: 0, modelCalls: 0 };
  const operation = `embed with ${embedder.provider}/${embedder.modelId} (cached)`;

  const spaceFingerprint = fingerprintTracker();

  const toCached = (vector: AnyVector): CacheValue =>
    dense ? (vector as Float32Array) : packSparse(vector as SparseVector);
  const fromCached = (value: CacheValue | undefined): AnyVector | undefined => {
    if (dense) return value instanceof Float32Array ? value : undefined;
    return value instanceof Uint8Array ? unpackSparse(value) : undefined;
  };

  /** Embeds the texts of `keys` (which this call owns) through the cache and the model. */
  async function fill(
    owned: { key: string; text: string; flight: Flight }[],
    role: EmbeddingRole,
    abortSignal: AbortSignal | undefined,
  ): Promise<Pick<EmbedResult<AnyVector>, 'usage' | 'warnings'>> {
    const found = await cache.getMany(
      owned.map((entry) => entry.key),
      abortSignal ? { abortSignal } : undefined,
    );
    const missing: typeof owned = [];
    owned.forEach((entry, i) => {
      const vector = fromCached(found[i]);
      if (vector === undefined) missing.push(entry);
      else entry.flight.resolve(vector);
    });
    stats.hits += owned.length - missing.length;
    stats.misses += missing.length;
    if (missing.length === 0) return {};
    const batches: (typeof missing)[] = [];
    for (let i = 0; i < missing.length; i += embedder.maxBatchSize) {
      batches.push(missing.slice(i, i + embedder.maxBatchSize));
    }
    let tokens: number | undefined;
    const warnings: string[] = [];
    let next = 0;
    const worker = async () => {
      while (next < batches.length) {
        const batch = batches[next++] as typeof missing;
        throwIfAborted(abortSignal, operation);
        stats.modelCalls++;
        const result = await inner.embed({
          values: batch.map((entry) => entry.text),
          role,
          ...(abortSignal ? { abortSignal } : {}),
        });
        if (result.vectors.length !== batch.length) {
          throw new Error(
            `${embedder.provider}/${embedder.modelId} returned ${result.vectors.length} vectors for ${batch.length} texts`,
          );
        }
        batch.forEach((entry, i) => {
          entry.flight.resolve(result.vectors[i] as AnyVector);
        });
        if (result.usage) tokens = (tokens ?? 0) + result.usage.tokens;
        if (result.warnings) warnings.push(...result.warnings);
        const ttlMs = ttlOf(role);
        await cache.setMany(
          batch.map((entry, i) => ({
            key: entry.key,
            value: toCached(result.vectors[i] as AnyVector),
            ...(ttlMs ? { ttlMs } : {}),
          })),
          abortSignal ? { abortSignal } : undefined,
        );
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, batches.length) }, worker));
    return {
      ...(tokens === undefined ? {} : { usage: { tokens } }),
      ...(warnings.length > 0 ? { warnings } : {}),
    };
  }

  async function embed(embedOptions: EmbedOptions): Promise<EmbedResult<AnyVector>> {
    const { values, role, abortSignal } = parseArgument(embedSchema, embedOptions, 'embed options');
    throwIfAborted(abortSignal, operation);
    if (values.length === 0) return { vectors: [] };
    const space = spaceFingerprint(await inner.space());
    throwIfAborted(abortSignal, operation);
    const base = `${prefix}:${space}:${role === 'query' ? 'q' : 'd'}:`;
    const keys = values.map((text) => base + sha256Hex(text));

    // Claim or join a flight per distinct key, synchronously, so overlapping calls see each other.
    const owned: { key: string; text: string; flight: Flight }[] = [];
    const waits = new Map<string, { flight: Flight; mine: boolean }>();
    keys.forEach((key, i) => {
      if (waits.has(key)) {
        stats.shared++;
        return;
      }
      const existing = flights.get(key);
      if (existing) {
        stats.shared++;
        waits.set(key, { flight: existing, mine: false });
        return;
      }
      const flight = newFlight();
      flights.set(key, flight);
      waits.set(key, { flight, mine: true });
      owned.push({ key, text: values[i] as string, flight });
    });

    let extra: Pick<EmbedResult<AnyVector>, 'usage' | 'warnings'> = {};
    if (owned.length > 0) {
      try {
        extra = await fill(owned, role, abortSignal);
      } catch (error) {
        for (const entry of owned) entry.flight.reject(error);
        throw error;
      } finally {
        for (const entry of owned) if (flights.get(entry.key) === entry.flight) flights.delete(entry.key);
      }
    }

    // Vectors computed by another caller are shared; if that caller was aborted, compute them here.
    const results = new Map<string, AnyVector>();
    const retry: string[] = [];
    for (const [key, { flight, mine }] of waits) {
      try {
        const vector = await raceAbort(flight.promise, abortSignal, operation);
        results.set(key, mine ? vector : copyVector(vector));
      } catch (error) {
        if (mine || !AbortedError.isInstance(error) || abortSignal?.aborted) throw error;
        retry.push(key);
      }
    }
    if (retry.length > 0) {
      const texts = retry.map((key) => values[keys.indexOf(key)] as string);
      const again = await embed({ values: texts, role, ...(abortSignal ? { abortSignal } : {}) });
      retry.forEach((key, i) => {
        results.set(key, again.vectors[i] as AnyVector);
      });
    }
    const used = new Set<string>();
    const vectors = keys.map((key) => {
      const vector = results.get(key) as AnyVector;
      if (!used.has(key)) {
        used.add(key);
        return vector;
      }
      return copyVector(vector);
    });
    return { vectors, ...extra };
  }

  // Every member but these (space, tokenizer, dispose, adapter extras) is the wrapped embedder's own.
  const wrapped = wrapEmbedder(inner, { embed, stats: () => ({ ...stats }), embedder: inner, cache });
  return wrapped as unknown as CachedEmbedder<TVector>;
}
