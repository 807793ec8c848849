/**
 * Principals and policies: turning verified token claims into a `Principal`, and deciding what a
 * principal may do with a role/scope rule table. Runtime-neutral (no `node:` imports).
 */
import * as z from 'zod';
import type { AccessAction, AccessResource, Authorizer, Principal } from '../core/auth.js';
import { UnauthorizedError } from '../core/errors.js';
import type { JsonObject, JsonValue } from '../core/types.js';
import { parseArgument } from '../core/validate.js';

const COMPONENT = 'auth';

export const ACCESS_ACTIONS = [
  'read',
  'write',
  'delete',
  'search',
  'embed',
  'generate',
  'admin',
] as const satisfies readonly AccessAction[];

/** Which claims hold what. Claim names are looked up as given first, then as dotted paths (`realm_access.roles`). */
export type ClaimMapping = {
  /** Claim holding the subject; default `sub`, falling back to the client id. */
  subjectClaim?: string;
  /** Claim holding the tenant; default `tenant`. */
  tenantClaim?: string;
  /** Claim holding the roles (array of strings or a space-separated string); default `roles`. */
  rolesClaim?: string;
  /** Claim holding the client id; default `client_id`, falling back to `azp`. */
  clientIdClaim?: string;
};

const claimName = z.string().min(1, 'claim names must not be empty');
export const claimMappingSchema = z
  .object({
    subjectClaim: claimName.optional(),
    tenantClaim: claimName.optional(),
    rolesClaim: claimName.optional(),
    clientIdClaim: claimName.optional(),
  })
  .strict();

function claimAt(claims: JsonObject, name: string): JsonValue | undefined {
  if (Object.hasOwn(claims, name)) return claims[name];
  let current: JsonValue | undefined = claims;
  for (const key of name.split('.')) {
    if (current === null || typeof current !== 'object' || Array.isArray(current) || !Object.hasOwn(current, key)) {
      return undefined;
    }
    current = current[key];
  }
  return current;
}

/** A claim as a list of strings: arrays of strings as they are, strings split on whitespace. */
function stringList(claims: JsonObject, name: string): string[] {
  const value = claimAt(claims, name);
  if (value === undefined || value === null) return [];
  if (typeof value === 'string') return value.split(/\s+/).filter((item) => item.length > 0);
  if (Array.isArray(value) && value.every((item) => typeof item === 'string')) return value as string[];
  throw new UnauthorizedError({
    message: `The token's "${name}" claim must be a string or an array of strings, not ${Array.isArray(value) ? 'an array with non-string items' : typeof value}. Fix the identity provider's claim mapping.`,
    component: COMPONENT,
  });
}

function optionalString(claims: JsonObject, name: string): string | undefined {
  const value = claimAt(claims, name);
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string' && value.length > 0) return value;
  throw new UnauthorizedError({
    message: `The token's "${name}" claim must be a non-empty string. Fix the identity provider's claim mapping.`,
    component: COMPONENT,
  });
}

/**
 * Builds a principal from verified claims: subject (`sub`, else the client id), tenant, roles, scopes
 * (`scope` as a space-separated string, else `scp` as an array or string) and client id. Throws
 * `UnauthorizedError` when there is no subject or a mapped claim has the wrong type.
 */
export function principalFromClaims(claims: JsonObject, mapping: ClaimMapping = {}): Principal {
  const parsed = parseArgument(claimMappingSchema, mapping, 'mapping');
  const clientId = parsed.clientIdClaim
    ? optionalString(claims, parsed.clientIdClaim)
    : (optionalString(claims, 'client_id') ?? optionalString(claims, 'azp'));
  const subject = optionalString(claims, parsed.subjectClaim ?? 'sub') ?? clientId;
  if (subject === undefined) {
    throw new UnauthorizedError({
      message: `The token has no "${parsed.subjectClaim ?? 'sub'}" claim and no client id, so the caller cannot be identified. Issue tokens with a subject.`,
      component: COMPONENT,
    });
  }
  const scopes = claimAt(claims, 'scope') !== undefined ? stringList(claims, 'scope') : stringList(claims, 'scp');
  return {
    subject,
    tenant: optionalString(claims, parsed.tenantClaim ?? 'tenant'),
    roles: [...new Set(stringList(claims, parsed.rolesClaim ?? 'roles'))],
    scopes: [...new Set(scopes)],
    ...(clientId === undefined ? {} : { clientId }),
    claims,
  };
}

