/**
 * Caller-scoped stores and caches: views of a Store or Cache that a principal cannot see past.
 * Runtime-neutral (no `node:` imports).
 */
import { z } from 'zod';
import type { AccessAction, Authorizer, Principal } from '../core/auth.js';
import type { Cache, CacheValue } from '../core/cache.js';
import { ForbiddenError } from '../core/errors.js';
import type { CollectionInfo, Store } from '../core/store.js';
import { type JsonObject, type RecordId, type StoredRecord, vectorRecordSchema } from '../core/types.js';
import { implementing, parseArgument } from '../core/validate.js';
import { type Filter, f, parseFilter } from '../filter/ast.js';
import { matchesFilter } from '../filter/evaluate.js';

const COMPONENT = 'scoped';

export type ScopeStoreOptions = {
  /** Top-level payload field holding each record's tenant; default `tenant`. */
  tenantField?: string;
  /**
   * Optional payload field holding an array of the roles and subjects allowed to read a record. When
   * set, a record is visible only if that array contains the principal's subject or one of its roles.
   */
  aclField?: string;
  /**
   * Checks every operation (`read`, `search`, `write`, `delete` on the collection; `admin` for
   * creating/deleting collections and aliases). Without one, data operations are allowed and
   * collection administration is refused.
   */
  authorizer?: Authorizer;
  /** Tenant used for a principal that has none; without it such a principal is refused. */
  defaultTenant?: string;
};

const fieldName = z
  .string()
  .min(1, 'must not be empty')
  .regex(/^[^.]+$/, 'must be a top-level payload key (no dots)');
const scopeStoreOptionsSchema = z
  .object({
    tenantField: fieldName.optional(),
    aclField: fieldName.optional(),
    authorizer: z
      .custom<Authorizer>(
        (value) => typeof value === 'object' && value !== null && typeof (value as Authorizer).can === 'function',
        'authorizer must be an object with a can(principal, action, resource) method',
      )
      .optional(),
    defaultTenant: z.string().min(1, 'defaultTenant must not be empty').optional(),
  })
  .strict();

const principalSchema = z.object({
  subject: z.string().min(1, 'subject must not be empty'),
  tenant: z.string().min(1, 'tenant must not be empty when given').optional(),
  roles: z.array(z.string()).readonly(),
  scopes: z.array(z.string()).readonly(),
});

function resolveTenant(principal: Principal, defaultTenant: string | undefined, what: string): string {
  const tenant = principal.tenant ?? defaultTenant;
  if (tenant === undefined) {
    throw new ForbiddenError({
      component: COMPONENT,
      message: `Principal "${principal.subject}" has no tenant, so ${what} cannot be scoped to one. Issue tokens with a tenant claim, or set defaultTenant.`,
    });
  }
  return tenant;
}

const upsertRecordsSchema = z.object({ records: z.array(vectorRecordSchema) }).loose();

/**
 * A view of `store` for one principal. Every read (`get`, `scroll`, `count`, `search`) and every
 * delete is restricted to records whose `tenantField` equals the principal's tenant (and, with
 * `aclField`, that list the principal's subject or a role), whatever filter or ids the caller passes.
 * Every upsert stamps the tenant; a record naming another tenant is refused with `ForbiddenError`, and
 * so is an upsert whose id already belongs to a record the principal cannot see. Returned payloads
 * leave the tenant field out. Collection counts are the principal's own records.
 */
