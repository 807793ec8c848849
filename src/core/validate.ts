import { z } from 'zod';
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

/**
 * A schema accepting objects that implement a kumiki interface: `fields` must hold exactly these values
 * (e.g. `specificationVersion`, `kind`) and `methods` must be functions. Adapters are checked this way
 * rather than by class, so wrappers and objects from another copy of kumiki pass.
 */
export function implementing<T>(
  message: string,
  shape: { fields?: Readonly<Record<string, unknown>>; methods?: readonly string[] },
): z.ZodType<T> {
  const fields = Object.entries(shape.fields ?? {});
  const methods = shape.methods ?? [];
  return z.custom<T>((value) => {
    if (typeof value !== 'object' || value === null) return false;
    const object = value as Record<string, unknown>;
    return (
      fields.every(([key, expected]) => object[key] === expected) &&
      methods.every((name) => typeof object[name] === 'function')
    );
  }, message);
}

/** A zod schema for an option that must be a function. */
export const functionSchema = <T>(message: string) => z.custom<T>((value) => typeof value === 'function', message);
