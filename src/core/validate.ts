import type { z } from 'zod';
import { InvalidArgumentError } from './errors.js';

/**
 * Parses `value` with `schema`; on failure throws `InvalidArgumentError` that names the argument and
 * every offending path. Every public entry point goes through here.
 */
export function parseArgument<S extends z.ZodType>(schema: S, value: unknown, argument: string): z.output<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  throw new InvalidArgumentError({
    argument,
    issues: result.error.issues.map((issue) => ({
      path: issue.path.map(String).join('.'),
      message: issue.message,
    })),
  });
}
