import * as z from 'zod';
import type { DenseEmbedder, EmbedOptions, EmbedResult, TokenCounter } from '../../core/embedder.js';
import { ConflictError, InvalidArgumentError, throwIfAborted } from '../../core/errors.js';
import type { EmbeddingSpace } from '../../core/fingerprint.js';
import { embedOptionsSchema } from '../../core/schemas.js';
import { parseArgument } from '../../core/validate.js';
import { asBytes, readSafetensors } from './safetensors.js';
import { createTokenizer, type Tokenizer } from './tokenizer.js';

const COMPONENT = 'static';
const MAX_BATCH_SIZE = 4096;
/** How often `embed` checks its abort signal and yields to the event loop, in texts. */
const YIELD_EVERY = 64;

/** A Model2Vec model: `model.safetensors`, `tokenizer.json` and (optionally) `config.json`. */
export type Model2VecFiles = {
  /** The bytes of `model.safetensors`: an `embeddings` tensor [vocabulary, dimensions], optionally `weights` and `mapping`. */
  weights: Uint8Array | ArrayBuffer;
  /** `tokenizer.json`, as text or parsed. */
  tokenizer: string | object;
  /** `config.json`, as text or parsed: its `normalize` is the default for `normalize`. */
  config?: string | object;
};

/**
 * A plain word-vector table: the word2vec/GloVe text format (`word v1 v2 …` per line, an optional
 * `count dimensions` first line), or words with their vectors row by row.
 */
export type WordVectors = { text: string } | { words: readonly string[]; vectors: Float32Array };

export type StaticEmbedderOptions = {
  /** The model's name (e.g. `minishlab/potion-base-8M`, `glove-6B-100d`): part of the fingerprint. */
  modelId: string;
  /** The model's version: part of the fingerprint. Default `main`. */
  revision?: string;
  /** A Model2Vec model, or a function that loads it (called once, on first use: fetch, R2, readFile, …). */
  model2vec?: Model2VecFiles | (() => Promise<Model2VecFiles>);
  /** A word-vector table, or a function that loads it. Give `model2vec` or `wordVectors`, not both. */
  wordVectors?: WordVectors | (() => Promise<WordVectors>);
  /** Scale vectors to length 1. Default: the Model2Vec config's `normalize`, else true. */
  normalize?: boolean;
  /** Tokens embedded per text (the rest is cut, with a warning). Default 512, as Model2Vec. */
  maxLength?: number;
  /** Word vectors: lowercase text before looking words up. Default true (GloVe's vocabulary is lowercase). */
  lowercase?: boolean;
  /** Prepended to every query. */
  queryPrefix?: string;
  /** Prepended to every document. */
  documentPrefix?: string;
};

export interface StaticEmbedder extends DenseEmbedder {
  readonly provider: 'kumiki';
  /** Loads the model if needed. */
  space(): Promise<EmbeddingSpace>;
  /**
   * The mean of the text's token vectors (unknown tokens left out, at most `maxLength` tokens),
   * normalised if `normalize`; a text with no known token gives the zero vector. Texts cut at
   * `maxLength` are named in `warnings`.
   */
  embed(options: EmbedOptions): Promise<EmbedResult<Float32Array>>;
  /** Counts tokens as `embed` sees them (unknown tokens included, no prefix, no truncation). */
  tokenizer(): Promise<TokenCounter>;
  /** Releases the tables; afterwards every method throws ConflictError. */
  dispose(): Promise<void>;
}

const functionOr = <T>(shape: z.ZodType<T>, message: string) =>
  z.union([shape, z.custom<() => Promise<T>>((value) => typeof value === 'function', message)]);

const bytesSchema = z.custom<Uint8Array | ArrayBuffer>(
  (value) => asBytes(value) !== undefined,
  'weights must be the bytes of model.safetensors (Uint8Array or ArrayBuffer)',
);
const jsonSchema = z.union([z.string(), z.object({}).loose()]);
const filesSchema = z.object({ weights: bytesSchema, tokenizer: jsonSchema, config: jsonSchema.optional() }).strict();
const wordVectorsSchema = z.union([
  z.object({ text: z.string() }).strict(),
  z
    .object({
      words: z.array(z.string()),
      vectors: z.instanceof(Float32Array, { error: 'vectors must be a Float32Array (row after row)' }),
    })
    .strict(),
]);

