/**
 * Claim mapping, policies and caller-scoped views at their edges: odd claim shapes and their exact
 * errors, name patterns, which action each Store method asks the authorizer for, and the argument
 * checks of scopeStore and scopeCache.
 */
import { describe, expect, test } from 'vitest';
import { compileNamePattern, createPolicy, principalFromClaims } from '../src/auth/policy.js';
import { MAX_SCOPED_ID_BYTES, scopeCache, scopeStore, tenantIdSpace } from '../src/auth/scoped.js';
import { createKeyvCache } from '../src/caches/keyv/index.js';
import type { AccessAction, AccessResource, Authorizer, Principal } from '../src/core/auth.js';
import type { Cache } from '../src/core/cache.js';
import { ForbiddenError, InvalidArgumentError, KumikiError, UnauthorizedError } from '../src/core/errors.js';
import { type Filter, f } from '../src/core/filter.js';
import type { JsonObject } from '../src/core/types.js';
import { createMemoryStore } from '../src/stores/memory/index.js';
import { principal } from './helpers/principal.js';

/** What `fn` threw (fails the test when it does not throw). */
async function thrown(fn: () => unknown): Promise<KumikiError> {
  try {
    await fn();
  } catch (error) {
    expect(KumikiError.isInstance(error), `expected a kumiki error, got ${String(error)}`).toBe(true);
    return error as KumikiError;
  }
  throw new Error('expected an error, but nothing was thrown');
}

describe('principalFromClaims', () => {
  test('maps every field; no client id claim means no clientId key', () => {
    const claims: JsonObject = { sub: 's', tenant: 't', roles: ['r'], scope: 'a b' };
    expect(principalFromClaims(claims)).toEqual({
      subject: 's',
      tenant: 't',
      roles: ['r'],
      scopes: ['a', 'b'],
      claims,
    });
    expect(principalFromClaims({ sub: 's', client_id: 'c', azp: 'z' }).clientId).toBe('c');
    expect(principalFromClaims({ sub: 's', azp: 'z' }).clientId).toBe('z');
  });

  test('dotted paths go through objects only; anything else on the way means absent', () => {
    const tenantAt = (claims: JsonObject, tenantClaim: string) =>
      principalFromClaims({ sub: 's', ...claims }, { tenantClaim }).tenant;
    expect(tenantAt({ org: { unit: { id: 'deep' } } }, 'org.unit.id')).toBe('deep');
    expect(tenantAt({ org: 'flat' }, 'org.id')).toBeUndefined();
    expect(tenantAt({ org: null }, 'org.id')).toBeUndefined();
    expect(tenantAt({ org: ['first'] }, 'org.0')).toBeUndefined();
    expect(tenantAt({ org: {} }, 'org.id')).toBeUndefined();
    expect(tenantAt({ org: {} }, 'org.constructor')).toBeUndefined();
    expect(tenantAt({ org: 5 }, 'org.id')).toBeUndefined();
    // A claim whose own name contains a dot wins over the path.
    expect(tenantAt({ 'org.id': 'literal', org: { id: 'path' } }, 'org.id')).toBe('literal');
  });

  test('string lists: whitespace of any length separates, null is empty, duplicates collapse', () => {
    expect(principalFromClaims({ sub: 's', roles: '  a \t b\n a  ', scope: ' x  y ' })).toMatchObject({
      roles: ['a', 'b'],
      scopes: ['x', 'y'],
    });
    expect(principalFromClaims({ sub: 's', roles: null, scope: null, scp: 'ignored' })).toMatchObject({
      roles: [],
      scopes: [],
    });
    expect(principalFromClaims({ sub: 's', roles: '', scp: 'p q' })).toMatchObject({ roles: [], scopes: ['p', 'q'] });
    expect(principalFromClaims({ sub: 's', roles: ['a', 'a', 'b'], scp: ['x', 'x'] })).toMatchObject({
      roles: ['a', 'b'],
      scopes: ['x'],
    });
  });

  test('claims of the wrong type are UnauthorizedError naming the claim and the fix', async () => {
    const cases: [JsonObject, string][] = [
      [
        { sub: 's', roles: ['a', 1] },
        'The token\'s "roles" claim must be a string or an array of strings, not an array with non-string items. Fix the identity provider\'s claim mapping.',
      ],
      [
        { sub: 's', roles: 5 },
        'The token\'s "roles" claim must be a string or an array of strings, not number. Fix the identity provider\'s claim mapping.',
      ],
      [
        { sub: 's', scope: { a: 1 } },
        'The token\'s "scope" claim must be a string or an array of strings, not object. Fix the identity provider\'s claim mapping.',
      ],
      [
        { sub: 's', tenant: '' },
        'The token\'s "tenant" claim must be a non-empty string. Fix the identity provider\'s claim mapping.',
      ],
      [
        { sub: 's', tenant: 7 },
        'The token\'s "tenant" claim must be a non-empty string. Fix the identity provider\'s claim mapping.',
      ],
      [
        { tenant: 't' },
        'The token has no "sub" claim and no client id, so the caller cannot be identified. Issue tokens with a subject.',
      ],
    ];
    for (const [claims, message] of cases) {
      const error = await thrown(() => principalFromClaims(claims));
      expect(error, message).toBeInstanceOf(UnauthorizedError);
      expect(error.message).toBe(message);
    }
    const mapped = await thrown(() => principalFromClaims({ sub: 's' }, { subjectClaim: 'email' }));
    expect(mapped.message).toBe(
      'The token has no "email" claim and no client id, so the caller cannot be identified. Issue tokens with a subject.',
    );
    // A null subject claim is absent: the client id stands in.
    expect(principalFromClaims({ sub: null, client_id: 'c' }).subject).toBe('c');
  });

  test('a bad mapping is an InvalidArgumentError about the mapping', async () => {
    const error = await thrown(() => principalFromClaims({ sub: 's' }, { tenantClaim: '' }));
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect((error as InvalidArgumentError).argument).toBe('mapping');
  });
});

