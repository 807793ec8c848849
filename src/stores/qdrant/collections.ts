/** The Qdrant store's collections and aliases. */
import { randomHex } from '../../core/bytes.js';
import { ConflictError, NotFoundError, throwIfAborted } from '../../core/errors.js';
import type {
  AliasInfo,
  CollectionInfo,
  CreateCollectionOptions,
  Metric,
  OpenCollectionOptions,
  Store,
} from '../../core/store.js';
import { parseArgument } from '../../core/validate.js';
import { mapLimit } from '../../internal/concurrency.js';
import { collectionInfo, newCollection, openedCollection, reopenCollection } from '../kernel/collection.js';
import {
  aliasSchema,
  COMPONENT,
  type CollectionMeta,
  createSchema,
  DENSE,
  DENSE_ORIGINAL,
  type Description,
  deleteAliasSchema,
  deleteCollectionSchema,
  listSchema,
  openSchema,
  type QdrantContext,
  type QdrantIndexType,
  SPARSE,
  toCollection,
} from './client.js';
import { META_KEY } from './filter.js';
import { ORDER_LEVELS } from './ids.js';

const DISTANCE: Record<Metric, 'Cosine' | 'Dot' | 'Euclid'> = { cosine: 'Cosine', dot: 'Dot', euclidean: 'Euclid' };

type CollectionMethods = Pick<Store, 'createCollection' | 'openCollection' | 'listCollections' | 'deleteCollection'> &
  Required<Pick<Store, 'setAlias' | 'deleteAlias' | 'listAliases'>>;

