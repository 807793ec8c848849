/** Finding files for loadPath (Node only): name and path globs, and file-system failures as kumiki errors. */
import { pathToFileURL } from 'node:url';
import { ForbiddenError, KumikiError, NotFoundError } from '../core/errors.js';
import type { SkippedSource } from './types.js';

const COMPONENT = 'loaders';

/** A glob as a regular expression over `/`-separated paths. */
function globToRegExp(glob: string): RegExp {
  let source = '';
  for (let i = 0; i < glob.length; i++) {
    const char = glob[i] as string;
    if (char === '*' && glob[i + 1] === '*') {
      i++;
      if (glob[i + 1] === '/') {
        i++;
        source += '(?:.*/)?';
      } else {
        source += '.*';
      }
    } else if (char === '*') {
      source += '[^/]*';
    } else if (char === '?') {
      source += '[^/]';
    } else {
      source += char.replace(/[.+^${}()|[\]\\]/g, '\\$&');
    }
  }
  return new RegExp(`^${source}$`);
}

export type Matcher = (name: string, path: string) => boolean;

/**
 * Globs match the name (no `/`) or the relative path; with `extensions`, a pattern like `.md` or
 * `.tar.gz` (a dot, no wildcard) matches names ending with it, in any case.
 */
export function matcher(patterns: readonly string[], extensions: boolean): Matcher {
  const tests = patterns.map((pattern): Matcher => {
    if (extensions && /^\.[^*?/]+$/.test(pattern)) {
      const extension = pattern.toLowerCase();
      return (name) => name.toLowerCase().endsWith(extension) && name.length > extension.length;
    }
    const regexp = globToRegExp(pattern);
    return pattern.includes('/') ? (_name, path) => regexp.test(path) : (name) => regexp.test(name);
  });
  return (name, path) => tests.some((test) => test(name, path));
}

export const uriOf = (path: string) => pathToFileURL(path).href;

/** One place that turns file-system failures into kumiki errors. */
export function translateFsError(error: unknown, path: string): unknown {
  if (KumikiError.isInstance(error)) return error;
  const code = (error as { code?: string } | null)?.code;
  if (code === 'ENOENT' || code === 'ENOTDIR') {
    return new NotFoundError({
      resource: 'Path',
      name: path,
      hint: 'Check the path (relative paths start at the current working directory).',
      component: COMPONENT,
      cause: error,
    });
  }
  if (code === 'EACCES' || code === 'EPERM') {
    return new ForbiddenError({
      message: `Cannot read "${path}": permission denied. Grant read access or exclude it.`,
      component: COMPONENT,
      cause: error,
    });
  }
  return error;
}

export async function guard<T>(path: string, task: () => Promise<T>): Promise<T> {
  try {
    return await task();
  } catch (error) {
    throw translateFsError(error, path);
  }
}

/** A file-system failure below a root (permission denied, a file gone while walking): listed, not fatal. */
export function reportFsError(
  report: (entry: SkippedSource, cause?: unknown) => void,
  path: string,
  error: unknown,
): void {
  const translated = translateFsError(error, path);
  if (!KumikiError.isInstance(translated)) throw error;
  report({ uri: uriOf(path), reason: 'unreadable', message: translated.message }, translated);
}
