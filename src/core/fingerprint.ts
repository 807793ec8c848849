import * as z from 'zod/mini';
import { sha256Hex } from './sha256.js';
import { parseArgument } from './validate.js';

/**
 * Everything that changes the vectors an embedder produces. Two embedders with equal spaces produce
 * comparable vectors; anything else does not.
 */
export type EmbeddingSpace = {
  provider: string;
  model: string;
  revision?: string;
  /** Dense dimensions, or the size of the index space for sparse vectors. */
  dimensions: number;
  kind?: 'dense' | 'sparse';
  pooling?: string;
  normalize?: boolean;
  queryPrefix?: string;
  documentPrefix?: string;
  quantization?: string;
  /** Anything else that changes the output (tokenizer settings, BM25 parameters, …). */
  extra?: Record<string, string | number | boolean | null>;
};

export const embeddingSpaceSchema = z.strictObject({
  provider: z.string().check(z.minLength(1)),
  model: z.string().check(z.minLength(1)),
  revision: z.optional(z.string()),
  dimensions: z.number().check(z.int(), z.positive()),
  kind: z.optional(z.enum(['dense', 'sparse'])),
  pooling: z.optional(z.string()),
  normalize: z.optional(z.boolean()),
  queryPrefix: z.optional(z.string()),
  documentPrefix: z.optional(z.string()),
  quantization: z.optional(z.string()),
  extra: z.optional(z.record(z.string(), z.union([z.string(), z.number(), z.boolean(), z.null()]))),
});

const FIELDS = [
  'provider',
  'model',
  'revision',
  'dimensions',
  'kind',
  'pooling',
  'normalize',
  'queryPrefix',
  'documentPrefix',
  'quantization',
] as const;

/** Canonical form: defaults filled in, keys in a fixed order, so equal spaces hash equally. */
function canonical(space: EmbeddingSpace): string {
  const extra = space.extra ?? {};
  return JSON.stringify({
    provider: space.provider,
    model: space.model,
    revision: space.revision ?? 'main',
    dimensions: space.dimensions,
    kind: space.kind ?? 'dense',
    pooling: space.pooling ?? null,
    normalize: space.normalize ?? null,
    queryPrefix: space.queryPrefix ?? '',
    documentPrefix: space.documentPrefix ?? '',
    quantization: space.quantization ?? null,
    extra: Object.fromEntries(
      Object.keys(extra)
        .sort()
        .map((key) => [key, extra[key]]),
    ),
  });
}

/**
 * A stable id for an embedding space: `kfp1:` followed by 32 hex characters of SHA-256 over the
 * canonical description. Stored with collections and in cache keys.
 */
export function fingerprint(space: EmbeddingSpace): string {
  const parsed = parseArgument(embeddingSpaceSchema, space, 'embedding space');
  return `kfp1:${sha256Hex(canonical(parsed)).slice(0, 32)}`;
}

/**
 * The JSON text of a value made only of what JSON writes back as it is (strings, finite numbers,
 * booleans, null, plain objects whose own properties are all enumerable); undefined for anything
 * else (undefined, functions, NaN, dates, arrays, class instances, cycles, BigInts), where two
 * different values could read as the same text.
 */
function faithfulJson(value: unknown): string | undefined {
  let faithful = true;
  const check = function (this: Record<string, unknown>, key: string, written: unknown) {
    const original = this[key];
    if (typeof original === 'number') faithful &&= Number.isFinite(original);
    else if (typeof original === 'object' && original !== null) {
      const prototype = Object.getPrototypeOf(original);
      faithful &&=
        (prototype === Object.prototype || prototype === null) &&
        Object.getOwnPropertyNames(original).length === Object.keys(original).length;
    } else faithful &&= typeof original === 'string' || typeof original === 'boolean' || original === null;
    return written;
  };
  try {
    const json = JSON.stringify(value, check);
    return faithful ? json : undefined;
  } catch {
    return undefined;
  }
}

/**
 * `fingerprint` for a space that is asked for again and again (an embedder's `space()`, read on every
 * call since it may change, e.g. after a model reload): while the space reads as the same JSON as the
 * last one, made of plain JSON values only (so it is that same, already validated space), its hash is
 * reused; anything else goes through `fingerprint`, which validates and hashes it.
 */
export function fingerprintTracker(): (space: EmbeddingSpace) => string {
  let lastDescription: string | undefined;
  let lastFingerprint = '';
  return (space) => {
    const description = faithfulJson(space);
    if (description === undefined || description !== lastDescription) {
      lastFingerprint = fingerprint(space);
      lastDescription = description;
    }
    return lastFingerprint;
  };
}

/** Names of the fields in which two spaces differ, for error messages. */
export function diffSpaces(a: EmbeddingSpace, b: EmbeddingSpace): string[] {
  const left = JSON.parse(canonical(a)) as Record<string, unknown>;
  const right = JSON.parse(canonical(b)) as Record<string, unknown>;
  const differences: string[] = FIELDS.filter((field) => JSON.stringify(left[field]) !== JSON.stringify(right[field]));
  if (JSON.stringify(left.extra) !== JSON.stringify(right.extra)) differences.push('extra');
  return differences;
}
