import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const source = (path: string) => fileURLToPath(new URL(path, import.meta.url));

export default defineConfig({
  resolve: {
    // Examples import the package by name; in tests they run against the source.
    alias: [
      { find: /^kumiki$/, replacement: source('./src/index.ts') },
      { find: /^kumiki\/testing$/, replacement: source('./src/testing/index.ts') },
      { find: /^kumiki\/stores\/memory\/file$/, replacement: source('./src/stores/memory/file.ts') },
    ],
  },
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
