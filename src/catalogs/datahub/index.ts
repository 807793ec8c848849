import * as z from 'zod';
import type { Catalog, DatasetInfo, DatasetRef, IngestionRun, LineageEdge } from '../../core/catalog.js';
import { throwIfAborted } from '../../core/errors.js';
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
import { checkFieldNames, type EntityState, entityProposals, runOf, runProposals, stateOf } from './aspects.js';
import { COMPONENT, createDataHubClient, type MetadataChangeProposal } from './client.js';
import { type GraphqlEntity, SEARCH_QUERY, searchVariables } from './graphql.js';
import { entityUrn, runUrn, type UrnSettings } from './urn.js';

export type { MetadataChangeProposal } from './client.js';

/** DataHub's FabricType values, the environments a dataset or model URN may name. */
export const DATAHUB_ENVIRONMENTS = [
  'DEV',
  'TEST',
  'QA',
  'UAT',
  'EI',
  'PRE',
  'STG',
  'NON_PROD',
  'PROD',
  'CORP',
  'RVW',
  'PRD',
  'TST',
  'SIT',
  'SBX',
  'SANDBOX',
] as const;

export type DataHubCatalogOptions = {
  /** The GMS base URL, e.g. `http://localhost:8080` (the frontend's `/api/gms` proxy works too). */
  url: string;
  /** A DataHub personal access token, sent as `Authorization: Bearer …`. Never printed. */
  token?: string;
  /** The data platform of every kumiki entity; default `kumiki`. */
  platform?: string;
  /** The environment (FabricType) in every URN; default `PROD`. */
  env?: (typeof DATAHUB_ENVIRONMENTS)[number];
  /** Proposals per `ingestProposalBatch` request; default 50. */
  batchSize?: number;
  /** Retries after a 429, a 5xx, a timeout or a network error; default 3. */
  retries?: number;
  /** The fetch to use (a proxy-aware one, a test double); default `globalThis.fetch`. */
  fetch?: typeof fetch;
  /** Per-request deadline; default 30 000 ms. */
  timeoutMs?: number;
};

const optionsSchema = z
  .object({
    url: z.url({ protocol: /^https?$/, message: 'url must be an http(s) URL of DataHub GMS' }),
    token: z.string().min(1, 'token must not be empty; leave it out for a DataHub without authentication').optional(),
    platform: z
      .string()
      .regex(/^[A-Za-z0-9_.-]+$/, 'platform must be letters, digits, `_`, `.` or `-`')
      .optional(),
    env: z.enum(DATAHUB_ENVIRONMENTS).optional(),
    batchSize: z.number().int().min(1).max(1000).optional(),
    retries: z.number().int().min(0).max(20).optional(),
    fetch: z.function().optional(),
    timeoutMs: z.number().int().positive().optional(),
  })
  .strict();

/**
 * A Catalog that writes to DataHub: sources and collections become `dataset` entities, the embedding
 * model an `mlModel`, each ingestion run a `dataProcessInstance` with its run events, and lineage
 * `upstreamLineage`. Writes are Metadata Change Proposals sent in batches to
 * `POST {gms}/aspects?action=ingestProposalBatch`; reads go through `POST {gms}/api/graphql`.
 *
 * The exact kumiki records are kept as JSON in each entity's customProperties (`kumiki.*`), so reads
 * return what was written. Writes from one catalog object are serialised; two processes writing
 * lineage or runs of the same dataset at the same moment can lose one update (see docs). Needs
 * DataHub 1.1 or later, checked (`GET {gms}/config`) before the first other request.
 */
