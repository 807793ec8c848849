import { z } from 'zod';
import type { Catalog, DatasetField, DatasetInfo, DatasetRef, IngestionRun, LineageEdge } from '../../core/catalog.js';
import {
  AbortedError,
  ForbiddenError,
  InvalidArgumentError,
  type KumikiError,
  TimeoutError,
  UnauthorizedError,
  UnavailableError,
} from '../../core/errors.js';
import { checkServerRelease, type Release } from '../../core/server-version.js';
import { sha256Hex } from '../../core/sha256.js';
import type { JsonObject } from '../../core/types.js';
import { parseArgument } from '../../core/validate.js';
import { lazy } from '../../internal/optional.js';
import { withRetry } from '../../internal/retry.js';
import {
  datasetInfoSchema,
  datasetRefSchema,
  edgeKey,
  ingestionRunSchema,
  matches,
  newestFirst,
  parseDataset,
  parseEdges,
  parseRef,
  parseRun,
  parseRunId,
  parseSearch,
  refKey,
  walkUpstream,
} from '../shared.js';
import { ENTITIES_QUERY, type GraphqlEntity, SEARCH_QUERY, searchVariables } from './graphql.js';
import { entityUrn, platformUrn, runUrn, type UrnSettings } from './urn.js';

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

/** One Metadata Change Proposal as GMS's rest.li endpoint takes it. */
export type MetadataChangeProposal = {
  entityType: 'dataset' | 'mlModel' | 'dataProcessInstance';
  entityUrn: string;
  changeType: 'UPSERT';
  aspectName: string;
  aspect: { value: string; contentType: 'application/json' };
};

const COMPONENT = 'datahub';
/**
 * The oldest DataHub (OSS) release the adapter supports: run lineage as `inputEdges`/`outputEdges`
 * and ML models among a run's inputs (datahub PR #12860, 2025), `DataProcessInstance.properties` in
 * GraphQL, `ingestProposalBatch`.
 */
const DATAHUB_MINIMUM_VERSION: Release = [1, 1, 0];

/** One RFC 2396 URI character (`java.net.URI`'s grammar, ASCII only): unreserved, reserved or `%XX`. */
const URIC = "(?:[A-Za-z0-9\\-_.!~*'();/?:@&=+$,]|%[0-9A-Fa-f]{2})";
/**
 * A name that `java.net.URI` parses (DataHub types `datasetProperties.uri` as `java.net.URI` and
 * refuses the aspect otherwise) is also sent as `uri`: a scheme, a non-empty scheme-specific part
 * (not a bare `//`), at most one `#`. IPv6 hosts (`[…]`) and non-ASCII names are simply not sent.
 */
const URI = new RegExp(`^[A-Za-z][A-Za-z0-9+.-]*:(?!#)(?!//(?:$|#))${URIC}+(?:#${URIC}*)?$`);
const ACTOR = 'urn:li:corpuser:kumiki';
const KEY = {
  dataset: 'kumiki.dataset',
  upstreams: 'kumiki.upstreams',
  runs: 'kumiki.runs',
  run: 'kumiki.run',
  kind: 'kumiki.kind',
  name: 'kumiki.name',
} as const;

/** What the adapter keeps in an entity's customProperties to answer reads exactly. */
type EntityState = {
  dataset?: DatasetInfo;
  upstreams: { upstream: DatasetRef; via?: string }[];
  runs: string[];
};

const upstreamsSchema = z.array(z.object({ upstream: datasetRefSchema, via: z.string().optional() }).strict());

const FIELD_TYPES: Record<string, string> = {
  string: 'StringType',
  text: 'StringType',
  number: 'NumberType',
  integer: 'NumberType',
  float: 'NumberType',
  boolean: 'BooleanType',
  array: 'ArrayType',
  object: 'RecordType',
  null: 'NullType',
  date: 'DateType',
  datetime: 'DateType',
  time: 'TimeType',
  bytes: 'BytesType',
};

