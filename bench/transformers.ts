/**
 * What kumiki's transformers.js embedder adds over calling transformers.js's
 * `pipeline('feature-extraction', …)` directly: same generated model, same texts, same batches, same
 * pooling and normalisation, in the same process, rounds alternating between the two.
 *
 *   npx tsx bench/transformers.ts
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { pipeline } from '@huggingface/transformers';
import { createTransformersEmbedder } from '../src/embedders/transformers/index.js';
import { writeTinyBert } from '../test/helpers/tiny-bert.js';

export type TransformersBenchOptions = {
  /** Texts embedded per round; default 256. */
  texts?: number;
  /** Texts per forward pass; default 32. */
  batchSize?: number;
  /** Times each batch goes through both contenders; default 5. */
  rounds?: number;
  /** Width of the generated model; default 384. */
  hidden?: number;
  /** Blocks of the generated model; default 6. */
  layers?: number;
};

const WORDS =
  'the quick brown fox jumps over lazy dog retrieval augmented generation grounds answers in documents vectors of same space can be compared search model data store index hello world red green blue good old new fast slow read write'.split(
    ' ',
  );

/** Seeded sentences of 4 to 40 words. */
function sentences(count: number): string[] {
  let state = 7;
  const next = () => {
    state = (state * 1103515245 + 12345) % 2 ** 31;
    return state / 2 ** 31;
  };
  return Array.from({ length: count }, () =>
    Array.from({ length: 4 + Math.floor(next() * 37) }, () => WORDS[Math.floor(next() * WORDS.length)]).join(' '),
  );
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] as number;

export async function runTransformersBench(options: TransformersBenchOptions = {}): Promise<string> {
  const count = options.texts ?? 256;
  const batchSize = options.batchSize ?? 32;
  const rounds = options.rounds ?? 5;
  const hidden = options.hidden ?? 384;
  const layers = options.layers ?? 6;
  const root = await mkdtemp(join(tmpdir(), 'kumiki-bench-transformers-'));
  try {
    const model = await writeTinyBert(join(root, 'model'), {
      hidden,
      layers,
      intermediate: hidden * 4,
      maxPositions: 512,
    });
    const texts = sentences(count);
    const batches = Array.from({ length: Math.ceil(count / batchSize) }, (_, i) =>
      texts.slice(i * batchSize, (i + 1) * batchSize),
    );

    const extractor = await pipeline('feature-extraction', model.folder, { local_files_only: true, dtype: 'fp32' });
    const embedder = createTransformersEmbedder({
      model: model.folder,
      offline: true,
      batchSize,
      pooling: 'mean',
      normalize: true,
    });
    const direct = async (batch: string[]) =>
      (await extractor(batch, { pooling: 'mean', normalize: true })).data as Float32Array;
    const viaKumiki = async (batch: string[]) => (await embedder.embed({ values: batch, role: 'document' })).vectors;

    // Warm-up (loads, first-run allocations), and a check that both compute the same vectors.
    let difference = 0;
    for (const batch of batches) {
      const [reference, vectors] = [await direct(batch), await viaKumiki(batch)];
      vectors.forEach((vector, i) => {
        vector.forEach((value, j) => {
          difference = Math.max(difference, Math.abs(value - (reference[i * hidden + j] as number)));
        });
      });
    }

    // Batch by batch, back to back, alternating which goes first: each pair shares the machine's load of
    // the moment, so the median of the per-pair ratios resists the drift of a shared machine.
    const samples = { direct: [] as number[], kumiki: [] as number[], ratio: [] as number[] };
    for (let round = 0; round < rounds; round++) {
      for (const [index, batch] of batches.entries()) {
        const spent = { direct: 0, kumiki: 0 };
        const order = (round + index) % 2 === 0 ? (['direct', 'kumiki'] as const) : (['kumiki', 'direct'] as const);
        for (const contender of order) {
          const started = performance.now();
          await (contender === 'direct' ? direct(batch) : viaKumiki(batch));
          spent[contender] = performance.now() - started;
        }
        samples.direct.push(spent.direct);
        samples.kumiki.push(spent.kumiki);
        samples.ratio.push(spent.kumiki / spent.direct);
      }
    }
    await Promise.all([embedder.dispose(), extractor.dispose()]);

    const overhead = (median(samples.ratio) - 1) * 100;
    return [
      '## transformers.js embedder: overhead over the pipeline',
      '',
      `The generated BERT-style ONNX model (test/helpers/tiny-bert.ts: hidden ${hidden}, ${layers} blocks, feed-forward ` +
        `${hidden * 4}, vocabulary ${model.vocabSize}, fp32, CPU), ${count} texts of 4–40 words in batches of ${batchSize}, ` +
        "mean pooling and normalisation. Each batch goes to transformers.js's `pipeline('feature-extraction')` and to " +
        'one kumiki `embed` call (validation, tokenisation with truncation, pooling into one Float32Array per text, ' +
        'token count, truncation check), back to back, alternating which runs first, ' +
        `${rounds} times over after a warm-up: ${samples.ratio.length} pairs. ms per batch is each one's median; overhead is ` +
        "the median of the pairs' kumiki / pipeline ratios, minus 1. Largest difference between the two sets of vectors: " +
        `${difference.toExponential(1)}.`,
      '',
      '| contender | ms per batch | overhead |',
      '|---|---:|---:|',
      `| transformers.js pipeline | ${median(samples.direct).toFixed(1)} | |`,
      `| kumiki createTransformersEmbedder | ${median(samples.kumiki).toFixed(1)} | ${overhead >= 0 ? '+' : ''}${overhead.toFixed(1)}% |`,
      '',
    ].join('\n');
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  console.log(await runTransformersBench());
}
