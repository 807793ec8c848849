/**
 * Every TypeScript/JavaScript block of README.md and docs/ is type-checked under `strict` against the
 * built package, and run unless marked compile-only (the markers are explained in docs/testing.md).
 * Snippets are written under .tmp/ inside the package, so `kumiki` and `kumiki/…` resolve through the
 * package's own `exports` to dist/ — what an app that installed kumiki sees (run `npm run build` first).
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  allSnippets,
  type DocSnippet,
  docFiles,
  docLine,
  extractSnippets,
  SnippetMarkupError,
  snippetFileName,
  snippetSource,
} from './helpers/doc-snippets.js';
import { startFakeOpenAIServer } from './helpers/fake-openai-server.js';
import { startFakeVllm } from './helpers/fake-vllm-server.js';
import { startFakeMilvus } from './helpers/milvus-fake.js';
import { startOidcProvider } from './helpers/oidc-provider.js';
import { startPgliteServer } from './helpers/pglite-server.js';
import { loadQdrantContract, startContractServer } from './helpers/qdrant-contract.js';
import { createQdrantEmulator } from './helpers/qdrant-emulator.js';
import { startRedisServer } from './helpers/redis-server.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const work = join(root, '.tmp', 'doc-snippets');
const guard = fileURLToPath(new URL('./fixtures/offline-guard.mjs', import.meta.url));
const MODEL = fileURLToPath(new URL('../../shared/models/stories260K.gguf', import.meta.url));
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { exports: Record<string, unknown> };

/** The compiler options a user's strict ESM app would have; `noUncheckedIndexedAccess` as well, the stricter common setting. */
const COMPILER_OPTIONS: ts.CompilerOptions = {
  strict: true,
  noUncheckedIndexedAccess: true,
  module: ts.ModuleKind.NodeNext,
  moduleResolution: ts.ModuleResolutionKind.NodeNext,
  target: ts.ScriptTarget.ES2022,
  types: ['node'],
  skipLibCheck: true,
  allowJs: true,
  checkJs: true,
  jsx: ts.JsxEmit.ReactJSX,
  noEmit: true,
};

type StandIn = { env: Record<string, string>; stop(): Promise<void> };

/**
 * Local stand-ins for what runnable snippets reach, started for each snippet that reads one of the
 * variables they provide (`process.env.NAME`), and stopped after it; docs/testing.md lists them.
 */
const STAND_INS: { provides: string[]; start(): Promise<StandIn> }[] = [
  {
    provides: ['DATABASE_URL'],
    async start() {
      const server = await startPgliteServer();
      return { env: { DATABASE_URL: server.connectionString }, stop: () => server.stop() };
    },
  },
  {
    provides: ['QDRANT_URL'],
    async start() {
      const emulator = createQdrantEmulator();
      const server = await startContractServer(loadQdrantContract(), (request) => emulator.handle(request));
      return { env: { QDRANT_URL: server.url }, stop: () => server.close() };
    },
  },
  {
    provides: ['MILVUS_ADDRESS'],
    async start() {
      const server = await startFakeMilvus();
      return { env: { MILVUS_ADDRESS: server.address }, stop: () => server.close() };
    },
  },
  {
    provides: ['REDIS_URL'],
    async start() {
      const server = await startRedisServer();
      return { env: { REDIS_URL: server.url }, stop: () => server.stop() };
    },
  },
  {
    provides: ['EMBEDDINGS_BASE_URL'],
    async start() {
      const server = await startFakeOpenAIServer({ model: 'BAAI/bge-small-en-v1.5', dimensions: 384 });
      return { env: { EMBEDDINGS_BASE_URL: server.baseURL }, stop: () => server.close() };
    },
  },
  {
    provides: ['LLM_BASE_URL'],
    async start() {
      const server = await startFakeVllm({ model: 'Qwen/Qwen2.5-7B-Instruct' });
      return { env: { LLM_BASE_URL: server.url }, stop: () => server.close() };
    },
  },
  {
    provides: ['OIDC_ISSUER', 'OIDC_AUDIENCE', 'ACCESS_TOKEN'],
    async start() {
      const provider = await startOidcProvider();
      const token = await provider.getToken('service', { scope: 'chat', resource: provider.audience });
      return {
        env: { OIDC_ISSUER: provider.issuer, OIDC_AUDIENCE: provider.audience, ACCESS_TOKEN: token },
        stop: () => provider.close(),
      };
    },
  },
  {
    provides: ['MODEL_PATH', 'LLAMA_THREADS'],
    async start() {
      if (!existsSync(MODEL)) throw new Error(`${MODEL} is missing: doc snippets that read MODEL_PATH need it`);
      return { env: { MODEL_PATH: MODEL, LLAMA_THREADS: '1' }, stop: async () => undefined };
    },
  },
  {
    provides: ['CLIENT_SECRET'],
    start: async () => ({ env: { CLIENT_SECRET: 'example-secret' }, stop: async () => undefined }),
  },
];

