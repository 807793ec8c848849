import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import { afterAll, describe, expect, test } from 'vitest';
import { createLocalCatalog } from '../src/catalogs/local/index.js';
import { AbortedError, CorruptDataError, InvalidArgumentError } from '../src/core/errors.js';
import { createFileCatalog } from '../src/node/catalog-file.js';
import { catalogConformance } from '../src/testing/catalog-conformance.js';

const directory = await mkdtemp(join(tmpdir(), 'kumiki-catalog-'));
afterAll(() => rm(directory, { recursive: true, force: true }));
const fileFor = (namespace: string) => join(directory, `${namespace}.kcat`);

describe('local catalog in memory', () => {
  catalogConformance(test, () => createLocalCatalog(), { name: 'memory' });
});

describe('local catalog in a file', () => {
  catalogConformance(test, ({ namespace }) => createFileCatalog(fileFor(namespace)), {
    name: 'file',
    reopen: ({ namespace }) => createFileCatalog(fileFor(namespace)),
  });
});

describe('local catalog specifics', () => {
  test('capabilities and options', () => {
    expect(createLocalCatalog().capabilities).toEqual({ search: true, persistent: false });
    expect(createFileCatalog(fileFor('caps')).capabilities).toEqual({ search: true, persistent: true });
    expect(() => createFileCatalog('')).toThrow(InvalidArgumentError);
    expect(() => createLocalCatalog({ path: 'x' } as never)).toThrow(InvalidArgumentError);
    expect(() => createLocalCatalog({ bogus: 1 } as never)).toThrow(InvalidArgumentError);
  });

  test('kumiki/catalogs/local bundles for a runtime without node: modules', async () => {
    const bundle = await build({
      entryPoints: [new URL('../src/catalogs/local/index.ts', import.meta.url).pathname],
      bundle: true,
      write: false,
      format: 'iife',
      platform: 'neutral',
      mainFields: ['module', 'main'],
      logLevel: 'silent',
    });
    // node: built-ins may be looked up at run time (process.getBuiltinModule, absent elsewhere), never imported
    expect(bundle.outputFiles[0]?.text).not.toMatch(/(?:\bfrom\s*|\bimport\s*\(\s*|\brequire\s*\(\s*)['"]node:/);
  });

  test('an altered or truncated file is refused with CorruptDataError and never overwritten', async () => {
    const path = fileFor('corrupt');
    const catalog = createFileCatalog(path);
    await catalog.registerDataset({ kind: 'source', name: 'file:///a.md', description: 'original' });
    const good = await readFile(path);

    const altered = Buffer.from(good);
    const at = altered.indexOf('original');
    altered[at] = 'O'.charCodeAt(0);
    await writeFile(path, altered);
    const reopened = createFileCatalog(path);
    const error = await reopened.getDataset({ kind: 'source', name: 'file:///a.md' }).catch((e: unknown) => e);
    expect(CorruptDataError.isInstance(error)).toBe(true);
    expect((error as Error).message).toContain('checksum');
    await expect(reopened.registerDataset({ kind: 'source', name: 'file:///b.md' })).rejects.toThrow(/checksum/);
    expect(Buffer.compare(await readFile(path), altered)).toBe(0);

    await writeFile(path, good.subarray(0, good.length - 5));
    await expect(createFileCatalog(path).getRun('x')).rejects.toThrow(/torn write/);
    await writeFile(path, 'not a catalog at all');
    await expect(createFileCatalog(path).getRun('x')).rejects.toThrow(/KUMIKIC1/);
  });

  test('a failed save rolls the change back', async () => {
    let fail = false;
    let saved: Uint8Array | undefined;
    const catalog = createLocalCatalog({
      persistence: {
        location: 'in-test persistence',
        load: async () => saved,
        save: async (bytes) => {
          if (fail) throw new Error('disk full');
          saved = bytes;
        },
      },
    });
    const ref = { kind: 'source', name: 'file:///a.md' } as const;
    await catalog.registerDataset({ ...ref, description: 'kept' });
    fail = true;
    await expect(catalog.registerDataset({ ...ref, description: 'lost' })).rejects.toThrow('disk full');
    expect(await catalog.getDataset(ref)).toEqual({ ...ref, description: 'kept' });
    fail = false;
    await catalog.addLineage([{ upstream: ref, downstream: { kind: 'collection', name: 'memory/docs' } }]);
    expect((await catalog.getLineage({ kind: 'collection', name: 'memory/docs' })).upstream).toHaveLength(1);
  });

  test('a write aborted while it waits behind a save is left out of the next one and rejects with AbortedError', async () => {
    let saved: Uint8Array | undefined;
    let saves = 0;
    let saving: () => void = () => undefined;
    let release: () => void = () => undefined;
    const firstSave = new Promise<void>((resolve) => {
      saving = resolve;
    });
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    const catalog = createLocalCatalog({
      persistence: {
        location: 'in-test persistence',
        load: async () => saved,
        save: async (bytes) => {
          saves++;
          if (saves === 1) {
            saving();
            await held;
          }
          saved = bytes;
        },
      },
    });
    const first = { kind: 'source', name: 'file:///first.md' } as const;
    const waiting = { kind: 'source', name: 'file:///waiting.md' } as const;
    const kept = { kind: 'source', name: 'file:///kept.md' } as const;
    const writing = catalog.registerDataset(first);
    await firstSave;
    const controller = new AbortController();
    const aborted = catalog.registerDataset(waiting, { abortSignal: controller.signal });
    const alongside = catalog.registerDataset(kept);
    controller.abort();
    release();
    await writing;
    await expect(aborted).rejects.toBeInstanceOf(AbortedError);
    await alongside;
    expect(await catalog.getDataset(waiting)).toBeUndefined();
    expect(await catalog.getDataset(kept)).toEqual(kept);
    const reopened = createLocalCatalog({
      persistence: { location: 'in-test persistence', load: async () => saved, save: async () => undefined },
    });
    expect(await reopened.getDataset(waiting)).toBeUndefined();
    expect(await reopened.getDataset(kept)).toEqual(kept);
  });

  test('a process killed with SIGKILL in the middle of writing always leaves a loadable catalog', async () => {
    const path = fileFor('killed');
    const child = join(directory, 'writer.mts');
    const entry = new URL('../src/node/catalog-file.ts', import.meta.url).pathname;
    await writeFile(
      child,
      `import { createFileCatalog } from ${JSON.stringify(entry)};
const catalog = createFileCatalog(${JSON.stringify(path)});
const big = 'x'.repeat(20000);
for (let i = 0; ; i++) {
  await catalog.registerDataset({ kind: 'source', name: 'file:///doc-' + i, description: big });
  await catalog.recordRun({ id: 'run-' + i, status: 'running', startedAt: new Date().toISOString(), inputs: [{ kind: 'source', name: 'file:///doc-' + i }], output: { kind: 'collection', name: 'memory/docs' } });
  if (i === 3) process.stdout.write('writing\\n');
}
`,
    );
    const counts: number[] = [];
    for (let round = 0; round < 3; round++) {
      // tsx as a loader inside this very process, so SIGKILL hits the writer itself (not a wrapper).
      const proc = spawn(process.execPath, ['--import', 'tsx', child], { stdio: ['ignore', 'pipe', 'inherit'] });
      await new Promise<void>((resolve, reject) => {
        proc.on('error', reject);
        proc.on('exit', (code) => reject(new Error(`writer exited early with ${code}`)));
        proc.stdout.on('data', () => resolve());
      });
      // Let it write for a while (about a dozen saves of a growing file), then kill it mid-flight.
      await new Promise((resolve) => setTimeout(resolve, 150 + round * 100));
      proc.removeAllListeners('exit');
      const exited = new Promise((resolve) => proc.on('exit', resolve));
      proc.kill('SIGKILL');
      await exited;
      const catalog = createFileCatalog(path);
      const lineage = await catalog.getLineage({ kind: 'collection', name: 'memory/docs' });
      expect(lineage.runs.length).toBeGreaterThan(3);
      for (const run of lineage.runs) {
        expect(await catalog.getDataset({ kind: 'source', name: run.inputs[0]?.name ?? '' })).toBeDefined();
      }
      counts.push(lineage.runs.length);
    }
    expect(counts.length).toBe(3);
  }, 30_000);
});
