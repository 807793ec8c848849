/**
 * The runtime matrix: one scenario (test/fixtures/runtime-matrix-scenario.ts: ingest from strings,
 * BM25, dense and hybrid retrieval with a filter, the OpenAI-compatible embedder and runner against a
 * local mock, an answer streamed to a Response) run against the BUILT package in Node 20 (this one),
 * 22 and 24, Bun, Deno, workerd (Miniflare), edge-runtime with WebAssembly compilation disabled, and
 * headless Chromium under CSP `script-src 'self'`; plus the Cloudflare Worker example in workerd.
 * The runtimes are installed at exact versions into .cache/runtimes by scripts/runtimes.mjs (npm
 * registry); Chromium is Debian's package, installed by .ci/run. `npm run build` first.
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { buildSnapshot } from '../examples/build-snapshot.js';
import { install, RUNTIMES } from '../scripts/runtimes.js';
import { createOpenAICompatibleEmbedder } from '../src/embedders/openai-compatible/index.js';
import { fromStrings } from '../src/index.js';
import { NOTES } from './fixtures/notes.js';
import {
  MOCK_ANSWER,
  MOCK_CHAT_MODEL,
  MOCK_EMBEDDING_MODEL,
  type ModelMock,
  startModelMock,
} from './helpers/model-mock.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const work = join(root, '.tmp', 'runtimes');
const fixtures = join(root, 'test', 'fixtures');
const CHROMIUM = '/usr/bin/chromium';

if (!existsSync(join(root, 'dist', 'index.js'))) {
  throw new Error('the runtime matrix runs against the built package: run `npm run build` first');
}

/** Which runtimes could be installed; the others are skipped with the reason. */
const installed = new Map<string, string>();
const missing = new Map<string, string>();
for (const name of Object.keys(RUNTIMES)) {
  try {
    installed.set(name, install(name));
  } catch (error) {
    missing.set(name, `could not be installed from the npm registry: ${String(error)}`);
  }
}
if (!existsSync(CHROMIUM))
  missing.set('chromium', `${CHROMIUM} is missing (.ci/run installs Debian's chromium package)`);

let mock: ModelMock;
beforeAll(async () => {
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  mock = await startModelMock();
});
afterAll(async () => {
  await mock?.close();
});

/** The scenario bundled with `entry` (code that imports `scenario` and hands its result back). */
async function bundle(
  name: string,
  entry: string,
  options: { format: 'esm' | 'iife'; platform: 'neutral' | 'browser' },
) {
  const outfile = join(work, `${name}.${options.format === 'esm' ? 'mjs' : 'js'}`);
  await build({
    stdin: { contents: entry, resolveDir: fixtures, loader: 'ts' },
    bundle: true,
    outfile,
    format: options.format,
    platform: options.platform,
    target: 'es2022',
    ...(options.platform === 'neutral' ? { mainFields: ['module', 'main'] } : {}),
    logLevel: 'silent',
  });
  return outfile;
}

const importScenario = "import { scenario } from './runtime-matrix-scenario.ts';";
const printing = () =>
  `${importScenario}\nscenario(${JSON.stringify(mock.baseURL)}).then((r) => console.log('RESULT ' + JSON.stringify(r)));`;

/** Runs a command, resolving with the JSON after `RESULT ` in its output. */
function run(command: string, args: string[], timeoutMs = 120_000): Promise<unknown> {
  return new Promise((resolve, reject) => {
    execFile(command, args, { cwd: work, timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      const line = stdout.split('\n').find((candidate) => candidate.startsWith('RESULT '));
      if (line) resolve(JSON.parse(line.slice('RESULT '.length)));
      else
        reject(
          new Error(
            `${command} ${args.join(' ')} gave no result (${error?.message ?? 'exit 0'}):\n${stdout}\n${stderr}`,
          ),
        );
    });
  });
}

const scenarioIn: Record<string, () => Promise<unknown>> = {
  node20: async () => run(process.execPath, [await bundle('node', printing(), { format: 'esm', platform: 'neutral' })]),
  node22: async () =>
    run(installed.get('node22') as string, [await bundle('node', printing(), { format: 'esm', platform: 'neutral' })]),
  node24: async () =>
    run(installed.get('node24') as string, [await bundle('node', printing(), { format: 'esm', platform: 'neutral' })]),
  bun: async () =>
    run(installed.get('bun') as string, [await bundle('node', printing(), { format: 'esm', platform: 'neutral' })]),
  deno: async () =>
    run(process.execPath, [
      installed.get('deno') as string,
      'run',
      '--allow-net',
      '--no-prompt',
      await bundle('node', printing(), { format: 'esm', platform: 'neutral' }),
    ]),
  miniflare: async () => {
    const worker = await bundle(
      'worker',
      `${importScenario}\nexport default { async fetch() { return Response.json(await scenario(${JSON.stringify(mock.baseURL)})); } };`,
      { format: 'esm', platform: 'browser' },
    );
    const [response] = (await miniflare(worker, { requests: [{ url: 'http://worker/' }] })) as { body: string }[];
    return JSON.parse(response?.body ?? 'null');
  },
  'edge-runtime': async () =>
    run(process.execPath, [
      join(fixtures, 'edge-runtime-driver.mjs'),
      installed.get('edge-runtime') as string,
      await bundle('edge', `${importScenario}\nglobalThis.__scenario = scenario(${JSON.stringify(mock.baseURL)});`, {
        format: 'iife',
        platform: 'browser',
      }),
    ]),
  chromium: async () => {
    const page = await bundle(
      'page',
      `${importScenario}\nscenario(location.origin + '/v1').then((r) => fetch('/report/chromium', { method: 'POST', body: JSON.stringify(r) }));`,
      { format: 'esm', platform: 'browser' },
    );
    const csp = { 'content-security-policy': "script-src 'self'" };
    mock.files.set('/matrix.html', {
      type: 'text/html',
      body: '<!doctype html><meta charset="utf-8"><script type="module" src="/matrix.js"></script>',
      headers: csp,
    });
    mock.files.set('/matrix.js', { type: 'text/javascript', body: readFileSync(page), headers: csp });
    return JSON.parse(await inChromium(`${mock.origin}/matrix.html`, 'chromium'));
  },
};

