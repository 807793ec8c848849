import * as z from 'zod';
import type { EmbedOptions, EmbedResult, SparseEmbedder } from '../core/embedder.js';
import { InvalidArgumentError, throwIfAborted } from '../core/errors.js';
import type { EmbeddingSpace } from '../core/fingerprint.js';
import { embedOptionsSchema } from '../core/schemas.js';
import { parseArgument } from '../core/validate.js';
import { BM25_STATE_FORMAT, type Bm25State, bm25StateSchema } from './state.js';
import { Analyzer, type AnalyzerDescription, type Bm25Stemmer } from './tokenize.js';

/** Default size of the hashed index space: 2^24. See docs/bm25.md for why. */
export const DEFAULT_BM25_DIMENSIONS = 2 ** 24;
const MAX_BATCH_SIZE = 4096;
/** Most texts of one `addDocuments` call whose term counts are kept for the `embed` that follows. */
const RECENT_LIMIT = 4096;
/** How often `embed` checks its abort signal, and how long it computes before yielding to the event loop. */
const ABORT_CHECK_EVERY = 64;
const YIELD_AFTER_MS = 16;

export type Bm25Options = {
  /** Term-frequency saturation. Default 1.2. `0` turns term frequency off (binary matching). */
  k1?: number;
  /** Document length normalisation, 0 (none) to 1 (full). Default 0.75. */
  b?: number;
  /** Size of the hashed index space; indices are `murmur3(term) mod dimensions`. Default 2^24. */
  dimensions?: number;
  /** `'english'` (default), `'none'`, or your own list (matched after lowercasing). */
  stopwords?: 'english' | 'none' | readonly string[];
  /** `'english'` (Porter2, default), `'none'`, or `{ name, stem }` for another language. */
  stemmer?: 'english' | 'none' | Bm25Stemmer;
  /**
   * How a query term that occurs several times counts: `'count'` (default) multiplies its IDF by the
   * number of occurrences, as BM25 sums over query terms; `'binary'` counts it once.
   */
  queryTermFrequency?: 'count' | 'binary';
  /** Documents to fit the corpus statistics on at creation (same as calling `addDocuments`). */
  corpus?: readonly string[];
  /** Statistics exported earlier with `exportState()`; `corpus`, if also given, is added on top. */
  state?: Bm25State;
};

/** The sparse vectors a BM25 encoder returns: indices ascending. */
export type Bm25Vector = { indices: Uint32Array; values: Float32Array };

export type Bm25Stats = {
  documentCount: number;
  totalLength: number;
  /** `totalLength / documentCount`, or 0 when there are no documents. */
  averageLength: number;
  /** Number of distinct hashed terms that occur in at least one document. */
  vocabularySize: number;
};

/**
 * A sparse embedder whose vectors' dot product is the BM25 score: document vectors carry the
 * saturated, length-normalised term frequency, query vectors the IDF. It keeps the corpus statistics
 * (document count, total length, document frequencies) that both need.
 */
export interface Bm25Encoder extends SparseEmbedder {
  readonly provider: 'kumiki';
  readonly modelId: 'bm25';
  /**
   * Role `'document'`: BM25 term-frequency weights using the current average length. Role `'query'`:
   * IDF weights from the current statistics. Never changes the statistics: call `addDocuments`.
   */
  embed(options: EmbedOptions): Promise<EmbedResult<Bm25Vector>>;
  /** The terms a text is indexed under: lowercased, stop words removed, stemmed. */
  tokenize(text: string): string[];
  /** Adds documents to the corpus statistics (call it when you ingest them). */
  addDocuments(texts: readonly string[]): void;
  /**
   * Removes documents added earlier (pass the same texts). Throws InvalidArgumentError, changing
   * nothing, when that would take a count below zero (texts that were never added).
   */
  removeDocuments(texts: readonly string[]): void;
  stats(): Bm25Stats;
  /** A JSON-serialisable snapshot of the statistics. */
  exportState(): Bm25State;
  /** Replaces the statistics with a snapshot from `exportState()`; validated first. */
  importState(state: Bm25State): void;
  /**
   * A new encoder with the same settings and a copy of these statistics, independent from then on.
   * `ingest` and `retrieve` keep one per collection, so one encoder object can serve many.
   */
  fork(): Bm25Encoder;
}

