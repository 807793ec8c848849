/**
 * A small stand-in for DataHub GMS, enough for the kumiki DataHub catalog. It is not DataHub; each
 * behaviour below was read in DataHub's source (the late-2025 snapshot HarryXYX/metapulse @4b67de79
 * that ../shared/contracts/datahub-graphql comes from; files named in ./datahub-aspects.ts) and
 * docs/adapters/datahub.md lists them:
 *
 * - `GET /config` reports `versions["acryldata/datahub"].version` (default v1.3.0; tests change it)
 *   and `datahub.serverEnv` (metadata-service/servlet/…/Config.java).
 * - `POST /aspects?action=ingestProposal|ingestProposalBatch` (rest.li, protocol 2.0.0): each
 *   `aspect.value` is a Rest.li `bytes` string (a character above U+00FF fails the request with 400;
 *   the bytes are decoded as UTF-8, bad sequences becoming U+FFFD); a proposal whose URN fails
 *   DataHub's URN validation (whitespace at either end, over 512 bytes URL-encoded, `␟`, a malformed
 *   key) is skipped and the request still answers 200; an aspect that fails validation
 *   (./datahub-aspects.ts: strict schemas, duplicated field paths, a `uri` java.net.URI refuses)
 *   fails the whole request with 422 and nothing is stored.
 * - `POST /api/graphql`: every document is parsed and validated against DataHub's own GraphQL schema
 *   (../shared/contracts/datahub-graphql, 28 files) with graphql-js, its variables are coerced
 *   against it (an unknown enum value such as `ML_MODEL` is an error), and it is executed against
 *   what was stored: `entities(urns:)` (an entity with `properties: null` for a URN nothing was
 *   written to) and `searchAcrossEntities` (substring match on URN, name, description). Errors come
 *   back as GraphQL `errors` with HTTP 200 (datahub-graphql-servlet GraphQLController).
 *
 * It can demand a token, inject failures, and records every request, accepted proposal and skipped
 * proposal.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { buildSchema, execute, type GraphQLSchema, getVariableValues, Kind, parse, validate } from 'graphql';
import { checkProposal } from './datahub-aspects.js';

export type RecordedRequest = { method: string; path: string; headers: IncomingMessage['headers']; body: unknown };
export type StoredProposal = { entityType: string; entityUrn: string; aspectName: string; aspect: unknown };
type Injection = { status: number; times: number; retryAfter?: string; delayMs?: number; message?: string };

export type DataHubGms = {
  url: string;
  requests: RecordedRequest[];
  /** Every proposal accepted, in order, with its aspect decoded as GMS decodes it. */
  accepted: StoredProposal[];
  /** Problems found in refused requests (400/422). */
  rejected: string[];
  /** Proposals GMS would log as "Invalid proposal, skipping" while answering 200. */
  skipped: string[];
  /** What `GET /config` reports. */
  version: string;
  serverEnv: string;
  /** The next `times` requests (any path) answer `status` (after `delayMs`, when given). */
  inject(injection: Injection): void;
  /**
   * Holds the next request whose path starts with `path` unanswered (and unprocessed) until the
   * client closes the connection: `arrived` resolves when it comes in, `abandoned` when the client gives up.
   */
  hold(path: string): { arrived: Promise<void>; abandoned: Promise<void> };
  /** Latest aspect of an entity. */
  aspect(urn: string, name: string): unknown;
  close(): Promise<void>;
};

const SCHEMA_DIR = fileURLToPath(new URL('../../../shared/contracts/datahub-graphql/', import.meta.url));
let schema: GraphQLSchema | undefined;

/** DataHub's GraphQL schema, built once from the shared contract files. */
export function datahubGraphqlSchema(): GraphQLSchema {
  schema ??= buildSchema(
    readdirSync(SCHEMA_DIR)
      .filter((file) => file.endsWith('.graphql'))
      .sort()
      .map((file) => readFileSync(`${SCHEMA_DIR}${file}`, 'utf8'))
      .join('\n'),
  );
  return schema;
}

/** Parses and validates a document against DataHub's schema; the messages of what is wrong. */
export function graphqlProblems(query: string, variables: Record<string, unknown> = {}): string[] {
  let document: ReturnType<typeof parse>;
  try {
    document = parse(query);
  } catch (error) {
    return [(error as Error).message];
  }
  const invalid = validate(datahubGraphqlSchema(), document);
  if (invalid.length > 0) return invalid.map((error) => error.message);
  return document.definitions.flatMap((definition) => {
    if (definition.kind !== Kind.OPERATION_DEFINITION) return [];
    const coerced = getVariableValues(datahubGraphqlSchema(), definition.variableDefinitions ?? [], variables);
    return (coerced.errors ?? []).map((error) => error.message);
  });
}

