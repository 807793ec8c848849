/**
 * The DataHub catalog's connection to GMS: one HTTP call with the deadline, headers and error
 * translation, the server version check, retries, Metadata Change Proposals sent in batches to
 * `POST {gms}/aspects?action=ingestProposalBatch`, and GraphQL reads through `POST {gms}/api/graphql`.
 */
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
import type { JsonObject } from '../../core/types.js';
import { raceAbort } from '../../internal/abort.js';
import { redact, retryAfterMs } from '../../internal/http/errors.js';
import { lazy } from '../../internal/optional.js';
import { withRetry } from '../../internal/retry.js';
import { ENTITIES_QUERY, type GraphqlEntity } from './graphql.js';

export const COMPONENT = 'datahub';
/**
 * The oldest DataHub (OSS) release the adapter supports: run lineage as `inputEdges`/`outputEdges`
 * and ML models among a run's inputs (datahub PR #12860, 2025), `DataProcessInstance.properties` in
 * GraphQL, `ingestProposalBatch`.
 */
const DATAHUB_MINIMUM_VERSION: Release = [1, 1, 0];

/** One Metadata Change Proposal as GMS's rest.li endpoint takes it. */
export type MetadataChangeProposal = {
  entityType: 'dataset' | 'mlModel' | 'dataProcessInstance';
  entityUrn: string;
  changeType: 'UPSERT';
  aspectName: string;
  aspect: { value: string; contentType: 'application/json' };
};

export type DataHubClientOptions = {
  /** The GMS base URL without a trailing slash. */
  base: string;
  token: string | undefined;
  batchSize: number;
  retries: number;
  timeoutMs: number;
  fetch: typeof fetch;
};

export type DataHubClient = ReturnType<typeof createDataHubClient>;

export function createDataHubClient(options: DataHubClientOptions) {
  const { base, token, batchSize, retries, timeoutMs } = options;
  const fetchImpl = options.fetch;
  const lifetime = new AbortController();

  /** The catalog's own signal (fired by dispose) with a call's. */
  const withLifetime = (signal: AbortSignal | undefined): AbortSignal =>
    signal ? AbortSignal.any([lifetime.signal, signal]) : lifetime.signal;

  /**
   * One HTTP call with the deadline, headers and error translation; retried by the callers. `signal`
   * (the catalog's lifetime and the caller's) cancels it in flight.
   */
  const send = async (
    method: 'GET' | 'POST',
    path: string,
    body: unknown,
    operation: string,
    cancel: AbortSignal,
  ): Promise<unknown> => {
    const url = `${base}${path}`;
    const deadline = AbortSignal.timeout(timeoutMs);
    const signal = AbortSignal.any([deadline, cancel]);
    const headers: Record<string, string> = {
      'Content-Type': 'application/json',
      Accept: 'application/json',
      'X-RestLi-Protocol-Version': '2.0.0',
    };
    if (token) headers.Authorization = `Bearer ${token}`;
    let response: Response;
    try {
      response = await fetchImpl(url, {
        method,
        headers,
        ...(method === 'POST' ? { body: JSON.stringify(body) } : {}),
        signal,
      });
    } catch (error) {
      throw failed(error, url, operation, cancel, deadline);
    }
    let text: string;
    try {
      text = await response.text();
    } catch (error) {
      throw failed(error, url, operation, cancel, deadline);
    }
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

  /** A request that got no (whole) answer: cancelled, past its deadline, or the network failed. */
  const failed = (
    error: unknown,
    url: string,
    operation: string,
    cancel: AbortSignal,
    deadline: AbortSignal,
  ): KumikiError => {
    if (cancel.aborted) return new AbortedError({ operation, cause: error, component: COMPONENT });
    if (deadline.aborted) return new TimeoutError({ operation, timeoutMs, cause: error, component: COMPONENT });
    return new UnavailableError({
      message: `Cannot reach DataHub GMS at ${url} (${operation}): ${(error as Error).message}. Check the url option and that GMS is running.`,
      cause: error,
      url,
      component: COMPONENT,
    });
  };

  const translate = (response: Response, text: string, url: string, operation: string): KumikiError => {
    // A server may echo the request's token in its message: never let it into an error.
    const detail = redact(serverMessage(text), token ? [token] : []);
    const status = response.status;
    if (status === 401) {
      return new UnauthorizedError({
        message: token
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
    const retryAfter = retryAfterMs(response.headers.get('retry-after'));
    return new UnavailableError({
      message: `DataHub GMS at ${url} answered ${operation} with HTTP ${status}${detail ? `: ${detail}` : ''}.`,
      statusCode: status,
      url,
      isRetryable: status === 429 || status >= 500,
      ...(retryAfter !== undefined ? { retryAfterMs: retryAfter } : {}),
      component: COMPONENT,
    });
  };

  /** Reads the server's version (`GET {gms}/config`) once, before the first other request. */
  const versionChecked = lazy(async (): Promise<void> => {
    const operation = 'read the server version';
    const config = (await withRetry(() => send('GET', '/config', undefined, operation, lifetime.signal), {
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

  /**
   * A POST with retries, after the version check (which has its own, and goes on for the next call
   * when this one is aborted).
   */
  const post = async (
    path: string,
    body: unknown,
    operation: string,
    signal: AbortSignal | undefined,
  ): Promise<unknown> => {
    await raceAbort(versionChecked(), signal, operation, COMPONENT);
    const cancel = withLifetime(signal);
    return withRetry(() => send('POST', path, body, operation, cancel), { retries, operation, abortSignal: cancel });
  };

  const graphql = async <T>(
    query: string,
    variables: JsonObject,
    operation: string,
    signal: AbortSignal | undefined,
  ): Promise<T> => {
    const answer = (await post('/api/graphql', { query, variables }, operation, signal)) as {
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

  return {
    /** Sends proposals in batches of `batchSize`; an abort stops before the next batch and cancels the one in flight. */
    async emit(proposals: MetadataChangeProposal[], signal: AbortSignal | undefined): Promise<void> {
      for (let start = 0; start < proposals.length; start += batchSize) {
        const batch = proposals.slice(start, start + batchSize);
        await post(
          '/aspects?action=ingestProposalBatch',
          { proposals: batch, async: 'false' },
          'ingestProposalBatch',
          signal,
        );
      }
    },

    graphql,

    /** The entities of `urns` that exist, by URN. */
    async fetchEntities(urns: string[], signal: AbortSignal | undefined): Promise<Map<string, GraphqlEntity>> {
      const found = new Map<string, GraphqlEntity>();
      if (urns.length === 0) return found;
      const data = await graphql<{ entities: (GraphqlEntity | null)[] | null }>(
        ENTITIES_QUERY,
        { urns: [...new Set(urns)] },
        'entities',
        signal,
      );
      for (const entity of data.entities ?? []) if (entity?.urn) found.set(entity.urn, entity);
      return found;
    },

    /** Ends every request in flight and any later one (with `AbortedError`). */
    close(): void {
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
