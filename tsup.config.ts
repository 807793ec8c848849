import { readFileSync } from 'node:fs';
import { defineConfig } from 'tsup';
import { copyAssets, tsupEntries } from './scripts/subpaths.js';

const { version } = JSON.parse(readFileSync('package.json', 'utf8')) as { version: string };

/** Libraries `kumiki eval` compares with when installed (dev dependencies: never bundled). */
const COMPARISON_LIBRARIES = ['minisearch', 'wink-bm25-text-search', 'wink-nlp-utils'];

export default defineConfig([
  {
    // One entry per public subpath (scripts/subpaths.ts).
    entry: tsupEntries(),
    format: ['esm', 'cjs'],
    dts: true,
    splitting: true,
    treeshake: true,
    target: 'node20',
    platform: 'neutral',
    outDir: 'dist',
    external: [/^node:/, ...COMPARISON_LIBRARIES],
    // The kernel as a file, for runtimes that import precompiled WebAssembly (kumiki/stores/memory/kernel.wasm).
    onSuccess: async () => copyAssets(),
  },
  {
    // One file in its own folder: the two builds run at once, and chunk files of the same name written
    // by both into one folder could tear.
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
