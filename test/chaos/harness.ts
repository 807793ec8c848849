/**
 * Kill -9 chaos for ingest: runs the chaos child (test/chaos/child.mjs, the built package) and kills it
 * at random moments, then lets a new process finish the run and compares the store and the ledger
 * with a clean ingest of the same corpus. Used by test/chaos.test.ts (a few dozen kills in CI) and by
 * `npm run chaos -- --kills 500`.
 */
import { spawn } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createBm25Encoder, createMemoryStore, ingest, type Store } from '../../src/index.js';
import { createFilePersistence } from '../../src/node/snapshot-file.js';
import { createMemoryLedger, type LedgerEntry } from '../../src/pipeline/ledger.js';
import { createFileLedger } from '../../src/pipeline/ledger-file.js';
import { bindStatistics } from '../../src/pipeline/statistics.js';
import { createPgvectorStore } from '../../src/stores/pgvector/index.js';
import { chaosCorpus, chaosEmbedder, chaosSplitter } from './corpus.mjs';

const CHILD = fileURLToPath(new URL('./child.mjs', import.meta.url));
const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export type ChaosConfig = { store: 'file' | 'pgvector'; mode: 'dense' | 'bm25' | 'hybrid'; prune: boolean };

export const describeConfig = (config: ChaosConfig) =>
  `${config.store} store, ${config.mode}, ${config.prune ? 'with' : 'without'} prune`;

type ChildResult = { killed: boolean; code: number | null; stderr: string; ingestMs: number };

/** Runs the child; with `killAfterMs`, SIGKILLs it that long after it starts ingesting (if it is still running). */
export function runChild(env: Record<string, string>, killAfterMs?: number): Promise<ChildResult> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CHILD], {
      cwd: ROOT,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    let killed = false;
    let ready = 0;
    child.stderr.on('data', (data) => {
      stderr += data;
    });
    child.stdout.once('data', () => {
      ready = performance.now();
      if (killAfterMs === undefined) return;
      setTimeout(() => {
        if (child.exitCode === null) {
          killed = child.kill('SIGKILL');
        }
      }, killAfterMs);
    });
    child.on('exit', (code, signal) =>
      resolve({
        killed: killed && signal === 'SIGKILL',
        code,
        stderr,
        ingestMs: ready ? performance.now() - ready : 0,
      }),
    );
  });
}

/** What a clean ingest of the corpus leaves: records (without run ids and times) and ledger entries. */
export type ChaosState = {
  records: Record<string, { payload: Record<string, unknown>; vector: number[]; sparseIndices: number[] }>;
  ledger: Record<string, { key: string; chunkIds: string[] }>;
  statistics: unknown;
};

export async function readRecords(store: Store, collection = 'chaos'): Promise<ChaosState['records']> {
  const records: ChaosState['records'] = {};
  let cursor: string | undefined;
  do {
    const page = await store.scroll({ collection, cursor, limit: 500, includeVectors: true });
    for (const record of page.records) {
      const { runId: _runId, ingestedAt: _ingestedAt, ledger: _ledger, ...payload } = record.payload;
      records[String(record.id)] = {
        payload,
        vector: Array.from(record.vector ?? []),
        // BM25 weights depend on the statistics when a chunk was written; which terms it holds does not.
        sparseIndices: Array.from(record.sparseVector?.indices ?? []).sort((a, b) => a - b),
      };
    }
    cursor = page.nextCursor;
  } while (cursor);
  return records;
}

export function ledgerOf(entries: LedgerEntry[], collection = 'chaos'): ChaosState['ledger'] {
  return Object.fromEntries(
    entries
      .filter((entry) => entry.collection === collection)
      .map((entry) => {
        const extra = entry.pending || entry.stale || entry.removing ? { unfinished: true } : {};
        return [entry.source, { key: entry.key, chunkIds: entry.chunkIds, ...extra }];
      }),
  );
}

/** Statistics a fresh encoder gets from the collection (its saved state, else its texts). */
export async function statisticsOf(store: Store, collection = 'chaos'): Promise<unknown> {
  const encoder = createBm25Encoder();
  await bindStatistics({ store, collection, embedder: encoder });
  return encoder.exportState();
}

