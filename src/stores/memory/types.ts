/** The public types of the memory store: its options, `describe()`, `explain()` and the store itself. */
import type { Filter } from '../../core/filter.js';
import type { SnapshotPersistence } from '../../core/persistence.js';
import type { ExplainedFilter, Store } from '../../core/store.js';
import type { QueryPlan } from './collection.js';
import type { KernelChoice, KernelName } from './kernel/kernel.js';

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
   * search when scores are very close. Default `none` (exact). `int8-only` keeps only the int8 codes
   * (with a scale and norm per vector, about 0.3× the float rows at 100 dimensions): every score,
   * exact or through the `ann` graph, is an int8 score with no float re-scoring, and vectors read
   * back (`get`, `scroll` and search with `includeVectors`) are the dequantized values, code × scale,
   * within scale / 2 of what was written.
   */
  quantization?: 'none' | 'int8' | 'int8-only';
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
  /** `int8-only`: vectors are kept as int8 codes only; scores and vectors read back are approximations. */
  quantization: 'none' | 'int8' | 'int8-only';
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
