/**
 * Random sequences of ingest / edit / prune / crash / reopen / restore-an-old-snapshot across two
 * tenants sharing one file-backed store (each with its own ledger): no source is ever lost, none leaks
 * to the other tenant, nothing is called unchanged that the store lacks, and each tenant's BM25
 * statistics are those of its own chunks.
 */

import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { createPolicy } from '../src/auth/policy.js';
import { scopeStore, tenantIdSpace } from '../src/auth/scoped.js';
import type { Principal } from '../src/core/auth.js';
import { createBm25Encoder, createMemoryStore, type Store } from '../src/index.js';
import { createFilePersistence } from '../src/node/snapshot-file.js';
import { ingest } from '../src/pipeline/ingest.js';
import { createFileLedger } from '../src/pipeline/ledger-file.js';
import { createRecursiveSplitter } from '../src/pipeline/splitter.js';
import { bindStatistics } from '../src/pipeline/statistics.js';
import type { SourceDocument } from '../src/pipeline/types.js';

const TENANTS = ['acme', 'globex'] as const;
type Tenant = (typeof TENANTS)[number];
const WORDS = ['tide', 'orchard', 'glacier', 'press', 'violin', 'harbour', 'lantern', 'quarry'];
const splitter = createRecursiveSplitter({ chunkSize: 60, chunkOverlap: 0, unit: 'characters' });
const policy = createPolicy({ rules: [] });
const principal = (tenant: Tenant): Principal => ({
  subject: `loader-${tenant}`,
  tenant,
  roles: ['admin'],
  scopes: [],
  claims: {},
});

type Step =
  | { kind: 'edit'; tenant: Tenant; doc: number; words: number[] }
  | { kind: 'remove'; tenant: Tenant; doc: number }
  | { kind: 'readd'; tenant: Tenant; doc: number }
  | { kind: 'ingest'; tenant: Tenant; prune: boolean; crashAt: number | undefined }
  | { kind: 'reopen' }
  | { kind: 'snapshot' }
  | { kind: 'restore' };

const tenant = fc.constantFrom(...TENANTS);
const step: fc.Arbitrary<Step> = fc.oneof(
  {
    arbitrary: fc.record({
      kind: fc.constant('edit' as const),
      tenant,
      doc: fc.integer({ min: 0, max: 4 }),
      words: fc.array(fc.integer({ min: 0, max: WORDS.length - 1 }), { minLength: 1, maxLength: 24 }),
    }),
    weight: 4,
  },
  {
    arbitrary: fc.record({ kind: fc.constant('remove' as const), tenant, doc: fc.integer({ min: 0, max: 4 }) }),
    weight: 1,
  },
  {
    arbitrary: fc.record({ kind: fc.constant('readd' as const), tenant, doc: fc.integer({ min: 0, max: 4 }) }),
    weight: 2,
  },
  {
    arbitrary: fc.record({
      kind: fc.constant('ingest' as const),
      tenant,
      prune: fc.boolean(),
      crashAt: fc.option(fc.integer({ min: 1, max: 12 }), { nil: undefined }),
    }),
    weight: 4,
  },
  { arbitrary: fc.constant({ kind: 'reopen' as const }), weight: 1 },
  { arbitrary: fc.constant({ kind: 'snapshot' as const }), weight: 1 },
  { arbitrary: fc.constant({ kind: 'restore' as const }), weight: 1 },
);

/** A store whose `crashAt`-th write (upsert, delete, state) throws: a process dying at that point. */
function crashing(store: Store, crashAt: number | undefined): Store {
  let writes = 0;
  const hit = () => {
    writes++;
    if (writes === crashAt) throw new Error('crashed');
  };
  return {
    ...store,
    upsert: async (options) => {
      hit();
      return store.upsert(options);
    },
    delete: async (options) => {
      const result = await store.delete(options);
      hit();
      return result;
    },
  };
}

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'kumiki-integrity-property-'));
});
afterAll(() => rm(root, { recursive: true, force: true }));

