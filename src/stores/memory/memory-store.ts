import { z } from 'zod';
import { randomHex } from '../../core/bytes.js';
import { ConflictError, CorruptDataError, NotFoundError, throwIfAborted } from '../../core/errors.js';
import { FILTER_OPERATORS, type Filter } from '../../core/filter.js';
import { type EmbeddingSpace, fingerprint } from '../../core/fingerprint.js';
import { DEFAULT_RRF_K, reciprocalRankFusion } from '../../core/fusion.js';
import { persistenceSchema, type SnapshotPersistence } from '../../core/persistence.js';
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
import type { JsonValue } from '../../core/types.js';
import { jsonValueSchema } from '../../core/types.js';
import { parseArgument } from '../../core/validate.js';
import {
  checkEmbeddingSpace,
  checkReopen,
  checkSearchVectors,
  decodeCursor,
  encodeCursor,
  toFingerprint,
} from '../kernel/checks.js';
import { abortSignalSchema, storeArgumentSchemas } from '../kernel/schemas.js';
import { type AnnSettings, cloneJson, MemoryCollection, type QueryPlan } from './collection.js';
import { type KernelChoice, type KernelName, resolveKernel } from './kernel/kernel.js';
import { decodeSnapshot, encodeSnapshot } from './snapshot.js';

export type { SnapshotPersistence };

export type MemoryStoreOptions = {
  /** Keep a snapshot here; loaded on first use. Without it the store lives and dies with the process. */
  persistence?: SnapshotPersistence;
  /**
   * `write` (default): every mutating call resolves after a snapshot that includes it is saved; a
   * call whose save fails is rolled back and rejects. `manual`: snapshots are saved only by `flush()`
   * and `dispose()`, and the writer lock is held from the first change until then.
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
  /**
   * The dense-search kernel: `'auto'` (default) compiles the built-in WebAssembly SIMD module and
   * falls back to a pure-JavaScript kernel where the runtime refuses to compile WebAssembly; `'wasm'`
   * requires WebAssembly; `'js'` always uses JavaScript; or a precompiled `WebAssembly.Module`, e.g.
   * `import kernel from 'kumiki/stores/memory/kernel.wasm'` on Cloudflare Workers and Vercel Edge.
   * `describe()` and `explain()` say which kernel runs.
   */
  kernel?: KernelChoice;
  /**
   * Build a payload index on its own for a field filtered on twice in a collection of 1,000 records
   * or more (up to 16 per collection). Default `true`. Declared indexes (`createPayloadIndex`) are
   * built either way.
   */
  autoIndex?: boolean;
  /**
   * Approximate dense search through an HNSW graph (off by default: search is exact). `true` or
   * settings: `ef` (beam width, default 64) is the recall/speed knob; `m` (links per node, default
   * 16) and `efConstruction` (default 200) shape the graph; collections under `minRecords` (default
   * 10,000) stay exact, and so does a filtered search whose filter selects less than `exactBelow`
   * (default 0.05) of the records, over just its matches. The graph is built at the first search of a
   * large enough collection, kept up to date by writes and deletes, and saved in snapshots.
   */
  ann?: boolean | { m?: number; efConstruction?: number; ef?: number; minRecords?: number; exactBelow?: number };
};

/** What `describe()` reports about a memory store. */
export type MemoryStoreDescription = {
  /** The dense-search kernel in use, and why. */
  kernel: { name: KernelName; reason: string };
  quantization: 'none' | 'int8';
  collections: {
    name: string;
    count: number;
    payloadIndexes: { field: string; source: 'declared' | 'automatic' }[];
    /** With `ann`: whether the graph is built and the bytes it holds. */
    ann?: { built: boolean; bytes: number };
  }[];
};

/** `explain()` of the memory store: the filter, the kernel, and how the filter will be evaluated. */
export type MemoryExplainedFilter = ExplainedFilter & { kernel: KernelName; plan: QueryPlan };

/** What a change did and how to take it back (`undo` undefined: nothing changed). */
type Change<T> = {
  result: T;
  undo: (() => void) | undefined;
  /** Runs once the change is kept (saved, or no save needed): frees what `undo` would have needed. */
  kept?: () => void;
};

