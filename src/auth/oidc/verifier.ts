import type { JWTPayload, JWTVerifyGetKey } from 'jose';
import type { Configuration } from 'openid-client';
import * as z from 'zod';
import type { Authenticator, Principal } from '../../core/auth.js';
import { ForbiddenError, KumikiError, UnauthorizedError, UnavailableError } from '../../core/errors.js';
import type { JsonObject } from '../../core/types.js';
import { functionSchema, parseArgument } from '../../core/validate.js';
import { unboundFetch } from '../../internal/http/request.js';
import { lazy } from '../../internal/optional.js';
import { type ClaimMapping, claimMappingSchema, principalFromClaims } from '../policy.js';
import {
  COMPONENT,
  checkTransport,
  discover,
  type FetchFunction,
  issuerSchema,
  loadJose,
  loadOpenIdClient,
  translateOidcError,
} from './discovery.js';

/** The asymmetric JWS algorithms a verifier accepts by default. `none` and HMAC (`HS*`) are never accepted. */
export const ASYMMETRIC_ALGORITHMS = [
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
  'Ed25519',
] as const;

export type TokenVerifierOptions = {
  /** The OpenID issuer URL; its `/.well-known/openid-configuration` is discovered. */
  issuer: string;
  /** The audience (resource server identifier) tokens must be issued for; any of a list. */
  audience: string | string[];
  /** Accepted JWS algorithms, a subset of the asymmetric ones; default all asymmetric ones. */
  algorithms?: string[];
  /** Leeway for `exp`, `nbf` and `iat`, in seconds; default 5. */
  clockToleranceSeconds?: number;
  /** Scopes every token must carry; a missing one gives `ForbiddenError`. */
  requiredScopes?: string[];
  /** Which claims hold tenant, roles, subject and client id. */
  claims?: ClaimMapping;
  /** Client credentials for the introspection endpoint, to accept opaque (non-JWT) tokens. */
  introspection?: {
    clientId: string;
    clientSecret: string;
    authMethod?: 'client_secret_basic' | 'client_secret_post';
  };
  /** The fetch used for discovery, JWKS and introspection; default the global one. */
  fetch?: FetchFunction;
  /** How long fetched signing keys are trusted before a refetch, ms; default 600,000. */
  cacheJwksMs?: number;
  /** Least time between two JWKS fetches caused by unknown key ids, ms; default 30,000. */
  jwksCooldownMs?: number;
  /** Time limit of each request to the issuer, ms; default 5,000. */
  timeoutMs?: number;
  /** Allow plain HTTP to a non-loopback issuer (loopback is always allowed). */
  allowInsecureRequests?: boolean;
};

export type TokenVerifier = {
  /** Verifies an access token and returns its principal; `UnauthorizedError` or `ForbiddenError` otherwise. */
  verify(token: string): Promise<Principal>;
  /** Reads `Authorization: Bearer <token>` from a request and verifies it. */
  authenticate: Authenticator;
  dispose(): void;
};

const nonEmpty = z.string().min(1, 'must not be empty');
const optionsSchema = z
  .object({
    issuer: issuerSchema,
    audience: z.union([nonEmpty, z.array(nonEmpty).min(1, 'audience must list at least one value')]),
    algorithms: z.array(nonEmpty).min(1, 'algorithms must list at least one algorithm').optional(),
    clockToleranceSeconds: z.number().min(0, 'clockToleranceSeconds must be at least 0').optional(),
    requiredScopes: z.array(nonEmpty).optional(),
    claims: claimMappingSchema.optional(),
    introspection: z
      .object({
        clientId: nonEmpty,
        clientSecret: nonEmpty,
        authMethod: z.enum(['client_secret_basic', 'client_secret_post']).optional(),
      })
      .strict()
      .optional(),
    fetch: functionSchema<FetchFunction>('fetch must be a function').optional(),
    cacheJwksMs: z.number().int().min(0, 'cacheJwksMs must be at least 0').optional(),
    jwksCooldownMs: z.number().int().min(0, 'jwksCooldownMs must be at least 0').optional(),
    timeoutMs: z.number().int().min(1, 'timeoutMs must be at least 1').optional(),
    allowInsecureRequests: z.boolean().optional(),
  })
  .strict()
  .superRefine((options, context) => {
    const allowed = new Set<string>(ASYMMETRIC_ALGORITHMS);
    for (const alg of options.algorithms ?? []) {
      if (!allowed.has(alg)) {
        context.addIssue({
          code: 'custom',
          path: ['algorithms'],
          message: `algorithm "${alg}" is not accepted: only asymmetric algorithms (${ASYMMETRIC_ALGORITHMS.join(', ')}) are; "none" and HS* never are`,
        });
      }
    }
  });