export function createDataHubCatalog(options: DataHubCatalogOptions): Catalog {
  const config = parseArgument(optionsSchema, options, 'DataHub catalog options');
  const base = config.url.replace(/\/+$/, '');
  const settings: UrnSettings = { platform: config.platform ?? 'kumiki', env: config.env ?? 'PROD' };
  const client = createDataHubClient({
    base,
    token: config.token,
    batchSize: config.batchSize ?? 50,
    retries: config.retries ?? 3,
    timeoutMs: config.timeoutMs ?? 30_000,
    fetch: (config.fetch as typeof fetch | undefined) ?? globalThis.fetch,
  });
  let queue: Promise<unknown> = Promise.resolve();

  /**
   * Serialises writes so each read-modify-write of an entity's kumiki state sees the previous one.
   * The caller leaves as soon as its signal fires; a task whose signal fired sends nothing more.
   */
  const write = (operation: string, signal: AbortSignal | undefined, task: () => Promise<void>): Promise<void> => {
    throwIfAborted(signal, operation);
    const next = queue.then(task);
    queue = next.catch(() => undefined);
    return raceAbort(next, signal, operation, COMPONENT);
  };

  /** Waits for the writes before a read, unless the read's signal fires first. */
  const afterWrites = (operation: string, signal: AbortSignal | undefined): Promise<unknown> => {
    throwIfAborted(signal, operation);
    return raceAbort(queue, signal, operation, COMPONENT);
  };

  /** Reads the current states of `refs`, lets `change` edit them, then emits all aspects of the changed entities. */
  const update = async (
    refs: DatasetRef[],
    change: (states: Map<string, EntityState>) => void,
    extra: MetadataChangeProposal[],
    signal: AbortSignal | undefined,
  ) => {
    const unique = [...new Map(refs.map((ref) => [refKey(ref), ref])).values()];
    const urns = new Map(unique.map((ref) => [refKey(ref), entityUrn(ref, settings)]));
    const entities = await client.fetchEntities([...urns.values()], signal);
    const states = new Map(unique.map((ref) => [refKey(ref), stateOf(entities.get(urns.get(refKey(ref)) ?? ''))]));
    const hadFields = new Map([...states].map(([key, state]) => [key, state.dataset?.fields !== undefined]));
    change(states);
    const proposals = [...extra];
    for (const ref of unique) {
      const key = refKey(ref);
      proposals.push(...entityProposals(ref, states.get(key) as EntityState, hadFields.get(key) ?? false, settings));
    }
    await client.emit(proposals, signal);
  };

  const readRuns = async (ids: string[], signal: AbortSignal | undefined): Promise<IngestionRun[]> => {
    const entities = await client.fetchEntities(ids.map(runUrn), signal);
    const runs: IngestionRun[] = [];
    for (const id of ids) {
      const run = runOf(entities.get(runUrn(id)), runUrn(id));
      if (run) runs.push(run);
    }
    return runs;
  };

  return {
    specificationVersion: 'kumiki.catalog.v2',
    provider: 'datahub',
    capabilities: { search: true, persistent: true },

    async registerDataset(dataset, callOptions) {
      const info = parseDataset(dataset);
      const signal = parseCallOptions(callOptions);
      const ref = { kind: info.kind, name: info.name };
      entityUrn(ref, settings);
      checkFieldNames(info);
      await write('registerDataset in DataHub', signal, () =>
        update(
          [ref],
          (states) => {
            const state = states.get(refKey(ref)) as EntityState;
            state.dataset = info;
          },
          [],
          signal,
        ),
      );
    },

    async getDataset(dataset, callOptions) {
      const ref = parseRef(dataset);
      const signal = parseCallOptions(callOptions);
      const urn = entityUrn(ref, settings);
      await afterWrites('getDataset in DataHub', signal);
      const entity = (await client.fetchEntities([urn], signal)).get(urn);
      const info = stateOf(entity).dataset;
      return info && info.kind === ref.kind && info.name === ref.name ? info : undefined;
    },

    async recordRun(run, callOptions) {
      const parsed = parseRun(run);
      const signal = parseCallOptions(callOptions);
      const extra = runProposals(parsed, settings);
      await write('recordRun in DataHub', signal, () =>
        update(
          [parsed.output],
          (states) => {
            const state = states.get(refKey(parsed.output)) as EntityState;
            if (!state.runs.includes(parsed.id)) state.runs.push(parsed.id);
          },
          extra,
          signal,
        ),
      );
    },

    async getRun(id, callOptions) {
      const runId = parseRunId(id);
      const signal = parseCallOptions(callOptions);
      runUrn(runId);
      await afterWrites('getRun in DataHub', signal);
      return (await readRuns([runId], signal))[0];
    },

    async addLineage(edges, callOptions) {
      const parsed = parseEdges(edges);
      const signal = parseCallOptions(callOptions);
      for (const edge of parsed) {
        entityUrn(edge.upstream, settings, 'lineage edges');
        entityUrn(edge.downstream, settings, 'lineage edges');
      }
      if (parsed.length === 0) {
        throwIfAborted(signal, 'addLineage in DataHub');
        return;
      }
      await write('addLineage in DataHub', signal, () =>
        update(
          parsed.map((edge) => edge.downstream),
          (states) => {
            for (const edge of parsed) {
              const state = states.get(refKey(edge.downstream)) as EntityState;
              const kept = state.upstreams.filter(
                (existing) => edgeKey({ upstream: existing.upstream, downstream: edge.downstream }) !== edgeKey(edge),
              );
              kept.push({ upstream: edge.upstream, ...(edge.via !== undefined ? { via: edge.via } : {}) });
              state.upstreams = kept;
            }
          },
          [],
          signal,
        ),
      );
    },

    async getLineage(dataset, callOptions) {
      const ref = parseRef(dataset);
      const signal = parseCallOptions(callOptions);
      const urn = entityUrn(ref, settings);
      await afterWrites('getLineage in DataHub', signal);
      const upstream = await walkUpstream(ref, async (level) => {
        const entities = await client.fetchEntities(
          level.map((item) => entityUrn(item, settings)),
          signal,
        );
        const byDataset = new Map<string, LineageEdge[]>();
        for (const item of level) {
          const state = stateOf(entities.get(entityUrn(item, settings)));
          byDataset.set(
            refKey(item),
            state.upstreams.map((edge) => ({
              upstream: edge.upstream,
              downstream: item,
              ...(edge.via !== undefined ? { via: edge.via } : {}),
            })),
          );
        }
        return byDataset;
      });
      const state = stateOf((await client.fetchEntities([urn], signal)).get(urn));
      const runs = (await readRuns(state.runs, signal)).filter((run) => refKey(run.output) === refKey(ref));
      return { upstream, runs: newestFirst(runs) };
    },

    async searchDatasets(query, searchOptions) {
      const { query: text, kind, limit, abortSignal } = parseSearch(query, searchOptions);
      await afterWrites('searchDatasets in DataHub', abortSignal);
      const data = await client.graphql<{
        searchAcrossEntities: { searchResults: { entity: GraphqlEntity }[] } | null;
      }>(SEARCH_QUERY, searchVariables(text, kind, limit), 'searchAcrossEntities', abortSignal);
      const found: DatasetInfo[] = [];
      for (const result of data.searchAcrossEntities?.searchResults ?? []) {
        const info = stateOf(result.entity).dataset;
        if (!info || (kind !== undefined && info.kind !== kind) || !matches(info, text)) continue;
        found.push(info);
      }
      found.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.kind < b.kind ? -1 : 1));
      return found.slice(0, limit);
    },

    async dispose() {
      await queue;
      client.close();
    },
  };
}