export function scopeStore(store: Store, principal: Principal, options: ScopeStoreOptions = {}): Store {
  const parsed = parseArgument(scopeStoreOptionsSchema, options, 'options');
  parseArgument(principalSchema, principal, 'principal');
  const tenantField = parsed.tenantField ?? 'tenant';
  const tenant = resolveTenant(principal, parsed.defaultTenant, 'store access');
  const authorizer = parsed.authorizer;
  const aclField = parsed.aclField;
  const scope: Filter = aclField
    ? f.and(f.eq(tenantField, tenant), f.containsAny(aclField, [principal.subject, ...principal.roles]))
    : f.eq(tenantField, tenant);
  const scopeClauses = scope.op === 'and' ? scope.filters : [scope];
  // One flat `and`, so an and-rooted filter keeps its depth (MAX_FILTER_DEPTH applies to what the store sees).
  const within = (filter: Filter | undefined): Filter => {
    if (!filter) return scope;
    const parsed = parseFilter(filter);
    return f.and(...scopeClauses, ...(parsed.op === 'and' ? parsed.filters : [parsed]));
  };

  const check = (action: AccessAction, collection: string) => {
    if (action === 'admin' && !authorizer) {
      throw new ForbiddenError({
        component: COMPONENT,
        message: `Principal "${principal.subject}" may not administer collection "${collection}": a scoped store allows collection administration only through an authorizer granting "admin".`,
      });
    }
    if (authorizer && !authorizer.can(principal, action, { kind: 'collection', name: collection })) {
      throw new ForbiddenError({
        component: COMPONENT,
        message: `Principal "${principal.subject}" may not ${action} collection "${collection}". Grant it in the policy.`,
      });
    }
  };

  const strip = <T extends StoredRecord>(record: T): T => {
    if (!Object.hasOwn(record.payload, tenantField)) return record;
    const { [tenantField]: _tenant, ...payload } = record.payload;
    return { ...record, payload };
  };

  const scopedInfo = async (info: CollectionInfo, abortSignal?: AbortSignal): Promise<CollectionInfo> => ({
    ...info,
    count: await store.count({ collection: info.name, filter: scope, ...(abortSignal ? { abortSignal } : {}) }),
  });

  /** The records among `ids` this principal can see. */
  const visible = async (collection: string, ids: readonly RecordId[], abortSignal?: AbortSignal) => {
    const found = await store.get({ collection, ids, ...(abortSignal ? { abortSignal } : {}) });
    return found.filter((record) => matchesFilter(scope, record.payload));
  };

  const scoped: Store = {
    specificationVersion: store.specificationVersion,
    provider: store.provider,
    capabilities: store.capabilities,
    async createCollection(createOptions) {
      check('admin', createOptions.name);
      return scopedInfo(await store.createCollection(createOptions), createOptions.abortSignal);
    },
    async openCollection(openOptions) {
      check('read', openOptions.name);
      return scopedInfo(await store.openCollection(openOptions), openOptions.abortSignal);
    },
    async listCollections(listOptions) {
      const all = await store.listCollections(listOptions);
      const allowed = authorizer
        ? all.filter((info) => authorizer.can(principal, 'read', { kind: 'collection', name: info.name }))
        : all;
      return Promise.all(allowed.map((info) => scopedInfo(info, listOptions?.abortSignal)));
    },
    async deleteCollection(deleteOptions) {
      check('admin', deleteOptions.name);
      return store.deleteCollection(deleteOptions);
    },
    async upsert(upsertOptions) {
      check('write', upsertOptions.collection);
      // The store's own record checks, before the tenant is stamped (spreading a non-object payload would hide it).
      const checked = parseArgument(upsertRecordsSchema, upsertOptions, 'upsert options');
      const records = checked.records.map((record, index) => {
        const current = record.payload?.[tenantField];
        if (current !== undefined && current !== tenant) {
          throw new ForbiddenError({
            component: COMPONENT,
            message: `records.${index}: payload.${tenantField} names another tenant than the caller's ("${tenant}"). Leave ${tenantField} out; the scoped store sets it.`,
          });
        }
        return { ...record, payload: { ...(record.payload ?? {}), [tenantField]: tenant } as JsonObject };
      });
      const ids = [...new Map(records.map((record) => [`${typeof record.id}:${record.id}`, record.id])).values()];
      const existing = await store.get({
        collection: upsertOptions.collection,
        ids,
        ...(upsertOptions.abortSignal ? { abortSignal: upsertOptions.abortSignal } : {}),
      });
      const foreign = existing.find((record) => !matchesFilter(scope, record.payload));
      if (foreign) {
        throw new ForbiddenError({
          component: COMPONENT,
          message: `Record id ${JSON.stringify(foreign.id)} in collection "${upsertOptions.collection}" is taken by a record this principal cannot access; use another id.`,
        });
      }
      return store.upsert({ ...upsertOptions, records });
    },
    async get(getOptions) {
      check('read', getOptions.collection);
      const found = await store.get(getOptions);
      return found.filter((record) => matchesFilter(scope, record.payload)).map(strip);
    },
    async delete(deleteOptions) {
      check('delete', deleteOptions.collection);
      const { collection, abortSignal } = deleteOptions;
      if (deleteOptions.filter !== undefined) {
        return store.delete({
          collection,
          filter: within(deleteOptions.filter),
          ...(abortSignal ? { abortSignal } : {}),
        });
      }
      const own = await visible(collection, deleteOptions.ids, abortSignal);
      if (own.length === 0) return { deleted: 0 };
      return store.delete({ collection, ids: own.map((record) => record.id), ...(abortSignal ? { abortSignal } : {}) });
    },
    async count(countOptions) {
      check('read', countOptions.collection);
      return store.count({ ...countOptions, filter: within(countOptions.filter) });
    },
    async scroll(scrollOptions) {
      check('read', scrollOptions.collection);
      const page = await store.scroll({ ...scrollOptions, filter: within(scrollOptions.filter) });
      return { ...page, records: page.records.map(strip) };
    },
    async search(searchOptions) {
      check('search', searchOptions.collection);
      const matches = await store.search({ ...searchOptions, filter: within(searchOptions.filter) });
      return matches.map(strip);
    },
    async explain(explainOptions) {
      check('read', explainOptions.collection);
      return store.explain({ ...explainOptions, filter: within(explainOptions.filter) });
    },
    async dispose() {
      // The underlying store belongs to the caller, who disposes it; a scoped view holds nothing.
    },
  };
  const { setAlias, deleteAlias, listAliases } = store;
  if (setAlias) {
    scoped.setAlias = async (aliasOptions) => {
      check('admin', aliasOptions.alias);
      check('admin', aliasOptions.collection);
      return setAlias.call(store, aliasOptions);
    };
  }
  if (deleteAlias) {
    scoped.deleteAlias = async (aliasOptions) => {
      check('admin', aliasOptions.alias);
      return deleteAlias.call(store, aliasOptions);
    };
  }
  if (listAliases) {
    scoped.listAliases = async (aliasOptions) => {
      const aliases = await listAliases.call(store, aliasOptions);
      return authorizer
        ? aliases.filter((info) => authorizer.can(principal, 'read', { kind: 'collection', name: info.alias }))
        : aliases;
    };
  }
  return scoped;
}

