/**
 * Runs every benchmark and writes docs/benchmarks.md.
 *
 *   npm run bench                 # full size: 100K × 384 dense, all of CISI
 *   npm run bench -- --quick      # 20K vectors, for a smoke run
 */
import { writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { runBm25Bench } from './bm25.js';
import { runDenseBench } from './dense.js';

const quick = process.argv.includes('--quick');
const started = new Date();
const dense = await runDenseBench(quick ? { n: 20_000, queries: 30 } : {});
console.log(dense);
const bm25 = await runBm25Bench();
console.log(bm25);

const cpu = cpus()[0]?.model ?? 'unknown CPU';
const text = [
  '# Benchmarks',
  '',
  `Written by \`npm run bench${quick ? ' -- --quick' : ''}\` on ${started.toISOString().slice(0, 10)}: Node ${process.versions.node}, ` +
    `${cpus().length} × ${cpu}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB. Every contender runs in the same process, ` +
    'on the same data, one after another. Timings on a shared 2-core machine vary from run to run by ±30%; ' +
    'compare rows of one run, not runs.',
  '',
  dense.replace(/^### /, '## ').trim(),
  '',
  bm25.trim(),
  '',
].join('\n');
writeFileSync(new URL('../docs/benchmarks.md', import.meta.url), text);
console.log('wrote docs/benchmarks.md');