const optionsSchema = z
  .object({
    modelId: z.string().min(1, 'modelId must name the model (it goes into the fingerprint)'),
    revision: z.string().min(1).optional(),
    model2vec: functionOr(filesSchema, 'model2vec must be the model files or a function loading them').optional(),
    wordVectors: functionOr(wordVectorsSchema, 'wordVectors must be a table or a function loading one').optional(),
    normalize: z.boolean().optional(),
    maxLength: z.number().int().min(1, 'maxLength must be at least 1').max(1_000_000).optional(),
    lowercase: z.boolean().optional(),
    queryPrefix: z.string().optional(),
    documentPrefix: z.string().optional(),
  })
  .strict()
  .refine((options) => (options.model2vec === undefined) !== (options.wordVectors === undefined), {
    message: 'give model2vec (a Model2Vec model) or wordVectors (a word-vector table), exactly one',
  });

const embedSchema = embedOptionsSchema(MAX_BATCH_SIZE);

/** A loaded table: token → row, and how text becomes tokens. */
type Table = {
  format: 'model2vec' | 'word-vectors';
  dimensions: number;
  rows: number;
  embeddings: Float32Array;
  /** Per token: a weight multiplying its row (Model2Vec vocabulary quantization), and the row it maps to. */
  weights: Float32Array | undefined;
  mapping: Int32Array | undefined;
  encode(text: string): number[];
  unknownId: number | undefined;
  /** Characters kept before tokenizing: maxLength × the median token length (Model2Vec's pre-cut). */
  medianTokenLength: number;
  normalize: boolean | undefined;
};

const invalidModel = (path: string, message: string) =>
  new InvalidArgumentError({ argument: 'static embedder model', component: COMPONENT, issues: [{ path, message }] });

const parseJson = (value: string | object, path: string): unknown => {
  if (typeof value !== 'string') return value;
  try {
    return JSON.parse(value);
  } catch (error) {
    throw invalidModel(path, `not JSON (${(error as Error).message})`);
  }
};

const median = (values: number[]): number => {
  if (values.length === 0) return 1;
  const sorted = [...values].sort((a, b) => a - b);
  return Math.max(1, sorted[Math.floor(sorted.length / 2)] as number);
};

function loadModel2Vec(files: Model2VecFiles): Table {
  const parsed = parseArgument(filesSchema, files, 'model2vec files');
  const tokenizer: Tokenizer = createTokenizer(parseJson(parsed.tokenizer, 'tokenizer'));
  const config = parsed.config === undefined ? {} : (parseJson(parsed.config, 'config') as Record<string, unknown>);
  const tensors = readSafetensors(asBytes(parsed.weights) as Uint8Array, ['embeddings', '0', 'weights', 'mapping']);
  const embeddings = tensors.get('embeddings') ?? tensors.get('0');
  if (!embeddings) throw invalidModel('weights', 'model.safetensors has no "embeddings" tensor');
  const [rows = 0, dimensions = 0] = embeddings.shape;
  if (embeddings.shape.length !== 2 || rows === 0 || dimensions === 0 || !(embeddings.data instanceof Float32Array)) {
    throw invalidModel(
      'weights',
      `"embeddings" must be a non-empty floating-point matrix, got shape [${embeddings.shape.join(', ')}]`,
    );
  }
  const weights = tensors.get('weights');
  const mapping = tensors.get('mapping');
  const vocabulary = tokenizer.tokens.length;
  if (weights && (!(weights.data instanceof Float32Array) || weights.data.length !== vocabulary)) {
    throw invalidModel('weights', `"weights" must hold one float per token (${vocabulary})`);
  }
  if (mapping) {
    if (!(mapping.data instanceof Int32Array) || mapping.data.length !== vocabulary) {
      throw invalidModel('weights', `"mapping" must hold one integer row per token (${vocabulary})`);
    }
    if (mapping.data.some((row) => row < 0 || row >= rows))
      throw invalidModel('weights', `"mapping" points outside the ${rows} rows`);
  } else if (rows !== vocabulary) {
    throw invalidModel('weights', `"embeddings" has ${rows} rows but the tokenizer has ${vocabulary} tokens`);
  }
  return {
    format: 'model2vec',
    dimensions,
    rows,
    embeddings: embeddings.data,
    weights: weights?.data as Float32Array | undefined,
    mapping: mapping?.data as Int32Array | undefined,
    encode: (text) => tokenizer.encode(text),
    unknownId: tokenizer.unknownId,
    medianTokenLength: median(tokenizer.tokens.map((token) => token.length)),
    normalize: typeof config.normalize === 'boolean' ? config.normalize : undefined,
  };
}