test('random ingest/edit/prune/crash/reopen/restore sequences across two tenants never lose or leak a source', async () => {
  let run = 0;
  await fc.assert(
    fc.asyncProperty(fc.array(step, { minLength: 4, maxLength: 14 }), async (steps) => {
      const dir = join(root, `run-${run++}`);
      const open = () => ({
        base: createMemoryStore({ persistence: createFilePersistence(join(dir, 'store.kmk')) }),
        ledgers: Object.fromEntries(
          TENANTS.map((t) => [t, createFileLedger(join(dir, `ledger-${t}.jsonl`))]),
        ) as Record<Tenant, ReturnType<typeof createFileLedger>>,
      });
      const close = async (parts: ReturnType<typeof open>) => {
        for (const ledger of Object.values(parts.ledgers)) await ledger.dispose?.();
        await parts.base.dispose();
      };
      let parts = open();
      /**
       * The documents each tenant has now, and what the store must hold for it: uri → text, or
       * undefined for a source that may or may not have survived a restored backup.
       */
      const current: Record<Tenant, Map<string, string>> = { acme: new Map(), globex: new Map() };
      const stored: Record<Tenant, Map<string, string | undefined>> = { acme: new Map(), globex: new Map() };
      const removed: Record<Tenant, Map<string, string>> = { acme: new Map(), globex: new Map() };
      for (const t of TENANTS) current[t].set(`mem://${t}/0`, `${t} starts with a lantern.`);
      let snapshotTaken = false;
      try {
        for (const s of steps) {
          if (s.kind === 'edit') {
            current[s.tenant].set(`mem://${s.tenant}/${s.doc}`, s.words.map((w) => WORDS[w]).join(' '));
          } else if (s.kind === 'remove') {
            const uri = `mem://${s.tenant}/${s.doc}`;
            const text = current[s.tenant].get(uri);
            if (text !== undefined) removed[s.tenant].set(uri, text);
            current[s.tenant].delete(uri);
          } else if (s.kind === 'readd') {
            // The same document, unchanged, comes back (after a prune, or one that crashed half-way).
            const uri = `mem://${s.tenant}/${s.doc}`;
            const text = removed[s.tenant].get(uri);
            if (text !== undefined) current[s.tenant].set(uri, text);
          } else if (s.kind === 'reopen') {
            await close(parts);
            parts = open();
          } else if (s.kind === 'snapshot') {
            // A backup of the store: restoring it later must not make the ledgers lie.
            await close(parts);
            await rm(join(dir, 'backup.kmk'), { force: true });
            await copyFile(join(dir, 'store.kmk'), join(dir, 'backup.kmk')).catch(() => undefined);
            snapshotTaken = true;
            parts = open();
          } else if (s.kind === 'restore') {
            if (!snapshotTaken) continue;
            await close(parts);
            // No store file when the backup was taken: restoring it leaves none.
            await rm(join(dir, 'store.kmk'), { force: true });
            await copyFile(join(dir, 'backup.kmk'), join(dir, 'store.kmk')).catch(() => undefined);
            parts = open();
            // What the store holds is now whatever the backup held; the next ingest must find out.
            for (const t of TENANTS) stored[t] = new Map([...stored[t]].map(([uri]) => [uri, undefined]));
          } else {
            const scoped = scopeStore(parts.base, principal(s.tenant), { authorizer: policy });
            const documents: SourceDocument[] = [...current[s.tenant]].map(([uri, text]) => ({
              uri,
              text,
              contentType: 'text/plain',
            }));
            const outcome = await ingest({
              store: crashing(scoped, s.crashAt),
              collection: 'shared',
              documents,
              sparseEmbedder: createBm25Encoder(),
              splitter,
              ledger: parts.ledgers[s.tenant],
              prune: s.prune,
              writeBatchChunks: 4,
            }).catch((error: unknown) => error);
            if (outcome instanceof Error && outcome.message === 'crashed') continue;
            if (outcome instanceof Error) throw outcome;
            const next = s.prune ? new Map<string, string | undefined>() : new Map(stored[s.tenant]);
            for (const [uri, text] of current[s.tenant]) next.set(uri, text);
            stored[s.tenant] = next;
            await checkTenant(scoped, s.tenant, stored[s.tenant]);
          }
          await checkNoLeak(parts.base);
        }
      } finally {
        await close(parts);
      }
    }),
    { numRuns: Number(process.env.PROPERTY_RUNS ?? 100) },
  );
}, 600_000);

/**
 * The tenant's view holds exactly the chunks of `expected` (uri → text; sources whose text is unknown
 * may be there whole or not at all), and BM25 statistics of exactly the chunks it holds.
 */
async function checkTenant(scoped: Store, tenant: Tenant, expected: Map<string, string | undefined>) {
  const bySource = new Map<string, { chunk: number; text: string }[]>();
  let cursor: string | undefined;
  do {
    const page = await scoped.scroll({ collection: 'shared', limit: 500, cursor });
    for (const record of page.records) {
      const source = String(record.payload.source);
      const list = bySource.get(source) ?? [];
      list.push({ chunk: Number(record.payload.chunk), text: String(record.payload.text) });
      bySource.set(source, list);
    }
    cursor = page.nextCursor;
  } while (cursor);
  for (const source of bySource.keys()) expect(expected.has(source), `${tenant} holds ${source}`).toBe(true);
  const texts: string[] = [];
  for (const [uri, text] of expected) {
    const found = (bySource.get(uri) ?? []).sort((a, b) => a.chunk - b.chunk).map((chunk) => chunk.text);
    texts.push(...found);
    if (text === undefined) continue;
    const chunks = splitter.split({ uri, text, contentType: 'text/plain' }).map((chunk) => chunk.text);
    expect(found, `${tenant}'s ${uri}`).toEqual(chunks);
  }
  const clean = createBm25Encoder({ corpus: texts });
  const bound = await bindStatistics({ store: scoped, collection: 'shared', embedder: createBm25Encoder() });
  expect(bound.exportState(), `${tenant}'s BM25 statistics`).toEqual(clean.exportState());
}

/** Every record lies in the id space of the tenant its payload names. */
async function checkNoLeak(base: Store) {
  const exists = await base.listCollections();
  if (!exists.some((info) => info.name === 'shared')) return;
  const spaces = Object.fromEntries(TENANTS.map((t) => [t, tenantIdSpace(t)]));
  let cursor: string | undefined;
  do {
    const page = await base.scroll({ collection: 'shared', limit: 500, cursor });
    for (const record of page.records) {
      const owner = record.payload.tenant as Tenant;
      expect(spaces[owner]?.fromStored(record.id), `record ${String(record.id)} of ${owner}`).toBeDefined();
      expect(String(record.payload.source).startsWith(`mem://${owner}/`)).toBe(true);
    }
    cursor = page.nextCursor;
  } while (cursor);
}
