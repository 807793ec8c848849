import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const source = (path: string) => fileURLToPath(new URL(path, import.meta.url));

export default defineConfig({
  resolve: {
    // Examples import the package by name; in tests they run against the source.
    alias: [
      { find: /^kumiki$/, replacement: source('./src/index.ts') },
      { find: /^kumiki\/testing$/, replacement: source('./src/testing/index.ts') },
      { find: /^kumiki\/gateway$/, replacement: source('./src/gateway/index.ts') },
      { find: /^kumiki\/eval$/, replacement: source('./src/eval/index.ts') },
      { find: /^kumiki\/node$/, replacement: source('./src/node.ts') },
      { find: /^kumiki\/loaders\/pdf$/, replacement: source('./src/pipeline/pdf.ts') },
      { find: /^kumiki\/loaders\/docx$/, replacement: source('./src/pipeline/docx.ts') },
      { find: /^kumiki\/catalogs\/datahub$/, replacement: source('./src/catalogs/datahub/index.ts') },
      { find: /^kumiki\/catalogs\/local\/file$/, replacement: source('./src/catalogs/local/file.ts') },
      { find: /^kumiki\/catalogs\/local$/, replacement: source('./src/catalogs/local/index.ts') },
      { find: /^kumiki\/auth\/oidc$/, replacement: source('./src/auth/oidc/index.ts') },
      { find: /^kumiki\/runners\/llama-cpp$/, replacement: source('./src/runners/llama-cpp/index.ts') },
      { find: /^kumiki\/runners\/openai-compatible$/, replacement: source('./src/runners/openai-compatible/index.ts') },
      { find: /^kumiki\/stores\/pgvector$/, replacement: source('./src/stores/pgvector/index.ts') },
      { find: /^kumiki\/embedders\/llama-cpp$/, replacement: source('./src/embedders/llama-cpp/index.ts') },
      { find: /^kumiki\/stores\/milvus$/, replacement: source('./src/stores/milvus/index.ts') },
      { find: /^kumiki\/stores\/qdrant$/, replacement: source('./src/stores/qdrant/index.ts') },
      { find: /^kumiki\/caches\/keyv$/, replacement: source('./src/caches/keyv/index.ts') },
      {
        find: /^kumiki\/embedders\/openai-compatible$/,
        replacement: source('./src/embedders/openai-compatible/index.ts'),
      },
      { find: /^kumiki\/embedders\/transformers$/, replacement: source('./src/embedders/transformers/index.ts') },
      { find: /^kumiki\/embedders\/static$/, replacement: source('./src/embedders/static/index.ts') },
      { find: /^kumiki\/stores\/memory\/file$/, replacement: source('./src/stores/memory/file.ts') },
    ],
  },
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
