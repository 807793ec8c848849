import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';
import { vitestAliases } from './scripts/subpaths.js';

const source = (path: string) => fileURLToPath(new URL(path, import.meta.url));

export default defineConfig({
  resolve: {
    // Examples import the package by name; in tests they run against the source.
    alias: vitestAliases(source),
  },
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
