/**
 * loadPath's walk, beyond pipeline-loaders-path: exclude patterns are names or globs (never
 * extensions), and nothing is listed before the first iteration.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, test } from 'vitest';
import { loadPath } from '../src/pipeline/loaders-node.js';
import type { SourceDocument } from '../src/pipeline/types.js';

let root = '';
afterAll(async () => {
  if (root) await rm(root, { recursive: true, force: true });
});

async function collect(iterable: AsyncIterable<SourceDocument>): Promise<SourceDocument[]> {
  const out: SourceDocument[] = [];
  for await (const document of iterable) out.push(document);
  return out;
}

test('an exclude pattern such as .md is a whole name, not an extension; skipped is empty before the first iteration', async () => {
  root = await mkdtemp(join(tmpdir(), 'kumiki-walk-'));
  await writeFile(join(root, 'a.md'), '# A');
  await writeFile(join(root, 'b.txt'), 'b');
  const loaded = loadPath(root, { exclude: ['.md'] });
  expect(loaded.skipped).toEqual([]);
  expect((await collect(loaded)).map((document) => document.text)).toEqual(['# A', 'b']);
  expect((await collect(loadPath(root, { exclude: ['*.md'] }))).map((document) => document.text)).toEqual(['b']);
});
