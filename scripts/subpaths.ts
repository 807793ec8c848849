/**
 * The public subpaths of kumiki: the one list from which tsup's entries and vitest's aliases are
 * built, and against which package.json "exports", tsconfig.json "paths" and the subpath table of
 * docs/architecture.md are checked.
 *
 *   tsx scripts/subpaths.ts          checks package.json and tsconfig.json (run by `npm test`)
 *   tsx scripts/subpaths.ts --write  rewrites them from this list
 */
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

export type Subpath = {
  /** As imported: `kumiki` or `kumiki/...`. */
  readonly name: string;
  /** The source module of the entry. */
  readonly source: string;
};

export const SUBPATHS: readonly Subpath[] = [
  { name: 'kumiki', source: 'src/index.ts' },
  { name: 'kumiki/node', source: 'src/node/index.ts' },
  { name: 'kumiki/testing', source: 'src/testing/index.ts' },
  { name: 'kumiki/gateway', source: 'src/gateway/index.ts' },
  { name: 'kumiki/gateway/node', source: 'src/gateway/serve.ts' },
  { name: 'kumiki/eval', source: 'src/eval/index.ts' },
  { name: 'kumiki/loaders/pdf', source: 'src/pipeline/pdf.ts' },
  { name: 'kumiki/loaders/docx', source: 'src/pipeline/docx.ts' },
  { name: 'kumiki/stores/pgvector', source: 'src/stores/pgvector/index.ts' },
  { name: 'kumiki/stores/qdrant', source: 'src/stores/qdrant/index.ts' },
  { name: 'kumiki/stores/milvus', source: 'src/stores/milvus/index.ts' },
  { name: 'kumiki/embedders/transformers', source: 'src/embedders/transformers/index.ts' },
  { name: 'kumiki/embedders/llama-cpp', source: 'src/embedders/llama-cpp/index.ts' },
  { name: 'kumiki/embedders/openai-compatible', source: 'src/embedders/openai-compatible/index.ts' },
  { name: 'kumiki/embedders/static', source: 'src/embedders/static/index.ts' },
  { name: 'kumiki/runners/llama-cpp', source: 'src/runners/llama-cpp/index.ts' },
  { name: 'kumiki/runners/openai-compatible', source: 'src/runners/openai-compatible/index.ts' },
  { name: 'kumiki/caches/keyv', source: 'src/caches/keyv/index.ts' },
  { name: 'kumiki/catalogs/local', source: 'src/catalogs/local/index.ts' },
  { name: 'kumiki/catalogs/datahub', source: 'src/catalogs/datahub/index.ts' },
  { name: 'kumiki/auth/oidc', source: 'src/auth/oidc/index.ts' },
  { name: 'kumiki/distributed', source: 'src/distributed/index.ts' },
];

/** Files shipped as they are (not bundled): the subpath, the file in src/ and its declaration beside it. */
export const ASSETS: readonly Subpath[] = [
  { name: 'kumiki/stores/memory/kernel.wasm', source: 'src/stores/memory/kernel/kernel.wasm' },
];

/** Where an entry lands in dist/, without extension: `index` for the root, else the subpath. */
export const distName = (subpath: Subpath): string =>
  subpath.name === 'kumiki' ? 'index' : subpath.name.slice('kumiki/'.length);

/** tsup's `entry` for the library build. */
export const tsupEntries = (): Record<string, string> =>
  Object.fromEntries(SUBPATHS.map((subpath) => [distName(subpath), subpath.source]));

/** vitest's `resolve.alias`: examples and tests import the package by name and run against the source. */
export const vitestAliases = (resolve: (source: string) => string): { find: RegExp; replacement: string }[] =>
  SUBPATHS.map((subpath) => ({
    find: new RegExp(`^${subpath.name.replace(/[/.-]/g, (c) => `\\${c}`)}$`),
    replacement: resolve(`./${subpath.source}`),
  }));