export type MemoryStore = Omit<Store, 'explain'> &
  Required<Pick<Store, 'setAlias' | 'deleteAlias' | 'listAliases' | 'getCollectionState' | 'setCollectionState'>> & {
    /** Saves a snapshot now (no-op without persistence). */
    flush(): Promise<void>;
    /** The filter as given, the kernel, and the plan: which clauses a payload index answers. */
    explain(options: { collection: string; filter: Filter }): Promise<MemoryExplainedFilter>;
    /** The kernel in use and each collection's payload indexes. */
    describe(): Promise<MemoryStoreDescription>;
    /**
     * Declares a payload index on a field (a dotted path): its values (strings, numbers, booleans) are
     * kept in typed columns, so filters on it (eq, in, ranges, exists, …) run without reading payloads.
     * Saved with the collection. Returns whether it was new.
     */
    createPayloadIndex(options: { collection: string; field: string; abortSignal?: AbortSignal }): Promise<boolean>;
    /** Drops a payload index (declared or automatic); returns whether there was one. */
    dropPayloadIndex(options: { collection: string; field: string; abortSignal?: AbortSignal }): Promise<boolean>;
  };

const optionsSchema = z
  .object({
    persistence: persistenceSchema.optional(),
    durability: z.enum(['write', 'manual']).optional(),
    quantization: z.enum(['none', 'int8']).optional(),
    rescore: z.number().int().min(1).max(64).optional(),
    kernel: z
      .union([
        z.enum(['auto', 'wasm', 'js']),
        z.custom<object>(
          (value) => typeof value === 'object' && value !== null,
          'kernel must be "auto", "wasm", "js" or a WebAssembly.Module',
        ),
      ])
      .optional(),
    autoIndex: z.boolean().optional(),
    ann: z
      .union([
        z.boolean(),
        z
          .object({
            m: z.number().int().min(2).max(128).optional(),
            efConstruction: z.number().int().min(2).max(4096).optional(),
            ef: z.number().int().min(1).max(10_000).optional(),
            minRecords: z.number().int().min(0).optional(),
            exactBelow: z.number().min(0).max(1).optional(),
          })
          .strict(),
      ])
      .optional(),
  })
  .strict();

const payloadIndexSchema = z
  .object({
    collection: z.string().min(1, 'collection must not be empty'),
    field: z
      .string()
      .min(1, 'field must not be empty')
      .regex(/^[^.]+(\.[^.]+)*$/, 'field must be dot-separated non-empty keys, e.g. "meta.author"'),
    abortSignal: abortSignalSchema.optional(),
  })
  .strict();

const getStateSchema = z
  .object({
    collection: z.string().min(1, 'collection must not be empty'),
    key: z.string().min(1, 'key must not be empty'),
    abortSignal: abortSignalSchema.optional(),
  })
  .strict();
