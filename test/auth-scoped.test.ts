import fc from 'fast-check';
import { afterAll, describe, expect, test } from 'vitest';
import { createPolicy, principalFromClaims } from '../src/auth/policy.js';
import { MAX_SCOPED_ID_BYTES, scopeCache, scopeStore, tenantIdSpace } from '../src/auth/scoped.js';
import { createKeyvCache } from '../src/caches/keyv/index.js';
import type { Principal } from '../src/core/auth.js';
import {
  ConflictError,
  ForbiddenError,
  InvalidArgumentError,
  PartialWriteError,
  UnauthorizedError,
} from '../src/core/errors.js';
import { type Filter, f } from '../src/core/filter.js';
import type { Store } from '../src/core/store.js';
import type { JsonObject, RecordId } from '../src/core/types.js';
import { matchesFilter } from '../src/filter/evaluate.js';
import { ingest } from '../src/pipeline/ingest.js';
import { createMemoryStore } from '../src/stores/memory/index.js';
import { createPgvectorStore } from '../src/stores/pgvector/index.js';
import { cacheConformance, storeConformance } from '../src/testing/index.js';
import { type PgliteServer, startPgliteServer } from './helpers/pglite-server.js';
import { principal } from './helpers/principal.js';
import { trigramEmbedder } from './helpers/trigram-embedder.mjs';

const adminPolicy = createPolicy({ rules: [] });

/** A scoped view whose dispose also disposes the memory store under it (the view itself holds nothing). */
function scopedMemory(who: Principal, tenantField = '__tenant'): Store {
  const base = createMemoryStore();
  return { ...scopeStore(base, who, { tenantField, authorizer: adminPolicy }), dispose: () => base.dispose() };
}

describe('storeConformance on a scoped memory store', () => {
  // The tenant field is stamped on write and left out on read, so payloads round-trip unchanged and
  // the suite sees an ordinary store. `__tenant` keeps clear of the suite's own payload fields.
  storeConformance(test, () => scopedMemory(principal('acme', ['admin'])), {
    name: 'scoped memory store',
    largeBatch: 1_000,
    numRuns: 30,
    maxIdBytes: MAX_SCOPED_ID_BYTES,
  });
});

describe('cacheConformance on a scoped cache', () => {
  const shared = new Map();
  cacheConformance(
    test,
    ({ namespace }) => scopeCache(createKeyvCache({ store: shared, namespace }), principal('acme')),
    {
      name: 'scoped keyv memory cache',
    },
  );
});