export type ScopeCacheOptions = {
  /** Also partition by the principal's subject (per-user entries); default false (per tenant). */
  bySubject?: boolean;
  /** Tenant used for a principal that has none; without it such a principal is refused. */
  defaultTenant?: string;
};

const cacheKeySchema = z.string({ error: 'cache keys must be strings' });
const scopeCacheOptionsSchema = z
  .object({
    bySubject: z.boolean().optional(),
    defaultTenant: z.string().min(1, 'defaultTenant must not be empty').optional(),
  })
  .strict();

/**
 * A view of `cache` whose keys live in the principal's tenant partition (and subject partition with
 * `bySubject`): the same key written by two tenants names two entries, and no key a caller can pass
 * reaches another partition (the prefix is an unambiguous JSON array).
 */
export function scopeCache(cache: Cache, principal: Principal, options: ScopeCacheOptions = {}): Cache {
  parseArgument(implementing<Cache>('cache must be a kumiki Cache', { methods: ['get'] }), cache, 'cache');
  parseArgument(principalSchema, principal, 'principal');
  const parsed = parseArgument(scopeCacheOptionsSchema, options, 'options');
  const tenant = resolveTenant(principal, parsed.defaultTenant, 'cache access');
  const prefix = JSON.stringify(parsed.bySubject ? ['t', tenant, principal.subject] : ['t', tenant]);
  const keyOf = (key: string) => `${prefix}${parseArgument(cacheKeySchema, key, 'key')}`;
  const scoped: Cache = {
    specificationVersion: cache.specificationVersion,
    provider: cache.provider,
    capabilities: cache.capabilities,
    get: async (key) => cache.get(keyOf(key)),
    getMany: async (keys) => cache.getMany(parseArgument(z.array(cacheKeySchema), keys, 'keys').map(keyOf)),
    set: async (key, value: CacheValue, setOptions) => cache.set(keyOf(key), value, setOptions),
    setMany: async (entries) =>
      cache.setMany(
        parseArgument(z.array(z.object({ key: cacheKeySchema }).loose()), entries, 'entries').map((entry, index) => ({
          ...(entries[index] as (typeof entries)[number]),
          key: keyOf(entry.key),
        })),
      ),
    delete: async (key) => cache.delete(keyOf(key)),
  };
  const { increment } = cache;
  if (increment) scoped.increment = async (key, by, setOptions) => increment.call(cache, keyOf(key), by, setOptions);
  return scoped;
}