let snippets: DocSnippet[] = [];
let markupError: unknown;
try {
  snippets = allSnippets(root);
} catch (error) {
  markupError = error;
}

const fileOf = (snippet: DocSnippet) => join(work, snippetFileName(snippet));
/** Type errors by snippet file, as `docs/x.md:12:5 TS2304 message`. */
const typeErrors = new Map<string, string[]>();

beforeAll(() => {
  expect(existsSync(join(root, 'dist', 'index.d.ts')), 'dist/ is missing: run `npm run build` first').toBe(true);
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  for (const snippet of snippets) {
    const source = snippetSource(snippet);
    writeFileSync(fileOf(snippet), source);
    const runnable = ts.transpileModule(source, {
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
    }).outputText;
    writeFileSync(`${fileOf(snippet)}.mjs`, runnable);
  }
  // One program for all snippets: each file is a module, so their top-level names do not clash.
  const program = ts.createProgram(snippets.map(fileOf), COMPILER_OPTIONS);
  const byFile = new Map(snippets.map((snippet) => [fileOf(snippet), snippet]));
  for (const diagnostic of ts.getPreEmitDiagnostics(program)) {
    const file = diagnostic.file?.fileName ?? '(no file)';
    const snippet = byFile.get(file);
    const position =
      diagnostic.file && diagnostic.start !== undefined
        ? diagnostic.file.getLineAndCharacterOfPosition(diagnostic.start)
        : { line: 0, character: 0 };
    const where = snippet ? `${snippet.doc}:${docLine(snippet, position.line + 1)}:${position.character + 1}` : file;
    const text = `${where} TS${diagnostic.code} ${ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n  ')}`;
    const key = snippet ? file : '(other)';
    typeErrors.set(key, [...(typeErrors.get(key) ?? []), text]);
  }
}, 180_000);

afterAll(() => rmSync(work, { recursive: true, force: true }));

type Outcome = { code: number | null; stdout: string; stderr: string };

async function runSnippet(snippet: DocSnippet): Promise<Outcome> {
  const cwd = await mkdtemp(join(tmpdir(), 'kumiki-snippet-'));
  const standIns: StandIn[] = [];
  try {
    // A fresh folder holding a copy of docs/, for examples that load a `docs` folder.
    await cp(join(root, 'docs'), join(cwd, 'docs'), { recursive: true });
    for (const standIn of STAND_INS) {
      if (standIn.provides.some((name) => snippet.env.includes(name))) standIns.push(await standIn.start());
    }
    const env: Record<string, string> = { PATH: process.env.PATH ?? '', HOME: cwd, TMPDIR: tmpdir(), NO_COLOR: '1' };
    for (const standIn of standIns) Object.assign(env, standIn.env);
    return await new Promise<Outcome>((resolve) => {
      execFile(
        process.execPath,
        ['--import', guard, `${fileOf(snippet)}.mjs`],
        { cwd, env, timeout: 120_000, maxBuffer: 16 * 1024 * 1024, encoding: 'utf8' },
        (error, stdout, stderr) => {
          const code = error ? (typeof error.code === 'number' ? error.code : null) : 0;
          resolve({ code, stdout, stderr: error?.killed ? `${stderr}\n(killed after 120 s)` : stderr });
        },
      );
    });
  } finally {
    await Promise.all(standIns.map((standIn) => standIn.stop()));
    await rm(cwd, { recursive: true, force: true });
  }
}

test('every snippet marker is well formed', () => {
  expect(markupError).toBeUndefined();
  expect(snippets.length).toBeGreaterThan(0);
});

test('the snippets type-check without errors outside the snippet files', () => {
  expect(typeErrors.get('(other)') ?? []).toEqual([]);
});

test('every `kumiki/…` subpath the docs name is one the package exports', () => {
  const exported = new Set(Object.keys(pkg.exports).map((key) => key.replace(/^\./, 'kumiki')));
  const unknown: string[] = [];
  for (const doc of docFiles(root)) {
    readFileSync(join(root, doc), 'utf8')
      .split('\n')
      .forEach((text, index) => {
        for (const [, specifier] of text.matchAll(/`(kumiki(?:\/[\w.-]+)+)`/g)) {
          if (!exported.has(specifier as string)) unknown.push(`${doc}:${index + 1} ${specifier}`);
        }
      });
  }
  expect(unknown).toEqual([]);
});