const stemmerSchema = z.union([
  z.enum(['english', 'none']),
  z
    .object({
      name: z.string().min(1, 'stemmer.name must name the stemmer (it goes into the embedding space)'),
      stem: z.custom<(word: string) => string>(
        (value) => typeof value === 'function',
        'stemmer.stem must be a function',
      ),
    })
    .strict(),
]);

const optionsSchema = z
  .object({
    k1: z.number().finite().nonnegative('k1 must be >= 0').optional(),
    b: z.number().min(0, 'b must be between 0 and 1').max(1, 'b must be between 0 and 1').optional(),
    dimensions: z
      .number()
      .int('dimensions must be an integer')
      .min(1, 'dimensions must be at least 1')
      .max(2 ** 32, 'dimensions must be at most 2^32 (indices are unsigned 32-bit)')
      .optional(),
    stopwords: z.union([z.enum(['english', 'none']), z.array(z.string())]).optional(),
    stemmer: stemmerSchema.optional(),
    queryTermFrequency: z.enum(['count', 'binary']).optional(),
    corpus: z.array(z.string()).optional(),
    state: z.unknown().optional(),
  })
  .strict();

const textsSchema = z.array(z.string(), { error: 'must be an array of strings' });

const embedSchema = embedOptionsSchema(MAX_BATCH_SIZE);

/** Term index → count, plus the number of terms. */
type TermCounts = { counts: Map<number, number>; length: number };

/** An encoder's corpus statistics, as `copyBm25Statistics` and `fork` copy them between encoders. */
type Statistics = { documentCount: number; totalLength: number; documentFrequencies: Map<number, number> };

/** The statistics of each encoder made here and its analyzer, for copies that skip `exportState`/`importState`. */
const internals = new WeakMap<
  Bm25Encoder,
  { analyzer: Analyzer; read(): Statistics; write(statistics: Statistics): void }
>();

/**
 * Copies the statistics of `from` into `to`, as `to.importState(from.exportState())` would, without
 * the round trip: when both are encoders of `createBm25Encoder` with the same analyzer. Returns
 * whether it copied (when not, use `exportState`/`importState`, which say what does not match).
 */
export function copyBm25Statistics(from: unknown, to: unknown): boolean {
  const source = internals.get(from as Bm25Encoder);
  const target = internals.get(to as Bm25Encoder);
  if (!source || !target) return false;
  const a = source.analyzer.description;
  const b = target.analyzer.description;
  const same = (Object.keys(a) as Array<keyof AnalyzerDescription>).every((key) => a[key] === b[key]);
  if (same) target.write(source.read());
  return same;
}

/** Creates a BM25 sparse encoder. Needs no model download; see docs/bm25.md. */
export function createBm25Encoder(options: Bm25Options = {}): Bm25Encoder {
  const parsed = parseArgument(optionsSchema, options, 'BM25 options');
  const analyzer = new Analyzer({
    stopwords: parsed.stopwords ?? 'english',
    stemmer: (parsed.stemmer as Bm25Options['stemmer']) ?? 'english',
    dimensions: parsed.dimensions ?? DEFAULT_BM25_DIMENSIONS,
  });
  const encoder = buildEncoder(parsed, analyzer);
  if (parsed.state !== undefined) encoder.importState(parsed.state as Bm25State);
  if (parsed.corpus !== undefined) encoder.addDocuments(parsed.corpus);
  return encoder;
}

