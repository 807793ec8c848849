import * as z from 'zod';

export const BM25_STATE_FORMAT = 'kumiki.bm25.state.v1';

/**
 * A JSON-serialisable snapshot of a BM25 encoder's corpus statistics. Store it next to the
 * collection it describes and load it with `createBm25Encoder({ state })` or `importState`.
 */
export type Bm25State = {
  format: typeof BM25_STATE_FORMAT;
  /** The analyzer that produced the statistics; importing into an encoder with another one fails. */
  analyzer: {
    tokenizer: string;
    stopwords: string;
    stemmer: string;
    hash: string;
    dimensions: number;
  };
  /** Number of documents added (minus those removed). */
  documentCount: number;
  /** Sum of the documents' lengths in terms (after stop word removal). */
  totalLength: number;
  /** Hashed term indices that occur in at least one document, ascending. */
  indices: number[];
  /** How many documents contain each index; parallel to `indices`. */
  documentFrequencies: number[];
};

const count = z.number().int('must be an integer').nonnegative('must not be negative');

export const bm25StateSchema = z
  .object({
    format: z.literal(BM25_STATE_FORMAT, { error: `must be "${BM25_STATE_FORMAT}"` }),
    analyzer: z
      .object({
        tokenizer: z.string(),
        stopwords: z.string(),
        stemmer: z.string(),
        hash: z.string(),
        dimensions: z.number().int().positive(),
      })
      .strict(),
    documentCount: count,
    totalLength: count,
    indices: z.array(count),
    documentFrequencies: z.array(z.number().int('must be an integer').positive('must be at least 1')),
  })
  .strict()
  .superRefine((state, ctx) => {
    if (state.indices.length !== state.documentFrequencies.length) {
      ctx.addIssue({
        code: 'custom',
        path: ['documentFrequencies'],
        message: `has ${state.documentFrequencies.length} entries but indices has ${state.indices.length}`,
      });
      return;
    }
    for (let i = 0; i < state.indices.length; i++) {
      const index = state.indices[i]!;
      if (index >= state.analyzer.dimensions) {
        ctx.addIssue({
          code: 'custom',
          path: ['indices', i],
          message: `must be below dimensions (${state.analyzer.dimensions})`,
        });
        return;
      }
      if (i > 0 && index <= state.indices[i - 1]!) {
        ctx.addIssue({ code: 'custom', path: ['indices', i], message: 'indices must be strictly ascending' });
        return;
      }
      if (state.documentFrequencies[i]! > state.documentCount) {
        ctx.addIssue({
          code: 'custom',
          path: ['documentFrequencies', i],
          message: `exceeds documentCount (${state.documentCount})`,
        });
        return;
      }
    }
    if (state.documentCount === 0 && (state.totalLength !== 0 || state.indices.length !== 0)) {
      ctx.addIssue({ code: 'custom', path: ['documentCount'], message: 'is 0 but the state holds term statistics' });
    }
  }) as z.ZodType<Bm25State>;