export function collectionMethods(ctx: QdrantContext): CollectionMethods {
  const { call, describe, countPoints, aliasTargets, concurrency } = ctx;
  const count = (description: Description, abortSignal?: AbortSignal) => () =>
    countPoints(description.addressedAs, undefined, abortSignal);

  const createIndexes = (name: string, abortSignal?: AbortSignal) => {
    const fields: [string, QdrantIndexType][] = [
      [`${META_KEY}.n`, 'integer'],
      ...Array.from({ length: ORDER_LEVELS }, (_, level): [string, QdrantIndexType] => [
        `${META_KEY}.s${level}`,
        'integer',
      ]),
      ...ctx.indexedFields,
    ];
    return mapLimit(fields, concurrency, ([field_name, field_schema]) =>
      call(
        {
          operation: `create payload index "${field_name}" in "${name}"`,
          collection: name,
          abortSignal,
        },
        (api, init) => api.createFieldIndex({ collection_name: name, wait: true, field_name, field_schema }, init),
      ),
    );
  };

  return {
    async createCollection(input: CreateCollectionOptions): Promise<CollectionInfo> {
      const config = parseArgument(createSchema, input, 'createCollection options');
      const abortSignal = config.abortSignal;
      throwIfAborted(abortSignal, 'createCollection');
      const open = (existing: Description) =>
        reopenCollection(toCollection(existing), config, count(existing, abortSignal), COMPONENT);
      const existing = await describe(config.name, abortSignal, true).catch((error: unknown) => {
        if (NotFoundError.isInstance(error)) return undefined;
        throw error;
      });
      if (existing) return open(existing);

      const settings = newCollection(config);
      const { metric, sparse } = settings;
      const meta: CollectionMeta = {
        version: 1,
        name: config.name,
        metric,
        sparse,
        epoch: randomHex(16),
        ...(settings.dimensions === undefined ? {} : { dimensions: settings.dimensions }),
        ...(settings.fingerprint === undefined ? {} : { fingerprint: settings.fingerprint }),
        ...(settings.sparseFingerprint === undefined ? {} : { sparseFingerprint: settings.sparseFingerprint }),
        ...(settings.space === undefined ? {} : { embeddingSpace: settings.space }),
        ...(settings.sparseSpace === undefined ? {} : { sparseEmbeddingSpace: settings.sparseSpace }),
      };
      const original = ctx.keepOriginal && metric === 'cosine' && config.dimensions !== undefined;
      const vectors =
        config.dimensions === undefined
          ? undefined
          : {
              [DENSE]: { size: config.dimensions, distance: DISTANCE[metric] },
              // Stored on disk, never indexed: only read back, so Qdrant's normalization does not show.
              ...(original
                ? {
                    [DENSE_ORIGINAL]: {
                      size: config.dimensions,
                      distance: 'Dot' as const,
                      on_disk: true,
                      hnsw_config: { m: 0 },
                    },
                  }
                : {}),
            };
      try {
        await call(
          {
            operation: `create collection "${config.name}"`,
            collection: config.name,
            retry: false,
            abortSignal,
          },
          (api, init) =>
            api.createCollection(
              {
                collection_name: config.name,
                ...(vectors ? { vectors } : {}),
                ...(sparse ? { sparse_vectors: { [SPARSE]: {} } } : {}),
                metadata: { kumiki: meta },
              },
              init,
            ),
        );
      } catch (error) {
        // Created meanwhile by someone else: open it when allowed.
        if (ConflictError.isInstance(error)) return open(await describe(config.name, abortSignal, true));
        throw error;
      }
      ctx.forget(config.name);
      try {
        await createIndexes(config.name, abortSignal);
      } catch (error) {
        // Without its sort-key indexes the collection cannot be scrolled: do not leave it half made.
        await call({ operation: `delete collection "${config.name}"`, collection: config.name }, (api, init) =>
          api.deleteCollection({ collection_name: config.name }, init),
        ).catch(() => undefined);
        throw error;
      }
      // A description read while the indexes were being made would lack the integer ones.
      ctx.forget(config.name);
      return collectionInfo({ ...settings, epoch: meta.epoch }, 0);
    },

    async openCollection(input: OpenCollectionOptions): Promise<CollectionInfo> {
      const config = parseArgument(openSchema, input, 'openCollection options');
      const description = await describe(config.name, config.abortSignal, true);
      return openedCollection(toCollection(description), config, count(description, config.abortSignal), COMPONENT);
    },

    async listCollections(input: { abortSignal?: AbortSignal } = {}): Promise<CollectionInfo[]> {
      const { abortSignal } = parseArgument(listSchema, input, 'listCollections options') ?? {};
      const result = await call({ operation: 'list collections', abortSignal }, (api, init) =>
        api.getCollections({}, init),
      );
      const names = (result?.collections ?? []).map((collection) => collection.name);
      const infos = await mapLimit(names, 8, async (name) => {
        try {
          const description = await describe(name, abortSignal, true);
          return collectionInfo(toCollection(description), await count(description, abortSignal)());
        } catch (error) {
          // Collections of other tools, or deleted meanwhile, are not kumiki collections to list.
          if (ConflictError.isInstance(error) || NotFoundError.isInstance(error)) return undefined;
          throw error;
        }
      });
      return infos.filter((info): info is CollectionInfo => info !== undefined);
    },

    async deleteCollection(input: { name: string; abortSignal?: AbortSignal }): Promise<boolean> {
      const { name, abortSignal } = parseArgument(deleteCollectionSchema, input, 'deleteCollection options');
      const aliases = await aliasTargets(abortSignal);
      if (aliases.has(name)) {
        throw new ConflictError({
          message: `"${name}" is an alias of "${aliases.get(name)}"; delete the alias with deleteAlias, or the collection by its own name.`,
          component: COMPONENT,
        });
      }
      ctx.forgetAll();
      try {
        const existed = await call(
          { operation: `delete collection "${name}"`, collection: name, abortSignal },
          (api, init) => api.deleteCollection({ collection_name: name }, init),
        );
        return existed === true;
      } catch (error) {
        if (NotFoundError.isInstance(error)) return false;
        throw error;
      }
    },

    async setAlias(input: { alias: string; collection: string; abortSignal?: AbortSignal }): Promise<void> {
      const { alias, collection, abortSignal } = parseArgument(aliasSchema, input, 'setAlias options');
      ctx.forget(alias);
      // One create_alias: Qdrant overwrites an existing alias in place, so readers see the old
      // collection or the new one. (Qdrant applies the actions of one request one by one without
      // rolling back, so delete_alias + create_alias would lose the alias when the create fails.)
      await call({ operation: `point alias "${alias}" at "${collection}"`, collection, abortSignal }, (api, init) =>
        api.updateAliases({ actions: [{ create_alias: { alias_name: alias, collection_name: collection } }] }, init),
      );
      ctx.forget(alias);
    },

    async deleteAlias(input: { alias: string; abortSignal?: AbortSignal }): Promise<boolean> {
      const { alias, abortSignal } = parseArgument(deleteAliasSchema, input, 'deleteAlias options');
      if (!(await aliasTargets(abortSignal)).has(alias)) return false;
      ctx.forget(alias);
      await call({ operation: `delete alias "${alias}"`, abortSignal }, (api, init) =>
        api.updateAliases({ actions: [{ delete_alias: { alias_name: alias } }] }, init),
      );
      return true;
    },

    async listAliases(input: { abortSignal?: AbortSignal } = {}): Promise<AliasInfo[]> {
      const { abortSignal } = parseArgument(listSchema, input, 'listAliases options') ?? {};
      return [...(await aliasTargets(abortSignal))].map(([alias, collection]) => ({ alias, collection }));
    },
  };
}