/** An encoder with empty statistics, of parsed options on `analyzer` (forks share their parent's: its caches are pure). */
function buildEncoder(parsed: z.infer<typeof optionsSchema>, analyzer: Analyzer): Bm25Encoder {
  const k1 = parsed.k1 ?? 1.2;
  const b = parsed.b ?? 0.75;
  const dimensions = parsed.dimensions ?? DEFAULT_BM25_DIMENSIONS;
  const queryTermFrequency = parsed.queryTermFrequency ?? 'count';
  const description = analyzer.description;

  let documentCount = 0;
  let totalLength = 0;
  let documentFrequencies = new Map<number, number>();

  const space: EmbeddingSpace = {
    provider: 'kumiki',
    model: 'bm25',
    kind: 'sparse',
    dimensions,
    extra: {
      k1,
      b,
      idf: 'ln(1+(N-df+0.5)/(df+0.5))',
      queryTermFrequency,
      tokenizer: description.tokenizer,
      stopwords: description.stopwords,
      stemmer: description.stemmer,
      hash: description.hash,
    },
  };

  /**
   * The texts of the latest `addDocuments` call and their counts: `ingest` adds a batch to the
   * statistics and then embeds the same texts, which so are analysed once.
   */
  let recent = new Map<string, TermCounts>();

  function countTerms(text: string): TermCounts {
    return analyzer.countIndices(text);
  }

  function toVector(counts: Map<number, number>, weight: (count: number, index: number) => number): Bm25Vector {
    const indices = new Uint32Array(counts.size);
    let at = 0;
    for (const index of counts.keys()) indices[at++] = index;
    indices.sort();
    const values = new Float32Array(indices.length);
    for (let i = 0; i < indices.length; i++) {
      const index = indices[i]!;
      values[i] = weight(counts.get(index)!, index);
    }
    return { indices, values };
  }

  function documentVector(text: string): Bm25Vector {
    const { counts, length } = recent.get(text) ?? countTerms(text);
    const averageLength = documentCount > 0 ? totalLength / documentCount : length;
    const norm = k1 * (1 - b + (b * length) / (averageLength || 1));
    return toVector(counts, (tf) => (tf * (k1 + 1)) / (tf + norm));
  }

  function queryVector(text: string): Bm25Vector {
    const { counts } = countTerms(text);
    const n = documentCount;
    return toVector(counts, (qtf, index) => {
      const df = documentFrequencies.get(index) ?? 0;
      const idf = Math.log(1 + (n - df + 0.5) / (df + 0.5));
      return queryTermFrequency === 'count' ? idf * qtf : idf;
    });
  }

  function checkAnalyzer(state: Bm25State): void {
    const issues = (Object.keys(description) as Array<keyof AnalyzerDescription>)
      .filter((key) => state.analyzer[key] !== description[key])
      .map((key) => ({
        path: `analyzer.${key}`,
        message: `the state was built with ${JSON.stringify(state.analyzer[key])} but this encoder uses ${JSON.stringify(description[key])}; create the encoder with the same options, or rebuild the statistics`,
      }));
    if (issues.length > 0) throw new InvalidArgumentError({ argument: 'BM25 state', issues, component: 'bm25' });
  }

  function importState(input: Bm25State): void {
    const state = parseArgument(bm25StateSchema, input, 'BM25 state');
    checkAnalyzer(state);
    documentCount = state.documentCount;
    totalLength = state.totalLength;
    documentFrequencies = new Map(state.indices.map((index, i) => [index, state.documentFrequencies[i]!]));
  }

  function addDocuments(texts: readonly string[]): void {
    const valid = parseArgument(textsSchema, texts, 'texts');
    const remembered = new Map<string, TermCounts>();
    for (const text of valid) {
      const counted = countTerms(text);
      const { counts, length } = counted;
      if (remembered.size < RECENT_LIMIT) remembered.set(text, counted);
      documentCount += 1;
      totalLength += length;
      for (const index of counts.keys()) documentFrequencies.set(index, (documentFrequencies.get(index) ?? 0) + 1);
    }
    recent = remembered;
  }

  function removeDocuments(texts: readonly string[]): void {
    const valid = parseArgument(textsSchema, texts, 'texts');
    // Work out every change first, so a failure leaves the statistics untouched.
    const decrements = new Map<number, number>();
    let removedLength = 0;
    for (const text of valid) {
      const { counts, length } = countTerms(text);
      removedLength += length;
      for (const index of counts.keys()) decrements.set(index, (decrements.get(index) ?? 0) + 1);
    }
    const problems: string[] = [];
    if (valid.length > documentCount) {
      problems.push(`removing ${valid.length} documents but only ${documentCount} were added`);
    } else if (removedLength > totalLength) {
      problems.push(`the texts hold ${removedLength} terms but the corpus only ${totalLength}`);
    } else {
      for (const [index, decrement] of decrements) {
        if ((documentFrequencies.get(index) ?? 0) < decrement) {
          problems.push('the texts contain terms that no added document contains');
          break;
        }
      }
    }
    if (problems.length > 0) {
      throw new InvalidArgumentError({
        argument: 'texts',
        component: 'bm25',
        issues: problems.map((message) => ({
          path: '',
          message: `${message}; pass exactly the texts that were added`,
        })),
      });
    }
    documentCount -= valid.length;
    totalLength -= removedLength;
    for (const [index, decrement] of decrements) {
      const left = documentFrequencies.get(index)! - decrement;
      if (left === 0) documentFrequencies.delete(index);
      else documentFrequencies.set(index, left);
    }
    if (documentCount === 0) {
      totalLength = 0;
      documentFrequencies.clear();
    }
  }

  const encoder: Bm25Encoder = {
    specificationVersion: 'kumiki.embedder.v1',
    provider: 'kumiki',
    modelId: 'bm25',
    kind: 'sparse',
    maxBatchSize: MAX_BATCH_SIZE,
    supportsParallelCalls: true,

    async space() {
      return { ...space, extra: { ...space.extra } };
    },

    async embed(embedOptions) {
      const { values, role, abortSignal } = parseArgument(embedSchema, embedOptions, 'embed options');
      throwIfAborted(abortSignal, 'BM25 embed');
      const vectorOf = role === 'query' ? queryVector : documentVector;
      const vectors: Bm25Vector[] = [];
      let lastYield = Date.now();
      for (let i = 0; i < values.length; i++) {
        if (i > 0 && i % ABORT_CHECK_EVERY === 0) {
          if (Date.now() - lastYield >= YIELD_AFTER_MS) {
            await new Promise((resolve) => setTimeout(resolve, 0));
            lastYield = Date.now();
          }
          throwIfAborted(abortSignal, 'BM25 embed');
        }
        vectors.push(vectorOf(values[i]!));
      }
      return { vectors };
    },

    tokenize(text) {
      return analyzer.analyze(parseArgument(z.string({ error: 'must be a string' }), text, 'text'));
    },

    addDocuments,
    removeDocuments,

    stats() {
      return {
        documentCount,
        totalLength,
        averageLength: documentCount > 0 ? totalLength / documentCount : 0,
        vocabularySize: documentFrequencies.size,
      };
    },

    exportState() {
      const indices = [...documentFrequencies.keys()].sort((x, y) => x - y);
      return {
        format: BM25_STATE_FORMAT,
        analyzer: { ...description },
        documentCount,
        totalLength,
        indices,
        documentFrequencies: indices.map((index) => documentFrequencies.get(index)!),
      };
    },

    importState,

    fork() {
      const fork = buildEncoder(parsed, analyzer);
      copyBm25Statistics(encoder, fork);
      return fork;
    },
  };

  internals.set(encoder, {
    analyzer,
    read: () => ({ documentCount, totalLength, documentFrequencies }),
    write(statistics) {
      documentCount = statistics.documentCount;
      totalLength = statistics.totalLength;
      documentFrequencies = new Map(statistics.documentFrequencies);
    },
  });
  return encoder;
}
