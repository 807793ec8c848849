/**
 * Runs every benchmark and writes docs/benchmarks.md.
 *
 *   npm run bench                 # full size (about 5 minutes)
 *   npm run bench -- --quick      # smaller inputs, for a smoke run
 *   npm run bench -- dense bm25   # only the named sections, printed (full runs write docs/benchmarks.md)
 *
 * A full run replaces the doc's sections with this run's, and keeps the hand-written sections marked
 * with `KEPT` (bench/doc-sections.ts) where they were.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { runAnnBench } from './ann.js';
import { runBm25Bench } from './bm25.js';
import { runCacheBench } from './cache.js';
import { runColdStartBench } from './cold-start.js';
import { runDenseBench } from './dense.js';
import { runDistributedBench } from './distributed.js';
import { keepHandWritten } from './doc-sections.js';
import { runEvalBench } from './eval.js';
import { runGatewayBench } from './gateway.js';
import { runIngestBench } from './ingest.js';
import { runLlamaCppBench } from './llama-cpp.js';
import { runLlamaCppRunnerBench } from './llama-cpp-runner.js';
import { runLoadersBench } from './loaders.js';
import { runPgvectorBench } from './pgvector.js';
import { runRouterBench } from './router.js';
import { runSparseBench } from './sparse.js';
import { runStoreBench } from './store.js';
import { runTransformersBench } from './transformers.js';

const quick = process.argv.includes('--quick');
const SECTIONS: Record<string, () => Promise<string>> = {
  dense: () => runDenseBench(quick ? { n: 20_000, queries: 30 } : {}),
  store: () => runStoreBench(quick ? { n: 20_000, queries: 20, snapshotRows: 20_000 } : {}),
  ann: () => runAnnBench(quick ? { n: 10_000, synthetic: 5000, queries: 200 } : {}),
  sparse: () => runSparseBench(quick ? { documents: 2000, pairs: 20 } : {}),
  bm25: () => runBm25Bench(),
  pgvector: () => runPgvectorBench(),
  transformers: () => runTransformersBench(),
  cache: () => runCacheBench(),
  'llama-cpp': () => runLlamaCppBench(),
  'llama-cpp-runner': () => runLlamaCppRunnerBench(),
  router: () => runRouterBench(),
  ingest: () => runIngestBench(quick ? { documents: 100 } : {}),
  loaders: () => runLoadersBench(quick ? { files: 5, rounds: 1 } : {}),
  distributed: () => runDistributedBench(quick ? { documents: 100, workers: [1, 2] } : {}),
  eval: () => runEvalBench({ glove: true }),
  gateway: () => runGatewayBench(quick ? { durationSeconds: 5 } : {}),
  'cold-start': () => runColdStartBench(quick ? { runs: 5 } : {}),
};
const asked = process.argv.slice(2).filter((arg) => !arg.startsWith('--'));
for (const name of asked) {
  if (!(name in SECTIONS))
    throw new Error(`Unknown benchmark "${name}"; choose from: ${Object.keys(SECTIONS).join(', ')}`);
}
const chosen = asked.length > 0 ? asked : Object.keys(SECTIONS);

const started = new Date();
const sections: string[] = [];
for (const name of chosen) {
  console.error(`running ${name}…`);
  const text = (await (SECTIONS[name] as () => Promise<string>)()).trim().replace(/^### /, '## ');
  console.log(text);
  sections.push(text);
}

const cpu = cpus()[0]?.model ?? 'unknown CPU';
const header = [
  '# Benchmarks',
  '',
  `Written by \`npm run bench${quick ? ' -- --quick' : ''}\` on ${started.toISOString().slice(0, 10)}: ` +
    `Node ${process.versions.node}, ${cpus().length} × ${cpu}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB. Every contender ` +
    'runs in the same process, on the same data, one after another. Timings on a shared 2-core machine vary from run ' +
    'to run by ±30%; compare rows of one run, not runs. Sections marked hand-written are analyses kept from run to ' +
    'run: check their figures against the tables.',
  '',
];
if (asked.length > 0) {
  console.error('partial run: docs/benchmarks.md is left as it is (a full run writes it)');
} else {
  const doc = new URL('../docs/benchmarks.md', import.meta.url);
  const { sections: all, kept } = keepHandWritten(existsSync(doc) ? readFileSync(doc, 'utf8') : '', sections);
  writeFileSync(doc, `${[...header, all.join('\n\n'), ''].join('\n')}`);
  console.error('wrote docs/benchmarks.md');
  for (const heading of kept) console.error(`kept the hand-written "${heading}": check its figures against this run`);
}
