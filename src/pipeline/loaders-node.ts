/**
 * `kumiki/loaders/node`: SourceDocuments from files and folders (Node only). Files are found in a
 * deterministic order and read one at a time, as the caller iterates.
 */
import type { Dirent, Stats } from 'node:fs';
import { lstat, readdir, readFile, realpath, stat } from 'node:fs/promises';
import { basename, relative, resolve, sep } from 'node:path';
import { pathToFileURL } from 'node:url';
import { z } from 'zod';
import { ForbiddenError, InvalidArgumentError, KumikiError, NotFoundError } from '../core/errors.js';
import { parseArgument } from '../core/validate.js';
import {
  checkSkipOptions,
  EXTENSION_CONTENT_TYPES,
  type TextToDocumentOptions,
  textToDocumentOptionsShape,
  textToDocuments,
} from './loaders.js';
import type { SourceDocument } from './types.js';

const COMPONENT = 'loaders';
const DEFAULT_MAX_FILE_BYTES = 10 * 1024 * 1024;
/** Folders and files never walked into by default: dependencies, git data, dot-folders and dot-files. */
export const DEFAULT_EXCLUDE: readonly string[] = ['node_modules', '.*'];
/** The extensions of the supported text formats. */
export const DEFAULT_INCLUDE: readonly string[] = Object.keys(EXTENSION_CONTENT_TYPES);

export type LoadPathOptions = Pick<
  TextToDocumentOptions,
  'metadata' | 'textFields' | 'textField' | 'idField' | 'onUnsupported' | 'onSkip'
> & {
  /**
   * Files to load under a folder: extensions (`.md`) or globs (`*` within a name, `**` across
   * folders, `?`); a glob without `/` matches the file name, one with `/` the path below the folder.
   * Default: the supported text types. Files named directly are always loaded.
   */
  include?: string[];
  /** Names or globs of folders and files to leave out; default `node_modules` and names starting with `.`. */
  exclude?: string[];
  /** Walk sub-folders; default true. */
  recursive?: boolean;
  /** Larger files throw InvalidArgumentError (or are skipped and reported); default 10 MiB. */
  maxFileBytes?: number;
  /** Only `utf8` (invalid UTF-8 counts as unsupported content). */
  encoding?: 'utf8';
  /** Follow symbolic links (each real folder walked once); default false: links are skipped and reported. */
  followSymlinks?: boolean;
};

const patternSchema = z.string().min(1, 'patterns must not be empty');
const optionsSchema = z
  .object({
    metadata: textToDocumentOptionsShape.metadata,
    textFields: textToDocumentOptionsShape.textFields,
    textField: textToDocumentOptionsShape.textField,
    idField: textToDocumentOptionsShape.idField,
    onUnsupported: textToDocumentOptionsShape.onUnsupported,
    onSkip: textToDocumentOptionsShape.onSkip,
    include: z.array(patternSchema).optional(),
    exclude: z.array(patternSchema).optional(),
    recursive: z.boolean().optional(),
    maxFileBytes: z.number().int('maxFileBytes must be an integer').min(1, 'maxFileBytes must be positive').optional(),
    encoding: z.literal('utf8', { error: "encoding must be 'utf8'" }).optional(),
    followSymlinks: z.boolean().optional(),
  })
  .strict()
  .superRefine(checkSkipOptions);

const pathsSchema = z.union(
  [z.string().min(1, 'a path must not be empty'), z.array(z.string().min(1, 'a path must not be empty')).min(1)],
  { error: 'paths must be a path or a non-empty array of paths' },
);

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

type Matcher = (name: string, path: string) => boolean;

/**
 * Globs match the name (no `/`) or the relative path; with `extensions`, a pattern like `.md` or
 * `.tar.gz` (a dot, no wildcard) matches names ending with it, in any case.
 */