/** What is wrong with a snippet: its type errors, or how its run failed; [] when nothing is. */
async function problems(snippet: DocSnippet): Promise<string[]> {
  const errors = typeErrors.get(fileOf(snippet)) ?? [];
  if (errors.length > 0 || snippet.mode !== 'run') return errors;
  const outcome = await runSnippet(snippet);
  if (outcome.stderr.includes('OFFLINE-GUARD')) return [outcome.stderr];
  if (outcome.code !== 0) return [`exited with ${outcome.code}:\n${outcome.stderr}`];
  if (snippet.output !== undefined && outcome.stdout !== snippet.output) {
    return [`printed:\n${outcome.stdout}\ninstead of the output block:\n${snippet.output}`];
  }
  return [];
}

/** Snippets that load a model use several threads: they run one at a time, after the others. */
const loadsModel = (snippet: DocSnippet) => snippet.env.includes('MODEL_PATH');

function snippetTest(snippet: DocSnippet) {
  const how = snippet.mode === 'run' ? 'type-checks and runs' : `type-checks (compile-only: ${snippet.reason})`;
  test(`${snippet.doc}:${snippet.line} ${how}`, async () => {
    expect(await problems(snippet), `${snippet.doc}:${snippet.line}`).toEqual([]);
  }, 180_000);
}

describe.concurrent('doc snippets', () => {
  for (const snippet of snippets.filter((snippet) => !loadsModel(snippet))) snippetTest(snippet);
});

describe.sequential('doc snippets that load a model', () => {
  for (const snippet of snippets.filter(loadsModel)) snippetTest(snippet);
});

describe('the snippet extractor', () => {
  const extract = (markdown: string) => extractSnippets(markdown, 'doc.md');

  test('reads modes, reasons, hidden lines, outputs and the variables a block reads', () => {
    const [plain, compileOnly, setup] = extract(
      [
        '```ts',
        "console.log('hi');",
        '```',
        '',
        '<!-- snippet: output -->',
        '```text',
        'hi',
        '```',
        '<!-- snippet: compile-only — needs a server -->',
        '```typescript',
        'await store.count();',
        '```',
        '<!-- snippet: setup — `store` is yours',
        'const store = makeStore();',
        '-->',
        '```js',
        'new URL(process.env.QDRANT_URL ?? "http://localhost:6333");',
        '```',
        '```sh',
        'npm test',
        '```',
      ].join('\n'),
    );
    expect(plain).toMatchObject({ line: 1, mode: 'run', reason: undefined, hidden: '', output: 'hi\n' });
    expect(compileOnly).toMatchObject({ line: 10, mode: 'compile-only', reason: 'needs a server', extension: 'ts' });
    expect(setup).toMatchObject({ line: 16, mode: 'run', hidden: 'const store = makeStore();\n', env: ['QDRANT_URL'] });
    // Errors point at the Markdown: line 1 of the file is the hidden line (doc line 14), line 2 the block's first.
    expect([docLine(setup as DocSnippet, 1), docLine(setup as DocSnippet, 2)]).toEqual([14, 17]);
  });

  test.each([
    ['a marker without its reason', '<!-- snippet: compile-only -->\n```ts\nx;\n```', /needs its reason/],
    ['an unknown kind', '<!-- snippet: skip — later -->\n```ts\nx;\n```', /unknown snippet kind "skip"/],
    [
      'a marker before prose',
      '<!-- snippet: compile-only — why -->\ntext\n```ts\nx;\n```',
      /not followed by a code block/,
    ],
    ['a marker before a shell block', '<!-- snippet: compile-only — why -->\n```sh\nls\n```', /must precede a ts\/js/],
    ['hidden lines never closed', '<!-- snippet: setup — why\nconst a = 1;\n```ts\nx;\n```', /end with a line "-->"/],
    ['an output after prose', '```ts\nx;\n```\ntext\n<!-- snippet: output -->\n```text\nx\n```', /directly follow/],
    [
      'an output after a compile-only block',
      '<!-- snippet: compile-only — why -->\n```ts\nx;\n```\n<!-- snippet: output -->\n```text\nx\n```',
      /directly follow a block that runs/,
    ],
  ])('refuses %s, naming the place', (_, markdown, message) => {
    expect(() => extract(markdown)).toThrow(SnippetMarkupError);
    expect(() => extract(markdown)).toThrow(message);
    expect(() => extract(markdown)).toThrow(/^doc\.md:\d+: /);
  });
});
