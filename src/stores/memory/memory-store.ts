import { randomHex } from '../../core/bytes.js';
import { ConflictError, NotFoundError, throwIfAborted } from '../../core/errors.js';
import { FILTER_OPERATORS, type Filter } from '../../core/filter.js';
import { type EmbeddingSpace, fingerprint } from '../../core/fingerprint.js';
import { DEFAULT_RRF_K, reciprocalRankFusion } from '../../core/fusion.js';
import type { SnapshotPersistence, SnapshotReader } from '../../core/persistence.js';
import type {
  AliasInfo,
  CollectionInfo,
  CountOptions,
  CreateCollectionOptions,
  DeleteOptions,
  GetOptions,
  OpenCollectionOptions,
  ScrollOptions,
  ScrollPage,
  SearchOptions,
  UpsertOptions,
} from '../../core/store.js';
import type { JsonValue } from '../../core/types.js';
import { parseArgument } from '../../core/validate.js';
import {
  checkEmbeddingSpace,
  checkReopen,
  checkSearchVectors,
  decodeCursor,
  encodeCursor,
  toFingerprint,
} from '../kernel/checks.js';
import { storeArgumentSchemas } from '../kernel/schemas.js';
import { MemoryCollection } from './collection.js';
import { createDurableState } from './durability.js';
import { getStateSchema, payloadIndexSchema, resolveOptions, setStateSchema } from './options.js';
import { cloneJson } from './records.js';
import type { MemoryExplainedFilter, MemoryStore, MemoryStoreDescription, MemoryStoreOptions } from './types.js';

export type { MemoryExplainedFilter, MemoryStore, MemoryStoreDescription, MemoryStoreOptions } from './types.js';
export type { SnapshotPersistence, SnapshotReader };

const {
  create: createSchema,
  open: openSchema,
  deleteCollection: deleteCollectionSchema,
  explain: explainSchema,
  setAlias: aliasSchema,
  deleteAlias: deleteAliasSchema,
  parseUpsert,
  get: getSchema,
  delete: deleteSchema,
  count: countSchema,
  scroll: scrollSchema,
  search: searchSchema,
} = storeArgumentSchemas();

/**
 * The embedded Store: in-process, no server, any runtime. Exact dense search on a WebAssembly SIMD
 * kernel (optionally int8 with float re-scoring), exact sparse search, hybrid with RRF, the full
 * filter language, and optional crash-safe snapshots.
 */
