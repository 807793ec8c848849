import { spawn } from 'node:child_process';
import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createMemoryStore } from '../src/index.js';
import { createFilePersistence } from '../src/node/snapshot-file.js';
import { ingest } from '../src/pipeline/ingest.js';
import { createFileLedger } from '../src/pipeline/ledger-file.js';
import { crashCorpus, crashSplitter } from './fixtures/ingest-corpus.js';
import { collectionContents } from './helpers/collection-contents.js';
import { trigramEmbedder } from './helpers/trigram-embedder.mjs';

const child = fileURLToPath(new URL('./fixtures/ingest-child.ts', import.meta.url));

function runChild(directory: string, version: number, options: { killAt?: string; killAfterMs?: number } = {}) {
  return new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string; ingestMs: number }>(
    (resolve) => {
      const process_ = spawn(process.execPath, ['--import', 'tsx', child], {
        env: {
          ...process.env,
          DATA_DIR: directory,
          CORPUS_VERSION: String(version),
          ...(options.killAt ? { KILL_AT: options.killAt } : {}),
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stderr = '';
      process_.stderr.on('data', (data) => {
        stderr += data;
      });
      // Times are measured from the moment the child starts its ingest, not from spawn.
      let ready = 0;
      process_.stdout.once('data', () => {
        ready = performance.now();
        if (options.killAfterMs !== undefined) setTimeout(() => process_.kill('SIGKILL'), options.killAfterMs);
      });
      process_.on('exit', (code, signal) => resolve({ code, signal, stderr, ingestMs: performance.now() - ready }));
    },
  );
}

let root: string;
let baseline: string;
let expected: Record<string, unknown>;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'kumiki-crash-'));
  baseline = join(root, 'baseline');
  const first = await runChild(baseline, 1);
  expect(first.code, first.stderr).toBe(0);
  const fresh = createMemoryStore();
  await ingest({
    store: fresh,
    collection: 'notes',
    documents: crashCorpus(3),
    embedder: trigramEmbedder(32, 'trigram'),
    splitter: crashSplitter,
  });
  expected = await collectionContents(fresh, 'notes');
}, 60_000);
afterAll(() => rm(root, { recursive: true, force: true }));

async function checkFinalState(directory: string) {
  const store = createMemoryStore({ persistence: createFilePersistence(join(directory, 'store.snapshot')) });
  const actual = await collectionContents(store, 'notes');
  expect(actual).toEqual(expected);
  const entries = await createFileLedger(join(directory, 'ledger.jsonl')).entries();
  expect(entries.map((entry) => entry.source).sort()).toEqual(
    crashCorpus(3)
      .map((d) => d.uri)
      .sort(),
  );
  for (const entry of entries) {
    expect(entry.pending).toBeUndefined();
    expect(entry.stale).toBeUndefined();
    const ids = Object.entries(actual)
      .filter(([, record]) => (record as { payload: { source: string } }).payload.source === entry.source)
      .map(([id]) => id)
      .sort();
    expect([...entry.chunkIds].sort()).toEqual(ids);
  }
  await store.dispose();
}

// Version 2 is killed at each point; version 3 (which changes the corpus again) then runs to the end.
const KILL_POINTS = [
  'embed:2:before',
  'upsert:1:after',
  'upsert:2:before',
  'ledger:2:after',
  'ledger:4:before',
  'delete:1:before',
  'delete:1:after',
];

describe('an ingest killed with SIGKILL and run again', () => {
  test.each(KILL_POINTS)('at %s ends with exactly the expected records and ledger', async (killAt) => {
    const directory = join(root, killAt.replaceAll(':', '-'));
    await cp(baseline, directory, { recursive: true });
    const killed = await runChild(directory, 2, { killAt });
    expect(killed.signal, `the kill point was not reached: ${killed.stderr}`).toBe('SIGKILL');
    const rerun = await runChild(directory, 3);
    expect(rerun.code, rerun.stderr).toBe(0);
    await checkFinalState(directory);
  });

  test.each([0.3, 0.5, 0.7])('at a moment %s of the way through a clean run too', async (fraction) => {
    const directory = join(root, `random-${fraction}`);
    await cp(baseline, directory, { recursive: true });
    const timing = join(root, `timing-${fraction}`);
    await cp(baseline, timing, { recursive: true });
    const { ingestMs } = await runChild(timing, 2);
    await runChild(directory, 2, { killAfterMs: Math.round(ingestMs * fraction) });
    const rerun = await runChild(directory, 3);
    expect(rerun.code, rerun.stderr).toBe(0);
    await checkFinalState(directory);
  });
});
