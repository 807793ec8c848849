import type { Configuration } from 'openid-client';
import { z } from 'zod';
import { UnauthorizedError, UnavailableError } from '../../core/errors.js';
import { functionSchema, parseArgument } from '../../core/validate.js';
import type { TokenProvider } from '../../internal/http/credentials.js';
import { lazy } from '../../internal/optional.js';
import {
  COMPONENT,
  checkTransport,
  discover,
  type FetchFunction,
  issuerSchema,
  loadOpenIdClient,
  translateOidcError,
} from './discovery.js';

export type ClientCredentialsOptions = {
  issuer: string;
  clientId: string;
  clientSecret: string;
  /** How the client authenticates at the token endpoint; default `client_secret_basic`. */
  authMethod?: 'client_secret_basic' | 'client_secret_post';
  /** Space-separated scopes to request. */
  scope?: string;
  /** Resource indicator (RFC 8707), i.e. the audience to request the token for. */
  resource?: string;
  /** A cached token is reused while more than this many seconds of its lifetime remain; default 30. */
  refreshBeforeSeconds?: number;
  fetch?: FetchFunction;
  /** Time limit of each request to the issuer, ms; default 10,000. */
  timeoutMs?: number;
  /** Allow plain HTTP to a non-loopback issuer (loopback is always allowed). */
  allowInsecureRequests?: boolean;
};

/** A `TokenProvider` backed by the OAuth 2 client-credentials grant. */
export type ClientCredentialsProvider = TokenProvider & {
  /** Drops the cached token, so the next call fetches a new one (e.g. after a 401 from the server). */
  invalidate(): void;
  /** Drops the cached token and refuses further calls. */
  dispose(): void;
};

const nonEmpty = z.string().min(1, 'must not be empty');
const optionsSchema = z
  .object({
    issuer: issuerSchema,
    clientId: nonEmpty,
    clientSecret: nonEmpty,
    authMethod: z.enum(['client_secret_basic', 'client_secret_post']).optional(),
    scope: nonEmpty.optional(),
    resource: nonEmpty.optional(),
    refreshBeforeSeconds: z.number().min(0, 'refreshBeforeSeconds must be at least 0').optional(),
    fetch: functionSchema<FetchFunction>('fetch must be a function').optional(),
    timeoutMs: z.number().int().min(1, 'timeoutMs must be at least 1').optional(),
    allowInsecureRequests: z.boolean().optional(),
  })
  .strict();

/**
 * Gets access tokens with the client-credentials grant and hands them out as a `TokenProvider`
 * (`apiKey` of the OpenAI-compatible runner and embedder). Caches the token until
 * `refreshBeforeSeconds` before it expires; concurrent callers share one token request.
 */
export function createClientCredentialsProvider(options: ClientCredentialsOptions): ClientCredentialsProvider {
  const parsed = parseArgument(optionsSchema, options, 'options');
  checkTransport(parsed.issuer, parsed.allowInsecureRequests, 'createClientCredentialsProvider');
  const refreshBeforeMs = (parsed.refreshBeforeSeconds ?? 30) * 1000;
  const configuration = lazy<Configuration>(() =>
    discover({
      issuer: parsed.issuer,
      clientId: parsed.clientId,
      clientSecret: parsed.clientSecret,
      authMethod: parsed.authMethod ?? 'client_secret_basic',
      ...(parsed.fetch ? { fetch: parsed.fetch } : {}),
      timeoutMs: parsed.timeoutMs ?? 10_000,
    }),
  );
  let cached: { token: string; reuseUntil: number } | undefined;
  let pending: Promise<string> | undefined;
  let disposed = false;

  async function request(): Promise<string> {
    const [client, config] = await Promise.all([loadOpenIdClient(), configuration()]);
    const parameters: Record<string, string> = {};
    if (parsed.scope) parameters.scope = parsed.scope;
    if (parsed.resource) parameters.resource = parsed.resource;
    const started = Date.now();
    let response: { access_token: string; expires_in?: number };
    try {
      response = await client.clientCredentialsGrant(config, parameters);
    } catch (error) {
      throw translateOidcError(error, 'The client-credentials token request', parsed.issuer, parsed.clientId);
    }
    if (typeof response.access_token !== 'string' || response.access_token.length === 0) {
      throw new UnauthorizedError({
        component: COMPONENT,
        message: `The issuer answered the token request of client "${parsed.clientId}" without an access token.`,
      });
    }
    if (typeof response.expires_in === 'number' && !disposed) {
      const reuseUntil = started + response.expires_in * 1000 - refreshBeforeMs;
      cached = reuseUntil > Date.now() ? { token: response.access_token, reuseUntil } : undefined;
    }
    return response.access_token;
  }

  const provider = (): Promise<string> => {
    if (disposed) {
      return Promise.reject(
        new UnavailableError({
          component: COMPONENT,
          isRetryable: false,
          message: `The client-credentials provider of client "${parsed.clientId}" was disposed; create a new one.`,
        }),
      );
    }
    if (cached && Date.now() < cached.reuseUntil) return Promise.resolve(cached.token);
    pending ??= request().finally(() => {
      pending = undefined;
    });
    return pending;
  };
  return Object.assign(provider, {
    invalidate() {
      cached = undefined;
    },
    dispose() {
      disposed = true;
      cached = undefined;
    },
  });
}