describe('scopeStore', () => {
  async function setup(options: Parameters<typeof scopeStore>[2] = {}) {
    const base = createMemoryStore();
    await base.createCollection({ name: 'docs', dimensions: 2 });
    const as = (who: Principal) => scopeStore(base, who, options);
    return { base, as };
  }

  test('upsert stamps the tenant; reads see only own records, without the stamp', async () => {
    const { base, as } = await setup();
    const acme = as(principal('acme'));
    const globex = as(principal('globex'));
    await acme.upsert({ collection: 'docs', records: [{ id: 1, vector: [1, 0], payload: { title: 'a' } }] });
    await globex.upsert({ collection: 'docs', records: [{ id: 2, vector: [1, 0], payload: { title: 'g' } }] });
    const stored = tenantIdSpace('acme').toStored(1);
    expect(await base.get({ collection: 'docs', ids: [stored] })).toEqual([
      { id: stored, payload: { title: 'a', tenant: 'acme' } },
    ]);
    expect(await acme.get({ collection: 'docs', ids: [1, 2] })).toEqual([{ id: 1, payload: { title: 'a' } }]);
    expect(await acme.count({ collection: 'docs' })).toBe(1);
    expect(await acme.count({ collection: 'docs', filter: f.eq('tenant', 'globex') })).toBe(0);
    expect((await acme.search({ collection: 'docs', vector: [1, 0] })).map((m) => m.id)).toEqual([1]);
    expect((await acme.openCollection({ name: 'docs' })).count).toBe(1);
    expect((await acme.listCollections()).map((info) => info.count)).toEqual([1]);
    expect(await base.count({ collection: 'docs' })).toBe(2);
  });

  test('two tenants using the same id write two records; no error tells one about the other', async () => {
    const { base, as } = await setup();
    const acme = as(principal('acme'));
    const globex = as(principal('globex'));
    await globex.upsert({ collection: 'docs', records: [{ id: 'x', vector: [0, 1], payload: { v: 'g' } }] });
    await acme.upsert({ collection: 'docs', records: [{ id: 'x', vector: [1, 0], payload: { v: 'a' } }] });
    expect(await acme.get({ collection: 'docs', ids: ['x'] })).toEqual([{ id: 'x', payload: { v: 'a' } }]);
    expect(await globex.get({ collection: 'docs', ids: ['x'] })).toEqual([{ id: 'x', payload: { v: 'g' } }]);
    expect(await base.count({ collection: 'docs' })).toBe(2);
    expect(await acme.delete({ collection: 'docs', ids: ['x'] })).toEqual({ deleted: 1 });
    expect(await globex.get({ collection: 'docs', ids: ['x'] })).toEqual([{ id: 'x', payload: { v: 'g' } }]);
    await expect(
      acme.upsert({ collection: 'docs', records: [{ id: 'y', vector: [1, 0], payload: { tenant: 'globex' } }] }),
    ).rejects.toThrow(ForbiddenError);
    await acme.upsert({ collection: 'docs', records: [{ id: 'y', vector: [1, 0], payload: { tenant: 'acme' } }] });
    expect(await acme.count({ collection: 'docs' })).toBe(1);
    await expect(acme.upsert({ collection: 'docs', records: [{ id: '', vector: [1, 0] }] })).rejects.toThrow(
      /Invalid upsert options: records\.0\.id: string ids must not be empty/,
    );
    await expect(acme.get({ collection: 'docs', ids: [1.5] })).rejects.toThrow(InvalidArgumentError);
    await expect(acme.delete({ collection: 'docs', ids: 'y' as never })).rejects.toThrow(InvalidArgumentError);
  });

  test('both tenants can ingest the same document (chunk ids derive from uri and content)', async () => {
    // ingest opens the collection with createCollection({ ifExists: 'open' }), which needs "admin".
    const { base, as: scoped } = await setup({ authorizer: adminPolicy });
    const as = (who: Principal) => scoped({ ...who, roles: ['admin'] });
    const embedder = trigramEmbedder(2, 'tiny');
    const documents = [{ uri: 'mem://handbook', contentType: 'text/plain', text: 'Holidays: twenty days a year.' }];
    const reports = [];
    for (const tenant of ['acme', 'globex']) {
      reports.push(await ingest({ store: as(principal(tenant)), collection: 'handbook', documents, embedder }));
    }
    expect(reports.map((report) => report.added)).toEqual([1, 1]);
    const acmeChunks = await as(principal('acme')).scroll({ collection: 'handbook' });
    const globexChunks = await as(principal('globex')).scroll({ collection: 'handbook' });
    expect(acmeChunks.records.map((record) => record.id)).toEqual(globexChunks.records.map((record) => record.id));
    expect(await base.count({ collection: 'handbook' })).toBe(2 * acmeChunks.records.length);
    await as(principal('acme')).delete({ collection: 'handbook', filter: f.exists('source') });
    expect((await as(principal('globex')).scroll({ collection: 'handbook' })).records).toEqual(globexChunks.records);
  });

  test('a record with the tenant field but written outside the scoped store is reported, not misnamed', async () => {
    const { base, as } = await setup();
    await base.upsert({ collection: 'docs', records: [{ id: 'legacy', vector: [1, 0], payload: { tenant: 'acme' } }] });
    const acme = as(principal('acme'));
    expect(await acme.get({ collection: 'docs', ids: ['legacy'] })).toEqual([]);
    await expect(acme.scroll({ collection: 'docs' })).rejects.toThrow(ConflictError);
    await expect(acme.search({ collection: 'docs', vector: [1, 0] })).rejects.toThrow(
      /"legacy" in collection "docs" has tenant "acme" but lies outside that tenant's id space/,
    );
    expect(await as(principal('globex')).scroll({ collection: 'docs' })).toEqual({
      records: [],
      nextCursor: undefined,
    });
    // The migration docs/auth.md describes: rewrite through the scoped store, delete the original.
    const space = tenantIdSpace('acme');
    const { records } = await base.scroll({ collection: 'docs', filter: f.exists('tenant'), includeVectors: true });
    for (const record of records) {
      if (typeof record.payload.tenant !== 'string' || space.fromStored(record.id) !== undefined) continue;
      const { tenant, ...payload } = record.payload;
      const writer = as({ ...principal(tenant), subject: 'migration' });
      await writer.upsert({ collection: 'docs', records: [{ ...record, payload }] });
      await base.delete({ collection: 'docs', ids: [record.id] });
    }
    expect((await acme.scroll({ collection: 'docs' })).records.map((record) => record.id)).toEqual(['legacy']);
  });

  test('a partial write names the caller’s ids, so that retrying them is safe', async () => {
    const { base } = await setup();
    const failing: Store = {
      ...base,
      upsert: async ({ collection, records }) => {
        throw new PartialWriteError({ collection, written: 1, failedIds: records.slice(1).map((record) => record.id) });
      },
    };
    const error = await scopeStore(failing, principal('acme'))
      .upsert({ collection: 'docs', records: [1, 'two', 3].map((id) => ({ id, vector: [1, 0] })) })
      .catch((caught: unknown) => caught);
    expect(PartialWriteError.isInstance(error)).toBe(true);
    expect((error as PartialWriteError).failedIds).toEqual(['two', 3]);
    expect((error as PartialWriteError).message).toContain('"two", 3');
  });

  test('tenant id spaces: round trips, same order as the ids, fixed overhead, disjoint between tenants', () => {
    const key = (value: RecordId) => `${typeof value}:${value}`;
    const ordered = (ids: RecordId[]) =>
      [...ids].sort((a, b) => (typeof a !== typeof b ? (typeof a === 'number' ? -1 : 1) : a < b ? -1 : a > b ? 1 : 0));
    const anyId: fc.Arbitrary<RecordId> = fc.oneof(
      fc.maxSafeInteger(),
      fc.integer({ min: -3, max: 3 }),
      fc.string({ minLength: 1, unit: 'binary' }),
    );
    fc.assert(
      fc.property(
        fc.string({ minLength: 1 }),
        fc.string({ minLength: 1 }),
        fc.uniqueArray(anyId, { selector: key }),
        (a, b, ids) => {
          const space = tenantIdSpace(a);
          const other = tenantIdSpace(b);
          const stored = ids.map(space.toStored);
          for (const [i, id] of ids.entries()) {
            const mapped = stored[i] as string;
            expect(space.fromStored(mapped)).toBe(id);
            expect(mapped.length).toBe(typeof id === 'number' ? 31 : id.length + 17);
            if (a !== b) expect(other.fromStored(mapped)).toBeUndefined();
          }
          expect(ordered(stored).map((id) => space.fromStored(id))).toEqual(ordered(ids));
        },
      ),
      { numRuns: 300 },
    );
    expect(tenantIdSpace('acme').fromStored(1)).toBeUndefined();
    expect(
      tenantIdSpace('acme').fromStored(`${tenantIdSpace('acme').toStored('x').slice(0, 16)}iffffffffffffff`),
    ).toBeUndefined();
    expect(() => tenantIdSpace('')).toThrow(InvalidArgumentError);
    expect(() => tenantIdSpace('acme').toStored(1.5)).toThrow(/Invalid id: numeric ids must be safe integers/);
  });

  test('delete by ids and by filter only removes own records', async () => {
    const { base, as } = await setup();
    const acme = as(principal('acme'));
    const globex = as(principal('globex'));
    await acme.upsert({ collection: 'docs', records: [{ id: 1, vector: [1, 0] }] });
    await globex.upsert({ collection: 'docs', records: [{ id: 2, vector: [1, 0] }] });
    expect(await acme.delete({ collection: 'docs', ids: [1, 2] })).toEqual({ deleted: 1 });
    expect(
      await acme.delete({ collection: 'docs', filter: f.or(f.eq('tenant', 'globex'), f.exists('tenant')) }),
    ).toEqual({ deleted: 0 });
    const stored = [tenantIdSpace('acme').toStored(1), tenantIdSpace('globex').toStored(2)];
    expect((await base.get({ collection: 'docs', ids: stored })).map((record) => record.id)).toEqual([stored[1]]);
  });

  test('explain shows the mandatory tenant condition ANDed with the caller filter', async () => {
    const { as } = await setup();
    const explained = await as(principal('acme')).explain({ collection: 'docs', filter: f.eq('lang', 'en') });
    expect(explained.native).toEqual(f.and(f.eq('tenant', 'acme'), f.eq('lang', 'en')));
  });

  test('principal without tenant is refused unless defaultTenant is set', async () => {
    const { base } = await setup();
    expect(() => scopeStore(base, principal(undefined))).toThrow(ForbiddenError);
    const shared = scopeStore(base, principal(undefined), { defaultTenant: 'public' });
    await shared.upsert({ collection: 'docs', records: [{ id: 'p', vector: [1, 1] }] });
    const stored = tenantIdSpace('public').toStored('p');
    expect((await base.get({ collection: 'docs', ids: [stored] }))[0]?.payload).toEqual({ tenant: 'public' });
    expect(() => scopeStore(base, principal('acme'), { tenantField: 'meta.tenant' })).toThrow(InvalidArgumentError);
  });

  test('collection administration needs an authorizer granting admin', async () => {
    const { as } = await setup();
    await expect(as(principal('acme')).createCollection({ name: 'new', dimensions: 2 })).rejects.toThrow(
      ForbiddenError,
    );
    await expect(as(principal('acme')).deleteCollection({ name: 'docs' })).rejects.toThrow(ForbiddenError);
    await expect(as(principal('acme')).setAlias?.({ alias: 'current', collection: 'docs' })).rejects.toThrow(
      ForbiddenError,
    );
    const { as: withPolicy, base } = await setup({
      authorizer: createPolicy({ rules: [{ roles: ['reader'], actions: ['read', 'search'], collections: ['docs'] }] }),
    });
    const reader = withPolicy(principal('acme', ['reader']));
    await expect(reader.createCollection({ name: 'new', dimensions: 2 })).rejects.toThrow(ForbiddenError);
    await expect(reader.upsert({ collection: 'docs', records: [{ id: 1, vector: [1, 0] }] })).rejects.toThrow(
      /may not write collection "docs"/,
    );
    expect(await reader.count({ collection: 'docs' })).toBe(0);
    const admin = withPolicy(principal('acme', ['admin']));
    await admin.createCollection({ name: 'new', dimensions: 2 });
    await admin.setAlias?.({ alias: 'current', collection: 'new' });
    expect(await reader.listAliases?.()).toEqual([]);
    expect((await base.listCollections()).map((info) => info.name).sort()).toEqual(['docs', 'new']);
  });

  test('aclField: records are visible only to listed roles or subjects', async () => {
    const { as } = await setup({ aclField: 'acl' });
    const writer = as(principal('acme', ['writer'], 'w'));
    await writer.upsert({
      collection: 'docs',
      records: [
        { id: 'hr', vector: [1, 0], payload: { acl: ['hr', 'w'] } },
        { id: 'all', vector: [1, 0], payload: { acl: ['staff', 'w'] } },
        { id: 'none', vector: [1, 0] },
      ],
    });
    const staff = as(principal('acme', ['staff'], 'bob'));
    const alice = as(principal('acme', [], 'alice'));
    expect((await staff.scroll({ collection: 'docs' })).records.map((r) => r.id)).toEqual(['all']);
    expect(await alice.count({ collection: 'docs' })).toBe(0);
    await expect(alice.upsert({ collection: 'docs', records: [{ id: 'hr', vector: [0, 1] }] })).rejects.toThrow(
      ForbiddenError,
    );
    expect(await staff.delete({ collection: 'docs', ids: ['hr', 'all', 'none'] })).toEqual({ deleted: 1 });
    expect(await writer.count({ collection: 'docs' })).toBe(1);
  });

  test('property: a principal never reads, counts or deletes another tenant’s records', async () => {
    const tenants = ['acme', 'globex', 'ACME', 'acme ', 'a"]b'];
    const scalar = fc.oneof(
      fc.constantFrom(...tenants, 'x', '', '*', 'null'),
      fc.integer({ min: -2, max: 2 }),
      fc.boolean(),
    );
    const field = fc.constantFrom('tenant', 'a', 'b', 'tenant.x', 'meta.tenant');
    const filterArb: fc.Arbitrary<Filter> = fc.letrec<{ node: Filter }>((tie) => ({
      node: fc.oneof(
        { depthSize: 'small' },
        fc.tuple(field, scalar).map(([name, value]) => f.eq(name, value)),
        fc.tuple(field, scalar).map(([name, value]) => f.ne(name, value)),
        fc.tuple(field, fc.array(scalar, { minLength: 1, maxLength: 3 })).map(([name, values]) => f.in(name, values)),
        fc.tuple(field, fc.array(scalar, { minLength: 1, maxLength: 3 })).map(([name, values]) => f.nin(name, values)),
        field.map((name) => f.exists(name)),
        fc.constantFrom(...tenants).map((tenant) => f.eq('tenant', tenant)),
        fc.array(tie('node'), { minLength: 1, maxLength: 3 }).map((filters) => f.or(...filters)),
        fc.array(tie('node'), { minLength: 1, maxLength: 3 }).map((filters) => f.and(...filters)),
        tie('node').map((inner) => f.not(inner)),
      ),
    })).node;
    const id: fc.Arbitrary<RecordId> = fc.oneof(fc.integer({ min: 0, max: 15 }), fc.constantFrom('p', 'q', 'r', '1'));
    const payload: fc.Arbitrary<JsonObject> = fc.record(
      { a: scalar, b: fc.oneof(scalar, fc.array(scalar, { maxLength: 2 })), meta: fc.record({ tenant: scalar }) },
      { requiredKeys: [] },
    );
    const owner = fc.option(fc.constantFrom(...tenants), { nil: undefined });
    // Ids are unique per owner only: two tenants (and unscoped data) may use the same id.
    const records = fc.uniqueArray(fc.record({ id, owner, payload }), {
      selector: (record) => `${record.owner}|${typeof record.id}:${record.id}`,
      maxLength: 14,
    });

    await fc.assert(
      fc.asyncProperty(
        records,
        fc.constantFrom(...tenants),
        fc.option(filterArb, { nil: undefined }),
        fc.array(id, { maxLength: 6 }),
        async (recordList, me, filter, ids) => {
          const base = createMemoryStore();
          await base.createCollection({ name: 'c', dimensions: 2 });
          const key = (value: RecordId) => `${typeof value}:${value}`;
          // What each record's payload is in the store (what the reference evaluator sees).
          const written: { id: RecordId; owner: string | undefined; payload: JsonObject; original: JsonObject }[] = [];
          for (const [i, record] of recordList.entries()) {
            const vector = [1, i];
            if (record.owner === undefined) {
              // A record written without any tenant (unscoped data): visible to nobody through a scope.
              await base.upsert({ collection: 'c', records: [{ id: record.id, vector, payload: record.payload }] });
              written.push({ ...record, original: record.payload });
            } else {
              const writer = scopeStore(base, principal(record.owner));
              await writer.upsert({ collection: 'c', records: [{ id: record.id, vector, payload: record.payload }] });
              written.push({
                ...record,
                payload: { ...record.payload, tenant: record.owner },
                original: record.payload,
              });
            }
          }
          expect(await base.count({ collection: 'c' })).toBe(recordList.length);
          const mine = written.filter((record) => record.owner === me);
          const expected = mine.filter((record) => !filter || matchesFilter(filter, record.payload));
          const sorted = (list: RecordId[]) => list.map(key).sort();
          const scoped = scopeStore(base, principal(me));

          const scrolled: RecordId[] = [];
          let cursor: string | undefined;
          do {
            const page = await scoped.scroll({
              collection: 'c',
              limit: 4,
              ...(filter ? { filter } : {}),
              ...(cursor ? { cursor } : {}),
            });
            for (const record of page.records) {
              expect(record.payload).toEqual(mine.find((candidate) => key(candidate.id) === key(record.id))?.original);
              scrolled.push(record.id);
            }
            cursor = page.nextCursor;
          } while (cursor);
          expect(sorted(scrolled)).toEqual(sorted(expected.map((record) => record.id)));
          expect(await scoped.count({ collection: 'c', ...(filter ? { filter } : {}) })).toBe(expected.length);
          const found = await scoped.search({
            collection: 'c',
            vector: [1, 1],
            limit: 50,
            ...(filter ? { filter } : {}),
          });
          expect(sorted(found.map((match) => match.id))).toEqual(sorted(expected.map((record) => record.id)));

          const mineKeys = new Set(mine.map((record) => key(record.id)));
          const got = await scoped.get({ collection: 'c', ids });
          const wanted = ids.filter((value) => mineKeys.has(key(value)));
          expect(got.map((record) => key(record.id))).toEqual(wanted.map(key));

          const othersBefore = written.filter((record) => record.owner !== me);
          const deletedByIds = await scoped.delete({ collection: 'c', ids });
          expect(deletedByIds.deleted).toBe(new Set(wanted.map(key)).size);
          let deletedByFilter = 0;
          if (filter) {
            const remaining = mine.filter((record) => !wanted.some((value) => key(value) === key(record.id)));
            deletedByFilter = (await scoped.delete({ collection: 'c', filter })).deleted;
            expect(deletedByFilter).toBe(remaining.filter((record) => matchesFilter(filter, record.payload)).length);
          }
          // Every other tenant still reads all of its records, and only this tenant's records are gone.
          expect(await base.count({ collection: 'c' })).toBe(
            recordList.length - deletedByIds.deleted - deletedByFilter,
          );
          for (const other of new Set(othersBefore.map((record) => record.owner))) {
            if (other === undefined) continue;
            const theirs = othersBefore.filter((record) => record.owner === other);
            const seen = await scopeStore(base, principal(other)).get({
              collection: 'c',
              ids: theirs.map((record) => record.id),
            });
            expect(seen.map((record) => record.payload)).toEqual(theirs.map((record) => record.original));
          }
          await base.dispose();
        },
      ),
      { numRuns: 120 },
    );
  }, 60_000);
});

