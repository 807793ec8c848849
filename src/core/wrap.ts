/**
 * Middleware over one interface object: `wrapEmbedder` and `wrapRunner` return an object that has
 * every member of the wrapped one (optional members such as `tokenizer` or `dispose`, adapter
 * extras such as `native()`, getters) except those the wrapper replaces. Caches, tracing and retry
 * around an Embedder or ModelRunner are built with them, so adding a wrapper never loses a member.
 */
import * as z from 'zod';
import type { Embedder } from './embedder.js';
import type { ModelRunner } from './runner.js';
import { implementing, parseArgument } from './validate.js';

/** `T` with the members of `O` replaced or added. */
export type Wrapped<T, O> = Omit<T, keyof O> & O;

/** Members a wrapper may give: replacements of `T`'s members, with their types, and new members. */
export type WrapperMembers<T> = { [K in keyof T]?: T[K] } & Record<PropertyKey, unknown>;

/** Own and inherited member names of `target`, up to (not including) `Object.prototype`. */
function memberKeys(target: object): PropertyKey[] {
  const keys = new Set<PropertyKey>();
  for (let level: object | null = target; level !== null && level !== Object.prototype; ) {
    for (const key of Reflect.ownKeys(level)) if (key !== 'constructor') keys.add(key);
    level = Object.getPrototypeOf(level) as object | null;
  }
  return [...keys];
}

/**
 * A new object with `members` and, for every other member of `inner`, a live forwarder: a method
 * calls `inner`'s current method with `this` = `inner`; any other member (data or getter) is read
 * from `inner` on each access.
 */
function wrapObject<T extends object, O extends object>(inner: T, members: O): Wrapped<T, O> {
  const wrapped: Record<PropertyKey, unknown> = {};
  for (const key of memberKeys(inner)) {
    if (Object.hasOwn(members, key)) continue;
    const read = () => Reflect.get(inner, key, inner) as unknown;
    const descriptor = Object.getOwnPropertyDescriptor(inner, key) ?? { value: read() };
    if (typeof descriptor.value === 'function') {
      Object.defineProperty(wrapped, key, {
        enumerable: true,
        configurable: true,
        writable: true,
        value: (...args: unknown[]) => (read() as (...args: unknown[]) => unknown).apply(inner, args),
      });
    } else {
      Object.defineProperty(wrapped, key, { enumerable: true, configurable: true, get: read });
    }
  }
  Object.defineProperties(wrapped, Object.getOwnPropertyDescriptors(members));
  return wrapped as Wrapped<T, O>;
}

const embedderSchema = implementing<object>(
  'embedder must be a kumiki Embedder (specificationVersion kumiki.embedder.v1)',
  {
    fields: { specificationVersion: 'kumiki.embedder.v1' },
    methods: ['embed'],
  },
);
const runnerSchema = implementing<object>(
  'runner must be a kumiki ModelRunner (specificationVersion kumiki.runner.v1)',
  {
    fields: { specificationVersion: 'kumiki.runner.v1' },
    methods: ['generate'],
  },
);
const membersSchema = z.custom<object>(
  (value) => typeof value === 'object' && value !== null,
  'members must be an object of the members the wrapper replaces or adds',
);

/**
 * Wraps an Embedder: the result has `members` and every other member of `embedder` (`tokenizer`,
 * `dispose`, `space`, adapter extras), forwarded live.
 *
 * ```ts
 * const traced = wrapEmbedder(embedder, {
 *   embed: async (options) => {
 *     console.time('embed');
 *     try { return await embedder.embed(options); } finally { console.timeEnd('embed'); }
 *   },
 * });
 * ```
 */
export function wrapEmbedder<
  E extends { readonly specificationVersion: Embedder['specificationVersion'] },
  O extends WrapperMembers<E>,
>(embedder: E, members: O): Wrapped<E, O> {
  parseArgument(embedderSchema, embedder, 'embedder');
  parseArgument(membersSchema, members, 'members');
  return wrapObject(embedder, members);
}

/**
 * Wraps a ModelRunner: the result has `members` and every other member of `runner`
 * (`describeModel`, `capabilities`, `dispose`, adapter extras such as `native()`), forwarded live.
 * Replacements of the contract's members (`generate`, `stream`, …) must have the contract's types.
 */
export function wrapRunner<R extends ModelRunner, O extends WrapperMembers<ModelRunner>>(
  runner: R,
  members: O,
): Wrapped<R, O> {
  parseArgument(runnerSchema, runner, 'runner');
  parseArgument(membersSchema, members, 'members');
  return wrapObject(runner, members);
}
