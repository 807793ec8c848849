/**
 * A Node built-in module through `process.getBuiltinModule` (Node 20.16+, Bun, Deno), or `undefined`
 * in runtimes without it (browsers, Workers, older Node). Nothing is imported, so code that uses it
 * stays runtime-neutral and loads no `node:` module at import time; callers keep a portable fallback.
 */
export function nodeBuiltin<T>(name: string): T | undefined {
  const get = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process?.getBuiltinModule;
  if (typeof get !== 'function') return undefined;
  try {
    return (get(name) as T | undefined) ?? undefined;
  } catch {
    return undefined;
  }
}