describe('policies', () => {
  test('name patterns: * any run, ? exactly one character (astral ones too), the rest literal', () => {
    const matches = (pattern: string, name: string) => compileNamePattern(pattern).test(name);
    expect(matches('docs-?', 'docs-1')).toBe(true);
    expect(matches('docs-?', 'docs-12')).toBe(false);
    expect(matches('docs-?', 'docs-')).toBe(false);
    expect(matches('docs-?', 'docs-😀')).toBe(true);
    expect(matches('?', '?')).toBe(true);
    expect(matches('a*', 'a\nb')).toBe(true);
    expect(matches('*', '')).toBe(true);
    expect(matches('a.b', 'axb')).toBe(false);
    expect(matches('a.b', 'a.b')).toBe(true);
    expect(matches('a+(b)', 'a+(b)')).toBe(true);
    expect(matches('a+', 'aa')).toBe(false);
    expect(matches('[x]', 'x')).toBe(false);
    expect(matches('docs', 'my-docs')).toBe(false);
    expect(matches('docs', 'docs-old')).toBe(false);
  });

  test('roles: any one listed role is enough, none is not; "*" is every action but admin', () => {
    const policy = createPolicy({
      rules: [
        { roles: ['reader', 'auditor'], actions: '*', collections: ['docs'] },
        { scopes: ['chat'], actions: ['generate'], models: ['m'] },
      ],
    });
    const who = (roles: string[], scopes: string[] = []) => ({ ...principal('acme', roles), scopes });
    const docs: AccessResource = { kind: 'collection', name: 'docs' };
    expect(policy.can(who(['reader', 'other']), 'read', docs)).toBe(true);
    expect(policy.can(who(['other', 'auditor']), 'delete', docs)).toBe(true);
    expect(policy.can(who(['other']), 'read', docs)).toBe(false);
    expect(policy.can(who([]), 'read', docs)).toBe(false);
    expect(policy.can(who(['reader']), 'admin', docs)).toBe(false);
    expect(policy.can(who([], ['x', 'chat']), 'generate', { kind: 'model', name: 'm' })).toBe(true);
    expect(policy.can(who([], ['x']), 'generate', { kind: 'model', name: 'm' })).toBe(false);
    // A rule without models grants no model; one without collections no collection.
    expect(policy.can(who(['reader']), 'read', { kind: 'model', name: 'docs' })).toBe(false);
    expect(policy.can(who([], ['chat']), 'generate', { kind: 'collection', name: 'm' })).toBe(false);
    expect(policy.can(who(['admin']), 'admin', docs)).toBe(true);
    expect(createPolicy({ rules: [], adminRoles: ['root'] }).can(who(['root']), 'admin', docs)).toBe(true);
    expect(createPolicy({ rules: [], adminRoles: ['root'] }).can(who(['admin']), 'read', docs)).toBe(false);
  });

  test('a bad policy is an InvalidArgumentError about the options', async () => {
    const error = await thrown(() => createPolicy({ rules: [{ actions: ['read'] }] }));
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect((error as InvalidArgumentError).argument).toBe('options');
    expect((error as InvalidArgumentError).issues).toEqual([
      { path: 'rules.0', message: 'a rule must name collections and/or models it applies to (use ["*"] for all)' },
    ]);
    expect(() => createPolicy({ rules: [{ actions: ['read'], models: ['m'] }] })).not.toThrow();
    expect(() => createPolicy({ rules: [{ actions: ['read'], collections: ['c'] }] })).not.toThrow();
  });
});

