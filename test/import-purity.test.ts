import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';

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