/** One grant: who (roles and/or scopes), may do what (actions), to which collections and models. */
export type PolicyRule = {
  /** The principal needs at least one of these roles; omit to not check roles. */
  roles?: string[];
  /** The principal needs at least one of these scopes; omit to not check scopes. */
  scopes?: string[];
  /** Permitted actions, or `'*'` for all but `admin`. */
  actions: AccessAction[] | '*';
  /** Collection name patterns (`*` any run of characters, `?` one character), e.g. `docs-*`. */
  collections?: string[];
  /** Model name patterns, e.g. `llama-*`. */
  models?: string[];
};

export type PolicyOptions = {
  rules: PolicyRule[];
  /** Roles that may do anything, `admin` included; default `['admin']`, `[]` for none. */
  adminRoles?: string[];
};

const nonEmpty = z.string().min(1, 'must not be empty');
const ruleSchema = z
  .object({
    roles: z.array(nonEmpty).min(1, 'roles must list at least one role (omit it to not check roles)').optional(),
    scopes: z.array(nonEmpty).min(1, 'scopes must list at least one scope (omit it to not check scopes)').optional(),
    actions: z.union([z.literal('*'), z.array(z.enum(ACCESS_ACTIONS)).min(1, 'actions must not be empty')]),
    collections: z.array(nonEmpty).optional(),
    models: z.array(nonEmpty).optional(),
  })
  .strict()
  .refine((rule) => rule.collections !== undefined || rule.models !== undefined, {
    message: 'a rule must name collections and/or models it applies to (use ["*"] for all)',
  });
const policySchema = z.object({ rules: z.array(ruleSchema), adminRoles: z.array(nonEmpty).optional() }).strict();

/** Compiles a name pattern: `*` matches any run of characters, `?` one character, the rest literally. */
export function compileNamePattern(pattern: string): RegExp {
  const source = [...pattern]
    .map((char) => (char === '*' ? '.*' : char === '?' ? '.' : char.replace(/[\\^$.|+()[\]{}]/g, '\\$&')))
    .join('');
  return new RegExp(`^${source}$`, 'su');
}

/**
 * An `Authorizer` from a rule table. Deny by default: an action is allowed when the principal holds an
 * admin role, or some rule matches its roles and scopes, lists the action (or `'*'`, which never covers
 * `admin`) and has a pattern matching the resource's name for its kind.
 */
export function createPolicy(options: PolicyOptions): Authorizer {
  const parsed = parseArgument(policySchema, options, 'options');
  const adminRoles = new Set(parsed.adminRoles ?? ['admin']);
  const rules = parsed.rules.map((rule) => ({
    roles: rule.roles ? new Set(rule.roles) : undefined,
    scopes: rule.scopes ? new Set(rule.scopes) : undefined,
    actions: rule.actions === '*' ? undefined : new Set<AccessAction>(rule.actions),
    collections: (rule.collections ?? []).map(compileNamePattern),
    models: (rule.models ?? []).map(compileNamePattern),
  }));
  return {
    can(principal: Principal, action: AccessAction, resource: AccessResource): boolean {
      if (principal.roles.some((role) => adminRoles.has(role))) return true;
      return rules.some((rule) => {
        if (rule.roles && !principal.roles.some((role) => rule.roles?.has(role))) return false;
        if (rule.scopes && !principal.scopes.some((scope) => rule.scopes?.has(scope))) return false;
        if (rule.actions ? !rule.actions.has(action) : action === 'admin') return false;
        const patterns = resource.kind === 'collection' ? rule.collections : rule.models;
        return patterns.some((pattern) => pattern.test(resource.name));
      });
    },
  };
}
