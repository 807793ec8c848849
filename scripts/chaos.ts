/**
 * `npm run chaos -- --kills 500 [--seed N]`: the chaos suite of test/chaos.test.ts at any size. Builds
 * first (the children run the built package), starts a Postgres (PGlite) for the pgvector trials,
 * and prints each trial and a summary; exits 1 if any trial ends in a state other than a clean run's.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { describeConfig, runChaos } from '../test/chaos/harness.js';
import { startPgliteServer } from '../test/helpers/pglite-server.js';

const { values } = parseArgs({ options: { kills: { type: 'string', default: '500' }, seed: { type: 'string' } } });
const kills = Number(values.kills);
const seed = Number(values.seed ?? Date.now() % 100_000);
const root = await mkdtemp(join(tmpdir(), 'kumiki-chaos-'));
const pg = await startPgliteServer();
const started = performance.now();
try {
  const summary = await runChaos({
    kills,
    root,
    pgUrl: pg.connectionString,
    seed,
    onTrial: (config, result, total) =>
      console.log(
        `trial ${total.trials}: ${describeConfig(config)}: ${result.kills} kills, ${result.equal ? 'equal to a clean run' : `DIFFERENT: ${result.difference}`} (${total.kills}/${kills} kills)`,
      ),
  });
  console.log(
    `\n${summary.kills} kills in ${summary.trials} trials (${summary.runs} processes), ${summary.failures.length} failures, seed ${seed}, ${Math.round((performance.now() - started) / 1000)} s`,
  );
  for (const [name, counts] of Object.entries(summary.byConfig))
    console.log(`  ${name}: ${counts.kills} kills in ${counts.trials} trials`);
  process.exitCode = summary.failures.length > 0 ? 1 : 0;
} finally {
  await pg.stop();
  await rm(root, { recursive: true, force: true });
}