/** package.json "exports". */
export const packageExports = (): Record<string, unknown> => ({
  ...Object.fromEntries(
    SUBPATHS.map((subpath) => {
      const key = subpath.name === 'kumiki' ? '.' : `./${distName(subpath)}`;
      const out = `./dist/${distName(subpath)}`;
      return [
        key,
        {
          import: { types: `${out}.d.ts`, default: `${out}.js` },
          require: { types: `${out}.d.cts`, default: `${out}.cjs` },
        },
      ];
    }),
  ),
  ...Object.fromEntries(
    ASSETS.map((asset) => {
      const out = `./dist/${distName(asset)}`;
      return [`./${distName(asset)}`, { types: `${out}.d.ts`, default: out }];
    }),
  ),
  './package.json': './package.json',
});

/** Copies the assets into dist/ (tsup's onSuccess). */
export const copyAssets = (): void => {
  for (const asset of ASSETS) {
    const out = root(`dist/${distName(asset)}`);
    mkdirSync(dirname(out), { recursive: true });
    copyFileSync(root(asset.source), out);
    copyFileSync(root(`${asset.source}.d.ts`), `${out}.d.ts`);
  }
};

/**
 * The ESM entry files (tsup's onSuccess): `dist/<entry>.js` re-exports the entry's module from
 * dist/esm, which holds one file per source module.
 */
export const writeEsmEntries = (): void => {
  for (const subpath of SUBPATHS) {
    const out = root(`dist/${distName(subpath)}.js`);
    const target = relative(dirname(out), root(subpath.source.replace(/^src\//, 'dist/esm/').replace(/\.ts$/, '.js')));
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(out, `export * from '${target.startsWith('.') ? target : `./${target}`}';\n`);
  }
};

/** tsconfig.json "compilerOptions.paths". */
export const tsconfigPaths = (): Record<string, string[]> =>
  Object.fromEntries([...SUBPATHS, ...ASSETS].map((subpath) => [subpath.name, [`./${subpath.source}`]]));

const root = (path: string) => fileURLToPath(new URL(`../${path}`, import.meta.url));
const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

function main(write: boolean): number {
  const pkg = JSON.parse(readFileSync(root('package.json'), 'utf8'));
  const tsconfig = JSON.parse(readFileSync(root('tsconfig.json'), 'utf8'));
  const problems: string[] = [];
  if (!same(pkg.exports, packageExports())) problems.push('package.json "exports"');
  if (!same(tsconfig.compilerOptions.paths, tsconfigPaths())) problems.push('tsconfig.json "compilerOptions.paths"');
  const documented = [...readFileSync(root('docs/architecture.md'), 'utf8').matchAll(/^\| `(kumiki(?:\/[^`]+)?)` \|/gm)]
    .map((match) => match[1])
    .sort();
  const expected = [...SUBPATHS, ...ASSETS].map((subpath) => subpath.name).sort();
  if (!same(documented, expected)) {
    console.error(
      `subpaths: the table of docs/architecture.md lists ${documented.join(', ')}; scripts/subpaths.ts has ${expected.join(', ')}. Edit the table.`,
    );
    return 1;
  }
  if (problems.length === 0) {
    console.log(`subpaths: package.json and tsconfig.json agree with scripts/subpaths.ts (${SUBPATHS.length} entries)`);
    return 0;
  }
  if (!write) {
    console.error(
      `subpaths: ${problems.join(' and ')} disagree with scripts/subpaths.ts; run \`npx tsx scripts/subpaths.ts --write\``,
    );
    return 1;
  }
  pkg.exports = packageExports();
  tsconfig.compilerOptions.paths = tsconfigPaths();
  writeFileSync(root('package.json'), `${JSON.stringify(pkg, null, 2)}\n`);
  writeFileSync(root('tsconfig.json'), `${JSON.stringify(tsconfig, null, 2)}\n`);
  console.log(`subpaths: rewrote ${problems.join(' and ')}`);
  return 0;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  process.exit(main(process.argv.includes('--write')));
}
