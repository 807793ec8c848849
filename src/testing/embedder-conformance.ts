import * as z from 'zod';
import type { Embedder } from '../core/embedder.js';
import { fingerprint } from '../core/fingerprint.js';
import type { SparseVector } from '../core/types.js';
import { parseArgument } from '../core/validate.js';
import { check, close, equal, rejectsWith } from './assert.js';
import type { TestFunction } from './store-conformance.js';

export type EmbedderConformanceOptions = {
  /** Prefix of the test names, default `embedder conformance`. */
  name?: string;
  /** Largest element-wise difference allowed between a batched and a one-by-one vector; default 1e-5. */
  tolerance?: number;
  /** What the embedder does with an empty string: return a vector (default) or reject with InvalidArgumentError. */
  emptyInput?: 'vector' | 'error';
  /** Characters in the "huge input" test; default 20,000. Embedders must truncate or reject with a typed error. */
  hugeInputLength?: number;
  /** Per-test timeout passed to the runner, default 60 s. */
  timeoutMs?: number;
};

type AnyEmbedder = Embedder<Float32Array> | Embedder<SparseVector>;
type EmbedderFactory = () => AnyEmbedder | Promise<AnyEmbedder>;

const optionsSchema = z
  .object({
    name: z.string().min(1).optional(),
    tolerance: z.number().nonnegative().optional(),
    emptyInput: z.enum(['vector', 'error']).optional(),
    hugeInputLength: z.number().int().min(1).optional(),
    timeoutMs: z.number().int().positive().optional(),
  })
  .strict();

const TEXTS = [
  'The quick brown fox jumps over the lazy dog.',
  'Retrieval-augmented generation grounds answers in documents.',
  'Vectors of the same space can be compared; vectors of different spaces cannot.',
  'short',
  'Ünïcödé, 日本語のテキスト, עברית, emoji 🙂🚀 and math ∑∫ all embed.',
];

/** Dense vectors as plain arrays, sparse vectors as sorted index→value pairs, for comparisons. */
function entries(vector: Float32Array | SparseVector): [number, number][] {
  if (vector instanceof Float32Array) return Array.from(vector, (value, index) => [index, value]);
  return Array.from(vector.indices, (index, i): [number, number] => [index, vector.values[i] as number]).sort(
    (a, b) => a[0] - b[0],
  );
}

function checkVector(vector: unknown, kind: 'dense' | 'sparse', dimensions: number, what: string): void {
  if (kind === 'dense') {
    check(vector instanceof Float32Array, `${what}: dense vectors are Float32Arrays`);
    equal(vector.length, dimensions, `${what}: length equals space().dimensions`);
    check(vector.every(Number.isFinite), `${what}: every value is finite`);
    return;
  }
  const sparse = vector as SparseVector;
  check(
    sparse && sparse.indices !== undefined && sparse.values !== undefined,
    `${what}: sparse vectors have indices and values`,
  );
  equal(sparse.indices.length, sparse.values.length, `${what}: as many values as indices`);
  const seen = new Set<number>();
  for (let i = 0; i < sparse.indices.length; i++) {
    const index = sparse.indices[i] as number;
    check(
      Number.isInteger(index) && index >= 0 && index < dimensions,
      `${what}: index ${index} within [0, ${dimensions})`,
    );
    check(!seen.has(index), `${what}: index ${index} appears once`);
    seen.add(index);
    check(Number.isFinite(sparse.values[i]), `${what}: values are finite`);
  }
}

function checkClose(
  a: Float32Array | SparseVector,
  b: Float32Array | SparseVector,
  tolerance: number,
  what: string,
): void {
  const left = entries(a);
  const right = entries(b);
  equal(left.length, right.length, `${what}: same number of entries`);
  left.forEach(([index, value], i) => {
    equal(index, (right[i] as [number, number])[0], `${what}: same indices`);
    close(value, (right[i] as [number, number])[1], `${what}: value ${index}`, tolerance);
  });
}

/**
 * Registers the Embedder conformance suite with your test runner: shapes and dimensions,
 * determinism, batching equals one-by-one, empty, huge and Unicode input, abort, bad input, a stable
 * fingerprint. Every kumiki embedder runs it.
 */
