/**
 * Extracts the TypeScript/JavaScript code blocks of the Markdown docs, with the markers that say how
 * each one is checked (the convention is explained in docs/testing.md):
 *
 * - a block with no marker is a complete program: it is type-checked and run;
 * - `<!-- snippet: compile-only — why it cannot run here -->` right before the fence: type-checked only;
 * - `<!-- snippet: setup — what the hidden lines stand for` right before the fence, followed by hidden
 *   lines of code and `-->` on a line of its own: the hidden lines are put before the block, which is
 *   then type-checked and run (a compile-only marker may carry hidden lines the same way, e.g.
 *   `declare const store: Store;` for a block that continues another);
 * - `<!-- snippet: output -->` right before a fence that follows a run block: that block's expected
 *   standard output, compared exactly.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, sep } from 'node:path';

/** Fence info strings that hold code, and the file extension each is checked as. */
const LANGUAGES: Record<string, 'ts' | 'tsx' | 'js' | 'mjs'> = {
  ts: 'ts',
  typescript: 'ts',
  tsx: 'tsx',
  js: 'js',
  javascript: 'js',
  mjs: 'mjs',
};

export type DocSnippet = {
  /** The Markdown file, relative to the repository root with `/` separators (`docs/stores.md`). */
  doc: string;
  /** 1-based line of the opening fence. */
  line: number;
  extension: 'ts' | 'tsx' | 'js' | 'mjs';
  /** `run`: type-checked and run; `compile-only`: type-checked only. */
  mode: 'run' | 'compile-only';
  /** Why the block does not run (compile-only), or what its hidden lines stand for (setup). */
  reason: string | undefined;
  /** Hidden lines from the marker, put before the block; '' when there are none. */
  hidden: string;
  /** 1-based line of the first hidden line in the Markdown file. */
  hiddenLine: number;
  code: string;
  /** The expected standard output, from a following `<!-- snippet: output -->` block. */
  output: string | undefined;
  /** Names of the environment variables the block and its hidden lines read (`process.env.NAME`). */
  env: string[];
};

/** A marker or block the test must refuse (with the place and what to do). */
export class SnippetMarkupError extends Error {}

type Marker = { kind: 'compile-only' | 'setup' | 'output'; reason: string | undefined; hidden: string[]; line: number };

const MARKER = /^<!--\s*snippet:\s*([\w-]+)(?:\s+[—–-]\s+(.*?))?\s*(-->)?\s*$/;
const FENCE = /^(\s*)(`{3,}|~{3,})\s*([^\s`]*)/;

function readMarker(lines: string[], index: number, where: string): { marker: Marker; next: number } {
  const match = MARKER.exec(lines[index] as string);
  if (!match) throw new SnippetMarkupError(`${where}: a snippet marker reads <!-- snippet: kind — reason -->`);
  const [, kind, text, closed] = match;
  if (kind !== 'compile-only' && kind !== 'setup' && kind !== 'output') {
    throw new SnippetMarkupError(`${where}: unknown snippet kind "${kind}" (compile-only, setup or output)`);
  }
  const reason = text?.trim() || undefined;
  if (kind !== 'output' && reason === undefined) {
    throw new SnippetMarkupError(
      `${where}: a "${kind}" marker needs its reason after a dash: <!-- snippet: ${kind} — … -->`,
    );
  }
  const hidden: string[] = [];
  let next = index + 1;
  if (!closed) {
    if (kind === 'output')
      throw new SnippetMarkupError(`${where}: an output marker is one line: <!-- snippet: output -->`);
    while (next < lines.length && lines[next]?.trim() !== '-->') hidden.push(lines[next++] as string);
    if (next === lines.length)
      throw new SnippetMarkupError(`${where}: the marker's hidden lines end with a line "-->"`);
    next++;
  }
  return { marker: { kind, reason, hidden, line: index + 1 }, next };
}

const envNames = (code: string) => [
  ...new Set([...code.matchAll(/process\.env\.([A-Z_][A-Z0-9_]*)/g)].map((m) => m[1] as string)),
];