export function createMemoryStore(options: MemoryStoreOptions = {}): MemoryStore {
  const { persistence, durability, quantization, quantized, floats, rescore, kernel, autoIndex, ann } =
    resolveOptions(options);
  const collectionOptions = { quantized, floats, kernel, autoIndex, ann };
  const { collections, aliases, ready, mutate, flush, dispose } = createDurableState(
    persistence,
    durability,
    collectionOptions,
  );
  const spaces = new Map<string, EmbeddingSpace>();

  const collectionOf = (name: string): MemoryCollection => {
    const collection = collections.get(aliases.get(name) ?? name);
    if (!collection) {
      throw new NotFoundError({
        resource: 'Collection',
        name,
        hint: 'Create it first with createCollection({ name, dimensions }).',
        component: 'memory',
      });
    }
    return collection;
  };

  const checkSpace = (
    collection: MemoryCollection,
    given: EmbeddingSpace | string | undefined,
    kind: 'dense' | 'sparse',
  ) => {
    const recorded = kind === 'dense' ? collection.meta.fingerprint : collection.meta.sparseFingerprint;
    checkEmbeddingSpace(
      {
        collection: collection.meta.name,
        fingerprint: recorded,
        space: recorded === undefined ? undefined : spaces.get(recorded),
      },
      given,
      kind,
      'memory',
    );
  };

  const rememberSpace = (space: EmbeddingSpace | string | undefined): void => {
    if (typeof space === 'object') spaces.set(fingerprint(space), space);
  };

  const store: MemoryStore = {
    specificationVersion: 'kumiki.store.v1',
    provider: 'memory',
    capabilities: {
      dense: true,
      sparse: true,
      hybrid: true,
      metrics: ['cosine', 'dot', 'euclidean'],
      filterOperators: FILTER_OPERATORS,
      persistent: persistence !== undefined,
      aliases: true,
    },

    async createCollection(input: CreateCollectionOptions): Promise<CollectionInfo> {
      const config = parseArgument(createSchema, input, 'createCollection options');
      rememberSpace(config.embeddingSpace);
      rememberSpace(config.sparseEmbeddingSpace);
      const reopen = (existing: MemoryCollection): CollectionInfo => {
        checkReopen(existing.meta, config, 'memory');
        checkSpace(existing, config.embeddingSpace, 'dense');
        checkSpace(existing, config.sparseEmbeddingSpace, 'sparse');
        return existing.info();
      };
      // Opening an existing collection changes nothing, so it takes no lock.
      await ready();
      const found = collections.get(config.name);
      if (found && !aliases.has(config.name)) {
        throwIfAborted(config.abortSignal, 'createCollection');
        return reopen(found);
      }
      return mutate('createCollection', config.abortSignal, () => {
        if (aliases.has(config.name)) {
          throw new ConflictError({
            message: `"${config.name}" is an alias (of "${aliases.get(config.name)}"); pick another collection name or delete the alias.`,
            component: 'memory',
          });
        }
        const existing = collections.get(config.name);
        if (existing) return { result: reopen(existing), undo: undefined };
        const collection = new MemoryCollection(
          {
            name: config.name,
            dimensions: config.dimensions,
            metric: config.metric ?? 'cosine',
            sparse: config.sparse ?? true,
            fingerprint: toFingerprint(config.embeddingSpace),
            sparseFingerprint: toFingerprint(config.sparseEmbeddingSpace),
            epoch: randomHex(16),
          },
          collectionOptions,
        );
        collections.set(config.name, collection);
        return {
          result: collection.info(),
          undo: () => {
            collections.delete(config.name);
            collection.dispose();
          },
        };
      });
    },

    async openCollection(input: OpenCollectionOptions): Promise<CollectionInfo> {
      const config = parseArgument(openSchema, input, 'openCollection options');
      await ready();
      const collection = collectionOf(config.name);
      checkSpace(collection, config.embeddingSpace, 'dense');
      checkSpace(collection, config.sparseEmbeddingSpace, 'sparse');
      return collection.info();
    },

    async listCollections(): Promise<CollectionInfo[]> {
      await ready();
      return [...collections.values()].map((collection) => collection.info());
    },

    async deleteCollection(input: { name: string; abortSignal?: AbortSignal }): Promise<boolean> {
      const { name, abortSignal } = parseArgument(deleteCollectionSchema, input, 'deleteCollection options');
      return mutate('deleteCollection', abortSignal, () => {
        if (aliases.has(name)) {
          throw new ConflictError({
            message: `"${name}" is an alias of "${aliases.get(name)}"; delete the alias with deleteAlias, or the collection by its own name.`,
            component: 'memory',
          });
        }
        const collection = collections.get(name);
        if (!collection) return { result: false, undo: undefined };
        collections.delete(name);
        const dropped = [...aliases].filter(([, target]) => target === name);
        for (const [alias] of dropped) aliases.delete(alias);
        return {
          result: true,
          undo: () => {
            collections.set(name, collection);
            for (const [alias, target] of dropped) aliases.set(alias, target);
          },
          kept: () => collection.dispose(),
        };
      });
    },

    async upsert(input: UpsertOptions): Promise<{ upserted: number }> {
      // Float32Array values are checked as the arena stores them (collection.write). Whatever fails
      // first, a bad argument is what the caller hears of, as when everything was checked up front.
      const { collection: name, records, abortSignal } = parseUpsert(input, { float32Unchecked: true });
      return mutate('upsert', abortSignal, () => {
        const collection = collectionOf(name);
        collection.checkRecords(records);
        const undo = collection.write(records);
        collection.version++;
        return {
          result: { upserted: records.length },
          undo: () => {
            undo();
            collection.version--;
          },
        };
      }).catch((error: unknown) => {
        parseUpsert(input);
        throw error;
      });
    },

    async get(input: GetOptions) {
      const { collection, ids, includeVectors } = parseArgument(getSchema, input, 'get options');
      await ready();
      return collectionOf(collection).get(ids, includeVectors ?? false);
    },

    async delete(input: DeleteOptions): Promise<{ deleted: number }> {
      const parsed = parseArgument(deleteSchema, input, 'delete options');
      return mutate('delete', parsed.abortSignal, () => {
        const collection = collectionOf(parsed.collection);
        const { deleted, undo } = collection.delete('ids' in parsed ? { ids: parsed.ids } : { filter: parsed.filter });
        if (deleted === 0) return { result: { deleted }, undo: undefined };
        collection.version++;
        return {
          result: { deleted },
          undo: () => {
            undo();
            collection.version--;
          },
        };
      });
    },

    async count(input: CountOptions): Promise<number> {
      const { collection, filter } = parseArgument(countSchema, input, 'count options');
      await ready();
      return collectionOf(collection).count(filter);
    },

    async scroll(input: ScrollOptions): Promise<ScrollPage> {
      const parsed = parseArgument(scrollSchema, input, 'scroll options');
      await ready();
      const collection = collectionOf(parsed.collection);
      const after = parsed.cursor === undefined ? undefined : decodeCursor(parsed.cursor);
      const limit = parsed.limit ?? 100;
      const { records, more } = collection.scroll({
        filter: parsed.filter,
        limit,
        after,
        includeVectors: parsed.includeVectors ?? false,
      });
      const last = records.at(-1);
      return { records, nextCursor: more && last ? encodeCursor(last.id) : undefined };
    },

    async search(input: SearchOptions) {
      const parsed = parseArgument(searchSchema, input, 'search options');
      await ready();
      throwIfAborted(parsed.abortSignal, 'search');
      const collection = collectionOf(parsed.collection);
      const limit = parsed.limit ?? 10;
      const includeVectors = parsed.includeVectors ?? false;
      checkSearchVectors(collection.meta, parsed.vector, parsed.sparseVector, 'memory');
      checkSpace(collection, parsed.embeddingSpace, 'dense');
      checkSpace(collection, parsed.sparseEmbeddingSpace, 'sparse');
      const hybrid = parsed.vector !== undefined && parsed.sparseVector !== undefined;
      const depth = hybrid ? Math.max(parsed.fusion?.prefetch ?? limit * 4, limit) : limit;
      const dense = parsed.vector
        ? collection.searchDense({
            vector: parsed.vector,
            limit: depth,
            filter: parsed.filter,
            includeVectors,
            quantized,
            rescore,
          })
        : [];
      const sparse = parsed.sparseVector
        ? collection.searchSparse({ vector: parsed.sparseVector, limit: depth, filter: parsed.filter, includeVectors })
        : [];
      const matches = hybrid
        ? reciprocalRankFusion([dense, sparse], { k: parsed.fusion?.k ?? DEFAULT_RRF_K, limit })
        : parsed.vector
          ? dense
          : sparse;
      const threshold = parsed.scoreThreshold;
      return threshold === undefined ? matches : matches.filter((match) => match.score >= threshold);
    },

    async explain(input: { collection: string; filter: Filter }): Promise<MemoryExplainedFilter> {
      const { collection, filter } = parseArgument(explainSchema, input, 'explain options');
      await ready();
      return { backend: 'memory', native: filter, kernel: kernel.name, plan: collectionOf(collection).plan(filter) };
    },

    async describe(): Promise<MemoryStoreDescription> {
      await ready();
      return {
        kernel: { name: kernel.name, reason: kernel.reason },
        quantization,
        collections: [...collections.values()].map((collection) => ({
          name: collection.meta.name,
          count: collection.size,
          payloadIndexes: collection.indexes.list(),
          ...(ann ? { ann: collection.ann?.info() } : {}),
        })),
      };
    },

    async createPayloadIndex(input: { collection: string; field: string; abortSignal?: AbortSignal }) {
      const {
        collection: name,
        field,
        abortSignal,
      } = parseArgument(payloadIndexSchema, input, 'createPayloadIndex options');
      return mutate('createPayloadIndex', abortSignal, () => {
        const collection = collectionOf(name);
        if (collection.indexes.declared.has(field)) return { result: false, undo: undefined };
        const existed = collection.indexes.list().some((index) => index.field === field);
        collection.createIndex(field, true);
        return {
          result: true,
          undo: () => {
            collection.indexes.declared.delete(field);
            if (!existed) collection.indexes.drop(field);
          },
        };
      });
    },

    async dropPayloadIndex(input: { collection: string; field: string; abortSignal?: AbortSignal }) {
      const {
        collection: name,
        field,
        abortSignal,
      } = parseArgument(payloadIndexSchema, input, 'dropPayloadIndex options');
      return mutate('dropPayloadIndex', abortSignal, () => {
        const collection = collectionOf(name);
        const declared = collection.indexes.declared.has(field);
        if (!collection.indexes.drop(field)) return { result: false, undo: undefined };
        return { result: true, undo: () => collection.createIndex(field, declared) };
      });
    },

    async setAlias(input: { alias: string; collection: string; abortSignal?: AbortSignal }): Promise<void> {
      const { alias, collection, abortSignal } = parseArgument(aliasSchema, input, 'setAlias options');
      return mutate('setAlias', abortSignal, () => {
        if (collections.has(alias)) {
          throw new ConflictError({
            message: `"${alias}" is a collection; an alias cannot take its name.`,
            component: 'memory',
          });
        }
        if (!collections.has(collection)) {
          throw new NotFoundError({
            resource: 'Collection',
            name: collection,
            hint: 'Aliases point at collections by their own names.',
            component: 'memory',
          });
        }
        const previous = aliases.get(alias);
        aliases.set(alias, collection);
        return {
          result: undefined,
          undo: () => {
            if (previous === undefined) aliases.delete(alias);
            else aliases.set(alias, previous);
          },
        };
      });
    },

    async deleteAlias(input: { alias: string; abortSignal?: AbortSignal }): Promise<boolean> {
      const { alias, abortSignal } = parseArgument(deleteAliasSchema, input, 'deleteAlias options');
      return mutate('deleteAlias', abortSignal, () => {
        const previous = aliases.get(alias);
        if (previous === undefined) return { result: false, undo: undefined };
        aliases.delete(alias);
        return { result: true, undo: () => aliases.set(alias, previous) };
      });
    },

    async getCollectionState(input: { collection: string; key: string; abortSignal?: AbortSignal }) {
      const { collection: name, key } = parseArgument(getStateSchema, input, 'getCollectionState options');
      await ready();
      const collection = collectionOf(name);
      const entry = collection.states.get(key);
      return entry === undefined
        ? undefined
        : { value: cloneJson(entry.value), current: entry.version === collection.version };
    },

    async setCollectionState(input: {
      collection: string;
      key: string;
      value: JsonValue | undefined;
      version?: number;
      abortSignal?: AbortSignal;
    }): Promise<void> {
      const {
        collection: name,
        key,
        value,
        version,
        abortSignal,
      } = parseArgument(setStateSchema, input, 'setCollectionState options');
      return mutate('setCollectionState', abortSignal, () => {
        const collection = collectionOf(name);
        const previous = collection.states.get(key);
        if (value === undefined) collection.states.delete(key);
        // `value` is the copy validation made: kept as it is.
        else collection.states.set(key, { value, version: version ?? collection.version });
        return {
          result: undefined,
          undo: () => {
            if (previous === undefined) collection.states.delete(key);
            else collection.states.set(key, previous);
          },
        };
      });
    },

    async listAliases(): Promise<AliasInfo[]> {
      await ready();
      return [...aliases].map(([alias, collection]) => ({ alias, collection }));
    },

    flush,

    dispose,
  };
  return store;
}
