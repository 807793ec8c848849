/**
 * A small stand-in for DataHub GMS, enough for the kumiki DataHub catalog: the rest.li ingest
 * actions (`/aspects?action=ingestProposal` and `ingestProposalBatch`), which validate every proposal
 * against the aspect schemas in ./datahub-aspects.ts and store the aspects, and the two GraphQL
 * operations the adapter sends (`entities`, `searchAcrossEntities`), answered from what was stored.
 * Anything else is refused loudly. It can demand a token, inject failures and records requests.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ENTITIES_QUERY, SEARCH_QUERY } from '../../src/catalogs/datahub/graphql.js';
import { validateProposal } from './datahub-aspects.js';

export type RecordedRequest = { method: string; path: string; headers: IncomingMessage['headers']; body: unknown };
export type StoredProposal = { entityType: string; entityUrn: string; aspectName: string; aspect: unknown };
type Injection = { status: number; times: number; retryAfter?: string; delayMs?: number };

export type DataHubGms = {
  url: string;
  requests: RecordedRequest[];
  /** Every proposal accepted, in order, with its aspect parsed. */
  accepted: StoredProposal[];
  /** Problems found in refused proposals. */
  rejected: string[];
  /** The next `times` requests (any path) answer `status` (after `delayMs`, when given). */
  inject(injection: Injection): void;
  /** Latest aspect of an entity. */
  aspect(urn: string, name: string): unknown;
  close(): Promise<void>;
};

const GRAPHQL_TYPES: Record<string, string> = {
  dataset: 'DATASET',
  mlModel: 'ML_MODEL',
  dataProcessInstance: 'DATA_PROCESS_INSTANCE',
};
const PROPERTIES_ASPECT: Record<string, string> = {
  dataset: 'datasetProperties',
  mlModel: 'mlModelProperties',
  dataProcessInstance: 'dataProcessInstanceProperties',
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
  const injections: Injection[] = [];
  const entities = new Map<string, { entityType: string; aspects: Map<string, unknown> }>();

  const entityFor = (urn: string) => {
    const entity = entities.get(urn);
    const entityType = entity?.entityType ?? urn.split(':')[2] ?? 'unknown';
    const props = entity?.aspects.get(PROPERTIES_ASPECT[entityType] ?? '') as
      | { name?: string; description?: string; customProperties?: Record<string, string> }
      | undefined;
    const list = Object.entries(props?.customProperties ?? {}).map(([key, value]) => ({ key, value }));
    const properties = !props
      ? null
      : entityType === 'mlModel'
        ? { description: props.description ?? null, customProperties: list }
        : entityType === 'dataProcessInstance'
          ? { name: props.name ?? null, customProperties: list }
          : { name: props.name ?? null, description: props.description ?? null, customProperties: list };
    return { urn, type: GRAPHQL_TYPES[entityType] ?? 'UNKNOWN', properties };
  };

  const ingest = (proposals: unknown[], res: ServerResponse) => {
    const problems = proposals.flatMap((proposal, index) => validateProposal(proposal).map((p) => `[${index}] ${p}`));
    if (problems.length > 0) {
      rejected.push(...problems);
      restliError(res, 400, `Failed to validate proposals: ${problems.join('; ')}`);
      return;
    }
    for (const proposal of proposals as {
      entityType: string;
      entityUrn: string;
      aspectName: string;
      aspect: { value: string };
    }[]) {
      const aspect = JSON.parse(proposal.aspect.value) as unknown;
      const entity = entities.get(proposal.entityUrn) ?? { entityType: proposal.entityType, aspects: new Map() };
      entity.aspects.set(proposal.aspectName, aspect);
      entities.set(proposal.entityUrn, entity);
      accepted.push({ ...proposal, aspect });
    }
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ value: proposals.length === 1 ? '' : [] }));
  };

  const graphql = (body: { query?: unknown; variables?: Record<string, unknown> }, res: ServerResponse) => {
    const answer = (data: unknown) => {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ data }));
    };
    if (body.query === ENTITIES_QUERY) {
      const urns = body.variables?.urns;
      if (!Array.isArray(urns) || !urns.every((urn) => typeof urn === 'string')) {
        restliError(res, 400, 'variables.urns must be a list of strings');
        return;
      }
      answer({ entities: urns.map(entityFor) });
      return;
    }
    if (body.query === SEARCH_QUERY) {
      const input = body.variables?.input as { types?: string[]; query?: string; start?: number; count?: number };
      if (!input || typeof input.query !== 'string' || !Array.isArray(input.types)) {
        restliError(res, 400, 'variables.input must have query and types');
        return;
      }
      const needle = input.query.toLowerCase();
      const hits = [...entities.keys()]
        .map(entityFor)
        .filter((entity) => input.types?.includes(entity.type))
        .filter((entity) => {
          if (needle === '*') return true;
          const props = entity.properties as { name?: string | null; description?: string | null } | null;
          return [entity.urn, props?.name ?? '', props?.description ?? ''].some((text) =>
            text.toLowerCase().includes(needle),
          );
        });
      const start = input.start ?? 0;
      const page = hits.slice(start, start + (input.count ?? 10));
      answer({ searchAcrossEntities: { total: hits.length, searchResults: page.map((entity) => ({ entity })) } });
      return;
    }
    res.writeHead(400, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ errors: [{ message: `The emulator does not know this query: ${String(body.query)}` }] }));
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
      const injection = injections[0];
      if (injection) {
        if (--injection.times <= 0) injections.shift();
        if (injection.delayMs) await new Promise((resolve) => setTimeout(resolve, injection.delayMs));
        if (res.destroyed) return;
        if (injection.retryAfter !== undefined) res.setHeader('Retry-After', injection.retryAfter);
        restliError(res, injection.status, `injected failure ${injection.status}`);
        return;
      }
      if (options.token && req.headers.authorization !== `Bearer ${options.token}`) {
        restliError(res, 401, 'Unauthorized to perform this action. Please provide a valid token.');
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
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    accepted,
    rejected,
    inject: (injection) => injections.push({ ...injection }),
    aspect: (urn, name) => entities.get(urn)?.aspects.get(name),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
