/**
 * What every server-backed store knows about a collection, whatever it keeps natively (a catalog row,
 * collection metadata, a collection property), and the collection semantics they share: a new
 * collection's settings, reopening one (`ifExists: 'open'`), embedding-space checks, `CollectionInfo`,
 * and a per-name cache of descriptions. Internal: not part of the public surface.
 */
import { ConflictError } from '../../core/errors.js';
import type { EmbeddingSpace } from '../../core/fingerprint.js';
import type { CollectionInfo, Metric } from '../../core/store.js';
import { checkEmbeddingSpace, checkReopen, toFingerprint } from './checks.js';

/** A collection as a store describes it to the kernel. */
export type CollectionRecord = {
  /** The collection's own name (an alias resolved). */
  name: string;
  dimensions?: number | undefined;
  metric: Metric;
  sparse: boolean;
  fingerprint?: string | undefined;
  sparseFingerprint?: string | undefined;
  space?: EmbeddingSpace | undefined;
  sparseSpace?: EmbeddingSpace | undefined;
  /** Changes each time a collection of this name is created. */
  epoch?: string | undefined;
};

/** The part of `createCollection`'s options that describes the collection. */
export type CollectionConfigInput = {
  name: string;
  dimensions?: number;
  metric?: Metric;
  sparse?: boolean;
  embeddingSpace?: EmbeddingSpace | string;
  sparseEmbeddingSpace?: EmbeddingSpace | string;
  ifExists?: 'error' | 'open';
};

/** The settings of a collection about to be created: defaults filled in, spaces fingerprinted. */
export function newCollection(config: CollectionConfigInput): CollectionRecord {
  return {
    name: config.name,
    dimensions: config.dimensions,
    metric: config.metric ?? 'cosine',
    sparse: config.sparse ?? true,
    fingerprint: toFingerprint(config.embeddingSpace),
    sparseFingerprint: toFingerprint(config.sparseEmbeddingSpace),
    space: typeof config.embeddingSpace === 'object' ? config.embeddingSpace : undefined,
    sparseSpace: typeof config.sparseEmbeddingSpace === 'object' ? config.sparseEmbeddingSpace : undefined,
  };
}

/** `CollectionInfo` of a described collection holding `count` records. */
export function collectionInfo(collection: CollectionRecord, count: number): CollectionInfo {
  return {
    name: collection.name,
    dimensions: collection.dimensions,
    metric: collection.metric,
    sparse: collection.sparse,
    fingerprint: collection.fingerprint,
    sparseFingerprint: collection.sparseFingerprint,
    count,
    ...(collection.epoch === undefined ? {} : { epoch: collection.epoch }),
  };
}

/** Refuses embedding spaces other than the ones the collection recorded (`undefined`: not checked). */
export function checkSpaces(
  collection: CollectionRecord,
  given: {
    embeddingSpace?: EmbeddingSpace | string | undefined;
    sparseEmbeddingSpace?: EmbeddingSpace | string | undefined;
  },
  component: string,
): void {
  checkEmbeddingSpace(
    { collection: collection.name, fingerprint: collection.fingerprint, space: collection.space },
    given.embeddingSpace,
    'dense',
    component,
  );
  checkEmbeddingSpace(
    { collection: collection.name, fingerprint: collection.sparseFingerprint, space: collection.sparseSpace },
    given.sparseEmbeddingSpace,
    'sparse',
    component,
  );
}

/**
 * `createCollection` on a name that exists: an alias is refused; a collection opens only with
 * `ifExists: 'open'` and the same dimensions, metric, sparse support and embedding spaces.
 * `existing.name` is the collection's own name, so it differs from `config.name` for an alias.
 */
export async function reopenCollection(
  existing: CollectionRecord,
  config: CollectionConfigInput,
  count: () => Promise<number>,
  component: string,
): Promise<CollectionInfo> {
  if (existing.name !== config.name) {
    throw new ConflictError({
      message: `"${config.name}" is an alias (of "${existing.name}"); pick another collection name or delete the alias.`,
      component,
    });
  }
  checkReopen(existing, config, component);
  checkSpaces(existing, config, component);
  return collectionInfo(existing, await count());
}

/** `openCollection`: the embedding spaces checked, then the collection's info. */
export async function openedCollection(
  existing: CollectionRecord,
  given: {
    embeddingSpace?: EmbeddingSpace | string | undefined;
    sparseEmbeddingSpace?: EmbeddingSpace | string | undefined;
  },
  count: () => Promise<number>,
  component: string,
): Promise<CollectionInfo> {
  checkSpaces(existing, given, component);
  return collectionInfo(existing, await count());
}

/**
 * Descriptions of collections (or aliases) by the name they were asked for, each kept `ttlMs`
 * (0: never kept) and shared by concurrent callers; a failed read is not kept. A store drops a name
 * when it changes the collection or alias itself; another process's change shows after `ttlMs`.
 */
export type DescriptionCache<T> = {
  /** The cached description of `name`, or a new one from `read` (always a new one when `fresh`). */
  get(name: string, read: () => Promise<T>, fresh?: boolean): Promise<T>;
  delete(name: string): void;
  clear(): void;
};

export function createDescriptionCache<T>(ttlMs: number, now: () => number = Date.now): DescriptionCache<T> {
  const entries = new Map<string, { expires: number; description: Promise<T> }>();
  return {
    get(name, read, fresh = false) {
      const at = now();
      const cached = entries.get(name);
      if (!fresh && cached && cached.expires > at) return cached.description;
      const description = read();
      if (ttlMs > 0) {
        const entry = { expires: at + ttlMs, description };
        entries.set(name, entry);
        description.catch(() => {
          if (entries.get(name) === entry) entries.delete(name);
        });
      }
      return description;
    },
    delete: (name) => entries.delete(name),
    clear: () => entries.clear(),
  };
}
