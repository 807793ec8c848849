/**
 * Caller-scoped stores and caches: views of a Store or Cache that a principal cannot see past.
 * Runtime-neutral (no `node:` imports).
 */
import * as z from 'zod';
import type { AccessAction, Authorizer, Principal } from '../core/auth.js';
import type { Cache, CacheValue } from '../core/cache.js';
import { ConflictError, ForbiddenError, InvalidArgumentError, PartialWriteError } from '../core/errors.js';
import { type Filter, f, parseFilter } from '../core/filter.js';
import { MAX_ID_BYTES, utf8Length } from '../core/json.js';
import { sha256 } from '../core/sha256.js';
import type { CollectionInfo, Store } from '../core/store.js';
import {
  type JsonObject,
  type RecordId,
  recordIdSchema,
  type StoredRecord,
  vectorRecordSchema,
} from '../core/types.js';
import { implementing, parseArgument } from '../core/validate.js';
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

const ID_SPACE_VERSION = 'kumiki.scopeStore.v1';
/** Length of a tenant's key: 12 bytes of SHA-256, base64url. */
const KEY_LENGTH = 16;
/** Integers are stored as `n + 2^53` in this many hex digits, so that string order is numeric order. */
const INTEGER_DIGITS = 14;
const INTEGER_OFFSET = 2n ** 53n;
const INTEGER_BODY = /^[0-9a-f]{14}$/;

/** The longest string id a scoped store accepts: the stores' limit less the tenant key and tag. */
export const MAX_SCOPED_ID_BYTES = MAX_ID_BYTES - KEY_LENGTH - 1;

/** Where one tenant's records live in the store under a scoped view. */
export type TenantIdSpace = {
  /** The id a record the tenant calls `id` has in the underlying store. */
  toStored(id: RecordId): string;
  /** The tenant's own id for an id of the underlying store; `undefined` when it is outside this tenant's space. */
  fromStored(id: RecordId): RecordId | undefined;
};

const upsertRecordsSchema = z.object({ records: z.array(vectorRecordSchema) }).loose();

/**
 * The id space `scopeStore` gives `tenant`'s records in the underlying store: a 16-character key
 * derived from the tenant (base64url of 96 bits of SHA-256), a tag, then the id: `s` + the string
 * itself (17 characters more), or `i` + 14 hex digits for an integer (31 characters in all), so
 * that within one tenant the stored ids sort as the tenant's ids do (integers ascending, then
 * strings by code unit). Two tenants' spaces never share an id, whatever ids they use.
 */
export function tenantIdSpace(tenant: string): TenantIdSpace {
  const checked = parseArgument(z.string().min(1, 'tenant must not be empty'), tenant, 'tenant');
  const digest = sha256(`${ID_SPACE_VERSION}\u0000${checked}`).subarray(0, 12);
  const key = btoa(String.fromCharCode(...digest))
    .replaceAll('+', '-')
    .replaceAll('/', '_');
  return {
    toStored: (id) => {
      const checkedId = parseArgument(recordIdSchema, id, 'id');
      if (typeof checkedId === 'string' && utf8Length(checkedId) > MAX_SCOPED_ID_BYTES) {
        throw new InvalidArgumentError({
          argument: 'id',
          component: COMPONENT,
          issues: [
            {
              path: '',
              message: `string ids of a scoped store are limited to ${MAX_SCOPED_ID_BYTES} UTF-8 bytes (the store's ${MAX_ID_BYTES} less the ${KEY_LENGTH + 1} of the tenant's id space), got ${utf8Length(checkedId)}; use a hash of a longer key`,
            },
          ],
        });
      }
      return typeof checkedId === 'number'
        ? `${key}i${(BigInt(checkedId) + INTEGER_OFFSET).toString(16).padStart(INTEGER_DIGITS, '0')}`
        : `${key}s${checkedId}`;
    },
    fromStored: (id) => {
      if (typeof id !== 'string' || !id.startsWith(key)) return undefined;
      const body = id.slice(KEY_LENGTH + 1);
      const tag = id[KEY_LENGTH];
      if (tag === 's') return body.length > 0 ? body : undefined;
      if (tag !== 'i' || !INTEGER_BODY.test(body)) return undefined;
      const value = Number(BigInt(`0x${body}`) - INTEGER_OFFSET);
      return Number.isSafeInteger(value) ? value : undefined;
    },
  };
}

const idsSchema = z.object({ ids: z.array(recordIdSchema, { error: 'ids must be an array' }) }).loose();