/** A clean ingest of corpus version `version` on top of a clean ingest of `previous` (for prune). */
export async function expectedState(config: ChaosConfig, version: number, previous: number): Promise<ChaosState> {
  const store = createMemoryStore();
  const ledger = createMemoryLedger();
  const run = (v: number) =>
    ingest({
      store,
      collection: 'chaos',
      documents: chaosCorpus(v),
      ...(config.mode !== 'bm25' ? { embedder: chaosEmbedder() } : {}),
      ...(config.mode !== 'dense' ? { sparseEmbedder: createBm25Encoder() } : {}),
      splitter: chaosSplitter,
      ledger,
      prune: config.prune,
    });
  await run(previous);
  await run(version);
  return {
    records: await readRecords(store),
    ledger: ledgerOf(await ledger.entries()),
    statistics: config.mode === 'dense' ? undefined : await statisticsOf(store),
  };
}

export async function actualState(config: ChaosConfig, env: Record<string, string>): Promise<ChaosState> {
  const store =
    config.store === 'pgvector'
      ? createPgvectorStore({
          connectionString: env.PG_URL as string,
          schema: env.PG_SCHEMA as string,
          poolConfig: { max: 1 },
        })
      : createMemoryStore({ persistence: createFilePersistence(join(env.DATA_DIR as string, 'store.kmk')) });
  try {
    return {
      records: await readRecords(store),
      ledger: ledgerOf(await createFileLedger(join(env.DATA_DIR as string, 'ledger.jsonl')).entries()),
      statistics: config.mode === 'dense' ? undefined : await statisticsOf(store),
    };
  } finally {
    await store.dispose();
  }
}

/** A fresh data dir for a trial and the children's environment for it. */
async function childEnvironment(
  config: ChaosConfig,
  options: { directory: string; pgUrl?: string; schema?: string },
): Promise<Record<string, string>> {
  await mkdir(options.directory, { recursive: true });
  return {
    DATA_DIR: options.directory,
    STORE: config.store,
    MODE: config.mode,
    PRUNE: config.prune ? '1' : '0',
    ...(options.pgUrl ? { PG_URL: options.pgUrl, PG_SCHEMA: options.schema ?? 'public' } : {}),
  };
}

export type TrialResult = { kills: number; runs: number; equal: boolean; difference?: string };

/**
 * One trial in a fresh data dir: a clean run of version 1, then version 2 killed `killsPerStep` times at
 * random moments within the length of the first run (the later kills land in the recovery of the earlier ones), then run to the end; the
 * state must equal a clean ingest of version 1 then 2.
 */
export async function chaosTrial(
  config: ChaosConfig,
  options: { directory: string; pgUrl?: string; schema?: string; random: () => number; killsPerStep: number },
): Promise<TrialResult> {
  const env = await childEnvironment(config, options);
  const must = (result: ChildResult, what: string) => {
    if (result.code !== 0) throw new Error(`${what} failed (exit ${result.code}): ${result.stderr.slice(-2000)}`);
  };
  const first = await runChild({ ...env, VERSION: '1' });
  must(first, 'the first clean run');
  // Kill moments are spread over the length of a whole run (the second one is about as long).
  const maxKillMs = first.ingestMs;
  let kills = 0;
  let runs = 1;
  for (let i = 0; i < options.killsPerStep; i++) {
    const result = await runChild({ ...env, VERSION: '2' }, Math.floor(options.random() * maxKillMs));
    runs++;
    if (result.killed) kills++;
    else must(result, 'a run that was not killed');
  }
  must(await runChild({ ...env, VERSION: '2' }), 'the run after the kills');
  runs++;
  const [actual, expected] = await Promise.all([actualState(config, env), expectedState(config, 2, 1)]);
  const difference = compare(actual, expected);
  return { kills, runs, equal: difference === undefined, ...(difference ? { difference } : {}) };
}

export function compare(actual: ChaosState, expected: ChaosState): string | undefined {
  for (const part of ['records', 'ledger', 'statistics'] as const) {
    const a = JSON.stringify(sortKeys(actual[part]));
    const e = JSON.stringify(sortKeys(expected[part]));
    if (a !== e) {
      const ak = Object.keys((actual[part] ?? {}) as object);
      const ek = Object.keys((expected[part] ?? {}) as object);
      return `${part} differ: ${ak.length} vs ${ek.length} keys; missing ${ek
        .filter((k) => !ak.includes(k))
        .slice(0, 5)
        .join(', ')}; extra ${ak
        .filter((k) => !ek.includes(k))
        .slice(0, 5)
        .join(', ')}`;
    }
  }
  return undefined;
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.keys(value)
        .sort()
        .map((key) => [key, sortKeys((value as Record<string, unknown>)[key])]),
    );
  }
  return value;
}

