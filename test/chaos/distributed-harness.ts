/**
 * Kill -9 chaos for distributed ingest: worker processes (test/chaos/distributed-worker.mjs, the built
 * package) write the jobs of a coordinator running here, against a real Redis and Postgres (PGlite
 * over the wire). In each run one worker, picked at random, is killed at a random moment and replaced;
 * after the run the store, the Redis ledger and the BM25 statistics must equal what a single-process
 * `ingest()` of the same corpus versions leaves. Used by test/distributed-chaos.test.ts and by
 * `npm run chaos:distributed -- --runs 50`.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createRedisLedger, ingestDistributed } from '../../src/distributed/index.js';
import { createBm25Encoder } from '../../src/index.js';
import { createPgvectorStore } from '../../src/stores/pgvector/index.js';
import { chaosCorpus, chaosEmbedder, chaosSplitter } from './corpus.mjs';
import { type ChaosState, compare, expectedState, ledgerOf, readRecords, statisticsOf } from './harness.js';

const WORKER = fileURLToPath(new URL('./distributed-worker.mjs', import.meta.url));
const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export type DistributedRun = {
  run: number;
  version: number;
  /** The kill landed (the worker was still alive). */
  killed: boolean;
  /** The killed worker had a job in hand. */
  midJob: boolean;
  /** Jobs started more than once in this run (taken over after a kill, or retried). */
  retriedJobs: number;
  equal: boolean;
  difference?: string;
};

export type DistributedChaosSummary = {
  runs: number;
  kills: number;
  killsMidJob: number;
  retriedJobs: number;
  failures: { run: number; difference: string }[];
};

type WorkerProcess = { child: ChildProcess; busy: Set<string>; ready: Promise<void> };

