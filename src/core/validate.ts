import * as z from 'zod';
import { en } from 'zod/locales';
import {
  type $ZodErrorMap,
  type $ZodIssue,
  type $ZodType,
  config,
  type output,
  type ParseContext,
  safeParse,
} from 'zod/v4/core';
import { InvalidArgumentError } from './errors.js';

let english: $ZodErrorMap | undefined;

/**
 * How kumiki parses: zod's English messages unless the application configured zod's locale or error
 * map (`z.config`), which then decide, as they would for its own schemas. zod's classic API installs
 * English when it loads; its tree-shakable `zod/mini` API, which the memory store's schemas use, does
 * not, so without this a `zod/mini` schema would report "Invalid input" instead of zod's message.
 */
export const parseContext: ParseContext<$ZodIssue> = {
  error: (issue) => {
    const { customError, localeError } = config();
    if (customError !== undefined || localeError !== undefined) return undefined;
    english ??= en().localeError;
    return english(issue);
  },
};

/**
 * Parses `value` with `schema` (classic or `zod/mini`); on failure throws `InvalidArgumentError` that
 * names the argument and every offending path. Every public entry point goes through here.
 */
export function parseArgument<S extends $ZodType>(schema: S, value: unknown, argument: string): output<S> {
  const result = safeParse(schema, value, parseContext);
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
