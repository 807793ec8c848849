import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { assertFreshBuild } from './chaos/fresh-build.js';
import { runChaos } from './chaos/harness.js';
import { type PgliteServer, startPgliteServer } from './helpers/pglite-server.js';

let root: string;
let pg: PgliteServer;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'kumiki-chaos-'));
  pg = await startPgliteServer();
});
afterAll(async () => {
  await pg?.stop();
  await rm(root, { recursive: true, force: true });
});

test(
  'kill -9 at random moments: after a re-run, store, ledger and BM25 statistics equal a clean ingest',
  async () => {
    await assertFreshBuild();
    const seed = Number(process.env.CHAOS_SEED ?? Date.now() % 100_000);
    const summary = await runChaos({ kills: 50, root, pgUrl: pg.connectionString, seed, maxTrials: 60 });
    await writeFile(
      join(process.cwd(), '.tmp', 'chaos-summary.json'),
      JSON.stringify({ seed, ...summary }, null, 2),
    ).catch(() => undefined);
    expect(summary.failures, `seed ${seed}`).toEqual([]);
    expect(summary.kills).toBeGreaterThanOrEqual(50);
    for (const counts of Object.values(summary.byConfig)) expect(counts.kills).toBeGreaterThan(0);
  },
  15 * 60_000,
);
