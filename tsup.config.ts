import { defineConfig } from 'tsup';

/** One entry per public subpath; keep in sync with package.json "exports" (scripts/check-package.mjs checks). */
export const entries = {
  index: 'src/index.ts',
  'stores/memory/file': 'src/stores/memory/file.ts',
  testing: 'src/testing/index.ts',
  'cli/index': 'src/cli/index.ts',
};

export default defineConfig({
  entry: entries,
  format: ['esm', 'cjs'],
  dts: true,
  clean: true,
  splitting: true,
  treeshake: true,
  sourcemap: false,
  target: 'node20',
  platform: 'neutral',
  outDir: 'dist',
  external: [/^node:/],
});