const unauthorized = (message: string, cause?: unknown) =>
  new UnauthorizedError({ message, component: COMPONENT, ...(cause === undefined ? {} : { cause }) });

const iso = (seconds: unknown) => (typeof seconds === 'number' ? new Date(seconds * 1000).toISOString() : 'unknown');

/** Base64url JSON segment, or undefined when it is not one. */
function decodeSegment(segment: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(
      new TextDecoder().decode(
        Uint8Array.from(atob(segment.replace(/-/g, '+').replace(/_/g, '/')), (c) => c.charCodeAt(0)),
      ),
    );
    return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Verifies OAuth 2 access tokens issued by an OpenID provider: JWTs against the provider's JWKS
 * (discovered, cached, refetched on an unknown key id at most once per cooldown), opaque tokens
 * through the introspection endpoint when `introspection` is configured.
 */
export function createTokenVerifier(options: TokenVerifierOptions): TokenVerifier {
  const parsed = parseArgument(optionsSchema, options, 'options');
  checkTransport(parsed.issuer, parsed.allowInsecureRequests, 'createTokenVerifier');
  const audiences = typeof parsed.audience === 'string' ? [parsed.audience] : parsed.audience;
  const algorithms: string[] = parsed.algorithms ?? [...ASYMMETRIC_ALGORITHMS];
  const tolerance = parsed.clockToleranceSeconds ?? 5;
  const requiredScopes = parsed.requiredScopes ?? [];
  const timeoutMs = parsed.timeoutMs ?? 5_000;
  const introspection = parsed.introspection;
  let disposed = false;

  const configuration = lazy<Configuration>(() =>
    discover({
      issuer: parsed.issuer,
      clientId: introspection?.clientId ?? 'kumiki-resource-server',
      ...(introspection
        ? { clientSecret: introspection.clientSecret, authMethod: introspection.authMethod ?? 'client_secret_basic' }
        : {}),
      ...(parsed.fetch ? { fetch: parsed.fetch } : {}),
      timeoutMs,
    }),
  );

  const keySet = lazy<JWTVerifyGetKey>(async () => {
    const [jose, config] = await Promise.all([loadJose(), configuration()]);
    const jwksUri = config.serverMetadata().jwks_uri;
    if (!jwksUri) {
      throw new UnavailableError({
        component: COMPONENT,
        isRetryable: false,
        url: parsed.issuer,
        message: `The issuer ${parsed.issuer} publishes no jwks_uri, so JWT signatures cannot be checked. Configure introspection instead.`,
      });
    }
    return jose.createRemoteJWKSet(new URL(jwksUri), {
      cacheMaxAge: parsed.cacheJwksMs ?? 600_000,
      cooldownDuration: parsed.jwksCooldownMs ?? 30_000,
      timeoutDuration: timeoutMs,
      ...(parsed.fetch ? { [jose.customFetch]: unboundFetch(parsed.fetch) } : {}),
    });
  });

  function finish(claims: JsonObject): Principal {
    const principal = principalFromClaims(claims, parsed.claims ?? {});
    const missing = requiredScopes.filter((scope) => !principal.scopes.includes(scope));
    if (missing.length > 0) {
      throw new ForbiddenError({
        component: COMPONENT,
        message: `The token lacks the required scope${missing.length > 1 ? 's' : ''} ${missing.map((s) => `"${s}"`).join(', ')}. Request a token with ${missing.length > 1 ? 'these scopes' : 'this scope'}.`,
      });
    }
    return principal;
  }

  async function verifyJwt(token: string, header: Record<string, unknown>): Promise<Principal> {
    const alg = header.alg;
    if (typeof alg !== 'string' || !algorithms.includes(alg)) {
      throw unauthorized(
        alg === 'none'
          ? 'The token is unsigned (alg "none"); only signed tokens are accepted.'
          : `The token's algorithm ${typeof alg === 'string' ? `"${alg}"` : '(missing)'} is not allowed; accepted: ${algorithms.join(', ')}.`,
      );
    }
    const [jose, getKey] = await Promise.all([loadJose(), keySet()]);
    let payload: JWTPayload;
    try {
      ({ payload } = await jose.jwtVerify(token, getKey, {
        issuer: parsed.issuer,
        audience: audiences,
        algorithms,
        clockTolerance: tolerance,
        requiredClaims: ['exp'],
      }));
    } catch (error) {
      throw translateJoseError(error, header);
    }
    // jose checks iat only together with a maximum token age; a token issued in the future is refused here.
    if (typeof payload.iat === 'number' && payload.iat - tolerance > Date.now() / 1000) {
      throw unauthorized(`The token's issue time ${iso(payload.iat)} is in the future.`);
    }
    return finish(payload as JsonObject);
  }

  function translateJoseError(error: unknown, header: Record<string, unknown>): KumikiError {
    const code = (error as { code?: string }).code;
    const claim = (error as { claim?: string }).claim;
    const payload = (error as { payload?: Record<string, unknown> }).payload ?? {};
    switch (code) {
      case 'ERR_JWT_EXPIRED':
        return unauthorized(`The token expired at ${iso(payload.exp)}. Get a new token.`, error);
      case 'ERR_JWT_CLAIM_VALIDATION_FAILED':
        // jose's reason "invalid": a time claim (exp, nbf, iat) that is present but not a number.
        if ((error as { reason?: string }).reason === 'invalid') {
          return unauthorized(
            `The token's "${claim}" claim must be a number (seconds since 1970), not ${JSON.stringify(payload[claim ?? ''])}. Fix the identity provider's token format.`,
            error,
          );
        }
        if (claim === 'nbf') return unauthorized(`The token is not valid before ${iso(payload.nbf)}.`, error);
        if (claim === 'iss') {
          return unauthorized(
            `The token was issued by ${JSON.stringify(payload.iss)}, not by ${parsed.issuer}. Use a token from the configured issuer.`,
            error,
          );
        }
        if (claim === 'aud') {
          return unauthorized(
            `The token's audience ${JSON.stringify(payload.aud)} does not include ${audiences.map((a) => JSON.stringify(a)).join(' or ')}. Request the token for this resource.`,
            error,
          );
        }
        if (claim === 'exp')
          return unauthorized('The token has no expiry ("exp" claim); such tokens are refused.', error);
        return unauthorized(`The token's "${claim ?? '?'}" claim is invalid.`, error);
      case 'ERR_JOSE_ALG_NOT_ALLOWED':
        return unauthorized(`The token's algorithm "${String(header.alg)}" is not allowed.`, error);
      case 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED':
        return unauthorized(
          'The token signature is not valid (the token was altered or signed by another key).',
          error,
        );
      case 'ERR_JWKS_NO_MATCHING_KEY':
        return unauthorized(
          `The token was signed with an unknown key (kid ${JSON.stringify(header.kid ?? null)}) that the issuer's JWKS does not contain.`,
          error,
        );
      case 'ERR_JWKS_MULTIPLE_MATCHING_KEYS':
        return unauthorized(
          'The issuer publishes several keys matching the token header; add a kid to the tokens.',
          error,
        );
      case 'ERR_JWS_INVALID':
      case 'ERR_JWT_INVALID':
        return unauthorized('The token is malformed (not a valid signed JWT).', error);
      // jose's generic error comes only from fetching the JWKS: a non-200 answer or one that is not JSON.
      case 'ERR_JOSE_GENERIC':
      case 'ERR_JWKS_TIMEOUT':
      case 'ERR_JWKS_INVALID':
        return new UnavailableError({
          component: COMPONENT,
          cause: error,
          url: parsed.issuer,
          message: `Could not load the issuer's signing keys (${code}: ${(error as Error).message}). Check that ${parsed.issuer} is reachable.`,
        });
      default:
        if (KumikiError.isInstance(error)) return error;
        if (typeof code === 'string' && code.startsWith('ERR_J')) {
          return unauthorized(`The token was rejected (${code}).`, error);
        }
        return new UnavailableError({
          component: COMPONENT,
          cause: error,
          url: parsed.issuer,
          message: `Could not check the token against the issuer's signing keys: ${error instanceof Error ? error.name : 'error'}. Check that ${parsed.issuer} is reachable.`,
        });
    }
  }

  async function verifyOpaque(token: string): Promise<Principal> {
    if (!introspection) {
      throw unauthorized(
        'The token is not a JWT and no introspection client is configured. Send a JWT access token, or configure introspection for opaque tokens.',
      );
    }
    const [client, config] = await Promise.all([loadOpenIdClient(), configuration()]);
    let response: Record<string, unknown>;
    try {
      response = (await client.tokenIntrospection(config, token)) as Record<string, unknown>;
    } catch (error) {
      throw translateOidcError(error, 'Token introspection', parsed.issuer, introspection.clientId);
    }
    if (response.active !== true) {
      throw unauthorized('The token is not active (revoked, expired or unknown to the issuer).');
    }
    if (response.iss !== undefined && response.iss !== parsed.issuer) {
      throw unauthorized(`The token was issued by ${JSON.stringify(response.iss)}, not by ${parsed.issuer}.`);
    }
    const aud = response.aud;
    const tokenAudiences = typeof aud === 'string' ? [aud] : Array.isArray(aud) ? aud : [];
    if (!tokenAudiences.some((value) => audiences.includes(value as string))) {
      throw unauthorized(
        `The token's audience ${JSON.stringify(aud ?? null)} does not include ${audiences.map((a) => JSON.stringify(a)).join(' or ')}. Request the token for this resource.`,
      );
    }
    const now = Date.now() / 1000;
    if (typeof response.exp === 'number' && response.exp + tolerance <= now) {
      throw unauthorized(`The token expired at ${iso(response.exp)}. Get a new token.`);
    }
    if (typeof response.nbf === 'number' && response.nbf - tolerance > now) {
      throw unauthorized(`The token is not valid before ${iso(response.nbf)}.`);
    }
    const { active: _active, token_type: _type, ...claims } = response;
    return finish(claims as JsonObject);
  }

  async function verify(token: string): Promise<Principal> {
    if (disposed) {
      throw new UnavailableError({
        component: COMPONENT,
        isRetryable: false,
        message: 'The token verifier was disposed; create a new one.',
      });
    }
    if (typeof token !== 'string' || token.length === 0) throw unauthorized('No access token was given.');
    const parts = token.split('.');
    if (parts.length === 5) throw unauthorized('Encrypted (JWE) access tokens are not supported.');
    if (parts.length === 3) {
      const header = decodeSegment(parts[0] as string);
      if (header && typeof header.alg === 'string') return verifyJwt(token, header);
      if (!introspection) throw unauthorized('The token is malformed (not a valid signed JWT).');
    }
    return verifyOpaque(token);
  }

  return {
    verify,
    async authenticate(request: Request): Promise<Principal> {
      const header = request.headers.get('authorization');
      if (header === null) {
        throw unauthorized('The request has no Authorization header. Send "Authorization: Bearer <access token>".');
      }
      const match = /^Bearer[ ]+([^ ]+)[ ]*$/i.exec(header);
      if (!match?.[1]) {
        throw unauthorized('The Authorization header is not of the form "Bearer <access token>".');
      }
      return verify(match[1]);
    },
    dispose() {
      disposed = true;
    },
  };
}
