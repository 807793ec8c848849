/** The Milvus store's collections and aliases. */
import type { FieldType } from '@zilliz/milvus2-sdk-node';
import { ConflictError, NotFoundError, throwIfAborted } from '../../core/errors.js';
import type {
  AliasInfo,
  CollectionInfo,
  CreateCollectionOptions,
  OpenCollectionOptions,
  Store,
} from '../../core/store.js';
import { parseArgument } from '../../core/validate.js';
import { mapLimit } from '../../internal/concurrency.js';
import { collectionInfo, newCollection, openedCollection, reopenCollection } from '../kernel/collection.js';
import {
  aliasSchema,
  COMPONENT,
  createSchema,
  type Described,
  deleteAliasSchema,
  epochOf,
  FIELDS,
  listSchema,
  METRIC_TYPES,
  type Meta,
  type MilvusContext,
  nameSchema,
  openSchema,
  PROPERTY,
  realName,
  toCollection,
} from './client.js';
import { MAX_KEY_BYTES } from './keys.js';

type CollectionMethods = Pick<Store, 'createCollection' | 'openCollection' | 'listCollections' | 'deleteCollection'> &
  Required<Pick<Store, 'setAlias' | 'deleteAlias' | 'listAliases'>>;

export function collectionMethods(ctx: MilvusContext): CollectionMethods {
  const { call, retried, context, describe, readMeta, resolve, countRows, timeoutMs, concurrency } = ctx;
  const count = (described: Described, abortSignal?: AbortSignal) => () =>
    countRows(described.name, { expr: '', exprValues: {} }, abortSignal);

  return {
    async createCollection(input: CreateCollectionOptions): Promise<CollectionInfo> {
      const config = parseArgument(createSchema, input, 'createCollection options');
      throwIfAborted(config.abortSignal, 'createCollection');
      const existing = await describe(config.name, config.abortSignal);
      if (existing) {
        const real = realName(existing, config.name);
        const described: Described = { name: real, meta: readMeta(existing, real), ...epochOf(existing) };
        return reopenCollection(toCollection(described), config, count(described, config.abortSignal), COMPONENT);
      }
      const settings = newCollection(config);
      const meta: Meta = {
        version: 1,
        terms: 2,
        metric: settings.metric,
        sparse: settings.sparse,
        ...(settings.dimensions === undefined ? {} : { dimensions: settings.dimensions }),
        ...(settings.fingerprint === undefined ? {} : { fingerprint: settings.fingerprint }),
        ...(settings.sparseFingerprint === undefined ? {} : { sparseFingerprint: settings.sparseFingerprint }),
        ...(settings.space === undefined ? {} : { space: settings.space }),
        ...(settings.sparseSpace === undefined ? {} : { sparseSpace: settings.sparseSpace }),
      };
      const fields: FieldType[] = [
        { name: FIELDS.pk, data_type: 'VarChar', is_primary_key: true, autoID: false, max_length: MAX_KEY_BYTES },
        { name: FIELDS.payload, data_type: 'JSON' },
        { name: FIELDS.terms, data_type: 'JSON' },
      ];
      const indexes: {
        field_name: string;
        index_type: string;
        metric_type: string;
        params?: Record<string, number>;
      }[] = [];
      if (meta.dimensions !== undefined) {
        fields.push({ name: FIELDS.dense, data_type: 'FloatVector', dim: meta.dimensions });
        indexes.push({ field_name: FIELDS.dense, index_type: 'FLAT', metric_type: METRIC_TYPES[meta.metric] });
      }
      if (meta.sparse) {
        fields.push({ name: FIELDS.sparse, data_type: 'SparseFloatVector' });
        indexes.push({
          field_name: FIELDS.sparse,
          index_type: 'SPARSE_INVERTED_INDEX',
          metric_type: 'IP',
          params: { drop_ratio_build: 0 },
        });
      }
      await call(
        context(`create collection "${config.name}"`, config.name),
        (client) =>
          client.createCollection({
            collection_name: config.name,
            description: 'kumiki collection',
            fields,
            index_params: indexes,
            enable_dynamic_field: false,
            consistency_level: 'Strong',
            properties: { [PROPERTY]: JSON.stringify(meta) },
            timeout: timeoutMs,
          }),
        (result) => result,
      );
      const created = await describe(config.name, config.abortSignal);
      return collectionInfo({ ...settings, ...(created ? epochOf(created) : {}) }, 0);
    },

    async openCollection(input: OpenCollectionOptions): Promise<CollectionInfo> {
      const config = parseArgument(openSchema, input, 'openCollection options');
      const described = await resolve(config.name, config.abortSignal);
      return openedCollection(toCollection(described), config, count(described, config.abortSignal), COMPONENT);
    },

    async listCollections(input?: { abortSignal?: AbortSignal }): Promise<CollectionInfo[]> {
      const abortSignal = parseArgument(listSchema, input, 'listCollections options')?.abortSignal;
      const response = await retried(
        context('list collections'),
        abortSignal,
        (client) => client.showCollections({ timeout: timeoutMs }),
        (result) => result.status,
      );
      const infos = await mapLimit(response.data, concurrency, async ({ name }) => {
        const described = await describe(name, abortSignal);
        if (!described?.properties?.some((property) => property.key === PROPERTY)) return undefined;
        let meta: Meta;
        try {
          meta = readMeta(described, name);
        } catch (error) {
          // Altered, or written by an earlier kumiki: opening it explains; listing leaves it out.
          if (ConflictError.isInstance(error)) return undefined;
          throw error;
        }
        const found: Described = { name, meta, ...epochOf(described) };
        return collectionInfo(toCollection(found), await count(found, abortSignal)());
      });
      return infos.filter((info): info is CollectionInfo => info !== undefined);
    },

    async deleteCollection(input: { name: string; abortSignal?: AbortSignal }): Promise<boolean> {
      const { name, abortSignal } = parseArgument(nameSchema, input, 'deleteCollection options');
      const existing = await describe(name, abortSignal);
      if (!existing) return false;
      const real = realName(existing, name);
      if (real !== name) {
        throw new ConflictError({
          message: `"${name}" is an alias of "${real}"; delete the alias with deleteAlias, or the collection by its own name.`,
          component: COMPONENT,
        });
      }
      readMeta(existing, name);
      // Milvus refuses to drop a collection that aliases point at; like the memory store, the
      // aliases go with it.
      for (const alias of existing.aliases ?? []) {
        await call(
          context(`drop alias "${alias}"`, alias),
          (client) => client.dropAlias({ alias, timeout: timeoutMs }),
          (result) => result,
        );
      }
      await call(
        context(`drop collection "${name}"`, name),
        (client) => client.dropCollection({ collection_name: name, timeout: timeoutMs }),
        (result) => result,
      );
      return true;
    },

    async setAlias(input: { alias: string; collection: string; abortSignal?: AbortSignal }): Promise<void> {
      const { alias, collection, abortSignal } = parseArgument(aliasSchema, input, 'setAlias options');
      const target = await describe(collection, abortSignal);
      if (!target || realName(target, collection) !== collection) {
        throw new NotFoundError({
          resource: 'Collection',
          name: collection,
          hint: 'Aliases point at collections by their own names.',
          component: COMPONENT,
        });
      }
      const current = await describe(alias, abortSignal);
      if (current && realName(current, alias) === alias) {
        throw new ConflictError({
          message: `"${alias}" is a collection; an alias cannot take its name.`,
          component: COMPONENT,
        });
      }
      // alterAlias switches an existing alias atomically; createAlias makes a new one.
      await call(
        context(`set alias "${alias}"`, alias),
        (client) =>
          current
            ? client.alterAlias({ alias, collection_name: collection, timeout: timeoutMs })
            : client.createAlias({ alias, collection_name: collection, timeout: timeoutMs }),
        (result) => result,
      );
    },

    async deleteAlias(input: { alias: string; abortSignal?: AbortSignal }): Promise<boolean> {
      const { alias, abortSignal } = parseArgument(deleteAliasSchema, input, 'deleteAlias options');
      const current = await describe(alias, abortSignal);
      if (!current || realName(current, alias) === alias) return false;
      await call(
        context(`drop alias "${alias}"`, alias),
        (client) => client.dropAlias({ alias, timeout: timeoutMs }),
        (result) => result,
      );
      return true;
    },

    async listAliases(input?: { abortSignal?: AbortSignal }): Promise<AliasInfo[]> {
      const abortSignal = parseArgument(listSchema, input, 'listAliases options')?.abortSignal;
      // The SDK lists aliases per collection only; describing each collection gives its aliases.
      const response = await retried(
        context('list aliases'),
        abortSignal,
        (client) => client.showCollections({ timeout: timeoutMs }),
        (result) => result.status,
      );
      const perCollection = await mapLimit(response.data, concurrency, async ({ name }) => {
        const described = await describe(name, abortSignal);
        return (described?.aliases ?? []).map((alias) => ({ alias, collection: name }));
      });
      return perCollection.flat();
    },
  };
}