/** Words and single symbols, as GloVe's and word2vec's vocabularies hold them. */
const WORDS = /[\p{L}\p{M}\p{N}]+(?:['’][\p{L}\p{M}\p{N}]+)*|[^\s\p{L}\p{M}\p{N}]/gu;

function loadWordVectors(table: WordVectors, lowercase: boolean): Table {
  const parsed = parseArgument(wordVectorsSchema, table, 'wordVectors');
  let words: readonly string[];
  let embeddings: Float32Array;
  let dimensions: number;
  if ('text' in parsed) {
    const lines = parsed.text.split(/\r?\n/).filter((line) => line.trim() !== '');
    const first = lines[0]?.trim().split(/\s+/) ?? [];
    const header = first.length === 2 && first.every((part) => /^\d+$/.test(part));
    const body = header ? lines.slice(1) : lines;
    dimensions = header ? Number(first[1]) : first.length - 1;
    if (body.length === 0 || dimensions < 1) throw invalidModel('wordVectors.text', 'holds no vectors');
    const list: string[] = [];
    embeddings = new Float32Array(body.length * dimensions);
    body.forEach((line, i) => {
      const parts = line.trim().split(/\s+/);
      if (parts.length !== dimensions + 1) {
        throw invalidModel(
          `wordVectors.text:${i + (header ? 2 : 1)}`,
          `expected a word and ${dimensions} numbers, got ${parts.length - 1}`,
        );
      }
      list.push(parts[0] as string);
      for (let d = 0; d < dimensions; d++) {
        const value = Number(parts[d + 1]);
        if (!Number.isFinite(value))
          throw invalidModel(`wordVectors.text:${i + (header ? 2 : 1)}`, `"${parts[d + 1]}" is not a number`);
        embeddings[i * dimensions + d] = value;
      }
    });
    words = list;
  } else {
    words = parsed.words;
    embeddings = parsed.vectors;
    dimensions = words.length === 0 ? 0 : embeddings.length / words.length;
    if (words.length === 0 || !Number.isInteger(dimensions) || dimensions < 1) {
      throw invalidModel('wordVectors', `${embeddings.length} values do not make ${words.length} rows`);
    }
  }
  const ids = new Map<string, number>();
  words.forEach((word, i) => {
    // The first row of a word wins (vocabularies are ordered by frequency).
    if (!ids.has(word)) ids.set(word, i);
  });
  return {
    format: 'word-vectors',
    dimensions,
    rows: words.length,
    embeddings,
    weights: undefined,
    mapping: undefined,
    encode(text) {
      const out: number[] = [];
      for (const match of (lowercase ? text.toLowerCase() : text).normalize('NFC').matchAll(WORDS)) {
        const id = ids.get(match[0]);
        out.push(id ?? -1);
      }
      return out;
    },
    unknownId: -1,
    medianTokenLength: median(words.map((word) => word.length)),
    normalize: undefined,
  };
}

/** First `count` code points of `text`. */
function codePoints(text: string, count: number): string {
  if (text.length <= count) return text;
  let end = 0;
  let seen = 0;
  while (end < text.length && seen < count) {
    const code = text.charCodeAt(end);
    end += code >= 0xd800 && code <= 0xdbff && end + 1 < text.length ? 2 : 1;
    seen++;
  }
  return text.slice(0, end);
}

/**
 * A static embedding model: a table of token vectors, mean-pooled. Reads Model2Vec models
 * (`model.safetensors` + `tokenizer.json`) and plain word-vector tables (GloVe, word2vec text), in
 * plain JavaScript: no ONNX, no native code, no network, so it runs in Workers and browsers. Nothing
 * loads until the first `space()`, `embed()` or `tokenizer()`. See docs/adapters/static.md.
 */
export function createStaticEmbedder(options: StaticEmbedderOptions): StaticEmbedder {
  const parsed = parseArgument(optionsSchema, options, 'static embedder options');
  const { modelId } = parsed;
  const revision = parsed.revision ?? 'main';
  const maxLength = parsed.maxLength ?? 512;
  const lowercase = parsed.lowercase ?? true;
  const queryPrefix = parsed.queryPrefix ?? '';
  const documentPrefix = parsed.documentPrefix ?? '';
  let loading: Promise<Table> | undefined;
  let disposed = false;

  const assertUsable = () => {
    if (disposed) {
      throw new ConflictError({
        component: COMPONENT,
        message: `The static embedder for "${modelId}" was disposed. Create a new one with createStaticEmbedder().`,
      });
    }
  };

  async function loadTable(): Promise<Table> {
    if (parsed.model2vec !== undefined) {
      const source = parsed.model2vec;
      return loadModel2Vec(typeof source === 'function' ? await source() : (source as Model2VecFiles));
    }
    const source = parsed.wordVectors as WordVectors | (() => Promise<WordVectors>);
    return loadWordVectors(typeof source === 'function' ? await source() : source, lowercase);
  }

  const load = (): Promise<Table> => {
    assertUsable();
    loading ??= loadTable().catch((error: unknown) => {
      loading = undefined;
      throw error;
    });
    return loading;
  };

  const normalizeOf = (table: Table) => parsed.normalize ?? table.normalize ?? true;

  /** The ids `embed` pools for a text: Model2Vec's character pre-cut, unknown tokens left out, at most maxLength. */
  const tokensOf = (table: Table, text: string): { ids: number[]; cut: boolean } => {
    const kept = codePoints(text, maxLength * table.medianTokenLength);
    const ids = table.encode(kept).filter((id) => id !== table.unknownId && id >= 0);
    const cut = kept.length < text.length || ids.length > maxLength;
    return { ids: ids.length > maxLength ? ids.slice(0, maxLength) : ids, cut };
  };

  const pool = (table: Table, ids: readonly number[], normalize: boolean): Float32Array => {
    const { dimensions, embeddings, weights, mapping } = table;
    const out = new Float32Array(dimensions);
    if (ids.length === 0) return out;
    const sum = new Float64Array(dimensions);
    for (const id of ids) {
      const row = (mapping ? (mapping[id] as number) : id) * dimensions;
      const weight = weights ? (weights[id] as number) : 1;
      for (let d = 0; d < dimensions; d++) sum[d] = (sum[d] as number) + weight * (embeddings[row + d] as number);
    }
    let norm = 0;
    for (let d = 0; d < dimensions; d++) {
      const value = (sum[d] as number) / ids.length;
      sum[d] = value;
      norm += value * value;
    }
    const scale = normalize && norm > 0 ? 1 / Math.sqrt(norm) : 1;
    for (let d = 0; d < dimensions; d++) out[d] = (sum[d] as number) * scale;
    return out;
  };

  return {
    specificationVersion: 'kumiki.embedder.v1',
    provider: 'kumiki',
    modelId,
    kind: 'dense',
    maxBatchSize: MAX_BATCH_SIZE,
    supportsParallelCalls: true,

    async space() {
      const table = await load();
      return {
        provider: 'kumiki',
        model: modelId,
        revision,
        dimensions: table.dimensions,
        kind: 'dense',
        pooling: 'mean',
        normalize: normalizeOf(table),
        queryPrefix,
        documentPrefix,
        extra: { format: table.format, maxLength, lowercase: table.format === 'word-vectors' ? lowercase : null },
      };
    },

    async embed(embedOptions) {
      const { values, role, abortSignal } = parseArgument(embedSchema, embedOptions, 'embed options');
      throwIfAborted(abortSignal, 'static embed');
      const table = await load();
      const normalize = normalizeOf(table);
      const prefix = role === 'query' ? queryPrefix : documentPrefix;
      const vectors: Float32Array[] = [];
      const warnings: string[] = [];
      let tokens = 0;
      for (let i = 0; i < values.length; i++) {
        if (i > 0 && i % YIELD_EVERY === 0) {
          await new Promise((resolve) => setTimeout(resolve, 0));
          throwIfAborted(abortSignal, 'static embed');
          assertUsable();
        }
        const { ids, cut } = tokensOf(table, prefix + (values[i] as string));
        if (cut) {
          warnings.push(
            `text ${i} is longer than maxLength (${maxLength} tokens); only its first ${maxLength} known tokens were embedded`,
          );
        }
        tokens += ids.length;
        vectors.push(pool(table, ids, normalize));
      }
      return { vectors, usage: { tokens }, ...(warnings.length > 0 ? { warnings } : {}) };
    },

    async tokenizer() {
      const table = await load();
      return {
        id: `kumiki-static:${modelId}@${revision}`,
        count: (text: string) => table.encode(text).length,
      };
    },

    async dispose() {
      disposed = true;
      loading = undefined;
    },
  };
}