describe('scopeStore: what each method asks the authorizer', () => {
  /** An authorizer that records every question and allows what `allow` says. */
  function recordingAuthorizer(allow: (action: AccessAction, name: string) => boolean = () => true) {
    const asked: string[] = [];
    const authorizer: Authorizer = {
      can(who, action, resource) {
        expect(resource.kind).toBe('collection');
        asked.push(`${who.subject} ${action} ${resource.name}`);
        return allow(action, resource.name);
      },
    };
    return { authorizer, asked };
  }

  test('every Store method checks the right action on the right name', async () => {
    const base = createMemoryStore();
    await base.createCollection({ name: 'docs', dimensions: 2 });
    const { authorizer, asked } = recordingAuthorizer();
    const store = scopeStore(base, principal('acme', ['any'], 'u'), { authorizer });
    const calls: [string, () => Promise<unknown>][] = [
      ['u admin new', () => store.createCollection({ name: 'new', dimensions: 2 })],
      ['u read docs', () => store.openCollection({ name: 'docs' })],
      ['u write docs', () => store.upsert({ collection: 'docs', records: [{ id: 1, vector: [1, 0] }] })],
      ['u read docs', () => store.get({ collection: 'docs', ids: [1] })],
      ['u read docs', () => store.count({ collection: 'docs' })],
      ['u read docs', () => store.scroll({ collection: 'docs' })],
      ['u search docs', () => store.search({ collection: 'docs', vector: [1, 0], limit: 1 })],
      ['u read docs', () => store.explain({ collection: 'docs', filter: f.eq('a', 1) })],
      ['u admin current,u admin docs', async () => store.setAlias?.({ alias: 'current', collection: 'docs' })],
      ['u read docs', async () => store.getCollectionState?.({ collection: 'docs', key: 'k' })],
      ['u write docs', async () => store.setCollectionState?.({ collection: 'docs', key: 'k', value: 1 })],
      ['u admin current', async () => store.deleteAlias?.({ alias: 'current' })],
      ['u delete docs', () => store.delete({ collection: 'docs', ids: [1] })],
      ['u admin new', () => store.deleteCollection({ name: 'new' })],
    ];
    for (const [expected, call] of calls) {
      asked.length = 0;
      await call();
      expect(asked.join(','), expected).toBe(expected);
    }
    expect(await base.count({ collection: 'docs' })).toBe(0);
  });

  test('a refusal names the principal, the action and the collection', async () => {
    const base = createMemoryStore();
    await base.createCollection({ name: 'docs', dimensions: 2 });
    const { authorizer } = recordingAuthorizer(() => false);
    const store = scopeStore(base, principal('acme', [], 'u'), { authorizer });
    const refusals: [string, () => Promise<unknown>][] = [
      ['read', () => store.openCollection({ name: 'docs' })],
      ['read', () => store.get({ collection: 'docs', ids: [1] })],
      ['delete', () => store.delete({ collection: 'docs', ids: [1] })],
      ['read', () => store.scroll({ collection: 'docs' })],
      ['search', () => store.search({ collection: 'docs', vector: [1, 0], limit: 1 })],
      ['read', () => store.explain({ collection: 'docs', filter: f.eq('a', 1) })],
      ['read', async () => store.getCollectionState?.({ collection: 'docs', key: 'k' })],
      ['write', async () => store.setCollectionState?.({ collection: 'docs', key: 'k', value: 1 })],
      ['admin', async () => store.deleteAlias?.({ alias: 'docs' })],
    ];
    for (const [action, call] of refusals) {
      const error = await thrown(call);
      expect(error, action).toBeInstanceOf(ForbiddenError);
      expect(error.message).toBe(`Principal "u" may not ${action} collection "docs". Grant it in the policy.`);
    }
  });

  test('listings show only what the principal may read', async () => {
    const base = createMemoryStore();
    await base.createCollection({ name: 'docs', dimensions: 2 });
    await base.createCollection({ name: 'secret', dimensions: 2 });
    await base.setAlias({ alias: 'current', collection: 'docs' });
    await base.setAlias({ alias: 'hidden', collection: 'secret' });
    const { authorizer, asked } = recordingAuthorizer(
      (action, name) => action === 'read' && !/secret|hidden/.test(name),
    );
    const store = scopeStore(base, principal('acme', [], 'u'), { authorizer });
    expect((await store.listCollections()).map((info) => info.name)).toEqual(['docs']);
    expect(asked.sort()).toEqual(['u read docs', 'u read secret']);
    expect(await store.listAliases?.()).toEqual([{ alias: 'current', collection: 'docs' }]);
    // Without an authorizer everything is listed.
    const open = scopeStore(base, principal('acme'));
    expect((await open.listCollections()).map((info) => info.name).sort()).toEqual(['docs', 'secret']);
    expect((await open.listAliases?.())?.length).toBe(2);
  });

  test('collection state is the tenant’s own', async () => {
    const base = createMemoryStore();
    await base.createCollection({ name: 'docs', dimensions: 2 });
    const acme = scopeStore(base, principal('acme'));
    const globex = scopeStore(base, principal('globex'));
    await acme.setCollectionState?.({ collection: 'docs', key: 'bm25', value: { n: 1 } });
    expect((await acme.getCollectionState?.({ collection: 'docs', key: 'bm25' }))?.value).toEqual({ n: 1 });
    expect(await globex.getCollectionState?.({ collection: 'docs', key: 'bm25' })).toBeUndefined();
    expect(
      (await base.getCollectionState({ collection: 'docs', key: tenantIdSpace('acme').toStored('bm25') }))?.value,
    ).toEqual({ n: 1 });
  });
});

