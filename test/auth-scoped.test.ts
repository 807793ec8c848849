import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { createPolicy, principalFromClaims } from '../src/auth/policy.js';
import { scopeCache, scopeStore } from '../src/auth/scoped.js';
import { createKeyvCache } from '../src/caches/keyv/index.js';
import type { Principal } from '../src/core/auth.js';
import { ForbiddenError, InvalidArgumentError, UnauthorizedError } from '../src/core/errors.js';
import type { Store } from '../src/core/store.js';
import type { JsonObject, RecordId } from '../src/core/types.js';
import { type Filter, f } from '../src/filter/ast.js';
import { matchesFilter } from '../src/filter/evaluate.js';
import { createMemoryStore } from '../src/stores/memory/index.js';
import { cacheConformance, storeConformance } from '../src/testing/index.js';

const principal = (
  tenant: string | undefined,
  roles: string[] = ['reader'],
  subject = `user-${tenant}`,
): Principal => ({
  subject,
  tenant,
  roles,
  scopes: [],
  claims: {},
});

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
    expect((await base.get({ collection: 'docs', ids: [1] }))[0]?.payload).toEqual({ title: 'a', tenant: 'acme' });
    expect(await acme.get({ collection: 'docs', ids: [1, 2] })).toEqual([{ id: 1, payload: { title: 'a' } }]);
    expect(await acme.count({ collection: 'docs' })).toBe(1);
    expect(await acme.count({ collection: 'docs', filter: f.eq('tenant', 'globex') })).toBe(0);
    expect((await acme.search({ collection: 'docs', vector: [1, 0] })).map((m) => m.id)).toEqual([1]);
    expect((await acme.openCollection({ name: 'docs' })).count).toBe(1);
    expect((await acme.listCollections()).map((info) => info.count)).toEqual([1]);
    expect(await base.count({ collection: 'docs' })).toBe(2);
  });

  test('refuses records naming another tenant and ids taken by another tenant', async () => {
    const { base, as } = await setup();
    const acme = as(principal('acme'));
    const globex = as(principal('globex'));
    await globex.upsert({ collection: 'docs', records: [{ id: 'x', vector: [0, 1], payload: { v: 1 } }] });
    await expect(
      acme.upsert({ collection: 'docs', records: [{ id: 'y', vector: [1, 0], payload: { tenant: 'globex' } }] }),
    ).rejects.toThrow(ForbiddenError);
    await expect(acme.upsert({ collection: 'docs', records: [{ id: 'x', vector: [1, 0] }] })).rejects.toThrow(
      /taken by a record this principal cannot access/,
    );
    expect((await base.get({ collection: 'docs', ids: ['x'] }))[0]?.payload).toEqual({ v: 1, tenant: 'globex' });
    await acme.upsert({ collection: 'docs', records: [{ id: 'y', vector: [1, 0], payload: { tenant: 'acme' } }] });
    expect(await acme.count({ collection: 'docs' })).toBe(1);
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
    expect((await base.get({ collection: 'docs', ids: [1, 2] })).map((record) => record.id)).toEqual([2]);
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
    expect((await base.get({ collection: 'docs', ids: ['p'] }))[0]?.payload).toEqual({ tenant: 'public' });
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
    const records = fc.uniqueArray(fc.record({ id, owner, payload }), {
      selector: (record) => `${typeof record.id}:${record.id}`,
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
          // Stored payloads (what the reference evaluator sees) by id key.
          const stored = new Map<string, { id: RecordId; owner: string | undefined; payload: JsonObject }>();
          for (const [i, record] of recordList.entries()) {
            const vector = [1, i];
            if (record.owner === undefined) {
              // A record written without any tenant (legacy data): visible to nobody through a scope.
              await base.upsert({ collection: 'c', records: [{ id: record.id, vector, payload: record.payload }] });
              stored.set(`${typeof record.id}:${record.id}`, { ...record, payload: record.payload });
            } else {
              const writer = scopeStore(base, principal(record.owner));
              await writer.upsert({ collection: 'c', records: [{ id: record.id, vector, payload: record.payload }] });
              stored.set(`${typeof record.id}:${record.id}`, {
                ...record,
                payload: { ...record.payload, tenant: record.owner },
              });
            }
          }
          const mine = [...stored.values()].filter((record) => record.owner === me);
          const expected = mine.filter((record) => !filter || matchesFilter(filter, record.payload));
          const key = (value: RecordId) => `${typeof value}:${value}`;
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
              const original = recordList.find((candidate) => key(candidate.id) === key(record.id));
              expect(record.payload).toEqual(original?.payload);
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

          const othersBefore = [...stored.values()].filter((record) => record.owner !== me).map((record) => record.id);
          const deletedByIds = await scoped.delete({ collection: 'c', ids });
          expect(deletedByIds.deleted).toBe(new Set(wanted.map(key)).size);
          if (filter) {
            const remaining = mine.filter((record) => !wanted.some((value) => key(value) === key(record.id)));
            const deletedByFilter = await scoped.delete({ collection: 'c', filter });
            expect(deletedByFilter.deleted).toBe(
              remaining.filter((record) => matchesFilter(filter, record.payload)).length,
            );
          }
          const othersAfter = await base.get({ collection: 'c', ids: othersBefore });
          expect(othersAfter).toHaveLength(othersBefore.length);
          await base.dispose();
        },
      ),
      { numRuns: 120 },
    );
  }, 60_000);
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

  test('property: no key a caller passes reaches another tenant’s entry', async () => {
    const name = fc.constantFrom('a', 'b', 'a"', '["t","a"]', '"]', 'a","b');
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(name, name, fc.constantFrom('k', '', '"]k', '["t","b"]k', 'b"]k')), { maxLength: 12 }),
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
