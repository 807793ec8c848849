import { readFileSync } from 'node:fs';
import { defineConfig } from 'tsup';

const { version } = JSON.parse(readFileSync('package.json', 'utf8')) as { version: string };

/** Library entries, one per public subpath; scripts/check-package.mjs checks them against "exports". */
const library = {
  index: 'src/index.ts',
  'stores/memory/file': 'src/stores/memory/file.ts',
  testing: 'src/testing/index.ts',
  gateway: 'src/gateway/index.ts',
  eval: 'src/eval/index.ts',
  node: 'src/node.ts',
  'loaders/pdf': 'src/pipeline/pdf.ts',
  'loaders/docx': 'src/pipeline/docx.ts',
  'catalogs/datahub': 'src/catalogs/datahub/index.ts',
  'catalogs/local/file': 'src/catalogs/local/file.ts',
  'catalogs/local': 'src/catalogs/local/index.ts',
  'auth/oidc': 'src/auth/oidc/index.ts',
  'runners/llama-cpp': 'src/runners/llama-cpp/index.ts',
  'runners/openai-compatible': 'src/runners/openai-compatible/index.ts',
  'stores/pgvector': 'src/stores/pgvector/index.ts',
  'embedders/llama-cpp': 'src/embedders/llama-cpp/index.ts',
  'stores/milvus': 'src/stores/milvus/index.ts',
  'stores/qdrant': 'src/stores/qdrant/index.ts',
  'caches/keyv': 'src/caches/keyv/index.ts',
  'embedders/openai-compatible': 'src/embedders/openai-compatible/index.ts',
  'embedders/transformers': 'src/embedders/transformers/index.ts',
  'embedders/static': 'src/embedders/static/index.ts',
};

/** Libraries `kumiki eval` compares with when installed (dev dependencies: never bundled). */
const COMPARISON_LIBRARIES = ['minisearch', 'wink-bm25-text-search', 'wink-nlp-utils'];

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
    external: [/^node:/, ...COMPARISON_LIBRARIES],
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
