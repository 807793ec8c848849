import { z } from 'zod';
import { KumikiError, UnauthorizedError } from '../core/errors.js';

/** Returns the API key or bearer token for the next request; called per request, so rotating tokens work. */
export type TokenProvider = () => string | Promise<string>;

/** A zod schema for an option that must be a function. */
export const functionSchema = <T>(message: string) => z.custom<T>((value) => typeof value === 'function', message);

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
