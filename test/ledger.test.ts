import { spawnSync } from 'node:child_process';
import { appendFile, mkdtemp, open, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { encodeCatalog } from '../src/catalogs/local/snapshot.js';
import { crc32 } from '../src/core/crc32.js';
import { CorruptDataError, LockedError, UnavailableError } from '../src/index.js';
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

/** Makes file writes fail with ENOSPC after writing part of their bytes, while `armed`. */
async function diskFullSwitch() {
  const probe = await open(join(directory, '.probe'), 'w');
  const proto = Object.getPrototypeOf(probe) as { write: (...args: unknown[]) => Promise<unknown> };
  await probe.close();
  const original = proto.write;
  const state = { armed: false };
  proto.write = async function (this: unknown, ...args: unknown[]) {
    if (!state.armed) return original.apply(this, args);
    const [buffer, offset, length, position] = args as [Uint8Array, number, number, number];
    await original.call(this, buffer, offset, Math.floor(length / 2), position);
    throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
  };
  return { state, restore: () => (proto.write = original) };
}

const v2Lines = (text: string) => text.split('\n').filter((line) => line !== '');

describe('createFileLedger', () => {
  test('what was written is there after a re-open, removals included', async () => {
    const path = join(directory, 'a.jsonl');
    const ledger = createFileLedger(path);
    await ledger.write({ put: [entry('s1'), entry('s2')] });
    await ledger.write({ put: [entry('s1', 'k2')], remove: [{ collection: 'c', source: 's2' }] });
    expect(await createFileLedger(path).entries()).toEqual([entry('s1', 'k2')]);
    expect(v2Lines(await readFile(path, 'utf8'))[0]).toBe('KUMIKI-LEDGER 2');
    await ledger.dispose?.();
  });

  test('a torn last line (a write cut short by a crash) is dropped, and cut away by the next writer', async () => {
    const path = join(directory, 'b.jsonl');
    const first = createFileLedger(path);
    await first.write({ put: [entry('s1')] });
    await first.dispose?.();
    await appendFile(path, '0badc0de 2 {"put":{"collection":"c","sou');
    const reopened = createFileLedger(path);
    expect(await reopened.entries()).toEqual([entry('s1')]);
    await reopened.write({ put: [entry('s3')] });
    await reopened.dispose?.();
    expect((await createFileLedger(path).entries()).map((e) => e.source)).toEqual(['s1', 's3']);
    expect(await readFile(path, 'utf8')).toMatch(/\n$/);
  });

  test('a damaged line in the middle is refused with CorruptDataError and the file left as it was', async () => {
    const path = join(directory, 'c.jsonl');
    const ledger = createFileLedger(path);
    await ledger.write({ put: [entry('s1'), entry('s2')] });
    await ledger.dispose?.();
    const text = (await readFile(path, 'utf8')).replace('"s1"', '"s9"');
    await writeFile(path, text);
    await expect(createFileLedger(path).entries()).rejects.toBeInstanceOf(CorruptDataError);
    await expect(createFileLedger(path).entries()).rejects.toThrow(/line 2 fails its checksum/);
    await expect(createFileLedger(path).write({ put: [entry('s5')] })).rejects.toBeInstanceOf(CorruptDataError);
    expect(await readFile(path, 'utf8')).toBe(text);
  });

  test('a line removed, repeated or moved is refused, naming the sequence numbers', async () => {
    const path = join(directory, 'seq.jsonl');
    const ledger = createFileLedger(path);
    for (const source of ['s1', 's2', 's3']) await ledger.write({ put: [entry(source)] });
    await ledger.dispose?.();
    const [header, one, two, three] = v2Lines(await readFile(path, 'utf8'));
    const variants = {
      removed: [header, one, three],
      repeated: [header, one, two, two, three],
      moved: [header, one, three, two],
    };
    for (const [name, lines] of Object.entries(variants)) {
      await writeFile(path, `${lines.join('\n')}\n`);
      await expect(createFileLedger(path).entries(), name).rejects.toThrow(
        /has sequence number \d+ where \d+ was expected/,
      );
    }
  });

  test('files that are not a ledger are refused, never read as empty or truncated', async () => {
    const foreign: Record<string, Uint8Array | string> = {
      'a catalog file': encodeCatalog({ datasets: [], runs: [], edges: [] }),
      'a text file': 'remember the milk\nand the eggs\n',
      'a zero-filled file': new Uint8Array(4096),
      'an empty JSON object': '{}',
      'a line that only looks like one': `${(0).toString(16).padStart(8, '0')} {"put":1}\n`,
    };
    for (const [name, content] of Object.entries(foreign)) {
      const path = join(directory, `foreign-${name.replace(/ /g, '-')}.jsonl`);
      await writeFile(path, content);
      const before = await readFile(path);
      await expect(createFileLedger(path).entries(), name).rejects.toBeInstanceOf(CorruptDataError);
      const writer = createFileLedger(path);
      await expect(writer.write({ put: [entry('s1')] }), name).rejects.toBeInstanceOf(CorruptDataError);
      await writer.dispose?.();
      expect(await readFile(path), name).toEqual(before);
    }
  });

  test('a failed append (a full disk) is cut back: later appends are kept and the file stays readable', async () => {
    const path = join(directory, 'enospc.jsonl');
    const ledger = createFileLedger(path);
    await ledger.write({ put: [entry('s1')] });
    const disk = await diskFullSwitch();
    try {
      disk.state.armed = true;
      await expect(ledger.write({ put: [entry('s2')] })).rejects.toBeInstanceOf(UnavailableError);
      await expect(ledger.write({ put: [entry('s2')] })).rejects.toThrow(/no space left/);
    } finally {
      disk.restore();
    }
    await ledger.write({ put: [entry('s3')] });
    await ledger.dispose?.();
    expect((await createFileLedger(path).entries()).map((e) => e.source)).toEqual(['s1', 's3']);
  });

  test('a long journal is compacted by its next writer to its live records', async () => {
    const path = join(directory, 'd.jsonl');
    const ledger = createFileLedger(path);
    for (let i = 0; i < 200; i++) await ledger.write({ put: [entry('s1', `k${i}`)] });
    await ledger.dispose?.();
    expect(v2Lines(await readFile(path, 'utf8'))).toHaveLength(201);
    const next = createFileLedger(path);
    expect(await next.entries()).toEqual([entry('s1', 'k199')]);
    await next.write({ mark: { collection: 'c', epoch: 'e1', checkpoint: 'k3' } });
    await next.dispose?.();
    expect(v2Lines(await readFile(path, 'utf8'))).toHaveLength(3);
    const reread = createFileLedger(path);
    expect(await reread.entries()).toEqual([entry('s1', 'k199')]);
    expect(await reread.marks?.()).toEqual([{ collection: 'c', epoch: 'e1', checkpoint: 'k3' }]);
  });

  test('a journal in the first format (no header) is read and rewritten in the current one', async () => {
    const path = join(directory, 'v1.jsonl');
    const line = (record: unknown) => {
      const json = JSON.stringify(record);
      return `${crc32(new TextEncoder().encode(json)).toString(16).padStart(8, '0')} ${json}\n`;
    };
    await writeFile(
      path,
      line({ put: entry('s1') }) + line({ put: entry('s2') }) + line({ remove: { collection: 'c', source: 's2' } }),
    );
    const ledger = createFileLedger(path);
    expect(await ledger.entries()).toEqual([entry('s1')]);
    await ledger.write({ put: [entry('s3')] });
    await ledger.dispose?.();
    expect(v2Lines(await readFile(path, 'utf8'))[0]).toBe('KUMIKI-LEDGER 2');
    expect((await createFileLedger(path).entries()).map((e) => e.source)).toEqual(['s1', 's3']);
  });

  test('one writer at a time: a second gets LockedError naming the holder, then takes over and sees its writes', async () => {
    const path = join(directory, 'lock.jsonl');
    const first = createFileLedger(path);
    const second = createFileLedger(path);
    await first.write({ put: [entry('s1')] });
    const refused = await second.write({ put: [entry('s2')] }).catch((error: unknown) => error);
    expect(LockedError.isInstance(refused)).toBe(true);
    expect((refused as LockedError).holder?.pid).toBe(process.pid);
    expect((refused as Error).message).toMatch(new RegExp(`locked by process ${process.pid} on `));
    await first.dispose?.();
    await second.write({ put: [entry('s2')] });
    expect((await second.entries()).map((e) => e.source)).toEqual(['s1', 's2']);
    await second.dispose?.();
  });

  test('a writer that takes the lock again reads what another wrote meanwhile (and only then)', async () => {
    const path = join(directory, 'turns.jsonl');
    const a = createFileLedger(path);
    const b = createFileLedger(path);
    await a.write({ put: [entry('s1')] });
    await a.release?.();
    await b.write({ put: [entry('s2')] });
    await b.release?.();
    await a.write({ put: [entry('s3')] });
    expect((await a.entries()).map((e) => e.source)).toEqual(['s1', 's2', 's3']);
    await a.dispose?.();
    await b.write({ remove: [{ collection: 'c', source: 's1' }] });
    expect((await b.entries()).map((e) => e.source)).toEqual(['s2', 's3']);
    await b.dispose?.();
  });

  test('entries are read-only: changing one does not change the ledger', async () => {
    const ledger = createFileLedger(join(directory, 'frozen.jsonl'));
    await ledger.write({ put: [entry('s1')] });
    const [first] = await ledger.entries();
    expect(() => {
      (first as { key: string }).key = 'changed';
    }).toThrow(TypeError);
    expect(() => first?.chunkIds.push('x')).toThrow(TypeError);
    expect((await ledger.entries())[0]).toEqual(entry('s1'));
    await ledger.dispose?.();
  });

  test('the lock of a writer that died is taken over', async () => {
    const path = join(directory, 'dead.jsonl');
    const child = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']);
    const deadPid = Number(child.stdout.toString());
    await writeFile(
      `${path}.lock`,
      JSON.stringify({ pid: deadPid, host: (await import('node:os')).hostname(), since: 'x', token: 't', lock: 'l' }),
    );
    const ledger = createFileLedger(path);
    await ledger.write({ put: [entry('s1')] });
    await ledger.dispose?.();
    expect(await createFileLedger(path).entries()).toEqual([entry('s1')]);
    expect((await readdir(directory)).filter((name) => name.startsWith('dead.jsonl'))).toEqual(['dead.jsonl']);
  });

  test('its folder is created on the first write', async () => {
    const path = join(directory, 'new', 'deeper', 'ledger.jsonl');
    const ledger = createFileLedger(path);
    await ledger.write({ put: [entry('s1')] });
    await ledger.dispose?.();
    expect(await createFileLedger(path).entries()).toEqual([entry('s1')]);
  });
});