/** Miniflare runs under Node 22 (it needs 22 or later). */
function miniflare(worker: string, config: Record<string, unknown>): Promise<unknown> {
  return run(installed.get('node22') as string, [
    join(fixtures, 'miniflare-driver.mjs'),
    join(installed.get('miniflare') as string, 'dist', 'src', 'index.js'),
    worker,
    JSON.stringify(config),
  ]);
}

/** Opens `url` in headless Chromium and waits for the page to POST its report. */
async function inChromium(url: string, report: string): Promise<string> {
  const profile = mkdtempSync(join(tmpdir(), 'kumiki-chromium-'));
  const browser = spawn(
    CHROMIUM,
    [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      `--user-data-dir=${profile}`,
      url,
    ],
    { stdio: 'ignore', detached: true },
  );
  try {
    return await Promise.race([
      mock.report(report),
      new Promise<never>((_, reject) => {
        browser.once('exit', (code) => reject(new Error(`chromium exited (${code}) before the page reported`)));
        setTimeout(() => reject(new Error('the page did not report within 90 s')), 90_000).unref();
      }),
    ]);
  } finally {
    if (browser.pid !== undefined) {
      try {
        process.kill(-browser.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    rmSync(profile, { recursive: true, force: true });
  }
}

const EXPECTED: Record<string, unknown> = {
  bm25: ['notes/bread'],
  dense: { ids: ['a', 'c'], kernel: expect.any(String) },
  hybrid: { dense: ['notes/bread', 'notes/lighthouse'], hybrid: ['notes/bread', 'notes/lighthouse'] },
  answer: { header: 'v1', text: MOCK_ANSWER.join(''), sources: ['notes/bread'], last: '[DONE]' },
};

function checkSteps(runtime: string, result: Record<string, unknown>) {
  for (const [step, expected] of Object.entries(EXPECTED)) {
    expect.soft(result[step], `${runtime}/${step}`).toEqual(expected);
  }
}

const runtimeName = (name: string) => (name === 'miniflare' ? 'workerd (Miniflare)' : name);

describe('runtime matrix: the scenario against dist/', () => {
  for (const name of ['node20', 'node22', 'node24', 'bun', 'deno', 'miniflare', 'edge-runtime', 'chromium']) {
    const reason = missing.get(name);
    if (reason) {
      test.skip(`${runtimeName(name)}: skipped, ${reason}`, () => undefined);
      continue;
    }
    test(runtimeName(name), { timeout: 180_000 }, async () => {
      const result = (await scenarioIn[name]?.()) as Record<string, unknown>;
      const dense = result.dense as { kernel?: string } | undefined;
      console.info(`${runtimeName(name)}: the memory store ran the ${dense?.kernel ?? '(none)'} kernel`);
      checkSteps(name, result);
    });
  }
});

describe('the Cloudflare Worker example in workerd', () => {
  test.skipIf(missing.has('miniflare') || missing.has('node22'))(
    'serves hybrid search and a useChat stream from a KV snapshot',
    { timeout: 180_000 },
    async () => {
      const snapshot = await buildSnapshot({
        documents: fromStrings(NOTES),
        embedder: createOpenAICompatibleEmbedder({ baseURL: mock.baseURL, model: MOCK_EMBEDDING_MODEL }),
      });
      const worker = join(work, 'example-worker.mjs');
      await build({
        entryPoints: [join(root, 'examples', 'cloudflare-worker.ts')],
        bundle: true,
        outfile: worker,
        format: 'esm',
        platform: 'browser',
        target: 'es2022',
        alias: {
          kumiki: join(root, 'dist', 'index.js'),
          'kumiki/embedders/openai-compatible': join(root, 'dist', 'embedders', 'openai-compatible.js'),
          'kumiki/runners/openai-compatible': join(root, 'dist', 'runners', 'openai-compatible.js'),
        },
        logLevel: 'silent',
      });
      const chat = { messages: [{ id: 'u', role: 'user', parts: [{ type: 'text', text: 'Why does bread rise?' }] }] };
      const [search, answer] = (await miniflare(worker, {
        bindings: { OPENAI_BASE_URL: mock.baseURL, EMBEDDING_MODEL: MOCK_EMBEDDING_MODEL, CHAT_MODEL: MOCK_CHAT_MODEL },
        kv: { KUMIKI: { snapshot: Buffer.from(snapshot).toString('base64') } },
        requests: [
          { url: 'http://worker/search?q=why+does+bread+rise&lang=en' },
          { url: 'http://worker/api/chat', method: 'POST', body: JSON.stringify(chat) },
        ],
      })) as { status: number; body: string }[];
      expect(search?.status, search?.body).toBe(200);
      expect((JSON.parse(search?.body ?? '[]') as { source: string }[])[0]?.source).toBe('notes/bread');
      expect(answer?.status).toBe(200);
      expect(answer?.body).toContain('"type":"source-document"');
      expect(answer?.body.endsWith('data: [DONE]\n\n')).toBe(true);
    },
  );
});
