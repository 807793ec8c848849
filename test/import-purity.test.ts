import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';
import { distName, SUBPATHS } from '../scripts/subpaths.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const dist = fileURLToPath(new URL('../dist/index.js', import.meta.url));
const hooks = fileURLToPath(new URL('./fixtures/record-imports.mjs', import.meta.url));

/** Libraries the root entry may load: the runtime dependencies of core (the OpenTelemetry API is a no-op without an SDK). */
const ALLOWED = new Set(['zod', 'wink-porter2-stemmer', '@opentelemetry/api']);

function importsOf(args: string[]): string[] {
  const result = spawnSync(process.execPath, args, { cwd: root, encoding: 'utf8' });
  expect(result.status, result.stderr).toBe(0);
  return result.stderr
    .split('\n')
    .filter((line) => line.startsWith('IMPORT '))
    .map((line) => line.slice('IMPORT '.length));
}

const packageName = (specifier: string) =>
  specifier.startsWith('@') ? specifier.split('/').slice(0, 2).join('/') : (specifier.split('/')[0] as string);

const bare = (specifier: string) =>
  !specifier.startsWith('.') && !specifier.startsWith('/') && !specifier.startsWith('file:');

describe('importing kumiki', () => {
  test('the build exists (run `npm run build` first)', () => {
    expect(existsSync(dist), `${dist} is missing: run npm run build`).toBe(true);
  });

  test('import("kumiki") loads no node: module and no adapter library', () => {
    const specifiers = importsOf([
      '--import',
      hooks,
      '--input-type=module',
      '-e',
      `await import(${JSON.stringify(dist)})`,
    ]);
    expect(specifiers.length).toBeGreaterThan(0);
    const external = specifiers.filter(bare);
    const packages = new Set(external.map(packageName));
    expect(external.filter((s) => s.startsWith('node:'))).toEqual([]);
    expect([...packages].filter((name) => !ALLOWED.has(name))).toEqual([]);
  });

  test('require("kumiki") works and loads no Node built-in and no adapter library', () => {
    const script = `
      const Module = require('node:module');
      const seen = [];
      const original = Module._load;
      Module._load = function (request, parent, isMain) { seen.push(request); return original.call(this, request, parent, isMain); };
      const kumiki = require(${JSON.stringify(fileURLToPath(new URL('../dist/index.cjs', import.meta.url)))});
      Module._load = original;
      const store = kumiki.createMemoryStore();
      store.createCollection({ name: 'c', dimensions: 2 })
        .then(() => store.upsert({ collection: 'c', records: [{ id: 1, vector: [1, 0] }] }))
        .then(() => store.search({ collection: 'c', vector: [1, 0] }))
        .then((hits) => { if (hits[0].id !== 1) process.exit(3); });
      process.stderr.write(seen.map((s) => 'IMPORT ' + s).join('\\n') + '\\n');`;
    const specifiers = importsOf(['-e', script]).filter(bare);
    const builtins = new Set(builtinModules);
    expect(specifiers.filter((s) => s.startsWith('node:') || builtins.has(s))).toEqual([]);
    expect([...new Set(specifiers.map(packageName))].filter((name) => !ALLOWED.has(name))).toEqual([]);
  });
});

describe('every subpath without its optional peer dependencies', () => {
  const hidePeers = fileURLToPath(new URL('./fixtures/hide-peers.mjs', import.meta.url));
  const entries = SUBPATHS.map((subpath) => [subpath.name, join(root, 'dist', `${distName(subpath)}.js`)]);

  test('imports cleanly (ESM), and an optional peer is asked for only at use, as MissingDependencyError', () => {
    const script = `
      const results = {};
      for (const [name, file] of ${JSON.stringify(entries)}) {
        try { await import(file); results[name] = 'ok'; }
        catch (error) { results[name] = error.code ?? String(error); }
      }
      // kumiki/testing: the property test loads fast-check when it runs.
      const { storeConformance } = await import(${JSON.stringify(join(root, 'dist/testing.js'))});
      const { createMemoryStore } = await import(${JSON.stringify(join(root, 'dist/index.js'))});
      const tests = new Map();
      storeConformance((name, fn) => tests.set(name, fn), () => createMemoryStore());
      const property = [...tests].find(([name]) => name.includes('property'));
      const failure = await property[1]().then(() => 'passed', (error) => error.name + ': ' + error.message);
      // An adapter: its library is imported on first use.
      const { createQdrantStore } = await import(${JSON.stringify(join(root, 'dist/stores/qdrant.js'))});
      const qdrant = await createQdrantStore({ url: 'http://127.0.0.1:1' }).listCollections().then(() => 'passed', (error) => error.name + ': ' + error.message);
      process.stdout.write(JSON.stringify({ results, failure, qdrant }));`;
    const result = spawnSync(process.execPath, ['--import', hidePeers, '--input-type=module', '-e', script], {
      cwd: root,
      encoding: 'utf8',
    });
    expect(result.status, result.stderr).toBe(0);
    const { results, failure, qdrant } = JSON.parse(result.stdout) as {
      results: Record<string, string>;
      failure: string;
      qdrant: string;
    };
    // kumiki/gateway is a Hono app built synchronously by createGateway: it needs hono at import.
    expect(results).toEqual(
      Object.fromEntries(
        SUBPATHS.map((subpath) => [subpath.name, subpath.name === 'kumiki/gateway' ? 'ERR_MODULE_NOT_FOUND' : 'ok']),
      ),
    );
    expect(failure).toMatch(/^MissingDependencyError: .*fast-check/);
    expect(qdrant).toMatch(/^MissingDependencyError: .*@qdrant\/js-client-rest/);
  });
});