function matcher(patterns: readonly string[], extensions: boolean): Matcher {
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

/** One place that turns file-system failures into kumiki errors. */
function translateFsError(error: unknown, path: string): unknown {
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

async function guard<T>(path: string, task: () => Promise<T>): Promise<T> {
  try {
    return await task();
  } catch (error) {
    throw translateFsError(error, path);
  }
}

const byCodeUnits = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Loads files and folders as SourceDocuments (uri `file://` + absolute path, `modifiedAt` from the
 * mtime), walking folders in sorted order and reading one file per step of the iteration. A missing
 * path throws NotFoundError naming it; JSONL files give one document per line.
 */
export function loadPath(paths: string | string[], options: LoadPathOptions = {}): AsyncIterable<SourceDocument> {
  const given = parseArgument(pathsSchema, paths, 'paths');
  const parsed = parseArgument(optionsSchema, options, 'loadPath options');
  const roots = [...new Set((Array.isArray(given) ? given : [given]).map((path) => resolve(path)))].sort(byCodeUnits);
  const include = matcher(parsed.include ?? DEFAULT_INCLUDE, true);
  const exclude = matcher(parsed.exclude ?? DEFAULT_EXCLUDE, false);
  const recursive = parsed.recursive ?? true;
  const followSymlinks = parsed.followSymlinks ?? false;
  const maxFileBytes = parsed.maxFileBytes ?? DEFAULT_MAX_FILE_BYTES;
  const convert: TextToDocumentOptions = {
    ...(parsed.metadata === undefined ? {} : { metadata: parsed.metadata }),
    ...(parsed.textFields === undefined ? {} : { textFields: parsed.textFields }),
    ...(parsed.textField === undefined ? {} : { textField: parsed.textField }),
    ...(parsed.idField === undefined ? {} : { idField: parsed.idField }),
    ...(parsed.onUnsupported === undefined ? {} : { onUnsupported: parsed.onUnsupported }),
    ...(parsed.onSkip === undefined ? {} : { onSkip: parsed.onSkip }),
  };
  const skip = (path: string, reason: string) => parsed.onSkip?.(pathToFileURL(path).href, reason);

  /** Unsupported content: throw, or report and skip. */
  const unsupported = (path: string, reason: string) => {
    if (parsed.onUnsupported === 'skip') {
      skip(path, reason);
      return;
    }
    throw new InvalidArgumentError({
      argument: 'paths',
      issues: [
        { path: '', message: `${path}: ${reason}; pass onUnsupported: 'skip' (with onSkip) to skip such files` },
      ],
      component: COMPONENT,
    });
  };

  /** Files already loaded in this iteration (roots may overlap, links may lead back). */
  let loaded = new Set<string>();

  async function* readOne(path: string, stats: Stats): AsyncGenerator<SourceDocument> {
    if (loaded.has(path)) return;
    loaded.add(path);
    if (stats.size > maxFileBytes) {
      unsupported(path, `file is ${stats.size} bytes, more than maxFileBytes (${maxFileBytes}); raise maxFileBytes`);
      return;
    }
    const bytes = await guard(path, () => readFile(path));
    if (bytes.includes(0)) {
      unsupported(path, 'binary content (contains NUL bytes)');
      return;
    }
    let content: string;
    try {
      content = utf8.decode(bytes);
    } catch {
      unsupported(path, 'not valid UTF-8 text');
      return;
    }
    yield* textToDocuments(pathToFileURL(path).href, content, { ...convert, modifiedAt: stats.mtime.toISOString() });
  }

  async function* walk(folder: string, root: string, visited: Set<string>): AsyncGenerator<SourceDocument> {
    if (followSymlinks) {
      const real = await guard(folder, () => realpath(folder));
      if (visited.has(real)) return;
      visited.add(real);
    }
    const entries: Dirent[] = await guard(folder, () => readdir(folder, { withFileTypes: true }));
    entries.sort((a, b) => byCodeUnits(a.name, b.name));
    for (const entry of entries) {
      const path = resolve(folder, entry.name);
      const relativePath = relative(root, path).split(sep).join('/');
      if (exclude(entry.name, relativePath)) continue;
      let stats: Stats | undefined;
      if (entry.isSymbolicLink()) {
        if (!followSymlinks) {
          skip(path, 'symbolic link not followed (followSymlinks: false)');
          continue;
        }
        stats = await stat(path).catch(() => undefined);
        if (stats === undefined) {
          skip(path, 'broken symbolic link');
          continue;
        }
      }
      const isFolder = stats ? stats.isDirectory() : entry.isDirectory();
      const isFile = stats ? stats.isFile() : entry.isFile();
      if (isFolder) {
        if (recursive) yield* walk(path, root, visited);
      } else if (isFile && include(entry.name, relativePath)) {
        yield* readOne(path, stats ?? (await guard(path, () => stat(path))));
      }
    }
  }

  return {
    async *[Symbol.asyncIterator]() {
      const visited = new Set<string>();
      loaded = new Set<string>();
      for (const root of roots) {
        const linkStats = await guard(root, () => lstat(root));
        const stats = linkStats.isSymbolicLink() ? await guard(root, () => stat(root)) : linkStats;
        if (stats.isDirectory()) {
          yield* walk(root, root, visited);
        } else if (stats.isFile()) {
          yield* readOne(root, stats);
        } else {
          unsupported(root, `not a regular file or folder (${basename(root)})`);
        }
      }
    },
  };
}