/** DataHub's platform-independent type for a kumiki field type (the original stays in `nativeDataType`). */
function schemaFieldType(type: string): Record<string, Record<string, never>> {
  return { [`com.linkedin.schema.${FIELD_TYPES[type.toLowerCase()] ?? 'StringType'}`]: {} };
}

function propertyText(value: JsonObject[string]): string {
  return typeof value === 'string' ? value : JSON.stringify(value);
}

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
  const batchSize = config.batchSize ?? 50;
  const retries = config.retries ?? 3;
  const timeoutMs = config.timeoutMs ?? 30_000;
  const fetchImpl = (config.fetch as typeof fetch | undefined) ?? globalThis.fetch;
  const lifetime = new AbortController();
  let queue: Promise<unknown> = Promise.resolve();

  /** One HTTP call with the deadline, headers and error translation; retried by the callers. */
  const send = async (method: 'GET' | 'POST', path: string, body: unknown, operation: string): Promise<unknown> => {
    const url = `${base}${path}`;
    const deadline = AbortSignal.timeout(timeoutMs);
    const signal = AbortSignal.any([deadline, lifetime.signal]);
    const headers: Record<string, string> = {
      'Content-Type': 'application/json',
      Accept: 'application/json',
      'X-RestLi-Protocol-Version': '2.0.0',
    };
    if (config.token) headers.Authorization = `Bearer ${config.token}`;
    let response: Response;
    try {
      response = await fetchImpl(url, {
        method,
        headers,
        ...(method === 'POST' ? { body: JSON.stringify(body) } : {}),
        signal,
      });
    } catch (error) {
      if (lifetime.signal.aborted) throw new AbortedError({ operation, cause: error, component: COMPONENT });
      if (deadline.aborted) throw new TimeoutError({ operation, timeoutMs, cause: error, component: COMPONENT });
      throw new UnavailableError({
        message: `Cannot reach DataHub GMS at ${url} (${operation}): ${(error as Error).message}. Check the url option and that GMS is running.`,
        cause: error,
        url,
        component: COMPONENT,
      });
    }
    const text = await response.text();
    if (response.ok) {
      try {
        return text ? JSON.parse(text) : undefined;
      } catch (error) {
        throw new UnavailableError({
          message: `DataHub GMS at ${url} answered ${operation} with something other than JSON; is url pointing at GMS?`,
          cause: error,
          isRetryable: false,
          url,
          statusCode: response.status,
          component: COMPONENT,
        });
      }
    }
    throw translate(response, text, url, operation);
  };

  const translate = (response: Response, text: string, url: string, operation: string): KumikiError => {
    const detail = serverMessage(text);
    const status = response.status;
    if (status === 401) {
      return new UnauthorizedError({
        message: config.token
          ? `DataHub refused the token (option \`token\`) for ${operation}: it is invalid or expired. Create a new personal access token in DataHub (Settings → Access Tokens).`
          : `DataHub requires authentication for ${operation}: pass a personal access token as the \`token\` option.`,
        component: COMPONENT,
      });
    }
    if (status === 403) {
      return new ForbiddenError({
        message: `DataHub accepted the token (option \`token\`) but it may not ${operation}${detail ? `: ${detail}` : ''}. Grant its user the privileges to edit metadata, or use another token.`,
        component: COMPONENT,
      });
    }
    if (status === 400 || status === 422) {
      return new InvalidArgumentError({
        argument: 'DataHub metadata',
        issues: [{ path: '', message: `DataHub rejected ${operation}: ${detail || `HTTP ${status}`}` }],
        component: COMPONENT,
      });
    }
    const retryAfter = Number(response.headers.get('retry-after'));
    return new UnavailableError({
      message: `DataHub GMS at ${url} answered ${operation} with HTTP ${status}${detail ? `: ${detail}` : ''}.`,
      statusCode: status,
      url,
      isRetryable: status === 429 || status >= 500,
      ...(Number.isFinite(retryAfter) && retryAfter > 0 ? { retryAfterMs: retryAfter * 1000 } : {}),
      component: COMPONENT,
    });
  };

  /** Reads the server's version (`GET {gms}/config`) once, before the first other request. */
  const versionChecked = lazy(async (): Promise<void> => {
    const operation = 'read the server version';
    const config = (await withRetry(() => send('GET', '/config', undefined, operation), {
      retries,
      operation,
      abortSignal: lifetime.signal,
    })) as {
      versions?: Record<string, { version?: unknown }>;
      datahub?: { serverEnv?: unknown };
    } | null;
    // DataHub Cloud numbers its releases on its own scale; only DataHub's own releases are compared.
    if (config?.datahub?.serverEnv === 'cloud') return;
    checkServerRelease({
      server: 'DataHub',
      url: base,
      version: String(config?.versions?.['acryldata/datahub']?.version ?? 'unknown'),
      minimum: DATAHUB_MINIMUM_VERSION,
      needs: 'run lineage as inputEdges/outputEdges and DataProcessInstance properties in GraphQL',
      component: COMPONENT,
    });
  });

  const post = (path: string, body: unknown, operation: string): Promise<unknown> =>
    send('POST', path, body, operation);

  /** A request with retries, after the version check (which has its own). */
  const withRetries = async <T>(operation: string, fn: () => Promise<T>): Promise<T> => {
    await versionChecked();
    return withRetry(fn, { retries, operation, abortSignal: lifetime.signal });
  };

  const emit = async (proposals: MetadataChangeProposal[]): Promise<void> => {
    for (let start = 0; start < proposals.length; start += batchSize) {
      const batch = proposals.slice(start, start + batchSize);
      await withRetries('ingestProposalBatch', () =>
        post('/aspects?action=ingestProposalBatch', { proposals: batch, async: 'false' }, 'ingestProposalBatch'),
      );
    }
  };

  const graphql = async <T>(query: string, variables: JsonObject, operation: string): Promise<T> => {
    const answer = (await withRetries(operation, () => post('/api/graphql', { query, variables }, operation))) as {
      data?: T;
      errors?: { message?: string }[];
    };
    if (answer?.errors?.length || !answer?.data) {
      const messages = (answer?.errors ?? []).map((error) => error.message ?? 'unknown error').join('; ');
      throw new UnavailableError({
        message: `DataHub GraphQL ${operation} failed: ${messages || 'no data in the answer'}.`,
        isRetryable: false,
        url: `${base}/api/graphql`,
        component: COMPONENT,
      });
    }
    return answer.data;
  };

  const fetchEntities = async (urns: string[]): Promise<Map<string, GraphqlEntity>> => {
    const found = new Map<string, GraphqlEntity>();
    if (urns.length === 0) return found;
    const data = await graphql<{ entities: (GraphqlEntity | null)[] | null }>(
      ENTITIES_QUERY,
      { urns: [...new Set(urns)] },
      'entities',
    );
    for (const entity of data.entities ?? []) if (entity?.urn) found.set(entity.urn, entity);
    return found;
  };

  const customProperties = (entity: GraphqlEntity | undefined): Map<string, string> =>
    new Map((entity?.properties?.customProperties ?? []).map((entry) => [entry.key, entry.value]));

  const decodeJson = <S extends z.ZodType>(
    schema: S,
    text: string | undefined,
    what: string,
  ): z.output<S> | undefined => {
    if (text === undefined) return undefined;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      value = Symbol('invalid');
    }
    const parsed = schema.safeParse(value);
    if (parsed.success) return parsed.data;
    throw new UnavailableError({
      message: `DataHub holds a ${what} that kumiki cannot read (customProperty edited by hand?); fix or remove it in DataHub.`,
      isRetryable: false,
      component: COMPONENT,
    });
  };

  const stateOf = (entity: GraphqlEntity | undefined): EntityState => {
    const props = customProperties(entity);
    const dataset = props.has(KEY.dataset)
      ? (decodeJson(datasetInfoSchema, props.get(KEY.dataset), `${KEY.dataset} of ${entity?.urn}`) as DatasetInfo)
      : undefined;
    return {
      ...(dataset ? { dataset } : {}),
      upstreams: decodeJson(upstreamsSchema, props.get(KEY.upstreams), `${KEY.upstreams} of ${entity?.urn}`) ?? [],
      runs: decodeJson(z.array(z.string()), props.get(KEY.runs), `${KEY.runs} of ${entity?.urn}`) ?? [],
    };
  };

  const proposal = (
    entityType: MetadataChangeProposal['entityType'],
    urn: string,
    aspectName: string,
    value: unknown,
  ): MetadataChangeProposal => ({
    entityType,
    entityUrn: urn,
    changeType: 'UPSERT',
    aspectName,
    aspect: { value: restliBytes(value), contentType: 'application/json' },
  });

  /** Every aspect that describes `ref` given its whole kumiki state: properties, schema and upstream lineage. */
  const entityProposals = (ref: DatasetRef, state: EntityState, hadFields: boolean): MetadataChangeProposal[] => {
    const urn = entityUrn(ref, settings);
    const info = state.dataset;
    const custom: Record<string, string> = {
      [KEY.kind]: ref.kind,
      [KEY.name]: ref.name,
      [KEY.upstreams]: JSON.stringify(state.upstreams),
      [KEY.runs]: JSON.stringify(state.runs),
    };
    if (info) {
      custom[KEY.dataset] = JSON.stringify(info);
      for (const [key, value] of Object.entries(info.properties ?? {})) custom[`property.${key}`] = propertyText(value);
    }
    if (ref.kind === 'model') {
      return [
        proposal('mlModel', urn, 'mlModelProperties', {
          customProperties: custom,
          ...(info?.description !== undefined ? { description: info.description } : {}),
          type: 'embedding model',
          tags: [],
        }),
      ];
    }
    const out = [
      proposal('dataset', urn, 'datasetProperties', {
        customProperties: custom,
        name: ref.name,
        ...(info?.description !== undefined ? { description: info.description } : {}),
        ...(ref.kind === 'source' && URI.test(ref.name) ? { uri: ref.name } : {}),
        tags: [],
      }),
    ];
    if (info?.fields || hadFields)
      out.push(proposal('dataset', urn, 'schemaMetadata', schemaMetadata(ref, info?.fields ?? [])));
    const datasetUpstreams = state.upstreams.filter((edge) => edge.upstream.kind !== 'model');
    out.push(
      proposal('dataset', urn, 'upstreamLineage', {
        upstreams: datasetUpstreams.map((edge) => ({
          auditStamp: { time: Date.now(), actor: ACTOR },
          dataset: entityUrn(edge.upstream, settings, 'lineage edges'),
          type: 'TRANSFORMED',
        })),
      }),
    );
    return out;
  };

  const schemaMetadata = (ref: DatasetRef, fields: DatasetField[]) => {
    const rawSchema = JSON.stringify(fields);
    return {
      schemaName: ref.name,
      platform: platformUrn(settings),
      version: 0,
      hash: sha256Hex(rawSchema),
      platformSchema: { 'com.linkedin.schema.OtherSchema': { rawSchema } },
      fields: fields.map((field) => ({
        fieldPath: field.name,
        nativeDataType: field.type,
        type: { type: schemaFieldType(field.type) },
        nullable: true,
        recursive: false,
        isPartOfKey: false,
        ...(field.description !== undefined ? { description: field.description } : {}),
      })),
    };
  };

  const runProposals = (run: IngestionRun): MetadataChangeProposal[] => {
    const urn = runUrn(run.id);
    const inputs = run.inputs.map((input) => entityUrn(input, settings, 'run'));
    if (run.embeddingFingerprint)
      inputs.push(entityUrn({ kind: 'model', name: run.embeddingFingerprint }, settings, 'run'));
    const output = entityUrn(run.output, settings, 'run');
    // DataHub draws lineage from the edges (relationships DataProcessInstanceConsumes / Produces);
    // `inputs`/`outputs` (Consumes / Produces) are required but are not lineage.
    const created = { time: Date.parse(run.startedAt), actor: ACTOR };
    const edges = (urns: string[]) => urns.map((destinationUrn) => ({ destinationUrn, created }));
    const custom: Record<string, string> = {
      [KEY.run]: JSON.stringify(run),
      'kumiki.status': run.status,
      'kumiki.output': `${run.output.kind}:${run.output.name}`,
    };
    if (run.embeddingModel) custom['kumiki.embeddingModel'] = run.embeddingModel;
    if (run.error) custom['kumiki.error'] = run.error;
    const finished = run.status !== 'running';
    return [
      proposal('dataProcessInstance', urn, 'dataProcessInstanceProperties', {
        name: run.id,
        type: 'BATCH_AD_HOC',
        created: { time: Date.parse(run.startedAt), actor: ACTOR },
        customProperties: custom,
      }),
      proposal('dataProcessInstance', urn, 'dataProcessInstanceInput', {
        inputs: [...new Set(inputs)],
        inputEdges: edges([...new Set(inputs)]),
      }),
      proposal('dataProcessInstance', urn, 'dataProcessInstanceOutput', {
        outputs: [output],
        outputEdges: edges([output]),
      }),
      proposal('dataProcessInstance', urn, 'dataProcessInstanceRunEvent', {
        timestampMillis: Date.parse(finished ? (run.finishedAt ?? run.startedAt) : run.startedAt),
        status: finished ? 'COMPLETE' : 'STARTED',
        ...(finished
          ? { result: { type: run.status === 'succeeded' ? 'SUCCESS' : 'FAILURE', nativeResultType: 'kumiki' } }
          : {}),
      }),
    ];
  };

  /** Serialises writes so each read-modify-write of an entity's kumiki state sees the previous one. */
  const write = (task: () => Promise<void>): Promise<void> => {
    const next = queue.then(task);
    queue = next.catch(() => undefined);
    return next;
  };

  /** Reads the current states of `refs`, lets `change` edit them, then emits all aspects of the changed entities. */
  const update = async (
    refs: DatasetRef[],
    change: (states: Map<string, EntityState>) => void,
    extra: MetadataChangeProposal[] = [],
  ) => {
    const unique = [...new Map(refs.map((ref) => [refKey(ref), ref])).values()];
    const urns = new Map(unique.map((ref) => [refKey(ref), entityUrn(ref, settings)]));
    const entities = await fetchEntities([...urns.values()]);
    const states = new Map(unique.map((ref) => [refKey(ref), stateOf(entities.get(urns.get(refKey(ref)) ?? ''))]));
    const hadFields = new Map([...states].map(([key, state]) => [key, state.dataset?.fields !== undefined]));
    change(states);
    const proposals = [...extra];
    for (const ref of unique) {
      const key = refKey(ref);
      proposals.push(...entityProposals(ref, states.get(key) as EntityState, hadFields.get(key) ?? false));
    }
    await emit(proposals);
  };

  const readRuns = async (ids: string[]): Promise<IngestionRun[]> => {
    const entities = await fetchEntities(ids.map(runUrn));
    const runs: IngestionRun[] = [];
    for (const id of ids) {
      const entity = entities.get(runUrn(id));
      const text = customProperties(entity).get(KEY.run);
      const run = decodeJson(ingestionRunSchema, text, `${KEY.run} of ${runUrn(id)}`) as IngestionRun | undefined;
      if (run) runs.push(run);
    }
    return runs;
  };

  return {
    specificationVersion: 'kumiki.catalog.v2',
    provider: 'datahub',
    capabilities: { search: true, persistent: true },

    async registerDataset(dataset) {
      const info = parseDataset(dataset);
      const ref = { kind: info.kind, name: info.name };
      entityUrn(ref, settings);
      checkFieldNames(info);
      await write(() =>
        update([ref], (states) => {
          const state = states.get(refKey(ref)) as EntityState;
          state.dataset = info;
        }),
      );
    },

    async getDataset(dataset) {
      const ref = parseRef(dataset);
      const urn = entityUrn(ref, settings);
      await queue;
      const entity = (await fetchEntities([urn])).get(urn);
      const info = stateOf(entity).dataset;
      return info && info.kind === ref.kind && info.name === ref.name ? info : undefined;
    },

    async recordRun(run) {
      const parsed = parseRun(run);
      const extra = runProposals(parsed);
      await write(() =>
        update(
          [parsed.output],
          (states) => {
            const state = states.get(refKey(parsed.output)) as EntityState;
            if (!state.runs.includes(parsed.id)) state.runs.push(parsed.id);
          },
          extra,
        ),
      );
    },

    async getRun(id) {
      const runId = parseRunId(id);
      runUrn(runId);
      await queue;
      return (await readRuns([runId]))[0];
    },

    async addLineage(edges) {
      const parsed = parseEdges(edges);
      for (const edge of parsed) {
        entityUrn(edge.upstream, settings, 'lineage edges');
        entityUrn(edge.downstream, settings, 'lineage edges');
      }
      if (parsed.length === 0) return;
      await write(() =>
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
        ),
      );
    },

    async getLineage(dataset) {
      const ref = parseRef(dataset);
      const urn = entityUrn(ref, settings);
      await queue;
      const upstream = await walkUpstream(ref, async (level) => {
        const entities = await fetchEntities(level.map((item) => entityUrn(item, settings)));
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
      const state = stateOf((await fetchEntities([urn])).get(urn));
      const runs = (await readRuns(state.runs)).filter((run) => refKey(run.output) === refKey(ref));
      return { upstream, runs: newestFirst(runs) };
    },

    async searchDatasets(query, searchOptions) {
      const { query: text, kind, limit } = parseSearch(query, searchOptions);
      await queue;
      const data = await graphql<{ searchAcrossEntities: { searchResults: { entity: GraphqlEntity }[] } | null }>(
        SEARCH_QUERY,
        searchVariables(text, kind, limit),
        'searchAcrossEntities',
      );
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
      lifetime.abort();
    },
  };
}

