/**
 * A fetch that behaves like the platform fetch of Workers and browsers: called with a `this` other than
 * `undefined` or `globalThis` (as a method of an options object), it throws "Illegal invocation".
 */
export function strictFetch(this: unknown, input: string | URL | Request, init?: RequestInit): Promise<Response> {
  if (this !== undefined && this !== globalThis) throw new TypeError('Illegal invocation');
  return fetch(input, init);
}
