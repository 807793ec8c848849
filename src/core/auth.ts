import type { JsonObject } from './types.js';

/**
 * Who is calling, as established by an authenticator (e.g. verified OIDC access-token claims).
 * Everything downstream (policies, caller-scoped stores, cache partitions, rate limits) reads this.
 */
export type Principal = {
  /** Stable subject id (`sub` claim, or the client id for machine clients). */
  subject: string;
  /** Tenant the caller belongs to; records of other tenants are never visible to it. */
  tenant: string | undefined;
  roles: readonly string[];
  scopes: readonly string[];
  /** OAuth client the token was issued to, when known. */
  clientId?: string;
  /** The verified claims, for policies that need more than the fields above. */
  claims: JsonObject;
};

/** What a principal may do to a resource. */
export type AccessAction = 'read' | 'write' | 'delete' | 'search' | 'embed' | 'generate' | 'admin';

/** A resource actions apply to: a Store collection or a model. */
export type AccessResource = { kind: 'collection' | 'model'; name: string };

/** Decides whether a principal may perform an action on a resource. */
export type Authorizer = {
  can(principal: Principal, action: AccessAction, resource: AccessResource): boolean;
};

/**
 * Turns an incoming request into a principal, or throws `UnauthorizedError` (no or invalid
 * credentials). Used by the gateway; `kumiki/auth/oidc` provides one backed by an OpenID provider.
 */
export type Authenticator = (request: Request) => Promise<Principal>;
