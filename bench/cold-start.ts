/**
 * Cold start: a fresh Node process importing kumiki (the built package, as an app loads it), against
 * one importing zod alone and an empty one. Medians of several runs, started one after another.
 *
 *   npm run build && npx tsx bench/cold-start.ts
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const dist = fileURLToPath(new URL('../dist/index.js', import.meta.url));

/** Wall time of `node --input-type=module -e code`, from spawn to exit, ms. */
function processMs(code: string): number {
  const started = performance.now();
  const result = spawnSync(process.execPath, ['--input-type=module', '-e', code], { cwd: root, encoding: 'utf8' });
  const elapsed = performance.now() - started;
  if (result.status !== 0) throw new Error(`cold-start bench: \`${code}\` failed: ${result.stderr}`);
  return elapsed;
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
};

export async function runColdStartBench(options: { runs?: number } = {}): Promise<string> {
  if (!existsSync(dist)) throw new Error('cold-start bench: dist/ is missing; run `npm run build` first');
  const runs = options.runs ?? 15;
  const cases = [
    { name: 'empty process', code: '' },
    { name: "import('zod')", code: "await import('zod');" },
    { name: "import('kumiki')", code: `await import(${JSON.stringify(dist)});` },
    // The CommonJS build is one bundle with shared chunks; the ESM build one file per module.
    {
      name: "require('kumiki')",
      code: `import { createRequire } from 'node:module'; createRequire(import.meta.url)(${JSON.stringify(dist.replace(/\.js$/, '.cjs'))});`,
    },
  ];
  const times = new Map(cases.map((entry) => [entry.name, [] as number[]]));
  // Interleaved, so a slow moment of a shared machine falls on every case alike; one warm-up round.
  for (let run = 0; run <= runs; run++) {
    for (const entry of cases) {
      const ms = processMs(entry.code);
      if (run > 0) times.get(entry.name)!.push(ms);
    }
  }
  const medians = new Map([...times].map(([name, values]) => [name, median(values)]));
  const empty = medians.get('empty process')!;
  const zod = medians.get("import('zod')")!;
  return [
    '### Cold start: import("kumiki") in a fresh Node process',
    '',
    `Wall time of \`node --input-type=module -e "await import(…)"\` from spawn to exit, median of ${runs} runs (interleaved, after one warm-up round), importing the built package as an app does: \`import\` loads the ESM build (one file per module, so that bundlers keep only what is used), \`require\` the CommonJS bundle.`,
    '',
    '| process | ms | vs empty process | vs zod alone |',
    '|---|---:|---:|---:|',
    ...cases.map((entry) => {
      const ms = medians.get(entry.name)!;
      return `| ${entry.name} | ${ms.toFixed(1)} | ${(ms / empty).toFixed(2)}× | ${(ms / zod).toFixed(2)}× |`;
    }),
  ].join('\n');
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  console.log(await runColdStartBench());
}