/** Pulls a readable message out of a GMS error body (rest.li puts it in `message`) without echoing huge bodies. */
function serverMessage(text: string): string {
  let message = text;
  try {
    const parsed = JSON.parse(text) as { message?: unknown; exceptionClass?: unknown };
    if (typeof parsed.message === 'string') message = parsed.message;
  } catch {
    // not JSON: use the text itself
  }
  message = message.replace(/\s+/g, ' ').trim();
  return message.length > 500 ? `${message.slice(0, 500)}…` : message;
}

/**
 * An aspect as GMS's Rest.li `bytes` field takes it: JSON with every character above U+007F written
 * as a `\uXXXX` escape (as DataHub's Python emitter does). Rest.li reads each character of a
 * `bytes` string as one byte, refusing anything above U+00FF, and GMS decodes those bytes as UTF-8:
 * raw Unicode would be refused (above U+00FF) or turned into U+FFFD (U+0080 to U+00FF).
 */
function restliBytes(value: unknown): string {
  return JSON.stringify(value).replace(
    /[\u0080-\uffff]/g,
    (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

/** DataHub refuses a schema with two fields of one name (422); say so before anything is sent. */
function checkFieldNames(info: DatasetInfo): void {
  const seen = new Set<string>();
  (info.fields ?? []).forEach((field, index) => {
    if (seen.has(field.name)) {
      throw new InvalidArgumentError({
        argument: 'dataset',
        issues: [
          {
            path: `fields.${index}.name`,
            message: `field "${field.name}" appears twice; a DataHub schema holds each field name once`,
          },
        ],
        component: COMPONENT,
      });
    }
    seen.add(field.name);
  });
}
