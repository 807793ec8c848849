/**
 * Throughput of the llama.cpp embedder on the stories260K GGUF (../shared/models) over CISI abstracts,
 * against node-llama-cpp called directly with the same settings and with its own thread defaults.
 *
 *   npx tsx bench/llama-cpp.ts
 */
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { getLlama, type LlamaEmbeddingContext, LlamaLogLevel } from 'node-llama-cpp';
import { createLlamaCppEmbedder } from '../src/embedders/llama-cpp/index.js';
import { documentText, loadCisi } from './cisi.js';

const MODEL = fileURLToPath(new URL('../../shared/models/stories260K.gguf', import.meta.url));
const CONTEXT_SIZE = 512;

type Row = { contender: string; texts: number; tokens: number; ms: number };

async function runKumiki(texts: string[], threads: number): Promise<Row> {
  const embedder = createLlamaCppEmbedder({ modelPath: MODEL, threads, contextSize: CONTEXT_SIZE, logLevel: 'error' });
  try {
    await embedder.embed({ values: texts.slice(0, 2), role: 'document' });
    const started = performance.now();
    let tokens = 0;
    for (let i = 0; i < texts.length; i += embedder.maxBatchSize) {
      const { usage } = await embedder.embed({ values: texts.slice(i, i + embedder.maxBatchSize), role: 'document' });
      tokens += usage?.tokens ?? 0;
    }
    return { contender: `kumiki, threads ${threads}`, texts: texts.length, tokens, ms: performance.now() - started };
  } finally {
    await embedder.dispose();
  }
}

/** node-llama-cpp alone: `threads` undefined leaves the thread counts to the library's defaults. */
async function runDirect(texts: string[], threads: number | undefined): Promise<Row> {
  const llama = await getLlama(
    threads === undefined
      ? { gpu: false, build: 'never', logLevel: LlamaLogLevel.error }
      : { gpu: false, build: 'never', logLevel: LlamaLogLevel.error, maxThreads: availableParallelism() },
  );
  const model = await llama.loadModel({ modelPath: MODEL, gpuLayers: 0 });
  let context: LlamaEmbeddingContext | undefined;
  try {
    context = await model.createEmbeddingContext({ contextSize: CONTEXT_SIZE, batchSize: CONTEXT_SIZE, threads });
    const fitted = texts.map((text) => model.tokenize(text).slice(0, CONTEXT_SIZE - 2));
    await context.getEmbeddingFor(fitted[0] ?? []);
    const started = performance.now();
    let tokens = 0;
    for (const input of fitted) {
      tokens += context.calculateInputLength(input);
      await context.getEmbeddingFor(input);
    }
    const label =
      threads === undefined
        ? `node-llama-cpp defaults (maxThreads ${llama.maxThreads})`
        : `node-llama-cpp direct, threads ${threads}`;
    return { contender: label, texts: texts.length, tokens, ms: performance.now() - started };
  } finally {
    await context?.dispose();
    await model.dispose();
    await llama.dispose();
  }
}

/** Embeds CISI abstracts with each contender and returns a markdown section. */
export async function runLlamaCppBench(options: { texts?: number; defaultsTexts?: number } = {}): Promise<string> {
  if (!existsSync(MODEL))
    throw new Error(`The benchmark model ${MODEL} is missing (../shared/models/stories260K.gguf).`);
  const texts = loadCisi()
    .documents.slice(0, options.texts ?? 40)
    .map(documentText);
  const rows = [
    await runKumiki(texts, 1),
    await runKumiki(texts, 2),
    await runDirect(texts, 1),
    // The library's defaults are slow enough on small machines that a few texts show it.
    await runDirect(texts.slice(0, options.defaultsTexts ?? 4), undefined),
  ];
  const lines = rows.map(
    (row) =>
      `| ${row.contender} | ${row.texts} | ${row.tokens} | ${(row.ms / row.texts).toFixed(2)} | ${((row.tokens / row.ms) * 1000).toFixed(0)} |`,
  );
  return [
    '## llama.cpp embeddings',
    '',
    `stories260K.gguf (64 dimensions, ../shared/models) embedding CISI titles and abstracts, contextSize ${CONTEXT_SIZE}, ` +
      `CPU only, ${availableParallelism()} cores. One text per llama.cpp evaluation (node-llama-cpp embeds one input at a time). ` +
      'The last row leaves the thread counts to node-llama-cpp: an embedding context then asks for 6 threads, capped at ' +
      '`maxThreads` (at least 4), more than the cores here.',
    '',
    '| contender | texts | tokens | ms per text | tokens/s |',
    '|---|---:|---:|---:|---:|',
    ...lines,
    '',
  ].join('\n');
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  console.log(await runLlamaCppBench());
}
