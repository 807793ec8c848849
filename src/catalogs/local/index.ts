import * as z from 'zod';
import type { Catalog, DatasetInfo, IngestionRun, LineageEdge } from '../../core/catalog.js';
import { AbortedError, throwIfAborted } from '../../core/errors.js';
import { persistenceSchema, type SnapshotPersistence } from '../../core/persistence.js';
import { parseArgument } from '../../core/validate.js';
import { raceAbort } from '../../internal/abort.js';
import {
  edgeKey,
  matches,
  newestFirst,
  parseCallOptions,
  parseDataset,
  parseEdges,
  parseRef,
  parseRun,
  parseRunId,
  parseSearch,
  refKey,
  walkUpstream,
} from '../shared.js';
import { type CatalogSnapshot, decodeCatalog, encodeCatalog } from './snapshot.js';

export type LocalCatalogOptions = {
  /**
   * Where the catalog is kept: every write resolves after a snapshot holding it is saved. Without it
   * the catalog lives and dies with the process. In Node, `createFileCatalog(path)` from `kumiki/node`
   * keeps it in a crash-safe file.
   */
  persistence?: SnapshotPersistence;
};

export type LocalCatalog = Catalog & {
  /** The file or persistence location, when the catalog is persistent. */
  readonly location: string | undefined;
};

const optionsSchema = z.object({ persistence: z.optional(persistenceSchema) }).strict();
const COMPONENT = 'catalog';

type State = {
  datasets: Map<string, DatasetInfo>;
  runs: Map<string, IngestionRun>;
  edges: Map<string, LineageEdge>;
};

const emptyState = (): State => ({ datasets: new Map(), runs: new Map(), edges: new Map() });

function toSnapshot(state: State): CatalogSnapshot {
  return { datasets: [...state.datasets.values()], runs: [...state.runs.values()], edges: [...state.edges.values()] };
}

function fromSnapshot(snapshot: CatalogSnapshot): State {
  const state = emptyState();
  for (const dataset of snapshot.datasets) state.datasets.set(refKey(dataset), dataset);
  for (const run of snapshot.runs) state.runs.set(run.id, run);
  for (const edge of snapshot.edges) state.edges.set(edgeKey(edge), edge);
  return state;
}

/**
 * The embedded catalog, for any runtime: in memory by default, or kept through `persistence`. For a
 * crash-safe file in Node use `createFileCatalog(path)` from `kumiki/node`.
 *
 * Writes are serialised: each one is applied, then the whole catalog is saved (temporary file,
 * fsync, atomic rename) before the call resolves. A failed save rolls the change back, so memory and
 * disk never disagree. With a persistence that locks (the file one), writers in several processes
 * take turns and each reloads what the others saved before it writes. A file whose checksum or
 * format is wrong is refused with `CorruptDataError`.
 */