describe('scopeStore: checks and messages', () => {
  test('an authorizer must have a can method', async () => {
    for (const authorizer of [null, {}, { can: 'yes' }, 'policy']) {
      const error = await thrown(() => scopeStore(createMemoryStore(), principal('acme'), { authorizer } as never));
      expect(error, String(authorizer)).toBeInstanceOf(InvalidArgumentError);
      expect((error as InvalidArgumentError).issues[0]?.message).toBe(
        'authorizer must be an object with a can(principal, action, resource) method',
      );
    }
  });

  test('refusals name who, what and how to fix it', async () => {
    const base = createMemoryStore();
    await base.createCollection({ name: 'docs', dimensions: 2 });
    const noTenant = await thrown(() => scopeStore(base, principal(undefined, [], 'anon')));
    expect(noTenant).toBeInstanceOf(ForbiddenError);
    expect(noTenant.message).toBe(
      'Principal "anon" has no tenant, so store access cannot be scoped to one. Issue tokens with a tenant claim, or set defaultTenant.',
    );
    const noAdmin = await thrown(() => scopeStore(base, principal('acme', [], 'u')).deleteCollection({ name: 'docs' }));
    expect(noAdmin.message).toBe(
      'Principal "u" may not administer collection "docs": a scoped store allows collection administration only through an authorizer granting "admin".',
    );
    const store = scopeStore(base, principal('acme', [], 'u'));
    const otherTenant = await thrown(() =>
      store.upsert({
        collection: 'docs',
        records: [
          { id: 1, vector: [1, 0] },
          { id: 2, vector: [1, 0], payload: { tenant: 'globex' } },
        ],
      }),
    );
    expect(otherTenant).toBeInstanceOf(ForbiddenError);
    expect(otherTenant.message).toBe(
      'records.1: payload.tenant names another tenant than the caller\'s ("acme"). Leave tenant out; the scoped store sets it.',
    );
    // Naming the caller's own tenant is fine.
    await store.upsert({ collection: 'docs', records: [{ id: 3, vector: [1, 0], payload: { tenant: 'acme' } }] });
    expect(await store.count({ collection: 'docs' })).toBe(1);
    const badDelete = await thrown(() => store.delete({ collection: 'docs', ids: 'x' } as never));
    expect(badDelete).toBeInstanceOf(InvalidArgumentError);
    expect((badDelete as InvalidArgumentError).argument).toBe('delete options');
    const badGet = await thrown(() => store.get({ collection: 'docs', ids: 'x' } as never));
    expect((badGet as InvalidArgumentError).argument).toBe('get options');
  });

  test('string ids longer than the scoped limit are refused with the numbers', async () => {
    const space = tenantIdSpace('acme');
    expect(() => space.toStored('x'.repeat(MAX_SCOPED_ID_BYTES))).not.toThrow();
    const error = await thrown(() => space.toStored(`${'x'.repeat(MAX_SCOPED_ID_BYTES - 1)}é`));
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect((error as InvalidArgumentError).argument).toBe('id');
    expect((error as InvalidArgumentError).issues).toEqual([
      {
        path: '',
        message: `string ids of a scoped store are limited to ${MAX_SCOPED_ID_BYTES} UTF-8 bytes (the store's ${MAX_SCOPED_ID_BYTES + 17} less the 17 of the tenant's id space), got ${MAX_SCOPED_ID_BYTES + 1}; use a hash of a longer key`,
      },
    ]);
    expect(typeof space.toStored(Number.MAX_SAFE_INTEGER)).toBe('string');
  });

  test('with an ACL, a hidden record is not read, not replaced, and its id is named on refusal', async () => {
    const base = createMemoryStore();
    await base.createCollection({ name: 'docs', dimensions: 2 });
    const as = (roles: string[], subject: string) =>
      scopeStore(base, principal('acme', roles, subject), { aclField: 'acl' });
    await as(['hr'], 'h').upsert({
      collection: 'docs',
      records: [{ id: 'pay', vector: [1, 0], payload: { acl: ['hr'] } }],
    });
    const bob = as(['staff'], 'bob');
    expect(await bob.get({ collection: 'docs', ids: ['pay'] })).toEqual([]);
    const error = await thrown(() => bob.upsert({ collection: 'docs', records: [{ id: 'pay', vector: [0, 1] }] }));
    expect(error).toBeInstanceOf(ForbiddenError);
    expect(error.message).toBe(
      'Record id "pay" in collection "docs" is taken by a record of this tenant that principal "bob" may not read (acl); use another id.',
    );
    expect((await as(['hr'], 'h').get({ collection: 'docs', ids: ['pay'] }))[0]?.payload).toEqual({ acl: ['hr'] });
  });

  test('the caller’s filter is ANDed flat with the tenant and ACL conditions', async () => {
    const base = createMemoryStore();
    await base.createCollection({ name: 'docs', dimensions: 2 });
    const seen: (Filter | undefined)[] = [];
    const recording = {
      ...base,
      count: async (options: Parameters<typeof base.count>[0]) => {
        seen.push(options.filter);
        return base.count(options);
      },
    };
    const store = scopeStore(recording, principal('acme', ['r'], 's'), { aclField: 'acl' });
    await store.count({ collection: 'docs', filter: f.and(f.eq('a', 1), f.eq('b', 2)) });
    expect(seen[0]).toEqual(
      f.and(f.eq('tenant', 'acme'), f.containsAny('acl', ['s', 'r']), f.eq('a', 1), f.eq('b', 2)),
    );
  });

  test('the caller’s abort signal reaches the store in listings, opens and deletes', async () => {
    const base = createMemoryStore();
    await base.createCollection({ name: 'docs', dimensions: 2 });
    const signals: (AbortSignal | undefined)[] = [];
    const recording = {
      ...base,
      count: async (options: Parameters<typeof base.count>[0]) => {
        signals.push(options.abortSignal);
        return base.count(options);
      },
      get: async (options: Parameters<typeof base.get>[0]) => {
        signals.push(options.abortSignal);
        return base.get(options);
      },
    };
    const store = scopeStore(recording, principal('acme'));
    const abortSignal = new AbortController().signal;
    await store.listCollections({ abortSignal });
    await store.openCollection({ name: 'docs', abortSignal });
    await store.delete({ collection: 'docs', ids: [1], abortSignal });
    expect(signals).toEqual([abortSignal, abortSignal, abortSignal]);
    signals.length = 0;
    await store.openCollection({ name: 'docs' });
    expect(signals).toEqual([undefined]);
  });
});