describe('two tenants writing the same new id at once', () => {
  let server: PgliteServer | undefined;
  afterAll(async () => {
    await server?.stop();
  });
  const stores: [string, () => Promise<Store>][] = [
    ['memory', async () => createMemoryStore()],
    [
      'pgvector (PGlite over the wire)',
      async () => {
        server ??= await startPgliteServer();
        return createPgvectorStore({ connectionString: server.connectionString, poolConfig: { max: 1 } });
      },
    ],
  ];
  let runs = 0;
  test.each(stores)(
    'both records are kept, separately, on %s',
    async (_name, open) => {
      const base = await open();
      try {
        await fc.assert(
          fc.asyncProperty(
            fc.uniqueArray(fc.constantFrom('acme', 'globex', 'ACME', 'acme ', 'a"]b', '1'), {
              minLength: 2,
              maxLength: 2,
            }),
            fc.oneof(fc.integer({ min: -5, max: 5 }), fc.constantFrom('doc-1#0', '1', 'é')),
            async ([first, second], id) => {
              const collection = `race_${runs++}`;
              await base.createCollection({ name: collection, dimensions: 2 });
              const tenants = [first as string, second as string];
              const results = await Promise.allSettled(
                tenants.map((tenant, i) =>
                  scopeStore(base, principal(tenant)).upsert({
                    collection,
                    records: [{ id, vector: [1, i], payload: { by: tenant } }],
                  }),
                ),
              );
              expect(results.map((result) => result.status)).toEqual(['fulfilled', 'fulfilled']);
              for (const tenant of tenants) {
                const view = scopeStore(base, principal(tenant));
                expect(await view.get({ collection, ids: [id] })).toEqual([{ id, payload: { by: tenant } }]);
                expect(await view.count({ collection })).toBe(1);
              }
              expect(await base.count({ collection })).toBe(2);
              await base.deleteCollection({ name: collection });
            },
          ),
          { numRuns: 50 },
        );
      } finally {
        await base.dispose();
      }
    },
    120_000,
  );
});

