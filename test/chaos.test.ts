import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { assertFreshBuild } from './chaos/fresh-build.js';
import { runChaos, twoWritersTrial } from './chaos/harness.js';
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

test(
  'two writers on one data dir: each completes or gets LockedError naming the holder; nothing is lost',
  async () => {
    await assertFreshBuild();
    const outcomes: string[] = [];
    for (let trial = 0; trial < 20; trial++) {
      const config = { store: 'file', mode: trial % 2 === 0 ? 'bm25' : 'hybrid', prune: true } as const;
      const result = await twoWritersTrial(config, {
        directory: join(root, `writers-${trial}`),
        offsetMs: (trial * 37) % 250,
      });
      expect(result.difference, `trial ${trial}: ${JSON.stringify(result)}`).toBeUndefined();
      expect(result.completed.length + result.locked.length).toBe(2);
      outcomes.push(
        `${result.completed.join('+')}${result.locked.length > 0 ? ` (locked: ${result.locked.join('+')})` : ''}`,
      );
    }
    // The trials overlap often enough that the lock is seen to refuse a writer.
    expect(outcomes.some((outcome) => outcome.includes('locked'))).toBe(true);
    await writeFile(join(process.cwd(), '.tmp', 'writers-summary.json'), JSON.stringify(outcomes, null, 2)).catch(
      () => undefined,
    );
  },
  10 * 60_000,
);