const setStateSchema = getStateSchema.extend({
  value: jsonValueSchema.optional(),
  version: z.number().int().min(0).optional(),
});

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
  const kernel = resolveKernel(settings.kernel ?? 'auto');
  const autoIndex = settings.autoIndex ?? true;
  const annOption = settings.ann === true ? {} : settings.ann === false ? undefined : settings.ann;
  const ann: AnnSettings | undefined = annOption && {
    m: annOption.m ?? 16,
    efConstruction: annOption.efConstruction ?? 200,
    ef: annOption.ef ?? 64,
    minRecords: annOption.minRecords ?? 10_000,
    exactBelow: annOption.exactBelow ?? 0.05,
  };
  const collectionOptions = { quantized, kernel, autoIndex, ann };
  const collections = new Map<string, MemoryCollection>();
  /** alias → collection name */
  const aliases = new Map<string, string>();
  const spaces = new Map<string, EmbeddingSpace>();
  let disposed = false;

  /** Replaces the contents with the saved snapshot (at start, and when another process saved since). */
  const reload = async (): Promise<void> => {
    const bytes = await persistence?.load();
    for (const collection of collections.values()) collection.dispose();
    collections.clear();
    aliases.clear();
    if (!bytes) return;
    const snapshot = decodeSnapshot(bytes, persistence?.location ?? 'snapshot');
    for (const [alias, target] of snapshot.aliases) aliases.set(alias, target);
    for (const saved of snapshot.collections) {
      const collection = new MemoryCollection(saved.meta, { ...collectionOptions, version: saved.version });
      for (const [key, entry] of saved.states) collection.states.set(key, entry);
      if ('columns' in saved) {
        try {
          collection.importColumns(saved.columns, saved.rowBytes);
          if (saved.ann) collection.importAnnState(saved.ann);
        } catch (error) {
          collection.dispose();
          throw new CorruptDataError({
            location: persistence?.location ?? 'snapshot',
            reason: `collection "${saved.meta.name}" cannot be loaded (${(error as Error).message})`,
            component: 'memory',
          });
        }
        for (const field of saved.indexes) collection.createIndex(field, true);
      } else {
        // A version 1 snapshot: records one by one.
        collection.write(
          saved.records.map((record) => ({
            id: record.id,
            payload: record.payload as never,
            ...(record.vector ? { vector: record.vector } : {}),
            ...(record.sparse ? { sparseVector: record.sparse } : {}),
          })),
        );
      }
      collections.set(saved.meta.name, collection);
    }
  };

  let loaded: Promise<void> | undefined;
  const ready = (): Promise<void> => {
    if (disposed)
      return Promise.reject(
        new ConflictError({ message: 'This memory store was disposed; create a new one.', component: 'memory' }),
      );
    loaded ??= reload();
    return loaded;
  };

  // Changes are applied one at a time: take the lock (reloading if another process saved), apply,
  // save, and roll back if the save fails, so memory never holds a write the file does not.
  let queue: Promise<unknown> = Promise.resolve();
  let locked = false;
  /** Undo steps of changes not saved yet (`manual` durability). */
  let unsaved = 0;
  const save = async (): Promise<void> => {
    if (!persistence) return;
    await persistence.save(encodeSnapshot(collections.values(), aliases));
  };
  const release = async (): Promise<void> => {
    if (!locked) return;
    locked = false;
    await persistence?.release?.();
  };
  const mutate = <T>(operation: string, abortSignal: AbortSignal | undefined, change: () => Change<T>): Promise<T> => {
    const run = queue.then(async () => {
      await ready();
      throwIfAborted(abortSignal, operation);
      if (persistence?.acquire && !locked) {
        const { changed } = await persistence.acquire(abortSignal ? { abortSignal } : {});
        locked = true;
        if (changed && unsaved === 0) await reload();
      }
      const { result, undo, kept } = change();
      if (!persistence || !undo || durability === 'manual') {
        if (persistence && undo) unsaved++;
        kept?.();
        return result;
      }
      try {
        await save();
      } catch (error) {
        undo();
        throw error;
      } finally {
        await release();
      }
      kept?.();
      return result;
    });
    queue = run.catch(() => undefined);
    return run;
  };
  const flush = (): Promise<void> => {
    const run = queue.then(async () => {
      await ready();
      if (unsaved === 0) return;
      await save();
      unsaved = 0;
      await release();
    });
    queue = run.catch(() => undefined);
    return run;
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
      const { collection: name, records, abortSignal } = parseArgument(upsertSchema, input, 'upsert options');
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
        quantization: quantized ? 'int8' : 'none',
        collections: [...collections.values()].map((collection) => ({
          name: collection.meta.name,
          count: collection.size,
          payloadIndexes: collection.payloadIndexes(),
          ...(ann ? { ann: collection.annInfo() } : {}),
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
        if (collection.declaredIndexes.has(field)) return { result: false, undo: undefined };
        const existed = collection.payloadIndexes().some((index) => index.field === field);
        collection.createIndex(field, true);
        return {
          result: true,
          undo: () => {
            collection.declaredIndexes.delete(field);
            if (!existed) collection.dropIndex(field);
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
        const declared = collection.declaredIndexes.has(field);
        if (!collection.dropIndex(field)) return { result: false, undo: undefined };
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

    async dispose(): Promise<void> {
      if (disposed) return;
      if (loaded) {
        await loaded.catch(() => undefined);
        await flush();
        await queue;
        await release();
      }
      disposed = true;
      for (const collection of collections.values()) collection.dispose();
      collections.clear();
    },
  };
  return store;
}