describe('scopeCache', () => {
  test('tenants (and subjects, if asked) get separate entries for the same key', async () => {
    const cache = createKeyvCache();
    const acme = scopeCache(cache, principal('acme'));
    const globex = scopeCache(cache, principal('globex'));
    await acme.set('answer', 'acme value');
    expect(await globex.get('answer')).toBeUndefined();
    await globex.set('answer', 'globex value');
    expect(await acme.getMany(['answer', 'other'])).toEqual(['acme value', undefined]);
    const alice = scopeCache(cache, principal('acme', [], 'alice'), { bySubject: true });
    const bob = scopeCache(cache, principal('acme', [], 'bob'), { bySubject: true });
    await alice.set('draft', 1);
    expect(await bob.get('draft')).toBeUndefined();
    expect(await acme.get('draft')).toBeUndefined();
    expect(() => scopeCache(cache, principal(undefined))).toThrow(ForbiddenError);
    expect(await scopeCache(cache, principal(undefined), { defaultTenant: 'acme' }).get('answer')).toBe('acme value');
  });

  test('separators inside tenants, subjects and keys never join two partitions', async () => {
    // A plain "tenant:key" (or "tenant:subject:key") join would make each pair here one entry.
    const cache = createKeyvCache();
    await scopeCache(cache, principal('a:b')).set('k', 'tenant a:b');
    expect(await scopeCache(cache, principal('a')).get('b:k')).toBeUndefined();
    await scopeCache(cache, principal('a')).set('b:k', 'tenant a');
    expect(await scopeCache(cache, principal('a:b')).get('k')).toBe('tenant a:b');
    const bySubject = { bySubject: true };
    await scopeCache(cache, principal('t', [], 's:x'), bySubject).set('k', 'subject s:x');
    expect(await scopeCache(cache, principal('t', [], 's'), bySubject).get('x:k')).toBeUndefined();
    expect(await scopeCache(cache, principal('t:s', [], 'x'), bySubject).get('k')).toBeUndefined();
    expect(await scopeCache(cache, principal('t'), {}).get('s:x:k')).toBeUndefined();
  });

  test('property: no key a caller passes reaches another tenant’s entry', async () => {
    const name = fc.constantFrom('a', 'b', 'a"', '["t","a"]', '"]', 'a","b', 'a:b', ':', 'b:');
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(name, name, fc.constantFrom('k', '', '"]k', '["t","b"]k', 'b"]k', 'b:k', ':k', 'a:b:k')), {
          maxLength: 12,
        }),
        async (writes) => {
          const cache = createKeyvCache();
          const expected = new Map<string, string>();
          for (const [tenant, subject, key] of writes) {
            const value = `${tenant}|${subject}|${key}`;
            await scopeCache(cache, principal(tenant, [], subject), { bySubject: true }).set(key, value);
            expected.set(JSON.stringify([tenant, subject, key]), value);
          }
          for (const [tenant, subject, key] of writes) {
            const got = await scopeCache(cache, principal(tenant, [], subject), { bySubject: true }).get(key);
            expect(got).toBe(expected.get(JSON.stringify([tenant, subject, key])));
          }
        },
      ),
      { numRuns: 100 },
    );
  });
});

