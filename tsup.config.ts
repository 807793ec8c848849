import { readFileSync } from 'node:fs';
import { defineConfig } from 'tsup';

const { version } = JSON.parse(readFileSync('package.json', 'utf8')) as { version: string };

/** Library entries, one per public subpath; scripts/check-package.mjs checks them against "exports". */
const library = {
  index: 'src/index.ts',
  'stores/memory/file': 'src/stores/memory/file.ts',
  testing: 'src/testing/index.ts',
};

export default defineConfig([
  {
    entry: library,
    format: ['esm', 'cjs'],
    dts: true,
    splitting: true,
    treeshake: true,
    target: 'node20',
    platform: 'neutral',
    outDir: 'dist',
    external: [/^node:/],
  },
  {
    entry: { 'cli/index': 'src/cli/index.ts' },
    format: ['esm'],
    target: 'node20',
    platform: 'node',
    outDir: 'dist',
    define: { __KUMIKI_VERSION__: JSON.stringify(version) },
  },
]);
