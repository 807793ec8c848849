/**
 * Who may do what: authentication and the request rate limit on every API route (a middleware), the
 * authorizer's decision on each model and collection, and tokens charged to the caller's allowance.
 */
import type { MiddlewareHandler } from 'hono';
import type { AccessAction, Authenticator, Authorizer, Principal } from '../../core/auth.js';
import type { Env, RequestState } from '../context.js';
import { GatewayHttpError, shownName } from '../errors.js';
import type { GatewayMetrics } from '../metrics.js';
import type { GatewayRateLimit } from '../options.js';
import { CounterUnavailableError, RateLimiter } from '../rate-limit.js';

/** Seconds a caller is told to wait when the rate-limit counters are unreachable. */
const COUNTER_RETRY_AFTER_S = 5;
export const ANONYMOUS: Principal = { subject: 'anonymous', tenant: undefined, roles: [], scopes: [], claims: {} };

export type Access = ReturnType<typeof createAccess>;

export function createAccess(options: {
  authenticate: Authenticator | undefined;
  authorize: Authorizer | undefined;
  rateLimit: GatewayRateLimit | undefined;
  metrics: GatewayMetrics;
}) {
  const { authorize, rateLimit, metrics } = options;
  const authenticate = options.authenticate ?? (async () => ANONYMOUS);
  const limiter = rateLimit
    ? new RateLimiter(rateLimit.cache, {
        prefix: rateLimit.prefix ?? 'kumiki-gateway:rl',
        requestsPerMinute: rateLimit.requestsPerMinute,
        tokensPerMinute: rateLimit.tokensPerMinute,
        failOpen: rateLimit.failOpen ?? false,
      })
    : undefined;
  /** Whose allowance, and whose fair share of the slots, a request uses. */
  const callerKey = (principal: Principal) => (rateLimit?.key ? rateLimit.key(principal) : principal.subject);

  const counterDown = (error: CounterUnavailableError) =>
    new GatewayHttpError({
      status: 503,
      message: 'The rate limit cannot be checked right now, so the request was refused; retry later.',
      type: 'server_error',
      code: 'rate_limit_unavailable',
      headers: { 'retry-after': String(COUNTER_RETRY_AFTER_S) },
      cause: error,
    });

  /** Whether the principal may act on the model or collection (anyone may without an authorizer). */
  const may = (principal: Principal | undefined, action: AccessAction, kind: 'model' | 'collection', name: string) =>
    !authorize || !principal || authorize.can(principal, action, { kind, name });

  /** Authentication and rate limits for the API routes. */
  const guard: MiddlewareHandler<Env> = async (c, next) => {
    const state = c.get('state');
    state.principal = await authenticate(c.req.raw);
    if (limiter) {
      let decision: Awaited<ReturnType<RateLimiter['admit']>>;
      try {
        // A client that disconnects while its admission is checked is not admitted (nor counted).
        decision = await limiter.admit(callerKey(state.principal), state.counterId, c.req.raw.signal);
      } catch (error) {
        if (error instanceof CounterUnavailableError) throw counterDown(error);
        throw error;
      }
      if (!decision.allowed) {
        metrics.rateLimited.add({ limit: decision.kind });
        const seconds = Math.max(1, Math.ceil(decision.retryAfterMs / 1000));
        throw new GatewayHttpError({
          status: 429,
          message: `Rate limit of ${decision.limit} ${decision.kind} per minute reached for this caller; retry in ${seconds} s.`,
          type: decision.kind,
          code: 'rate_limit_exceeded',
          headers: { 'retry-after': String(seconds) },
        });
      }
      if (decision.warning) state.warnings.push(decision.warning);
    }
    await next();
  };

  return {
    guard,
    callerKey,
    may,
    /** Whether generations reserve tokens against a token limit before they run. */
    limitsTokens: limiter?.limitsTokens === true,

    /** Refuses (403) a request whose principal may not act on the model or collection. */
    allow(state: RequestState, action: 'generate' | 'embed' | 'search', kind: 'model' | 'collection', name: string) {
      if (!may(state.principal, action, kind, name)) {
        throw new GatewayHttpError({
          status: 403,
          message: `"${shownName((state.principal as Principal).subject)}" may not ${action} with the ${kind} "${shownName(name)}".`,
          type: 'permission_error',
          code: 'forbidden',
          param: kind === 'model' ? 'model' : 'collection',
        });
      }
    },

    /**
     * Charges tokens to the caller's allowance, once per `purpose`. A charge that cannot be recorded
     * fails the request when it is `required` (a reservation, unless failing open) and is a log warning
     * otherwise (the request already ran).
     */
    async charge(state: RequestState, tokens: number, purpose: string, required: boolean): Promise<void> {
      if (!limiter || !state.principal || tokens === 0) return;
      try {
        await limiter.charge(callerKey(state.principal), tokens, `${state.counterId}:${purpose}`);
      } catch (error) {
        if (!(error instanceof CounterUnavailableError)) throw error;
        if (required && rateLimit?.failOpen !== true) throw counterDown(error);
        state.warnings.push(`could not record ${tokens} tokens against the rate limit: ${error.message}`);
      }
    },
  };
}