describe('policies and principals', () => {
  const policy = createPolicy({
    rules: [
      { roles: ['reader'], actions: ['read', 'search'], collections: ['docs-*'] },
      { scopes: ['chat'], actions: ['generate'], models: ['llama-?b', 'gpt.*'] },
      { roles: ['writer'], scopes: ['embed'], actions: '*', collections: ['docs-*'], models: ['*'] },
    ],
  });
  const who = (roles: string[], scopes: string[] = []): Principal => ({ ...principal('acme', roles), scopes });

  test('deny by default; roles, scopes, globs and admin', () => {
    expect(policy.can(who(['reader']), 'read', { kind: 'collection', name: 'docs-en' })).toBe(true);
    expect(policy.can(who(['reader']), 'write', { kind: 'collection', name: 'docs-en' })).toBe(false);
    expect(policy.can(who(['reader']), 'read', { kind: 'collection', name: 'private' })).toBe(false);
    expect(policy.can(who(['reader']), 'read', { kind: 'model', name: 'docs-en' })).toBe(false);
    expect(policy.can(who([], ['chat']), 'generate', { kind: 'model', name: 'llama-7b' })).toBe(true);
    expect(policy.can(who([], ['chat']), 'generate', { kind: 'model', name: 'llama-70b' })).toBe(false);
    expect(policy.can(who([], ['chat']), 'generate', { kind: 'model', name: 'gptx4' })).toBe(false);
    expect(policy.can(who([], ['chat']), 'generate', { kind: 'model', name: 'gpt.4' })).toBe(true);
    expect(policy.can(who(['writer']), 'write', { kind: 'collection', name: 'docs-1' })).toBe(false);
    expect(policy.can(who(['writer'], ['embed']), 'write', { kind: 'collection', name: 'docs-1' })).toBe(true);
    expect(policy.can(who(['writer'], ['embed']), 'admin', { kind: 'collection', name: 'docs-1' })).toBe(false);
    expect(policy.can(who(['admin']), 'admin', { kind: 'collection', name: 'anything' })).toBe(true);
    expect(createPolicy({ rules: [], adminRoles: [] }).can(who(['admin']), 'read', { kind: 'model', name: 'm' })).toBe(
      false,
    );
    expect(() => createPolicy({ rules: [{ actions: ['read'] }] })).toThrow(InvalidArgumentError);
  });

  test('principalFromClaims maps claims, scp, nested and namespaced claims', () => {
    expect(principalFromClaims({ sub: 's', tenant: 't', roles: 'a b a', scope: 'x y', client_id: 'c' })).toMatchObject({
      subject: 's',
      tenant: 't',
      roles: ['a', 'b'],
      scopes: ['x', 'y'],
      clientId: 'c',
    });
    expect(principalFromClaims({ azp: 'machine', scp: ['read'] })).toMatchObject({
      subject: 'machine',
      clientId: 'machine',
      tenant: undefined,
      roles: [],
      scopes: ['read'],
    });
    expect(
      principalFromClaims(
        { sub: 's', realm_access: { roles: ['r'] }, 'https://kumiki.dev/tenant': 'ns' },
        { rolesClaim: 'realm_access.roles', tenantClaim: 'https://kumiki.dev/tenant' },
      ),
    ).toMatchObject({ roles: ['r'], tenant: 'ns' });
    expect(() => principalFromClaims({ scope: 'x' })).toThrow(UnauthorizedError);
    expect(() => principalFromClaims({ sub: 's', tenant: 5 })).toThrow(UnauthorizedError);
    expect(() => principalFromClaims({ sub: 's', roles: [1] })).toThrow(UnauthorizedError);
  });
});
