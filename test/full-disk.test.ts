/**
 * A full disk at every write point of an ingest (file store, file ledger, local catalog): the write
 * fails with a typed error, what was there before stays readable, and once space is freed the next
 * run ends in the state a clean run leaves. The file system is made to fail with ENOSPC from the n-th
 * write on (every write, flush, link and rename after it fails too, as on a full disk).
 */
import fs from 'node:fs';
import { cp, mkdtemp, open, rm } from 'node:fs/promises';
import { syncBuiltinESMExports } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { createBm25Encoder, createMemoryStore, KumikiError } from '../src/index.js';
import { createFileCatalog } from '../src/node/catalog-file.js';
import { createFilePersistence } from '../src/node/snapshot-file.js';
import { ingest } from '../src/pipeline/ingest.js';
import { createFileLedger } from '../src/pipeline/ledger-file.js';
import { chaosCorpus, chaosEmbedder, chaosSplitter } from './chaos/corpus.mjs';
import { actualState, expectedState } from './chaos/harness.js';

type Patchable = Record<string, (...args: unknown[]) => Promise<unknown>>;

/** Counts write operations and, once `failFrom` is reached, fails them with ENOSPC. */
async function fileSystemSwitch(directory: string) {
  const probe = await open(join(directory, '.probe'), 'w');
  const handle = Object.getPrototypeOf(probe) as Patchable;
  await probe.close();
  const promises = fs.promises as unknown as Patchable;
  const state = { count: 0, failFrom: Number.POSITIVE_INFINITY };
  const originals: [Patchable, string, (...args: unknown[]) => Promise<unknown>][] = [];
  const patch = (target: Patchable, name: string) => {
    const original = target[name] as (...args: unknown[]) => Promise<unknown>;
    originals.push([target, name, original]);
    target[name] = function (this: unknown, ...args: unknown[]) {
      state.count++;
      if (state.count >= state.failFrom) {
        return Promise.reject(Object.assign(new Error(`ENOSPC: no space left on device, ${name}`), { code: 'ENOSPC' }));
      }
      return original.apply(this, args);
    };
  };
  for (const name of ['write', 'writeFile', 'appendFile', 'sync', 'datasync', 'truncate']) patch(handle, name);
  for (const name of ['writeFile', 'appendFile', 'link', 'rename', 'mkdir']) patch(promises, name);
  syncBuiltinESMExports();
  return {
    state,
    restore() {
      for (const [target, name, original] of originals) target[name] = original;
      syncBuiltinESMExports();
    },
  };
}

const config = { store: 'file', mode: 'hybrid', prune: true } as const;

/** The parts of a data dir, opened as one process would. */
function openDir(directory: string) {
  return {
    store: createMemoryStore({ persistence: createFilePersistence(join(directory, 'store.kmk')) }),
    ledger: createFileLedger(join(directory, 'ledger.jsonl')),
    catalog: createFileCatalog(join(directory, 'catalog.kcat')),
  };
}

type Parts = ReturnType<typeof openDir>;

function ingestVersion(parts: Parts, version: number) {
  return ingest({
    ...parts,
    collection: 'chaos',
    documents: chaosCorpus(version),
    embedder: chaosEmbedder(),
    sparseEmbedder: createBm25Encoder(),
    splitter: chaosSplitter,
    prune: true,
    writeBatchChunks: 20,
  });
}

async function close(parts: Parts) {
  await parts.ledger.dispose?.().catch(() => undefined);
  await parts.store.dispose().catch(() => undefined);
  await parts.catalog.dispose?.().catch(() => undefined);
}

/** One run in a process of its own: opened, ingested, closed. */
async function run(directory: string, version: number) {
  const parts = openDir(directory);
  try {
    return await ingestVersion(parts, version);
  } finally {
    await close(parts);
  }
}

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'kumiki-full-disk-'));
});
afterAll(() => rm(root, { recursive: true, force: true }));

test('a disk that fills up at any write point of an ingest loses nothing; the run after it is freed succeeds', async () => {
  const base = join(root, 'base');
  await run(base, 1);
  const disk = await fileSystemSwitch(root);
  try {
    // How many writes a whole run of version 2 makes.
    const probe = join(root, 'probe');
    await cp(base, probe, { recursive: true });
    disk.state.count = 0;
    await run(probe, 2);
    const writes = disk.state.count;
    expect(writes).toBeGreaterThan(20);
    const expected = await expectedState(config, 2, 1);
    const points = Array.from({ length: writes }, (_, i) => i + 1);
    let failed = 0;
    for (const point of points) {
      const directory = join(root, `point-${point}`);
      await cp(base, directory, { recursive: true });
      // The same process goes on after space is freed (a server), so its objects must not carry a
      // torn write into the next one; a new process must open everything too.
      const parts = openDir(directory);
      disk.state.count = 0;
      disk.state.failFrom = point;
      const outcome = await ingestVersion(parts, 2).catch((error: unknown) => error);
      disk.state.failFrom = Number.POSITIVE_INFINITY;
      if (outcome instanceof Error || KumikiError.isInstance(outcome)) {
        failed++;
        expect(KumikiError.isInstance(outcome), `write ${point}: ${String(outcome)}`).toBe(true);
        await actualState(config, { DATA_DIR: directory });
        await createFileCatalog(join(directory, 'catalog.kcat')).getRun('none');
      }
      await ingestVersion(parts, 2);
      await close(parts);
      await run(directory, 2);
      const actual = await actualState(config, { DATA_DIR: directory });
      expect(actual, `after a full disk at write ${point} of ${writes}`).toEqual(expected);
    }
    expect(failed).toBeGreaterThan(writes / 2);
  } finally {
    disk.restore();
  }
}, 600_000);
