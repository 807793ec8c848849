import { readFileSync } from 'node:fs';
import { defineConfig } from 'tsup';
import { copyAssets, tsupEntries, writeEsmEntries } from './scripts/subpaths.js';

const { version } = JSON.parse(readFileSync('package.json', 'utf8')) as { version: string };

/** Libraries `kumiki eval` compares with when installed (dev dependencies: never bundled). */
const COMPARISON_LIBRARIES = ['minisearch', 'wink-bm25-text-search', 'wink-nlp-utils'];

export default defineConfig([
  {
    // CommonJS: one bundle per public subpath (scripts/subpaths.ts), shared code in chunks.
    entry: tsupEntries(),
    format: ['cjs'],
    splitting: true,
    treeshake: true,
    target: 'node20',
    platform: 'neutral',
    outDir: 'dist',
    external: [/^node:/, ...COMPARISON_LIBRARIES],
  },
  {
    // The declarations of the same entries, for both formats (.d.ts and .d.cts).
    entry: tsupEntries(),
    format: ['esm', 'cjs'],
    dts: { only: true },
    outDir: 'dist',
  },
  {
    // ESM one file per module (dist/esm mirrors src), so a bundler drops every module a user does not
    // import ("sideEffects": false): shared chunks would carry the zod schemas built at the top of
    // modules into every bundle (an error class alone was 96 KiB gz). dist/<entry>.js re-exports.
    entry: ['src/**/*.ts', '!src/cli/**', '!src/**/*.d.ts'],
    format: ['esm'],
    bundle: false,
    target: 'node20',
    platform: 'neutral',
    outDir: 'dist/esm',
    // The entry files and the kernel as a file (kumiki/stores/memory/kernel.wasm).
    onSuccess: async () => {
      writeEsmEntries();
      copyAssets();
    },
  },
  {
    // One file in its own folder: the builds run at once, and chunk files of the same name written
    // by two builds into one folder could tear.
    entry: { index: 'src/cli/index.ts' },
    format: ['esm'],
    splitting: false,
    target: 'node20',
    platform: 'node',
    outDir: 'dist/cli',
    define: { __KUMIKI_VERSION__: JSON.stringify(version) },
    external: COMPARISON_LIBRARIES,
  },
]);