/** The code blocks of one Markdown file (`doc` names it in messages). */
export function extractSnippets(markdown: string, doc: string): DocSnippet[] {
  const lines = markdown.split(/\r?\n/);
  const snippets: DocSnippet[] = [];
  let pending: Marker | undefined;
  /** The snippet just before, when only blank lines and markers separate it from here. */
  let adjacent: DocSnippet | undefined;
  let index = 0;
  while (index < lines.length) {
    const text = lines[index] as string;
    if (/^<!--\s*snippet:/.test(text)) {
      if (pending) throw new SnippetMarkupError(`${doc}:${pending.line}: marker not followed by a code block`);
      const { marker, next } = readMarker(lines, index, `${doc}:${index + 1}`);
      pending = marker;
      index = next;
      continue;
    }
    const fence = FENCE.exec(text);
    if (!fence) {
      if (text.trim() !== '') {
        if (pending) throw new SnippetMarkupError(`${doc}:${pending.line}: marker not followed by a code block`);
        adjacent = undefined;
      }
      index++;
      continue;
    }
    const [, indent = '', ticks = '', info = ''] = fence;
    const closing = new RegExp(`^\\s*${ticks[0] === '`' ? '`' : '~'}{${ticks.length},}\\s*$`);
    const body: string[] = [];
    let end = index + 1;
    for (; end < lines.length && !closing.test(lines[end] as string); end++) {
      const line = lines[end] as string;
      body.push(line.startsWith(indent) ? line.slice(indent.length) : line);
    }
    const code = `${body.join('\n')}\n`;
    const extension = LANGUAGES[info.toLowerCase()];
    const marker = pending;
    pending = undefined;
    if (marker?.kind === 'output') {
      if (adjacent?.mode !== 'run' || adjacent.output !== undefined) {
        throw new SnippetMarkupError(`${doc}:${marker.line}: an output block must directly follow a block that runs`);
      }
      adjacent.output = code;
      adjacent = undefined;
    } else if (extension) {
      const hidden = marker ? marker.hidden.map((line) => `${line}\n`).join('') : '';
      adjacent = {
        doc,
        line: index + 1,
        extension,
        mode: marker?.kind === 'compile-only' ? 'compile-only' : 'run',
        reason: marker?.reason,
        hidden,
        hiddenLine: (marker?.line ?? 0) + 1,
        code,
        output: undefined,
        env: envNames(hidden + code),
      };
      snippets.push(adjacent);
    } else if (marker) {
      throw new SnippetMarkupError(`${doc}:${marker.line}: a "${marker.kind}" marker must precede a ts/js code block`);
    } else {
      adjacent = undefined;
    }
    index = end + 1;
  }
  if (pending) throw new SnippetMarkupError(`${doc}:${pending.line}: marker not followed by a code block`);
  return snippets;
}

/** README.md and every Markdown file under docs/, relative to `root`, sorted. */
export function docFiles(root: string): string[] {
  const found = ['README.md'];
  const walk = (folder: string) => {
    for (const entry of readdirSync(join(root, folder), { withFileTypes: true })) {
      const path = join(folder, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith('.md')) found.push(path);
    }
  };
  walk('docs');
  return found.map((path) => path.split(sep).join('/')).sort();
}

/** Every snippet of README.md and docs/. */
export function allSnippets(root: string): DocSnippet[] {
  return docFiles(root).flatMap((doc) => extractSnippets(readFileSync(join(root, doc), 'utf8'), doc));
}

/** The file a snippet is checked as: hidden lines, then the block, then `export {}` so it is a module. */
export function snippetSource(snippet: DocSnippet): string {
  return `${snippet.hidden}${snippet.code}export {};\n`;
}

/** Maps a 1-based line of `snippetSource(snippet)` to the line of the Markdown file it came from. */
export function docLine(snippet: DocSnippet, line: number): number {
  const hiddenLines = snippet.hidden === '' ? 0 : snippet.hidden.split('\n').length - 1;
  return line <= hiddenLines ? snippet.hiddenLine + line - 1 : snippet.line + line - hiddenLines;
}

/** A file name for the snippet: `docs-adapters-qdrant-md-L12.ts`. */
export function snippetFileName(snippet: DocSnippet): string {
  return `${snippet.doc.replace(/[^\w]+/g, '-')}-L${snippet.line}.${snippet.extension}`;
}