export const CHAOS_CONFIGS: readonly ChaosConfig[] = [
  { store: 'file', mode: 'bm25', prune: true },
  { store: 'file', mode: 'dense', prune: false },
  { store: 'file', mode: 'hybrid', prune: true },
  { store: 'pgvector', mode: 'dense', prune: true },
  { store: 'pgvector', mode: 'bm25', prune: false },
];

export type ChaosSummary = {
  kills: number;
  runs: number;
  trials: number;
  failures: { config: string; trial: number; difference: string }[];
  byConfig: Record<string, { kills: number; trials: number }>;
};

/**
 * Runs trials over the configurations in turn until `kills` kills landed (or `maxTrials` trials ran).
 * `pgUrl` is a Postgres with pgvector for the pgvector configurations (a fresh schema per trial).
 */
export async function runChaos(options: {
  kills: number;
  root: string;
  pgUrl: string;
  seed: number;
  maxTrials?: number;
  onTrial?: (config: ChaosConfig, result: TrialResult, summary: ChaosSummary) => void;
}): Promise<ChaosSummary> {
  let state = options.seed % 2147483647 || 1;
  const random = () => {
    state = (state * 16807) % 2147483647;
    return state / 2147483647;
  };
  const summary: ChaosSummary = { kills: 0, runs: 0, trials: 0, failures: [], byConfig: {} };
  const maxTrials = options.maxTrials ?? Math.ceil(options.kills) * 2;
  while (summary.kills < options.kills && summary.trials < maxTrials) {
    const config = CHAOS_CONFIGS[summary.trials % CHAOS_CONFIGS.length] as ChaosConfig;
    const trial = summary.trials++;
    const result = await chaosTrial(config, {
      directory: join(options.root, `trial-${trial}`),
      ...(config.store === 'pgvector' ? { pgUrl: options.pgUrl, schema: `chaos_${options.seed}_${trial}` } : {}),
      random,
      killsPerStep: 3,
    });
    summary.kills += result.kills;
    summary.runs += result.runs;
    const name = describeConfig(config);
    const counts = summary.byConfig[name] ?? { kills: 0, trials: 0 };
    summary.byConfig[name] = counts;
    counts.kills += result.kills;
    counts.trials++;
    if (!result.equal) summary.failures.push({ config: name, trial, difference: result.difference ?? '' });
    options.onTrial?.(config, result, summary);
  }
  return summary;
}

export type WritersResult = {
  /** Which of the two runs (A: version 2, B: version 3) completed, in the order they exited. */
  completed: ('A' | 'B')[];
  /** Runs refused with LockedError (naming the holder). */
  locked: ('A' | 'B')[];
  equal: boolean;
  difference?: string;
};

/**
 * Two processes ingest different versions of the corpus into one data dir at (nearly) the same time,
 * after a clean run of version 1. Each either completes or is refused with `LockedError`; the final
 * state must equal a clean ingest of whichever completed last (with prune, nothing of the other remains).
 */
export async function twoWritersTrial(
  config: ChaosConfig,
  options: { directory: string; pgUrl?: string; schema?: string; offsetMs: number },
): Promise<WritersResult> {
  const env = await childEnvironment(config, options);
  const first = await runChild({ ...env, VERSION: '1' });
  if (first.code !== 0) throw new Error(`the first clean run failed: ${first.stderr.slice(-2000)}`);
  const order: ('A' | 'B')[] = [];
  const locked: ('A' | 'B')[] = [];
  const run = async (name: 'A' | 'B', version: string, delay: number) => {
    await new Promise((resolve) => setTimeout(resolve, delay));
    const result = await runChild({ ...env, VERSION: version });
    if (result.code === 0) order.push(name);
    else if (/LockedError: .* is locked by process \d+ on /.test(result.stderr)) locked.push(name);
    else throw new Error(`run ${name} failed otherwise (exit ${result.code}): ${result.stderr.slice(-2000)}`);
  };
  await Promise.all([run('A', '2', 0), run('B', '3', options.offsetMs)]);
  const last = order.at(-1);
  if (!last) return { completed: order, locked, equal: false, difference: 'neither run completed' };
  const version = last === 'A' ? 2 : 3;
  const before = order.length === 2 ? (last === 'A' ? 3 : 2) : 1;
  const [actual, expected] = await Promise.all([actualState(config, env), expectedState(config, version, before)]);
  const difference = compare(actual, expected);
  return { completed: order, locked, equal: difference === undefined, ...(difference ? { difference } : {}) };
}
