import { appendFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { CorruptDataError } from '../src/index.js';
import type { LedgerEntry } from '../src/pipeline/ledger.js';
import { createFileLedger } from '../src/pipeline/ledger-file.js';

const entry = (source: string, key = 'k1'): LedgerEntry => ({
  collection: 'c',
  source,
  key,
  contentHash: 'h',
  chunkIds: [`${source}-0`],
  runId: 'run-1',
  ingestedAt: '2026-11-26T00:00:00.000Z',
});

let directory: string;
beforeAll(async () => {
  directory = await mkdtemp(join(tmpdir(), 'kumiki-ledger-'));
});
afterAll(() => rm(directory, { recursive: true, force: true }));

describe('createFileLedger', () => {
  test('what was written is there after a re-open, removals included', async () => {
    const path = join(directory, 'a.jsonl');
    const ledger = createFileLedger(path);
    await ledger.write({ put: [entry('s1'), entry('s2')] });
    await ledger.write({ put: [entry('s1', 'k2')], remove: [{ collection: 'c', source: 's2' }] });
    expect(await createFileLedger(path).entries()).toEqual([entry('s1', 'k2')]);
  });

  test('a torn last line (a write cut short by a crash) is dropped and the file repaired', async () => {
    const path = join(directory, 'b.jsonl');
    await createFileLedger(path).write({ put: [entry('s1')] });
    await appendFile(path, '0badc0de {"put":{"collection":"c","sou');
    const reopened = createFileLedger(path);
    expect(await reopened.entries()).toEqual([entry('s1')]);
    await reopened.write({ put: [entry('s3')] });
    expect((await createFileLedger(path).entries()).map((e) => e.source)).toEqual(['s1', 's3']);
  });

  test('a damaged line in the middle is refused with CorruptDataError, not skipped', async () => {
    const path = join(directory, 'c.jsonl');
    await createFileLedger(path).write({ put: [entry('s1'), entry('s2')] });
    const text = await readFile(path, 'utf8');
    await writeFile(path, text.replace('"s1"', '"s9"'));
    await expect(createFileLedger(path).entries()).rejects.toBeInstanceOf(CorruptDataError);
    await expect(createFileLedger(path).entries()).rejects.toThrow(/line 1 fails its checksum/);
  });

  test('a long journal is compacted on open to its live entries', async () => {
    const path = join(directory, 'd.jsonl');
    const ledger = createFileLedger(path);
    for (let i = 0; i < 200; i++) await ledger.write({ put: [entry('s1', `k${i}`)] });
    const before = (await readFile(path, 'utf8')).split('\n').length;
    expect(await createFileLedger(path).entries()).toEqual([entry('s1', 'k199')]);
    const after = (await readFile(path, 'utf8')).split('\n').length;
    expect(before).toBe(201);
    expect(after).toBe(2);
  });
});