describe('scopeCache: checks', () => {
  test('arguments are checked and named', async () => {
    const cache = createKeyvCache();
    const argument = async (fn: () => unknown) => ((await thrown(fn)) as InvalidArgumentError).argument;
    expect(await argument(() => scopeCache({} as Cache, principal('acme')))).toBe('cache');
    expect((await thrown(() => scopeCache({} as Cache, principal('acme')))).message).toContain(
      'cache must be a kumiki Cache',
    );
    expect(await argument(() => scopeCache(cache, { subject: '' } as Principal))).toBe('principal');
    expect(await argument(() => scopeCache(cache, principal('acme'), { bySubject: 'yes' } as never))).toBe('options');
    const scoped = scopeCache(cache, principal('acme'));
    expect(await argument(() => scoped.get(5 as never))).toBe('key');
    expect(await argument(() => scoped.getMany('k' as never))).toBe('keys');
    expect(await argument(() => scoped.setMany([{ key: 5, value: 1 }] as never))).toBe('entries');
    const noTenant = await thrown(() => scopeCache(cache, principal(undefined, [], 'anon')));
    expect(noTenant.message).toBe(
      'Principal "anon" has no tenant, so cache access cannot be scoped to one. Issue tokens with a tenant claim, or set defaultTenant.',
    );
  });

  test('increment exists exactly when the cache has it', async () => {
    const cache = createKeyvCache();
    const scoped = scopeCache(cache, principal('acme'));
    expect(await scoped.increment?.('n', 2)).toBe(2);
    const { increment: _dropped, ...withoutIncrement } = cache;
    expect(scopeCache(withoutIncrement as Cache, principal('acme')).increment).toBeUndefined();
  });
});
