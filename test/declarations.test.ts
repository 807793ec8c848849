/**
 * The built declaration files (dist/*.d.ts, *.d.cts) a TypeScript app reads for each subpath name
 * only kumiki's dependencies and that subpath's own optional peer: an app that imports `kumiki` or
 * `kumiki/testing` type-checks without any adapter library installed, even without skipLibCheck.
 * Run `npm run build` first.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';
import { distName, SUBPATHS } from '../scripts/subpaths.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
  dependencies: Record<string, string>;
  peerDependenciesMeta: Record<string, { optional?: boolean }>;
};
const DEPENDENCIES = new Set(Object.keys(pkg.dependencies));

/** The optional peers whose types a subpath's declarations may name: its own library, needed to use it. */
const OWN_PEERS: Record<string, string[]> = {
  'kumiki/gateway': ['hono'],
  'kumiki/stores/pgvector': ['pg'],
  'kumiki/stores/qdrant': ['@qdrant/js-client-rest'],
  'kumiki/stores/milvus': ['@zilliz/milvus2-sdk-node'],
  'kumiki/embedders/transformers': ['@huggingface/transformers'],
  'kumiki/embedders/llama-cpp': ['node-llama-cpp'],
  'kumiki/runners/llama-cpp': ['node-llama-cpp'],
  'kumiki/caches/keyv': ['keyv'],
  'kumiki/distributed': ['ioredis'],
};

const packageName = (specifier: string) =>
  specifier.startsWith('@') ? specifier.split('/').slice(0, 2).join('/') : (specifier.split('/')[0] as string);

/** Module specifiers of import/export statements and import() types (not of JSDoc text). */
function specifiersOf(text: string): string[] {
  const statements = [...text.matchAll(/^(?:import|export)\b[^;]*?\bfrom\s+['"]([^'"]+)['"]/gm)].map((m) => m[1]);
  const bare = [...text.matchAll(/^import\s+['"]([^'"]+)['"]/gm)].map((m) => m[1]);
  const types = [...text.matchAll(/\bimport\(\s*['"]([^'"]+)['"]\s*\)/g)].map((m) => m[1]);
  return [...statements, ...bare, ...types] as string[];
}

/** The packages named by a declaration file and every declaration file it reaches. */
function packagesReached(entry: string): Set<string> {
  const packages = new Set<string>();
  const seen = new Set<string>();
  const pending = [entry];
  while (pending.length > 0) {
    const file = pending.pop() as string;
    if (seen.has(file)) continue;
    seen.add(file);
    for (const specifier of specifiersOf(readFileSync(file, 'utf8'))) {
      if (!specifier.startsWith('.')) {
        if (!specifier.startsWith('node:')) packages.add(packageName(specifier));
        continue;
      }
      const target = resolve(dirname(file), specifier).replace(/\.c?js$/, '');
      const extension = file.endsWith('.d.cts') ? '.d.cts' : '.d.ts';
      const candidates = [`${target}${extension}`, `${target}.d.ts`, join(target, `index${extension}`)];
      const found = candidates.find((candidate) => existsSync(candidate));
      expect(found, `${file} imports ${specifier}, which has no declaration file`).toBeDefined();
      pending.push(found as string);
    }
  }
  return packages;
}

describe('declaration files', () => {
  for (const extension of ['.d.ts', '.d.cts']) {
    test(`each subpath's ${extension} names only kumiki's dependencies and its own optional peer`, () => {
      const offending: Record<string, string[]> = {};
      for (const subpath of SUBPATHS) {
        const entry = join(root, 'dist', `${distName(subpath)}${extension}`);
        expect(existsSync(entry), `${entry} is missing: run npm run build`).toBe(true);
        const allowed = new Set([...DEPENDENCIES, ...(OWN_PEERS[subpath.name] ?? [])]);
        const extra = [...packagesReached(entry)].filter((name) => !allowed.has(name));
        if (extra.length > 0) offending[subpath.name] = extra;
      }
      expect(offending).toEqual({});
    });
  }

  test('the allow-list names only optional peers', () => {
    for (const peers of Object.values(OWN_PEERS)) {
      for (const peer of peers) expect(pkg.peerDependenciesMeta[peer]?.optional, peer).toBe(true);
    }
  });
});
