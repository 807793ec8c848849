/**
 * Shared plumbing of the OIDC verifier and token provider: lazy loading of openid-client and jose,
 * discovery, and the one place where openid-client errors become kumiki errors.
 */
import type * as OpenIdClient from 'openid-client';
import * as z from 'zod';
import { ForbiddenError, KumikiError, UnauthorizedError, UnavailableError } from '../../core/errors.js';
import { retryAfterMs } from '../../internal/http/errors.js';
import { unboundFetch } from '../../internal/http/request.js';
import { importOptional } from '../../internal/optional.js';

export const COMPONENT = 'oidc';

export type FetchFunction = typeof fetch;

export const loadOpenIdClient = () => importOptional('openid-client', COMPONENT, () => import('openid-client'));
export const loadJose = () => importOptional('jose', COMPONENT, () => import('jose'));

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);

export const issuerSchema = z
  .string({ error: 'issuer must be a string' })
  .refine((value) => URL.canParse(value) && /^https?:$/.test(new URL(value).protocol), {
    message: 'issuer must be an http(s) URL such as https://login.example.com/realms/main',
  });

/** Whether requests to `issuer` may use plain HTTP: only for loopback hosts unless explicitly allowed. */
export function allowsHttp(issuer: string, allowInsecureRequests: boolean | undefined): boolean {
  const url = new URL(issuer);
  return url.protocol === 'https:' || allowInsecureRequests === true || LOOPBACK.has(url.hostname);
}

export function checkTransport(issuer: string, allowInsecureRequests: boolean | undefined, argument: string) {
  if (!allowsHttp(issuer, allowInsecureRequests)) {
    throw new UnavailableError({
      isRetryable: false,
      component: COMPONENT,
      url: issuer,
      message: `${argument}: the issuer ${issuer} uses plain HTTP on a non-loopback host. Use https, or set allowInsecureRequests: true for a trusted network.`,
    });
  }
}

export type DiscoverOptions = {
  issuer: string;
  clientId: string;
  clientSecret?: string;
  authMethod?: 'client_secret_basic' | 'client_secret_post';
  fetch?: FetchFunction;
  allowInsecureRequests?: boolean;
  timeoutMs: number;
};

/** Discovers the issuer's metadata (`/.well-known/openid-configuration`) and returns an openid-client configuration. */
export async function discover(options: DiscoverOptions): Promise<OpenIdClient.Configuration> {
  const client = await loadOpenIdClient();
  const auth =
    options.clientSecret === undefined
      ? client.None()
      : options.authMethod === 'client_secret_post'
        ? client.ClientSecretPost(options.clientSecret)
        : client.ClientSecretBasic(options.clientSecret);
  const execute = options.issuer.startsWith('http:') ? [client.allowInsecureRequests] : [];
  try {
    const config = await client.discovery(new URL(options.issuer), options.clientId, undefined, auth, {
      execute,
      timeout: Math.ceil(options.timeoutMs / 1000),
      ...(options.fetch ? { [client.customFetch]: unboundFetch(options.fetch) } : {}),
    });
    config.timeout = Math.ceil(options.timeoutMs / 1000);
    return config;
  } catch (error) {
    throw translateOidcError(error, `OIDC discovery of ${options.issuer}`, options.issuer);
  }
}

/**
 * Turns an openid-client failure into a kumiki error. Messages name the operation and the server's
 * OAuth error code, never the request's credentials or tokens.
 */
export function translateOidcError(error: unknown, operation: string, url: string, clientId?: string): KumikiError {
  if (KumikiError.isInstance(error)) return error;
  // openid-client wraps what the caller's fetch threw ("something went wrong"); a kumiki error there passes through.
  const cause = (error as { cause?: unknown } | undefined)?.cause;
  if (KumikiError.isInstance(cause)) return cause;
  const body = error as { name?: string; error?: string; status?: number; cause?: unknown };
  // A 401 with a WWW-Authenticate challenge carries the OAuth error code in the challenge parameters.
  const challenged =
    body.name === 'WWWAuthenticateChallengeError' && Array.isArray(body.cause)
      ? ((body.cause as { parameters?: { error?: string } }[])[0]?.parameters?.error ?? 'invalid_client')
      : undefined;
  const code = challenged ?? (body.name === 'ResponseBodyError' ? body.error : undefined);
  if (typeof code === 'string') {
    if (code === 'invalid_client' || code === 'unauthorized_client') {
      return new UnauthorizedError({
        component: COMPONENT,
        cause: error,
        message: `${operation} failed: the issuer rejected client "${clientId ?? '?'}" (${code}). Check the client id, the client secret and that the client may use this grant.`,
      });
    }
    if (code === 'invalid_scope' || code === 'invalid_target' || code === 'access_denied') {
      return new ForbiddenError({
        component: COMPONENT,
        cause: error,
        message: `${operation} failed: the issuer refused the requested scope or resource (${code}). Ask for scopes and resources the client is registered for.`,
      });
    }
    const status = body.status ?? 0;
    return new UnavailableError({
      component: COMPONENT,
      cause: error,
      url,
      statusCode: status,
      isRetryable: status >= 500 || status === 429,
      message: `${operation} failed: the issuer answered HTTP ${status} with OAuth error "${code}".`,
    });
  }
  const reason = error instanceof Error ? error.message : String(error);
  // An answer with an unexpected status (every 5xx: openid-client reads OAuth error bodies of 4xx only)
  // carries the response as its cause.
  if (cause instanceof Response) {
    const retryAfter = retryAfterMs(cause.headers.get('retry-after'));
    return new UnavailableError({
      component: COMPONENT,
      cause: error,
      url,
      statusCode: cause.status,
      isRetryable: cause.status >= 500 || cause.status === 429,
      ...(retryAfter === undefined ? {} : { retryAfterMs: retryAfter }),
      message: `${operation} failed: the issuer answered HTTP ${cause.status} (${reason.replace(/\.$/, '')}).`,
    });
  }
  return new UnavailableError({
    component: COMPONENT,
    cause: error,
    url,
    message: `${operation} failed: ${reason}. Check that the issuer is reachable and serves valid OpenID metadata.`,
  });
}