export function embedderConformance(
  test: TestFunction,
  factory: EmbedderFactory,
  options: EmbedderConformanceOptions = {},
): void {
  parseArgument(z.function(), test, "test (the runner's test function, e.g. vitest's `test`)");
  parseArgument(z.function(), factory, 'factory (a function returning an Embedder)');
  parseArgument(optionsSchema, options, 'embedderConformance options');
  const prefix = options.name ?? 'embedder conformance';
  const tolerance = options.tolerance ?? 1e-5;
  const t = (name: string, fn: (embedder: AnyEmbedder) => Promise<void>) =>
    test(
      `${prefix}: ${name}`,
      async () => {
        const embedder = await factory();
        try {
          await fn(embedder);
        } finally {
          await embedder.dispose?.();
        }
      },
      options.timeoutMs ?? 60_000,
    );
  const embed = (embedder: AnyEmbedder, values: readonly string[], role: 'query' | 'document' = 'document') =>
    (embedder as Embedder<Float32Array | SparseVector>).embed({ values, role });

  t('describes itself and its space', async (embedder) => {
    equal(embedder.specificationVersion, 'kumiki.embedder.v1', 'specificationVersion');
    check(embedder.provider.length > 0 && embedder.modelId.length > 0, 'provider and modelId are set');
    check(Number.isInteger(embedder.maxBatchSize) && embedder.maxBatchSize >= 1, 'maxBatchSize is a positive integer');
    const space = await embedder.space();
    equal(space.kind ?? 'dense', embedder.kind, 'space().kind matches kind');
    equal(fingerprint(await embedder.space()), fingerprint(space), 'the fingerprint is stable');
  });

  t('returns one vector per text, in order, of the declared shape', async (embedder) => {
    const space = await embedder.space();
    for (const role of ['document', 'query'] as const) {
      const { vectors } = await embed(embedder, TEXTS, role);
      equal(vectors.length, TEXTS.length, `${role}: one vector per text`);
      vectors.forEach((vector, i) => {
        checkVector(vector, embedder.kind, space.dimensions, `${role} vector ${i}`);
      });
    }
  });

  t('is deterministic', async (embedder) => {
    const first = await embed(embedder, TEXTS);
    const second = await embed(embedder, TEXTS);
    first.vectors.forEach((vector, i) => {
      checkClose(vector, second.vectors[i] as typeof vector, 0, `text ${i} embedded twice`);
    });
  });

  t('batching equals one-by-one', async (embedder) => {
    const values = Array.from(
      { length: Math.min(embedder.maxBatchSize, 24) },
      (_, i) => `${TEXTS[i % TEXTS.length]} #${i}`,
    );
    const batched = await embed(embedder, values);
    for (let i = 0; i < values.length; i += 5) {
      const { vectors } = await embed(embedder, [values[i] as string]);
      checkClose(
        batched.vectors[i] as Float32Array | SparseVector,
        vectors[0] as Float32Array | SparseVector,
        tolerance,
        `text ${i}`,
      );
    }
    const distinct = new Set(batched.vectors.map((vector) => JSON.stringify(entries(vector))));
    check(distinct.size > 1, 'different texts give different vectors');
  });

  t('empty, huge and Unicode input', async (embedder) => {
    const space = await embedder.space();
    if ((options.emptyInput ?? 'vector') === 'vector') {
      const { vectors } = await embed(embedder, ['']);
      checkVector(vectors[0], embedder.kind, space.dimensions, 'empty text');
    } else {
      await rejectsWith(() => embed(embedder, ['']), 'InvalidArgumentError', 'empty text');
    }
    const huge = 'lorem ipsum dolor sit amet '.repeat(Math.ceil((options.hugeInputLength ?? 20_000) / 27));
    try {
      const { vectors } = await embed(embedder, [huge]);
      checkVector(vectors[0], embedder.kind, space.dimensions, 'huge text');
    } catch (error) {
      check(
        typeof error === 'object' && error !== null && (error as Error).name === 'InvalidArgumentError',
        `a huge text must be truncated or rejected with InvalidArgumentError, got ${String(error)}`,
      );
    }
    const { vectors } = await embed(embedder, ['🙂', '日本語', 'שלום', '\u0301e', 'a\u0000b']);
    vectors.forEach((vector, i) => {
      checkVector(vector, embedder.kind, space.dimensions, `unicode text ${i}`);
    });
    equal((await embed(embedder, [])).vectors.length, 0, 'no texts, no vectors');
  });

  t('honours an aborted signal and rejects bad input with typed errors', async (embedder) => {
    const controller = new AbortController();
    controller.abort();
    await rejectsWith(
      () =>
        (embedder as Embedder<Float32Array>).embed({ values: TEXTS, role: 'document', abortSignal: controller.signal }),
      'AbortedError',
      'embed with an aborted signal',
    );
    await rejectsWith(
      () => (embedder as Embedder<Float32Array>).embed({ values: 'not an array' as never, role: 'document' }),
      'InvalidArgumentError',
      'values that are not an array',
    );
    await rejectsWith(
      () => (embedder as Embedder<Float32Array>).embed({ values: [42 as never], role: 'document' }),
      'InvalidArgumentError',
      'a value that is not a string',
    );
    await rejectsWith(
      () => (embedder as Embedder<Float32Array>).embed({ values: ['x'], role: 'passage' as never }),
      'InvalidArgumentError',
      'an unknown role',
    );
  });
}
