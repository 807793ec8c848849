/**
 * `kumiki worker` and `kumiki ingest --distributed` (the built CLI) against a real Redis and
 * Postgres (PGlite over the wire), with the config file's `distributed` section.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { assertFreshBuild } from './chaos/fresh-build.js';
import { type PgliteServer, startPgliteServer } from './helpers/pglite-server.js';
import { type RedisServer, startRedisServer } from './helpers/redis-server.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const bin = fileURLToPath(new URL('../dist/cli/index.js', import.meta.url));

let redis: RedisServer;
let pg: PgliteServer;
let work: string;
let env: NodeJS.ProcessEnv;
beforeAll(async () => {
  [redis, pg] = await Promise.all([startRedisServer(), startPgliteServer({ serializeClients: true })]);
  work = await mkdtemp(join(tmpdir(), 'kumiki-distributed-cli-'));
  env = { ...process.env, NO_COLOR: '1', REDIS_URL: redis.url, PG_URL: pg.connectionString };
});
afterAll(async () => {
  await redis?.stop();
  await pg?.stop();
  await rm(work, { recursive: true, force: true });
});

/** Runs the CLI to its end, asynchronously: Postgres (PGlite) answers from this process, so it must not block. */
function kumiki(...args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [bin, ...args], { cwd: root, env });
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (data) => {
      stdout += data;
    });
    child.stderr?.on('data', (data) => {
      stderr += data;
    });
    child.once('exit', (status) => resolve({ status, stdout, stderr }));
  });
}

async function config(name: string, body: object): Promise<string> {
  const path = join(work, `${name}.json`);
  await writeFile(path, JSON.stringify({ dataDir: join(work, name), catalog: { kind: 'none' }, ...body }));
  return path;
}

/** Starts `kumiki worker` and waits for its `ready` line (JSON events on stdout). */
async function startWorker(configPath: string): Promise<{ child: ChildProcess; events: Record<string, unknown>[] }> {
  const child = spawn(process.execPath, [bin, 'worker', '--config', configPath, '--json'], { cwd: root, env });
  const events: Record<string, unknown>[] = [];
  let stderr = '';
  child.stderr?.on('data', (data) => {
    stderr += data;
  });
  await new Promise<void>((resolve, reject) => {
    let buffer = '';
    child.stdout?.on('data', (data) => {
      buffer += data;
      for (let newline = buffer.indexOf('\n'); newline >= 0; newline = buffer.indexOf('\n')) {
        const event = JSON.parse(buffer.slice(0, newline)) as Record<string, unknown>;
        buffer = buffer.slice(newline + 1);
        events.push(event);
        if (event.type === 'ready') resolve();
      }
    });
    child.once('exit', (code) => reject(new Error(`kumiki worker exited with ${code}: ${stderr}`)));
  });
  return { child, events };
}

test('two `kumiki worker` processes write what `kumiki ingest --distributed` hands them; a re-run is unchanged', async () => {
  await assertFreshBuild();
  const docs = join(work, 'docs');
  await mkdir(docs, { recursive: true });
  for (let i = 0; i < 6; i++)
    await writeFile(join(docs, `note-${i}.md`), `# Note ${i}\n\nAbout tides and glaciers, part ${i}.`);
  const path = await config('shared', {
    store: { kind: 'pgvector', connectionStringEnv: 'PG_URL' },
    distributed: { redisUrlEnv: 'REDIS_URL', leaseMs: 5000, jobChunks: 2 },
  });
  const workers = [await startWorker(path), await startWorker(path)];
  try {
    const first = await kumiki('ingest', docs, '--distributed', '--config', path, '--json');
    expect(first.status, first.stderr).toBe(0);
    expect(JSON.parse(first.stdout)).toMatchObject({ added: 6, updated: 0, unchanged: 0 });
    const again = await kumiki('ingest', docs, '--distributed', '--config', path, '--json');
    expect(JSON.parse(again.stdout)).toMatchObject({ added: 0, unchanged: 6, embeddingCalls: 0 });
    const search = await kumiki('search', 'glaciers part 3', '--config', path, '--json');
    expect(search.status, search.stderr).toBe(0);
    expect(JSON.parse(search.stdout)[0].citation.source).toMatch(/note-3\.md$/);
    const jobs = workers.flatMap((worker) => worker.events.filter((event) => event.type === 'completed'));
    expect(jobs.length).toBeGreaterThanOrEqual(3);
  } finally {
    for (const { child } of workers) child.kill('SIGTERM');
    const codes = await Promise.all(
      workers.map(({ child }) => new Promise((resolve) => child.once('exit', (code) => resolve(code)))),
    );
    expect(codes).toEqual([0, 0]);
    expect(workers.every((worker) => worker.events.at(-1)?.type === 'stopped')).toBe(true);
  }
});

test('--distributed without a "distributed" section, or with the embedded store, says what to change', async () => {
  const missing = await kumiki(
    'ingest',
    'docs',
    '--distributed',
    '--config',
    await config('none', { store: { kind: 'pgvector', connectionStringEnv: 'PG_URL' } }),
  );
  expect(missing.status).toBe(1);
  expect(missing.stderr).toMatch(/needs a "distributed" section naming the environment variable with the Redis URL/);
  const memory = await kumiki(
    'worker',
    '--config',
    await config('memory', { distributed: { redisUrlEnv: 'REDIS_URL' } }),
  );
  expect(memory.status).toBe(1);
  expect(memory.stderr).toMatch(/InvalidArgumentError: .*the memory store lives inside one process/);
});
