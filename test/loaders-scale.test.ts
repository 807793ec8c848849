/**
 * loadPath on a generated folder of 10,000 files: it reads one file per document the caller takes
 * (never ahead), reports progress after each file, and its retained memory does not grow with the
 * number of files read (measured after full GCs in a child process started with --expose-gc).
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { loadPath } from '../src/pipeline/loaders-node.js';

const FOLDERS = 100;
const PER_FOLDER = 100;
const FILES = FOLDERS * PER_FOLDER;
/** About 4 KB of text per file: 40 MB in all, far more than the memory bound below. */
const body = (n: number) =>
  `---\nfile: ${n}\n---\n# File ${n}\n\n${Array.from({ length: 60 }, (_, i) => `word${n}x${i} and some filler text`).join(' ')}\n`.repeat(
    2,
  );

let root = '';
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'kumiki-scale-'));
  for (let folder = 0; folder < FOLDERS; folder++) {
    const path = join(root, `f${String(folder).padStart(3, '0')}`);
    await mkdir(path);
    await Promise.all(
      Array.from({ length: PER_FOLDER }, (_, i) =>
        writeFile(join(path, `${String(i).padStart(3, '0')}.md`), body(folder * PER_FOLDER + i)),
      ),
    );
  }
}, 300_000);
afterAll(async () => {
  if (root) await rm(root, { recursive: true, force: true });
}, 300_000);

test('reads one file per document taken, never ahead, and reports progress after each', async () => {
  let taken = 0;
  let ahead = 0;
  let reports = 0;
  let lastFiles = 0;
  const loaded = loadPath(root, {
    onProgress: (progress) => {
      reports++;
      expect(progress.files).toBe(lastFiles + 1);
      lastFiles = progress.files;
      // Files read beyond the documents the caller has taken: the documents held at once.
      ahead = Math.max(ahead, progress.files - taken);
    },
  });
  for await (const document of loaded) {
    taken++;
    expect(document.metadata).toEqual({ file: taken - 1 });
  }
  expect(taken).toBe(FILES);
  expect(reports).toBe(FILES);
  expect(ahead).toBe(1);
  expect(loaded.skipped).toEqual([]);
}, 300_000);

test('retained memory stays flat over 10,000 files (40 MB of text)', async () => {
  const script = fileURLToPath(new URL('./fixtures/load-folder.ts', import.meta.url));
  const { stdout } = await promisify(execFile)(process.execPath, ['--expose-gc', '--import', 'tsx', script, root], {
    cwd: fileURLToPath(new URL('..', import.meta.url)),
    maxBuffer: 1 << 20,
  });
  const { documents, characters, skipped, samples } = JSON.parse(stdout) as {
    documents: number;
    characters: number;
    skipped: number;
    samples: number[];
  };
  expect({ documents, skipped }).toEqual({ documents: FILES, skipped: 0 });
  expect(characters).toBeGreaterThan(35_000_000);
  // From before the first file to the end: a loader holding what it read would add ~40 MB.
  const growth = Math.max(...samples) - (samples[0] as number);
  expect(
    growth,
    `retained heap before reading, then every 1,000 documents: ${samples.map((s) => (s / 2 ** 20).toFixed(1)).join(', ')} MiB`,
  ).toBeLessThan(4 * 2 ** 20);
}, 300_000);