export function createLocalCatalog(options: LocalCatalogOptions = {}): LocalCatalog {
  const config = parseArgument(optionsSchema, options, 'local catalog options');
  const persistence = config.persistence;
  const location = persistence?.location;
  let state: State | undefined;
  let saved: Uint8Array | undefined;
  let loading: Promise<State> | undefined;
  let queue: Promise<unknown> = Promise.resolve();

  const load = async (): Promise<State> => {
    const bytes = await persistence?.load();
    const loaded = bytes ? fromSnapshot(decodeCatalog(bytes, persistence?.location ?? 'catalog')) : emptyState();
    saved = bytes;
    state = loaded;
    return loaded;
  };

  const ready = (): Promise<State> => {
    if (state) return Promise.resolve(state);
    loading ??= load().finally(() => {
      loading = undefined;
    });
    return loading;
  };

  type Pending = {
    mutate: (current: State) => void;
    signal: AbortSignal | undefined;
    operation: string;
    resolve: () => void;
    reject: (error: unknown) => void;
  };
  let pending: Pending[] = [];

  /**
   * Applies a mutation after every earlier one and resolves once a save including it is on disk.
   * Mutations that arrive while a save runs are applied together and saved once (group commit); a
   * failed save restores the last saved state and rejects every mutation it carried. A mutation whose
   * signal fires before it is applied is left out and rejects with `AbortedError`.
   */
  const write = (
    operation: string,
    signal: AbortSignal | undefined,
    mutate: (current: State) => void,
  ): Promise<void> => {
    throwIfAborted(signal, operation);
    return new Promise<void>((resolve, reject) => {
      pending.push({ mutate, signal, operation, resolve, reject });
      if (pending.length === 1) queue = queue.then(flush);
    });
  };

  /** The loaded catalog for a read, unless the call's signal fires first. */
  const readable = (operation: string, signal: AbortSignal | undefined): Promise<State> => {
    throwIfAborted(signal, operation);
    return raceAbort(ready(), signal, operation, COMPONENT);
  };

  const flush = async (): Promise<void> => {
    let group = pending;
    pending = [];
    let locked = false;
    try {
      await ready();
      // Another process may have saved since this one loaded: take the lock and reload first.
      if (persistence?.acquire) {
        const { changed } = await persistence.acquire();
        locked = true;
        if (changed) await load();
      }
      group = group.filter(({ signal, operation, reject }) => {
        if (!signal?.aborted) return true;
        reject(new AbortedError({ operation, cause: signal.reason, component: COMPONENT }));
        return false;
      });
      if (group.length === 0) return;
      const current = state as State;
      for (const { mutate } of group) mutate(current);
      if (persistence) {
        const bytes = encodeCatalog(toSnapshot(current));
        try {
          await persistence.save(bytes);
          saved = bytes;
        } catch (error) {
          state = saved ? fromSnapshot(decodeCatalog(saved, persistence.location)) : emptyState();
          throw error;
        }
      }
      for (const { resolve } of group) resolve();
    } catch (error) {
      for (const { reject } of group) reject(error);
    } finally {
      if (locked) await persistence?.release?.();
    }
  };

  return {
    specificationVersion: 'kumiki.catalog.v2',
    provider: 'local',
    capabilities: { search: true, persistent: location !== undefined },
    location,

    async registerDataset(dataset, callOptions) {
      const info = parseDataset(dataset);
      await write('registerDataset in the local catalog', parseCallOptions(callOptions), (current) => {
        current.datasets.set(refKey(info), info);
      });
    },

    async getDataset(dataset, callOptions) {
      const ref = parseRef(dataset);
      const current = await readable('getDataset in the local catalog', parseCallOptions(callOptions));
      const found = current.datasets.get(refKey(ref));
      return found ? structuredClone(found) : undefined;
    },

    async recordRun(run, callOptions) {
      const parsed = parseRun(run);
      await write('recordRun in the local catalog', parseCallOptions(callOptions), (current) => {
        current.runs.set(parsed.id, parsed);
      });
    },

    async getRun(id, callOptions) {
      const runId = parseRunId(id);
      const found = (await readable('getRun in the local catalog', parseCallOptions(callOptions))).runs.get(runId);
      return found ? structuredClone(found) : undefined;
    },

    async addLineage(edges, callOptions) {
      const parsed = parseEdges(edges);
      const signal = parseCallOptions(callOptions);
      if (parsed.length === 0) {
        throwIfAborted(signal, 'addLineage in the local catalog');
        return;
      }
      await write('addLineage in the local catalog', signal, (current) => {
        for (const edge of parsed) current.edges.set(edgeKey(edge), edge);
      });
    },

    async getLineage(dataset, callOptions) {
      const ref = parseRef(dataset);
      const current = await readable('getLineage in the local catalog', parseCallOptions(callOptions));
      const upstream = await walkUpstream(ref, async (level) => {
        const wanted = new Set(level.map(refKey));
        const byDataset = new Map<string, LineageEdge[]>();
        for (const edge of current.edges.values()) {
          const key = refKey(edge.downstream);
          if (!wanted.has(key)) continue;
          byDataset.set(key, [...(byDataset.get(key) ?? []), edge]);
        }
        return byDataset;
      });
      const key = refKey(ref);
      const runs = newestFirst([...current.runs.values()].filter((run) => refKey(run.output) === key));
      return structuredClone({ upstream, runs });
    },

    async searchDatasets(query, searchOptions) {
      const { query: text, kind, limit, abortSignal } = parseSearch(query, searchOptions);
      const current = await readable('searchDatasets in the local catalog', abortSignal);
      const found = [...current.datasets.values()]
        .filter((dataset) => (kind === undefined || dataset.kind === kind) && matches(dataset, text))
        .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.kind < b.kind ? -1 : 1));
      return structuredClone(found.slice(0, limit));
    },

    async dispose() {
      await queue;
    },
  };
}