type OptionalStoreMethod = { [K in keyof Store]-?: undefined extends Store[K] ? K : never }[keyof Store];

/**
 * A view of `store` for one principal. Every record it writes lives in the principal's tenant id
 * space (`tenantIdSpace`): the id a caller passes is mapped on the way in and back on the way out,
 * so two tenants using the same id (the same document, the same chunk ids) write two records, and
 * no id a caller passes can reach another tenant's record. Every read (`get`, `scroll`, `count`,
 * `search`) and every delete is also restricted to records whose `tenantField` equals the
 * principal's tenant (and, with `aclField`, that list the principal's subject or a role), whatever
 * filter the caller passes. Every upsert stamps the tenant; a record naming another tenant is
 * refused with `ForbiddenError`. Returned payloads leave the tenant field out. Collection counts are
 * the principal's own records.
 */
export function scopeStore(store: Store, principal: Principal, options: ScopeStoreOptions = {}): Store {
  const parsed = parseArgument(scopeStoreOptionsSchema, options, 'options');
  parseArgument(principalSchema, principal, 'principal');
  const tenantField = parsed.tenantField ?? 'tenant';
  const tenant = resolveTenant(principal, parsed.defaultTenant, 'store access');
  const authorizer = parsed.authorizer;
  const aclField = parsed.aclField;
  const space = tenantIdSpace(tenant);
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
  const signal = (abortSignal: AbortSignal | undefined) => (abortSignal ? { abortSignal } : {});

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

  /** A stored record as the principal sees it: its own id, no tenant field. */
  const present = <T extends StoredRecord>(record: T, collection: string): T => {
    const id = space.fromStored(record.id);
    if (id === undefined) {
      // The scope filter matched a record outside the tenant's id space: it was written to the
      // underlying store directly (or by kumiki 0.1's scopeStore) with the tenant in tenantField.
      throw new ConflictError({
        component: COMPONENT,
        message: `Record ${JSON.stringify(record.id)} in collection "${collection}" has ${tenantField} "${tenant}" but lies outside that tenant's id space, so a scoped store cannot name it. It was written to the store directly (or by an older scopeStore); rewrite it through scopeStore for that tenant and delete the original (see docs/auth.md, "Records written outside a scoped store").`,
      });
    }
    const { [tenantField]: _tenant, ...payload } = record.payload;
    return { ...record, id, payload };
  };

  const scopedInfo = async (info: CollectionInfo, abortSignal?: AbortSignal): Promise<CollectionInfo> => ({
    ...info,
    count: await store.count({ collection: info.name, filter: scope, ...signal(abortSignal) }),
  });

  /** The records among `ids` (mapped) this principal can see, with their stored ids. */
  const visible = async (collection: string, ids: readonly RecordId[], abortSignal?: AbortSignal) => {
    const found = await store.get({ collection, ids, ...signal(abortSignal) });
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
      const { collection, abortSignal } = upsertOptions;
      const records = checked.records.map((record, index) => {
        const current = record.payload?.[tenantField];
        if (current !== undefined && current !== tenant) {
          throw new ForbiddenError({
            component: COMPONENT,
            message: `records.${index}: payload.${tenantField} names another tenant than the caller's ("${tenant}"). Leave ${tenantField} out; the scoped store sets it.`,
          });
        }
        const payload = { ...(record.payload ?? {}), [tenantField]: tenant } as JsonObject;
        return { ...record, id: space.toStored(record.id), payload };
      });
      if (aclField) {
        // Within a tenant, ids are shared: a record another member's ACL hides must not be replaced.
        const ids = [...new Set(records.map((record) => record.id))];
        const hidden = (await store.get({ collection, ids, ...signal(abortSignal) })).find(
          (record) => !matchesFilter(scope, record.payload),
        );
        if (hidden) {
          throw new ForbiddenError({
            component: COMPONENT,
            message: `Record id ${JSON.stringify(space.fromStored(hidden.id))} in collection "${collection}" is taken by a record of this tenant that principal "${principal.subject}" may not read (${aclField}); use another id.`,
          });
        }
      }
      try {
        return await store.upsert({ ...upsertOptions, records });
      } catch (error) {
        if (!PartialWriteError.isInstance(error)) throw error;
        // The ids to retry are the caller's, not the stored ones.
        throw new PartialWriteError({
          collection,
          written: error.written,
          failedIds: error.failedIds.map((id) => space.fromStored(id) ?? id),
          isRetryable: error.isRetryable,
          cause: error,
          component: error.component ?? COMPONENT,
        });
      }
    },
    async get(getOptions) {
      check('read', getOptions.collection);
      parseArgument(idsSchema, getOptions, 'get options');
      const found = await store.get({ ...getOptions, ids: getOptions.ids.map(space.toStored) });
      return found
        .filter((record) => matchesFilter(scope, record.payload))
        .map((record) => present(record, getOptions.collection));
    },
    async delete(deleteOptions) {
      check('delete', deleteOptions.collection);
      const { collection, abortSignal } = deleteOptions;
      if (deleteOptions.filter !== undefined) {
        return store.delete({ collection, filter: within(deleteOptions.filter), ...signal(abortSignal) });
      }
      parseArgument(idsSchema, deleteOptions, 'delete options');
      const own = await visible(collection, deleteOptions.ids.map(space.toStored), abortSignal);
      if (own.length === 0) return { deleted: 0 };
      return store.delete({ collection, ids: own.map((record) => record.id), ...signal(abortSignal) });
    },
    async count(countOptions) {
      check('read', countOptions.collection);
      return store.count({ ...countOptions, filter: within(countOptions.filter) });
    },
    async scroll(scrollOptions) {
      check('read', scrollOptions.collection);
      const page = await store.scroll({ ...scrollOptions, filter: within(scrollOptions.filter) });
      return { ...page, records: page.records.map((record) => present(record, scrollOptions.collection)) };
    },
    async search(searchOptions) {
      check('search', searchOptions.collection);
      const matches = await store.search({ ...searchOptions, filter: within(searchOptions.filter) });
      return matches.map((match) => present(match, searchOptions.collection));
    },
    async explain(explainOptions) {
      check('read', explainOptions.collection);
      return store.explain({ ...explainOptions, filter: within(explainOptions.filter) });
    },
    async dispose() {
      // The underlying store belongs to the caller, who disposes it; a scoped view holds nothing.
    },
  };

  /** Exposes an optional Store method only when `store` has it, wrapped with its access check. */
  const optional = <K extends OptionalStoreMethod>(
    key: K,
    wrap: (inner: NonNullable<Store[K]>) => NonNullable<Store[K]>,
  ): void => {
    const inner = store[key];
    if (inner) scoped[key] = wrap((inner as (...args: never[]) => unknown).bind(store) as NonNullable<Store[K]>);
  };
  optional('setAlias', (setAlias) => async (aliasOptions) => {
    check('admin', aliasOptions.alias);
    check('admin', aliasOptions.collection);
    return setAlias(aliasOptions);
  });
  // Collection state (e.g. BM25 statistics) is the tenant's own: kept under a key in its id space.
  optional('getCollectionState', (get) => async (stateOptions) => {
    check('read', stateOptions.collection);
    return get({ ...stateOptions, key: space.toStored(stateOptions.key) });
  });
  optional('setCollectionState', (set) => async (stateOptions) => {
    check('write', stateOptions.collection);
    return set({ ...stateOptions, key: space.toStored(stateOptions.key) });
  });
  optional('deleteAlias', (deleteAlias) => async (aliasOptions) => {
    check('admin', aliasOptions.alias);
    return deleteAlias(aliasOptions);
  });
  optional('listAliases', (listAliases) => async (aliasOptions) => {
    const aliases = await listAliases(aliasOptions);
    return authorizer
      ? aliases.filter((info) => authorizer.can(principal, 'read', { kind: 'collection', name: info.alias }))
      : aliases;
  });
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
    get: async (key, callOptions) => cache.get(keyOf(key), callOptions),
    getMany: async (keys, callOptions) =>
      cache.getMany(parseArgument(z.array(cacheKeySchema), keys, 'keys').map(keyOf), callOptions),
    set: async (key, value: CacheValue, setOptions) => cache.set(keyOf(key), value, setOptions),
    setMany: async (entries, callOptions) =>
      cache.setMany(
        parseArgument(z.array(z.object({ key: cacheKeySchema }).loose()), entries, 'entries').map((entry, index) => ({
          ...(entries[index] as (typeof entries)[number]),
          key: keyOf(entry.key),
        })),
        callOptions,
      ),
    delete: async (key, callOptions) => cache.delete(keyOf(key), callOptions),
  };
  const { increment } = cache;
  if (increment) {
    scoped.increment = async (key, by, incrementOptions) => increment.call(cache, keyOf(key), by, incrementOptions);
  }
  return scoped;
}