const GRAPHQL_TYPES: Record<string, { typename: string; type: string; properties: string }> = {
  dataset: { typename: 'Dataset', type: 'DATASET', properties: 'datasetProperties' },
  mlModel: { typename: 'MLModel', type: 'MLMODEL', properties: 'mlModelProperties' },
  dataProcessInstance: {
    typename: 'DataProcessInstance',
    type: 'DATA_PROCESS_INSTANCE',
    properties: 'dataProcessInstanceProperties',
  },
};

function restliError(res: ServerResponse, status: number, message: string): void {
  res.writeHead(status, { 'Content-Type': 'application/json' });
  res.end(
    JSON.stringify({
      exceptionClass: 'com.linkedin.restli.server.RestLiServiceException',
      stackTrace: `com.linkedin.restli.server.RestLiServiceException [HTTP Status:${status}]: ${message}`,
      message,
      status,
    }),
  );
}

export async function startDataHubGms(options: { token?: string } = {}): Promise<DataHubGms> {
  const requests: RecordedRequest[] = [];
  const accepted: StoredProposal[] = [];
  const rejected: string[] = [];
  const skipped: string[] = [];
  const injections: Injection[] = [];
  const holds: { path: string; arrive: () => void; abandon: () => void }[] = [];
  const entities = new Map<string, { entityType: string; aspects: Map<string, unknown> }>();

  /** An entity as the GraphQL layer resolves it (`__typename` picks the object type). */
  const entityFor = (urn: string) => {
    const entityType = entities.get(urn)?.entityType ?? urn.split(':')[2] ?? 'unknown';
    const kind = GRAPHQL_TYPES[entityType] ?? (GRAPHQL_TYPES.dataset as (typeof GRAPHQL_TYPES)[string]);
    const props = entities.get(urn)?.aspects.get(kind.properties) as
      | { name?: string; description?: string; customProperties?: Record<string, string>; created?: unknown }
      | undefined;
    const customProperties = Object.entries(props?.customProperties ?? {}).map(([key, value]) => ({
      key,
      value,
      associatedUrn: urn,
    }));
    return {
      __typename: kind.typename,
      urn,
      type: kind.type,
      properties: props
        ? { name: props.name ?? urn, description: props.description ?? null, customProperties, created: props.created }
        : null,
    };
  };

  const rootValue = {
    entities: ({ urns }: { urns: string[] }) => urns.map(entityFor),
    searchAcrossEntities: ({
      input,
    }: {
      input: { types?: string[]; query: string; start?: number; count?: number };
    }) => {
      const needle = input.query.toLowerCase();
      const hits = [...entities.keys()]
        .map(entityFor)
        .filter((entity) => !input.types || input.types.includes(entity.type))
        .filter(
          (entity) =>
            needle === '*' ||
            [entity.urn, entity.properties?.name ?? '', entity.properties?.description ?? ''].some((text) =>
              text.toLowerCase().includes(needle),
            ),
        );
      const start = input.start ?? 0;
      const page = hits.slice(start, start + (input.count ?? 10));
      return {
        start,
        count: page.length,
        total: hits.length,
        searchResults: page.map((entity) => ({ entity, matchedFields: [] })),
      };
    },
  };

  const ingest = (proposals: unknown[], res: ServerResponse) => {
    const verdicts = proposals.map((proposal) => checkProposal(proposal));
    for (const status of [400, 422] as const) {
      const problems = verdicts.flatMap((verdict, index) =>
        verdict.verdict === 'invalid' && verdict.status === status
          ? verdict.problems.map((p) => `[${index}] ${p}`)
          : [],
      );
      if (problems.length > 0) {
        rejected.push(...problems);
        restliError(res, status, `Failed to validate proposals: ${problems.join('; ')}`);
        return;
      }
    }
    verdicts.forEach((verdict, index) => {
      const proposal = proposals[index] as { entityType: string; entityUrn: string; aspectName: string };
      if (verdict.verdict === 'skip') {
        skipped.push(verdict.problem);
        return;
      }
      if (verdict.verdict !== 'ok') return;
      const entity = entities.get(proposal.entityUrn) ?? { entityType: proposal.entityType, aspects: new Map() };
      entity.aspects.set(proposal.aspectName, verdict.aspect);
      entities.set(proposal.entityUrn, entity);
      accepted.push({
        entityType: proposal.entityType,
        entityUrn: proposal.entityUrn,
        aspectName: proposal.aspectName,
        aspect: verdict.aspect,
      });
    });
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ value: proposals.length === 1 ? '' : [] }));
  };

  const graphql = (body: { query?: unknown; variables?: unknown }, res: ServerResponse) => {
    const answer = (result: unknown) => {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify(result));
    };
    if (typeof body?.query !== 'string') {
      restliError(res, 400, 'A GraphQL request needs a query');
      return;
    }
    let document: ReturnType<typeof parse>;
    try {
      document = parse(body.query);
    } catch (error) {
      answer({ errors: [{ message: (error as Error).message }] });
      return;
    }
    const invalid = validate(datahubGraphqlSchema(), document);
    if (invalid.length > 0) {
      answer({ errors: invalid.map((error) => ({ message: error.message })) });
      return;
    }
    const result = execute({
      schema: datahubGraphqlSchema(),
      document,
      rootValue,
      variableValues: (body.variables ?? {}) as Record<string, unknown>,
    });
    answer(result);
  };

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', async () => {
      let body: unknown;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8') || 'null');
      } catch {
        restliError(res, 400, 'Request body is not JSON');
        return;
      }
      const path = req.url ?? '/';
      requests.push({ method: req.method ?? '', path, headers: req.headers, body });
      const held = holds.findIndex((hold) => path.startsWith(hold.path));
      if (held >= 0) {
        const [hold] = holds.splice(held, 1);
        hold?.arrive();
        res.on('close', () => hold?.abandon());
        return;
      }
      const injection = injections[0];
      if (injection) {
        if (--injection.times <= 0) injections.shift();
        if (injection.delayMs) await new Promise((resolve) => setTimeout(resolve, injection.delayMs));
        if (res.destroyed) return;
        if (injection.retryAfter !== undefined) res.setHeader('Retry-After', injection.retryAfter);
        restliError(res, injection.status, injection.message ?? `injected failure ${injection.status}`);
        return;
      }
      if (options.token && req.headers.authorization !== `Bearer ${options.token}`) {
        restliError(res, 401, 'Unauthorized to perform this action. Please provide a valid token.');
        return;
      }
      if (req.method === 'GET' && path === '/config') {
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.end(
          JSON.stringify({
            noCode: 'true',
            versions: { 'acryldata/datahub': { version: gms.version, commit: '4b67de79' } },
            datahub: { serverType: 'quickstart', serverEnv: gms.serverEnv },
          }),
        );
        return;
      }
      if (req.method !== 'POST') {
        restliError(res, 405, `${req.method} is not supported`);
        return;
      }
      if (path.startsWith('/aspects')) {
        if (req.headers['x-restli-protocol-version'] !== '2.0.0') {
          restliError(res, 400, 'X-RestLi-Protocol-Version 2.0.0 is required');
          return;
        }
        const action = new URL(path, 'http://x').searchParams.get('action');
        const payload = body as { proposal?: unknown; proposals?: unknown };
        if (action === 'ingestProposal' && payload?.proposal) return ingest([payload.proposal], res);
        if (action === 'ingestProposalBatch' && Array.isArray(payload?.proposals))
          return ingest(payload.proposals, res);
        restliError(res, 400, `Unknown action or body for ${path}`);
        return;
      }
      if (path === '/api/graphql') return graphql(body as { query?: unknown }, res);
      restliError(res, 404, `No route for ${path}`);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const gms: DataHubGms = {
    url: `http://127.0.0.1:${port}`,
    requests,
    accepted,
    rejected,
    skipped,
    version: 'v1.3.0',
    serverEnv: 'core',
    inject: (injection) => injections.push({ ...injection }),
    hold: (path) => {
      let arrive = () => {};
      let abandon = () => {};
      const arrived = new Promise<void>((resolve) => {
        arrive = resolve;
      });
      const abandoned = new Promise<void>((resolve) => {
        abandon = resolve;
      });
      holds.push({ path, arrive, abandon });
      return { arrived, abandoned };
    },
    aspect: (urn, name) => entities.get(urn)?.aspects.get(name),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  return gms;
}
