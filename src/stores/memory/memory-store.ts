import { z } from 'zod';
import { DEFAULT_RRF_K, reciprocalRankFusion } from '../../compose/rrf.js';
import { ConflictError, NotFoundError, throwIfAborted } from '../../core/errors.js';
import { type EmbeddingSpace, fingerprint } from '../../core/fingerprint.js';
import type {
  AliasInfo,
  CollectionInfo,
  CountOptions,
  CreateCollectionOptions,
  DeleteOptions,
  ExplainedFilter,
  GetOptions,
  OpenCollectionOptions,
  ScrollOptions,
  ScrollPage,
  SearchOptions,
  Store,
  UpsertOptions,
} from '../../core/store.js';
import { parseArgument } from '../../core/validate.js';
import { FILTER_OPERATORS, type Filter } from '../../filter/ast.js';
import { storeArgumentSchemas } from '../schemas.js';
import {
  checkEmbeddingSpace,
  checkReopen,
  checkSearchVectors,
  decodeCursor,
  encodeCursor,
  toFingerprint,
} from '../shared.js';
import { MemoryCollection } from './collection.js';
import { decodeSnapshot, encodeSnapshot } from './snapshot.js';

/**
 * Where a memory store keeps its snapshot. `kumiki/stores/memory/file` provides a crash-safe file
 * implementation for Node; any runtime can supply its own (IndexedDB, KV, object storage).
 */
export type SnapshotPersistence = {
  /** Where snapshots live, for error messages. */
  readonly location: string;
  /** The last saved snapshot, or `undefined` when there is none yet. */
  load(): Promise<Uint8Array | undefined>;
  /** Replaces the snapshot atomically: after a crash, either the old or the new one is loaded. */
  save(snapshot: Uint8Array): Promise<void>;
};

export type MemoryStoreOptions = {
  /** Keep a snapshot here; loaded on first use. Without it the store lives and dies with the process. */
  persistence?: SnapshotPersistence;
  /**
   * `write` (default): every mutating call resolves after a snapshot that includes it is saved.
   * `manual`: snapshots are saved only by `flush()` and `dispose()`.
   */
  durability?: 'write' | 'manual';
  /**
   * `int8` keeps an int8 copy of every dense vector, scores candidates with it and re-scores the best
   * `limit × rescore` exactly in float32. Faster on large collections; results may differ from exact
   * search when scores are very close. Default `none` (exact).
   */
  quantization?: 'none' | 'int8';
  /** Candidate multiplier for int8 re-scoring; default 4. */
  rescore?: number;
};

export type MemoryStore = Store & {
  /** Saves a snapshot now (no-op without persistence). */
  flush(): Promise<void>;
};

const optionsSchema = z
  .object({
    persistence: z
      .custom<SnapshotPersistence>(
        (value) =>
          typeof value === 'object' &&
          value !== null &&
          typeof (value as SnapshotPersistence).load === 'function' &&
          typeof (value as SnapshotPersistence).save === 'function',
        'persistence must have load() and save() methods (see createFilePersistence in kumiki/stores/memory/file)',
      )
      .optional(),
    durability: z.enum(['write', 'manual']).optional(),
    quantization: z.enum(['none', 'int8']).optional(),
    rescore: z.number().int().min(1).max(64).optional(),
  })
  .strict();

