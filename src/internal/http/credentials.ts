import { z } from 'zod';
import { KumikiError, UnauthorizedError } from '../../core/errors.js';
import { functionSchema } from '../../core/validate.js';

/** Returns the API key or bearer token for the next request; called per request, so rotating tokens work. */
export type TokenProvider = () => string | Promise<string>;

/** Whether `headers` would be accepted by `fetch` (valid names and values). */
export function validHeaders(headers: Record<string, string>): boolean {
  try {
    new Headers(headers);
    return true;
  } catch {
    return false;
  }
}

/** The token for one request: the string itself, or what the provider returns, checked. */
export async function resolveToken(
  apiKey: string | TokenProvider | undefined,
  component: string,
): Promise<string | undefined> {
  if (typeof apiKey !== 'function') return apiKey;
  let token: unknown;
  try {
    token = await apiKey();
  } catch (error) {
    if (KumikiError.isInstance(error)) throw error;
    throw new UnauthorizedError({
      message: `The apiKey function threw instead of returning a token: ${error instanceof Error ? error.message : String(error)}. Fix the token provider.`,
      cause: error,
      component,
    });
  }
  if (typeof token !== 'string' || token.length === 0) {
    throw new UnauthorizedError({
      message: `The apiKey function returned ${typeof token === 'string' ? 'an empty string' : `a ${typeof token}`} instead of a token. Return the API key or bearer token as a non-empty string.`,
      component,
    });
  }
  return token;
}

/**
 * Option fields every client of an OpenAI-compatible server shares: where it is, how to authenticate,
 * and how long and how often to try. Spread into each adapter's options schema.
 */
export const serverConnectionShape = {
  baseURL: z
    .string({ error: 'baseURL must be a string' })
    .refine((value) => URL.canParse(value) && /^https?:$/.test(new URL(value).protocol), {
      message: 'baseURL must be an http(s) URL such as http://localhost:8000/v1',
    })
    .refine((value) => !URL.canParse(value) || (!new URL(value).username && !new URL(value).password), {
      message: 'baseURL must not contain credentials; pass them as apiKey or headers',
    }),
  apiKey: z
    .union([
      z.string().min(1, 'apiKey must not be empty'),
      functionSchema<TokenProvider>('apiKey must be a string or a function returning one'),
    ])
    .optional(),
  headers: z
    .record(z.string(), z.string(), { error: 'headers must map names to string values' })
    .refine(validHeaders, { message: 'headers must have valid HTTP header names and values' })
    .optional(),
  timeoutMs: z.number().int('timeoutMs must be an integer').min(1, 'timeoutMs must be at least 1').optional(),
  retries: z.number().int('retries must be an integer').min(0, 'retries must be at least 0').optional(),
};