/** Starts one worker process; `started` hears of every job it starts. */
function spawnWorker(env: Record<string, string>, started: (jobId: string) => void): WorkerProcess {
  const child = spawn(process.execPath, [WORKER], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const busy = new Set<string>();
  let stderr = '';
  child.stderr?.on('data', (data) => {
    if (process.env.CHAOS_DEBUG) process.stderr.write(data);
    stderr = (stderr + data).slice(-4000);
  });
  let buffer = '';
  const ready = new Promise<void>((resolve, reject) => {
    child.once('exit', (code, signal) => {
      if (signal !== 'SIGKILL' && signal !== 'SIGTERM' && code !== 0)
        reject(new Error(`worker exited (${code}): ${stderr}`));
    });
    child.stdout?.on('data', (data) => {
      buffer += data;
      let newline = buffer.indexOf('\n');
      while (newline >= 0) {
        const line = buffer.slice(0, newline);
        const [word, jobId] = line.split(' ');
        if (process.env.CHAOS_DEBUG && word === 'failed') console.error(line);
        buffer = buffer.slice(newline + 1);
        newline = buffer.indexOf('\n');
        if (word === 'ready') resolve();
        else if (word === 'start' && jobId) {
          busy.add(jobId);
          started(jobId);
        } else if (jobId) busy.delete(jobId);
      }
    });
  });
  ready.catch(() => undefined);
  return { child, busy, ready };
}

async function stopWorker(worker: WorkerProcess): Promise<void> {
  if (worker.child.exitCode !== null || worker.child.signalCode !== null) return;
  const exited = new Promise((resolve) => worker.child.once('exit', resolve));
  worker.child.kill('SIGTERM');
  const timer = setTimeout(() => worker.child.kill('SIGKILL'), 15_000);
  await exited;
  clearTimeout(timer);
}

/**
 * `runs` coordinator runs (corpus versions 2, 3, …, each with prune) after a clean run of version 1,
 * with `workers` worker processes; in each run one of them is killed at a random moment within the
 * length of the previous run and replaced at once.
 */
export async function runDistributedChaos(options: {
  runs: number;
  redisUrl: string;
  pgUrl: string;
  seed: number;
  workers?: number;
  mode?: 'dense' | 'hybrid';
  onRun?: (run: DistributedRun, summary: DistributedChaosSummary) => void;
}): Promise<DistributedChaosSummary> {
  let state = options.seed % 2147483647 || 1;
  const random = () => {
    state = (state * 16807) % 2147483647;
    return state / 2147483647;
  };
  const mode = options.mode ?? 'hybrid';
  const namespace = `dchaos-${options.seed}`;
  const schema = `dchaos_${options.seed}`;
  const env = {
    REDIS_URL: options.redisUrl,
    NAMESPACE: namespace,
    PG_URL: options.pgUrl,
    PG_SCHEMA: schema,
    MODE: mode,
    LEASE_MS: '1000',
  };
  const store = createPgvectorStore({ connectionString: options.pgUrl, schema, poolConfig: { max: 1 } });
  const ledger = await createRedisLedger({ redis: options.redisUrl, collection: 'chaos', namespace });
  const starts = new Map<string, number>();
  let onStart: (() => void) | undefined;
  const started = (jobId: string) => {
    starts.set(jobId, (starts.get(jobId) ?? 0) + 1);
    onStart?.();
  };
  const workers = Array.from({ length: options.workers ?? 3 }, () => spawnWorker(env, started));
  const summary: DistributedChaosSummary = { runs: 0, kills: 0, killsMidJob: 0, retriedJobs: 0, failures: [] };
  const coordinate = (version: number) =>
    ingestDistributed({
      redis: options.redisUrl,
      namespace,
      store,
      collection: 'chaos',
      documents: chaosCorpus(version),
      embedder: chaosEmbedder(),
      ...(mode === 'hybrid' ? { sparseEmbedder: createBm25Encoder() } : {}),
      splitter: chaosSplitter,
      prune: true,
      batchSize: 8,
      writeBatchChunks: 12,
      maxAttempts: 5,
      retryDelayMs: 50,
      pollMs: 50,
      leaseMs: 5000,
    });
  try {
    await Promise.all(workers.map((worker) => worker.ready));
    let began = performance.now();
    await coordinate(1);
    let jobs = starts.size;
    let jobMs = (performance.now() - began) / Math.max(1, jobs);
    for (let run = 1; run <= options.runs; run++) {
      const version = run + 1;
      starts.clear();
      // The moment: a random time after the k-th job of the run starts (k at random), so that the
      // kill lands while the run is on; the victim: any worker, busy or idle.
      const k = 1 + Math.floor(random() * Math.max(1, jobs - 1));
      const delay = Math.floor(random() * jobMs);
      const index = Math.floor(random() * workers.length);
      let killed = false;
      let midJob = false;
      let timer: ReturnType<typeof setTimeout> | undefined;
      let seen = 0;
      onStart = () => {
        if (++seen !== k) return;
        timer = setTimeout(() => {
          const victim = workers[index] as WorkerProcess;
          midJob = victim.busy.size > 0;
          killed = victim.child.kill('SIGKILL');
          workers[index] = spawnWorker(env, started);
        }, delay);
      };
      began = performance.now();
      try {
        await coordinate(version);
      } finally {
        onStart = undefined;
        clearTimeout(timer);
      }
      jobs = new Set(starts.keys()).size;
      if (!killed) jobMs = (performance.now() - began) / Math.max(1, jobs);
      const actual: ChaosState = {
        records: await readRecords(store),
        ledger: ledgerOf(await ledger.entries()),
        statistics: mode === 'hybrid' ? await statisticsOf(store) : undefined,
      };
      const expected = await expectedState({ store: 'pgvector', mode, prune: true }, version, version - 1);
      const difference = compare(actual, expected);
      const retriedJobs = [...starts.values()].filter((count) => count > 1).length;
      summary.runs++;
      if (killed) summary.kills++;
      if (killed && midJob) summary.killsMidJob++;
      summary.retriedJobs += retriedJobs;
      if (difference) summary.failures.push({ run, difference });
      options.onRun?.(
        { run, version, killed, midJob, retriedJobs, equal: !difference, ...(difference ? { difference } : {}) },
        summary,
      );
      // The replacement must be up before the next run, so every run starts with all workers.
      await Promise.all(workers.map((worker) => worker.ready));
    }
    return summary;
  } finally {
    await Promise.all(workers.map(stopWorker));
    await ledger.dispose();
    await store.dispose();
  }
}