const {
  create: createSchema,
  open: openSchema,
  deleteCollection: deleteCollectionSchema,
  explain: explainSchema,
  setAlias: aliasSchema,
  deleteAlias: deleteAliasSchema,
  upsert: upsertSchema,
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
  const settings = parseArgument(optionsSchema, options, 'memory store options');
  const persistence = settings.persistence;
  const durability = settings.durability ?? 'write';
  const quantized = settings.quantization === 'int8';
  const rescore = settings.rescore ?? 4;
  const collections = new Map<string, MemoryCollection>();
  /** alias → collection name */
  const aliases = new Map<string, string>();
  const spaces = new Map<string, EmbeddingSpace>();
  let disposed = false;

  let loaded: Promise<void> | undefined;
  const ready = (): Promise<void> => {
    if (disposed)
      return Promise.reject(
        new ConflictError({ message: 'This memory store was disposed; create a new one.', component: 'memory' }),
      );
    loaded ??= (async () => {
      const bytes = await persistence?.load();
      if (!bytes) return;
      const snapshot = decodeSnapshot(bytes, persistence?.location ?? 'snapshot');
      for (const [alias, target] of snapshot.aliases) aliases.set(alias, target);
      for (const { meta, records } of snapshot.collections) {
        const collection = new MemoryCollection(meta, { quantized });
        collection.write(
          records.map((record) => ({
            id: record.id,
            payload: record.payload as never,
            ...(record.vector ? { vector: record.vector } : {}),
            ...(record.sparse ? { sparseVector: record.sparse } : {}),
          })),
        );
        collections.set(meta.name, collection);
      }
    })();
    return loaded;
  };

  // Saves are chained so they never overlap; a save covers every change made before it starts.
  let version = 0;
  let savedVersion = 0;
  let saveChain: Promise<void> = Promise.resolve();
  const save = (): Promise<void> => {
    if (!persistence) return Promise.resolve();
    const run = saveChain.then(async () => {
      if (savedVersion === version) return;
      const target = version;
      await persistence.save(encodeSnapshot(collections.values(), aliases));
      savedVersion = target;
    });
    saveChain = run.catch(() => undefined);
    return run;
  };
  const changed = async (): Promise<void> => {
    version++;
    if (durability === 'write') await save();
  };

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
      await ready();
      throwIfAborted(config.abortSignal, 'createCollection');
      rememberSpace(config.embeddingSpace);
      rememberSpace(config.sparseEmbeddingSpace);
      if (aliases.has(config.name)) {
        throw new ConflictError({
          message: `"${config.name}" is an alias (of "${aliases.get(config.name)}"); pick another collection name or delete the alias.`,
          component: 'memory',
        });
      }
      const existing = collections.get(config.name);
      if (existing) {
        checkReopen(existing.meta, config, 'memory');
        checkSpace(existing, config.embeddingSpace, 'dense');
        checkSpace(existing, config.sparseEmbeddingSpace, 'sparse');
        return existing.info();
      }
      const collection = new MemoryCollection(
        {
          name: config.name,
          dimensions: config.dimensions,
          metric: config.metric ?? 'cosine',
          sparse: config.sparse ?? true,
          fingerprint: toFingerprint(config.embeddingSpace),
          sparseFingerprint: toFingerprint(config.sparseEmbeddingSpace),
        },
        { quantized },
      );
      collections.set(config.name, collection);
      await changed();
      return collection.info();
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
      const { name } = parseArgument(deleteCollectionSchema, input, 'deleteCollection options');
      await ready();
      if (aliases.has(name)) {
        throw new ConflictError({
          message: `"${name}" is an alias of "${aliases.get(name)}"; delete the alias with deleteAlias, or the collection by its own name.`,
          component: 'memory',
        });
      }
      const collection = collections.get(name);
      if (!collection) return false;
      collection.dispose();
      collections.delete(name);
      for (const [alias, target] of aliases) if (target === name) aliases.delete(alias);
      await changed();
      return true;
    },

    async upsert(input: UpsertOptions): Promise<{ upserted: number }> {
      const { collection: name, records, abortSignal } = parseArgument(upsertSchema, input, 'upsert options');
      await ready();
      throwIfAborted(abortSignal, 'upsert');
      const collection = collectionOf(name);
      collection.checkRecords(records);
      collection.write(records);
      await changed();
      return { upserted: records.length };
    },

    async get(input: GetOptions) {
      const { collection, ids, includeVectors } = parseArgument(getSchema, input, 'get options');
      await ready();
      return collectionOf(collection).get(ids, includeVectors ?? false);
    },

    async delete(input: DeleteOptions): Promise<{ deleted: number }> {
      const parsed = parseArgument(deleteSchema, input, 'delete options');
      await ready();
      throwIfAborted(parsed.abortSignal, 'delete');
      const collection = collectionOf(parsed.collection);
      const deleted = 'ids' in parsed ? collection.deleteIds(parsed.ids) : collection.deleteWhere(parsed.filter);
      if (deleted > 0) await changed();
      return { deleted };
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

    async explain(input: { collection: string; filter: Filter }): Promise<ExplainedFilter> {
      const { collection, filter } = parseArgument(explainSchema, input, 'explain options');
      await ready();
      collectionOf(collection);
      return { backend: 'memory', native: filter };
    },

    async setAlias(input: { alias: string; collection: string; abortSignal?: AbortSignal }): Promise<void> {
      const { alias, collection } = parseArgument(aliasSchema, input, 'setAlias options');
      await ready();
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
      aliases.set(alias, collection);
      await changed();
    },

    async deleteAlias(input: { alias: string; abortSignal?: AbortSignal }): Promise<boolean> {
      const { alias } = parseArgument(deleteAliasSchema, input, 'deleteAlias options');
      await ready();
      if (!aliases.delete(alias)) return false;
      await changed();
      return true;
    },

    async listAliases(): Promise<AliasInfo[]> {
      await ready();
      return [...aliases].map(([alias, collection]) => ({ alias, collection }));
    },

    async flush(): Promise<void> {
      await ready();
      await save();
    },

    async dispose(): Promise<void> {
      if (disposed) return;
      if (loaded) {
        await loaded.catch(() => undefined);
        await save();
      }
      disposed = true;
      for (const collection of collections.values()) collection.dispose();
      collections.clear();
    },
  };
  return store;
}
