/**
 * loadPath on real folders made per test: which files globs and extensions pick, what is excluded,
 * roots given directly, links, sidecars, the fileMetadata hook, progress, limits, and file-system
 * failures during a walk, with every skipped entry compared exactly.
 */

import { chmod, mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, test } from 'vitest';
import { ForbiddenError, NotFoundError, UnreadableSourceError } from '../src/core/errors.js';
import { type LoadedFile, type LoadPathOptions, type LoadProgress, loadPath } from '../src/pipeline/loaders-node.js';
import type { SourceDocument } from '../src/pipeline/types.js';
import { libraryDocx } from './helpers/documents.js';

const roots: string[] = [];
afterAll(async () => {
  for (const root of roots) await rm(root, { recursive: true, force: true });
});

/** A fresh folder holding `files` (paths `/`-separated, folders made as needed). */
async function tree(files: Record<string, string | Uint8Array>): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'kumiki-path-'));
  roots.push(root);
  for (const [name, content] of Object.entries(files)) {
    const path = join(root, ...name.split('/'));
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, content);
  }
  return root;
}

async function collect(iterable: AsyncIterable<SourceDocument>): Promise<SourceDocument[]> {
  const out: SourceDocument[] = [];
  for await (const document of iterable) out.push(document);
  return out;
}

/** The paths below `root` of the documents loaded. */
async function names(root: string, options: LoadPathOptions = {}, paths: string | string[] = root): Promise<string[]> {
  const prefix = `${pathToFileURL(root).href}/`;
  return (await collect(loadPath(paths, options))).map((document) =>
    document.uri.startsWith(prefix) ? document.uri.slice(prefix.length) : document.uri,
  );
}

const uriIn = (root: string, name: string) => pathToFileURL(join(root, ...name.split('/'))).href;

const deniedCode = (error: unknown) => ['EACCES', 'EPERM'].includes((error as { code?: string }).code ?? '');
/**
 * A folder (or file) that cannot be read: made so with chmod, or, where permissions do not bind
 * (root), one of /proc's that only the kernel may read; undefined where there is none.
 */
async function denied(kind: 'folder' | 'file'): Promise<string | undefined> {
  const root = await tree({ 'locked/x.txt': 'x' });
  const own = kind === 'folder' ? join(root, 'locked') : join(root, 'locked', 'x.txt');
  await chmod(own, 0);
  for (const path of [own, kind === 'folder' ? '/proc/1/map_files' : '/proc/1/mem']) {
    const read = kind === 'folder' ? readdir(path) : readFile(path);
    if (await read.then(() => false, deniedCode)) return path;
  }
  await chmod(own, 0o755);
  return undefined;
}

describe('include and exclude', () => {
  const files = {
    '.md': 'dot file named like an extension',
    'B.MD': 'upper',
    'a.md': 'a',
    'a.txt': 'a',
    'ab.txt': 'ab',
    'notes.test.md': 'n',
    'x+y.txt': 'plus',
    'xy.txt': 'no plus',
    '(p).txt': 'parens',
    'p.txt': 'p',
    'sub/c.md': 'c',
    'sub/e.txt': 'e',
    'sub/deep/d.txt': 'd',
    '.hidden/h.md': 'h',
    'node_modules/m/m.md': 'm',
  };

  test('extensions match the end of a name in any case, never a whole name; globs without / match names at any depth', async () => {
    const root = await tree(files);
    expect(await names(root, { include: ['.md'], exclude: [] })).toEqual([
      '.hidden/h.md',
      'B.MD',
      'a.md',
      'node_modules/m/m.md',
      'notes.test.md',
      'sub/c.md',
    ]);
    expect(await names(root, { include: ['.MD'] })).toEqual(['B.MD', 'a.md', 'notes.test.md', 'sub/c.md']);
    // A file named just ".md" is not a Markdown file: the extension pattern does not pick it.
    const picked = loadPath(root, { include: ['.md'], exclude: [] });
    await collect(picked);
    expect(picked.skipped).toEqual([]);
    expect(await names(root, { include: ['.test.md'] })).toEqual(['notes.test.md']);
    // With a wildcard it is a glob, matching whole names (.md is a dot file without an extension).
    const dotted = loadPath(root, { include: ['.m?'], exclude: [] });
    expect(await collect(dotted)).toEqual([]);
    expect(dotted.skipped).toEqual([
      {
        uri: uriIn(root, '.md'),
        reason: 'unsupported-type',
        message: expect.stringMatching(/^no loader for files without an extension/),
      },
    ]);
    expect(await names(root, { include: ['?.txt'] })).toEqual(['a.txt', 'p.txt', 'sub/deep/d.txt', 'sub/e.txt']);
    expect(await names(root, { include: ['a*'] })).toEqual(['a.md', 'a.txt', 'ab.txt']);
    expect(await names(root, { include: ['x+y.txt', '(p).txt'] })).toEqual(['(p).txt', 'x+y.txt']);
    // Globs are case-sensitive (B.MD is not *.md).
    expect(await names(root, { include: ['*.md', 'a.txt'] })).toEqual(['a.md', 'a.txt', 'notes.test.md', 'sub/c.md']);
  });

  test('globs with / match the path below the folder: * within a folder, ** across folders', async () => {
    const root = await tree(files);
    expect(await names(root, { include: ['sub/*.md'] })).toEqual(['sub/c.md']);
    expect(await names(root, { include: ['sub/*'] })).toEqual(['sub/c.md', 'sub/e.txt']);
    expect(await names(root, { include: ['sub/**/*.txt'] })).toEqual(['sub/deep/d.txt', 'sub/e.txt']);
    expect(await names(root, { include: ['**/d.txt'] })).toEqual(['sub/deep/d.txt']);
    expect(await names(root, { include: ['**/a.md'] })).toEqual(['a.md']);
    expect(await names(root, { include: ['sub/**'] })).toEqual(['sub/c.md', 'sub/deep/d.txt', 'sub/e.txt']);
    expect(await names(root, { include: ['s?b/?.md'] })).toEqual(['sub/c.md']);
    expect(await names(root, { include: ['/c.md'] })).toEqual([]);
  });

  test('exclude by name at any depth or by path; the default leaves out node_modules and dot names', async () => {
    const root = await tree(files);
    const all = await names(root);
    expect(all).not.toContain('.md');
    expect(all.some((name) => name.startsWith('.hidden') || name.startsWith('node_modules'))).toBe(false);
    expect(all).toContain('B.MD');
    expect(await names(root, { include: ['.txt'], exclude: ['deep'] })).toEqual([
      '(p).txt',
      'a.txt',
      'ab.txt',
      'p.txt',
      'sub/e.txt',
      'x+y.txt',
      'xy.txt',
    ]);
    expect(await names(root, { include: ['.txt'], exclude: ['sub/deep', '*.txt'] })).toEqual([]);
    expect(await names(root, { include: ['.txt'], exclude: ['sub/*', '(*', '??.txt', '?+?.txt'] })).toEqual([
      'a.txt',
      'p.txt',
    ]);
    // An excluded name is excluded as a file too, not only as a folder.
    expect(await names(root, { include: ['.md'], exclude: ['sub', 'a.md', 'node_modules', '.*'] })).toEqual([
      'B.MD',
      'notes.test.md',
    ]);
    expect(await names(root, { include: ['.md'], recursive: false })).toEqual(['B.MD', 'a.md', 'notes.test.md']);
  });
});

describe('roots', () => {
  test('a file named directly is read whatever its extension (unknown: text/plain), once, with its name as relative path', async () => {
    const root = await tree({ Makefile: 'all:', 'docs/a.md': '# A', 'docs/b.md': '# B' });
    const seen: string[] = [];
    const loaded = loadPath(
      [join(root, 'docs'), join(root, 'Makefile'), join(root, 'docs', 'a.md'), join(root, 'docs')],
      {
        fileMetadata: (file) => {
          seen.push(file.relativePath);
          return undefined;
        },
      },
    );
    const documents = await collect(loaded);
    // Roots are sorted: …/Makefile before …/docs; docs/a.md is read with its folder, not twice.
    expect(documents.map((document) => [document.uri, document.contentType])).toEqual([
      [uriIn(root, 'Makefile'), 'text/plain'],
      [uriIn(root, 'docs/a.md'), 'text/markdown'],
      [uriIn(root, 'docs/b.md'), 'text/markdown'],
    ]);
    expect(seen).toEqual(['Makefile', 'a.md', 'b.md']);
    expect(await loaded.countFiles()).toBe(3);
    // The folder sorts before the file in it, which is then not read again.
    expect(await names(root, {}, [join(root, 'docs', 'b.md'), join(root, 'docs')])).toEqual(['docs/a.md', 'docs/b.md']);
    expect(await names(root, { include: ['.txt'] }, join(root, 'docs', 'a.md'))).toEqual(['docs/a.md']);
  });

  test('a link given as root is followed; a device is listed; a missing path or a path through a file is NotFoundError', async () => {
    const root = await tree({ 'real/a.md': '# A', 'file.md': 'x' });
    await symlink(join(root, 'real'), join(root, 'link'));
    await symlink(join(root, 'file.md'), join(root, 'file-link.md'));
    expect(await names(root, {}, join(root, 'link'))).toEqual(['link/a.md']);
    expect(await names(root, {}, join(root, 'file-link.md'))).toEqual(['file-link.md']);
    const device = loadPath('/dev/null');
    expect(await collect(device)).toEqual([]);
    expect(device.skipped).toEqual([
      { uri: 'file:///dev/null', reason: 'unsupported-type', message: 'not a regular file or folder' },
    ]);
    expect(await loadPath('/dev/null').countFiles()).toBe(0);
    const through = join(root, 'file.md', 'inside.md');
    const error = await collect(loadPath(through)).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(NotFoundError);
    expect((error as NotFoundError).message).toBe(
      `Path "${through}" does not exist. Check the path (relative paths start at the current working directory).`,
    );
    expect(error).toMatchObject({ component: 'loaders', resource: 'Path', resourceName: through });
    await expect(loadPath(join(root, 'gone')).countFiles()).rejects.toThrow(NotFoundError);
    await expect(collect(loadPath(join(root, 'dangling')))).rejects.toThrow(NotFoundError);
    await symlink(join(root, 'nowhere'), join(root, 'dangling'));
    await expect(collect(loadPath(join(root, 'dangling')))).rejects.toThrow(
      `Path "${join(root, 'dangling')}" does not exist`,
    );
  });
});

describe('links below a folder', () => {
  test('not followed: listed; followed: files and folders read through them, broken links listed', async () => {
    const root = await tree({ 'docs/a.md': 'a', 'target/t.md': 't', 'one.md': 'one' });
    await symlink(join(root, 'one.md'), join(root, 'docs', 'b.md'));
    await symlink(join(root, 'target'), join(root, 'docs', 'c'));
    await symlink(join(root, 'missing.md'), join(root, 'docs', 'd.md'));
    const plain = loadPath(join(root, 'docs'));
    expect(await names(root, {}, join(root, 'docs'))).toEqual(['docs/a.md']);
    await collect(plain);
    expect(plain.skipped).toEqual(
      ['b.md', 'c', 'd.md'].map((name) => ({
        uri: uriIn(root, `docs/${name}`),
        reason: 'link',
        message: 'symbolic link not followed (followSymlinks: false)',
      })),
    );
    const followed = loadPath(join(root, 'docs'), { followSymlinks: true });
    expect((await collect(followed)).map((document) => [document.uri, document.text])).toEqual([
      [uriIn(root, 'docs/a.md'), 'a'],
      [uriIn(root, 'docs/b.md'), 'one'],
      [uriIn(root, 'docs/c/t.md'), 't'],
    ]);
    expect(followed.skipped).toEqual([
      { uri: uriIn(root, 'docs/d.md'), reason: 'link', message: 'broken symbolic link' },
    ]);
    expect(await followed.countFiles()).toBe(3);
    // Not recursive: a followed link to a folder is a folder, left alone.
    expect(await names(root, { followSymlinks: true, recursive: false }, join(root, 'docs'))).toEqual([
      'docs/a.md',
      'docs/b.md',
    ]);
  });

  test('followed links into a folder already walked do not read it twice (no loops)', async () => {
    const root = await tree({ 'a/x.md': 'x' });
    await symlink(root, join(root, 'a', 'up'));
    expect(await names(root, { followSymlinks: true })).toEqual(['a/x.md']);
  });
});

describe('sidecars', () => {
  test("a named file's sidecar is read; a folder named like a sidecar is not; sidecars: false reads none", async () => {
    const root = await tree({
      'a.md': '# A',
      'a.md.meta.json': '{"owner":"ada"}',
      'b.md': '# B',
      'b.md.meta.json/inner.txt': 'a folder, not a sidecar',
    });
    const [a] = await collect(loadPath(join(root, 'a.md')));
    expect(a?.metadata).toEqual({ owner: 'ada' });
    const [b] = await collect(loadPath(join(root, 'b.md')));
    expect(b).toEqual({
      uri: uriIn(root, 'b.md'),
      text: '# B',
      contentType: 'text/markdown',
      title: 'B',
      modifiedAt: expect.any(String),
    });
    const [plain] = await collect(loadPath(join(root, 'a.md'), { sidecars: false }));
    expect(plain?.metadata).toBeUndefined();
    // In a folder: a sidecar beside its file is not a document; the folder named like one is walked.
    expect(await names(root)).toEqual(['a.md', 'b.md', 'b.md.meta.json/inner.txt']);
    // A sidecar without its file is an ordinary JSON file.
    const lone = await tree({ 'x.md.meta.json': '{"k":1}' });
    expect((await collect(loadPath(lone))).map((document) => document.text)).toEqual(['k: 1']);
  });

  test('a sidecar that is not UTF-8 or not a JSON object skips its file with the reason', async () => {
    const root = await tree({
      'a.txt': 'a',
      'a.txt.meta.json': new Uint8Array([0x7b, 0xff, 0x7d]),
      'b.txt': 'b',
      'b.txt.meta.json': '[1, 2]',
      'c.txt': 'c',
      'c.txt.meta.json': 'null',
      'd.txt': 'd',
      'd.txt.meta.json': '{\n "k": tru\n}',
    });
    const loaded = loadPath(root);
    expect(await collect(loaded)).toEqual([]);
    expect(loaded.skipped).toEqual([
      {
        uri: uriIn(root, 'a.txt'),
        reason: 'unreadable',
        message: `its sidecar ${join(root, 'a.txt.meta.json')} cannot be read: it is not valid UTF-8 text`,
      },
      {
        uri: uriIn(root, 'b.txt'),
        reason: 'invalid-content',
        message: 'its sidecar b.txt.meta.json must hold a JSON object',
      },
      {
        uri: uriIn(root, 'c.txt'),
        reason: 'invalid-content',
        message: 'its sidecar c.txt.meta.json must hold a JSON object',
      },
      {
        uri: uriIn(root, 'd.txt'),
        reason: 'parse-error',
        message: expect.stringMatching(/^its sidecar d\.txt\.meta\.json: invalid JSON at line 2, column 7 \(/),
        line: 2,
        column: 7,
      },
    ]);
    const error = await collect(loadPath(root, { strict: true })).catch((caught: unknown) => caught);
    expect(UnreadableSourceError.isInstance(error)).toBe(true);
    expect(error).toMatchObject({ source: uriIn(root, 'a.txt'), reason: 'unreadable', component: 'loaders' });
    expect((error as Error).cause).toBeInstanceOf(TypeError);
    const parse = await collect(loadPath(join(root, 'd.txt'), { strict: true })).catch((caught: unknown) => caught);
    expect(parse).toMatchObject({ reason: 'parse-error', line: 2, column: 7 });
    expect(UnreadableSourceError.isInstance((parse as Error).cause)).toBe(true);
  });

  test('a sidecar that vanishes before it is read skips its file as unreadable', async () => {
    const root = await tree({ 'a.txt': 'a', 'b.txt': 'b', 'b.txt.meta.json': '{}' });
    const loaded = loadPath(root);
    // The sidecar is removed after a.txt is read, before b.txt is (the walk saw it beside b.txt).
    const documents: SourceDocument[] = [];
    for await (const document of loaded) {
      documents.push(document);
      await rm(join(root, 'b.txt.meta.json'), { force: true });
    }
    expect(documents.map((document) => document.text)).toEqual(['a']);
    expect(loaded.skipped).toEqual([
      {
        uri: uriIn(root, 'b.txt'),
        reason: 'unreadable',
        message: `its sidecar ${join(root, 'b.txt.meta.json')} cannot be read: Path "${join(root, 'b.txt.meta.json')}" does not exist. Check the path (relative paths start at the current working directory).`,
      },
    ]);
  });
});

describe('what each file is loaded with', () => {
  test('the fileMetadata hook sees the file; front matter (BOM and CRLF too) < sidecar < hook < metadata', async () => {
    const root = await tree({
      'docs/p.md': '\ufeff---\r\nowner: front\r\nlevel: 1\r\n---\r\n# P\r\n',
      'docs/p.md.meta.json': '{"level":2}',
      'docs/q.txt': 'plain',
      'docs/r.md': '# R',
    });
    const when = new Date('2026-03-04T05:06:07.000Z');
    await utimes(join(root, 'docs', 'p.md'), when, when);
    const files: LoadedFile[] = [];
    const documents = await collect(
      loadPath(join(root, 'docs'), {
        metadata: { tenant: 'acme' },
        fileMetadata: async (file) => {
          files.push(file);
          return file.relativePath === 'q.txt' ? undefined : { level: 3, tenant: 'hook', hooked: true };
        },
      }),
    );
    expect(files[0]).toEqual({
      path: join(root, 'docs', 'p.md'),
      uri: uriIn(root, 'docs/p.md'),
      relativePath: 'p.md',
      size: (await stat(join(root, 'docs', 'p.md'))).size,
      modifiedAt: '2026-03-04T05:06:07.000Z',
      contentType: 'text/markdown',
      metadata: { owner: 'front', level: 2 },
    });
    expect(files.map((file) => [file.relativePath, file.metadata])).toEqual([
      ['p.md', { owner: 'front', level: 2 }],
      ['q.txt', {}],
      ['r.md', {}],
    ]);
    expect(documents.map((document) => document.metadata)).toEqual([
      { owner: 'front', level: 3, tenant: 'acme', hooked: true },
      { tenant: 'acme' },
      { level: 3, tenant: 'acme', hooked: true },
    ]);
    expect(documents[0]).toMatchObject({ title: 'P', text: '# P\n', modifiedAt: '2026-03-04T05:06:07.000Z' });
    // No fields anywhere: no metadata at all.
    const [bare] = await collect(loadPath(join(root, 'docs', 'q.txt'), { fileMetadata: () => ({}) }));
    expect(bare).not.toHaveProperty('metadata');
    // frontMatter: false leaves the block in the text and out of the metadata.
    const [raw] = await collect(
      loadPath(join(root, 'docs', 'p.md'), { frontMatter: false, fileMetadata: (file) => file.metadata }),
    );
    expect(raw?.metadata).toEqual({ level: 2 });
    expect(raw?.text.startsWith('---\nowner: front')).toBe(true);
  });

  test('only Markdown files have front matter', async () => {
    const root = await tree({ 'a.txt': '---\nowner: x\n---\ntext' });
    const seen: LoadedFile[] = [];
    const [document] = await collect(loadPath(root, { fileMetadata: (file) => void seen.push(file) }));
    expect(seen[0]?.metadata).toEqual({});
    expect(document).toStrictEqual({
      uri: uriIn(root, 'a.txt'),
      text: '---\nowner: x\n---\ntext',
      contentType: 'text/plain',
      modifiedAt: expect.any(String),
    });
  });

  test('front matter that does not parse skips the file unless front matter is off', async () => {
    const root = await tree({ 'bad.md': '---\na: [1\n---\nbody' });
    const loaded = loadPath(root);
    expect(await collect(loaded)).toEqual([]);
    expect(loaded.skipped).toEqual([
      {
        uri: uriIn(root, 'bad.md'),
        reason: 'parse-error',
        message: 'front matter line 2: a flow sequence must close on the same line',
        line: 2,
      },
    ]);
    expect(await names(root, { frontMatter: false })).toEqual(['bad.md']);
  });

  test('textFields go to JSON and JSONL files only; textField and idField to JSONL only', async () => {
    const root = await tree({
      'a.json': '{"body":"from json","n":1}',
      'b.jsonl': '{"id":"x","body":"from jsonl"}\n',
      'c.md': '# Markdown keeps its text',
      'd.ndjson': '{"body":"two","id":"y"}',
    });
    const withFields = await collect(loadPath(root, { textFields: ['body'] }));
    expect(withFields.map((document) => document.text)).toEqual([
      'from json',
      'from jsonl',
      '# Markdown keeps its text',
      'two',
    ]);
    const records = await collect(loadPath(root, { textField: 'body', idField: 'id' }));
    expect(records.map((document) => [document.uri.split('/').at(-1), document.text])).toEqual([
      ['a.json', 'body: from json\nn: 1'],
      ['b.jsonl#x', 'from jsonl'],
      ['c.md', '# Markdown keeps its text'],
      ['d.ndjson#y', 'two'],
    ]);
  });

  test('limits: maxFileBytes is inclusive (default 10 MiB); invalid UTF-8 is an encoding skip', async () => {
    const root = await tree({
      'a.txt': 'x'.repeat(10),
      'b.txt': 'x'.repeat(11),
      'c.txt': new Uint8Array([0x61, 0xc3, 0x28]),
    });
    const loaded = loadPath(root, { maxFileBytes: 10, encoding: 'utf8' });
    expect((await collect(loaded)).map((document) => document.text)).toEqual(['x'.repeat(10)]);
    expect(loaded.skipped).toEqual([
      {
        uri: uriIn(root, 'b.txt'),
        reason: 'too-big',
        message: 'file is 11 bytes, more than maxFileBytes (10); raise maxFileBytes',
      },
      { uri: uriIn(root, 'c.txt'), reason: 'encoding', message: 'not valid UTF-8 text' },
    ]);
    const big = await tree({ 'max.txt': 'y'.repeat(10 * 1024 * 1024), 'over.txt': 'y'.repeat(10 * 1024 * 1024 + 1) });
    const byDefault = loadPath(big);
    expect((await collect(byDefault)).map((document) => document.uri)).toEqual([uriIn(big, 'max.txt')]);
    expect(byDefault.skipped).toEqual([
      {
        uri: uriIn(big, 'over.txt'),
        reason: 'too-big',
        message: 'file is 10485761 bytes, more than maxFileBytes (10485760); raise maxFileBytes',
      },
    ]);
  });

  test('DOCX: the caller metadata and the file time go to the loader; unreadable ones are listed with their reason', async () => {
    const root = await tree({ 'a.docx': await libraryDocx([{ text: 'Word text' }]), 'b.docx': 'PK not really' });
    const when = new Date('2026-02-03T04:05:06.000Z');
    await utimes(join(root, 'a.docx'), when, when);
    const loaded = loadPath(root, { metadata: { team: 't' } });
    expect(await collect(loaded)).toStrictEqual([
      {
        uri: uriIn(root, 'a.docx'),
        text: 'Word text',
        contentType: 'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
        modifiedAt: '2026-02-03T04:05:06.000Z',
        metadata: { team: 't' },
      },
    ]);
    expect(loaded.skipped).toEqual([
      { uri: uriIn(root, 'b.docx'), reason: 'parse-error', message: 'not a DOCX file (not a zip archive)' },
    ]);
    const [plain] = await collect(loadPath(join(root, 'a.docx')));
    expect(plain).not.toHaveProperty('metadata');
  });
});

describe('progress and skipped', () => {
  test('progress after each file; skipped and progress start again with each iteration', async () => {
    const root = await tree({ 'a.jsonl': '{"a":1}\n{"a":2}\n', 'b.png': 'x', 'c.txt': 'hello' });
    const events: LoadProgress[] = [];
    const reported: string[] = [];
    const loaded = loadPath(root, {
      onProgress: (event) => events.push(event),
      onSkip: (entry) => reported.push(entry.reason),
    });
    expect(await collect(loaded)).toHaveLength(3);
    const a = join(root, 'a.jsonl');
    expect(events).toEqual([
      { files: 1, documents: 2, skipped: 0, bytes: 16, path: a },
      { files: 2, documents: 2, skipped: 1, bytes: 16, path: join(root, 'b.png') },
      { files: 3, documents: 3, skipped: 1, bytes: 21, path: join(root, 'c.txt') },
    ]);
    expect(loaded.skipped).toHaveLength(1);
    await collect(loaded);
    expect(events.slice(3)).toEqual(events.slice(0, 3));
    expect(loaded.skipped).toHaveLength(1);
    expect(reported).toEqual(['unsupported-type', 'unsupported-type']);
    // countFiles walks without reading or listing.
    expect(await loaded.countFiles()).toBe(3);
    expect(loaded.skipped).toHaveLength(1);
  });

  test('a file or folder removed during the walk is listed as unreadable and the walk goes on', async () => {
    const root = await tree({ 'a.txt': 'a', 'b.txt': 'b', 'c/d.txt': 'd', 'e.txt': 'e' });
    const loaded = loadPath(root);
    // Removed after a.txt is read, when the walk has listed the folder but not reached them.
    const texts: string[] = [];
    for await (const document of loaded) {
      texts.push(document.text);
      await rm(join(root, 'b.txt'), { force: true });
      await rm(join(root, 'c'), { recursive: true, force: true });
    }
    expect(texts).toEqual(['a', 'e']);
    const missing = (path: string) =>
      `Path "${path}" does not exist. Check the path (relative paths start at the current working directory).`;
    expect(loaded.skipped).toEqual([
      { uri: uriIn(root, 'b.txt'), reason: 'unreadable', message: missing(join(root, 'b.txt')) },
      { uri: uriIn(root, 'c'), reason: 'unreadable', message: missing(join(root, 'c')) },
    ]);
  });

  test('strict: the error names the file, says why, carries the hint and the cause', async () => {
    const root = await tree({ 'a.bin': 'x' });
    const error = await collect(loadPath(root, { strict: true })).catch((caught: unknown) => caught);
    expect(UnreadableSourceError.isInstance(error)).toBe(true);
    expect(error).toMatchObject({
      source: uriIn(root, 'a.bin'),
      reason: 'unsupported-type',
      component: 'loaders',
      message: `${uriIn(root, 'a.bin')}: no loader for .bin files (kumiki reads .md .markdown .html .htm .json .jsonl .ndjson .txt .pdf .docx). In strict mode every file that is not read is an error; without it such files are skipped and listed`,
    });
    expect((error as Error).cause).toBeUndefined();
  });
});

describe('permission denied', () => {
  test('a folder given that cannot be read is ForbiddenError; one met below a root is listed', async (context) => {
    const folder = await denied('folder');
    if (folder === undefined) return context.skip();
    const error = await collect(loadPath(folder)).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ForbiddenError);
    expect(error).toMatchObject({
      message: `Cannot read "${folder}": permission denied. Grant read access or exclude it.`,
      component: 'loaders',
    });
    expect(deniedCode((error as Error).cause)).toBe(true);
    const root = await tree({ 'a.txt': 'a' });
    await symlink(folder, join(root, 'b'));
    const loaded = loadPath(root, { followSymlinks: true });
    expect((await collect(loaded)).map((document) => document.text)).toEqual(['a']);
    expect(loaded.skipped).toEqual([
      {
        uri: uriIn(root, 'b'),
        reason: 'unreadable',
        message: `Cannot read "${join(root, 'b')}": permission denied. Grant read access or exclude it.`,
      },
    ]);
    await expect(collect(loadPath(root, { followSymlinks: true, strict: true }))).rejects.toMatchObject({
      reason: 'unreadable',
      cause: expect.any(ForbiddenError),
    });
  });

  test('a file that cannot be read is listed as unreadable', async (context) => {
    const file = await denied('file');
    if (file === undefined) return context.skip();
    const loaded = loadPath(file);
    expect(await collect(loaded)).toEqual([]);
    expect(loaded.skipped).toEqual([
      {
        uri: pathToFileURL(file).href,
        reason: 'unreadable',
        message: `Cannot read "${file}": permission denied. Grant read access or exclude it.`,
      },
    ]);
  });
});

describe('options', () => {
  test('bad options are InvalidArgumentError naming the option', () => {
    const cases: [unknown, unknown, RegExp][] = [
      ['', {}, /a path must not be empty/],
      [[''], {}, /a path must not be empty|paths must be a path/],
      [5, {}, /paths must be a path or a non-empty array of paths/],
      ['.', { include: [''] }, /patterns must not be empty/],
      ['.', { exclude: [''] }, /patterns must not be empty/],
      ['.', { maxFileBytes: 1.5 }, /maxFileBytes must be an integer/],
      ['.', { encoding: 'latin1' }, /encoding must be 'utf8'/],
      ['.', { fileMetadata: {} }, /fileMetadata must be a function/],
      ['.', { onProgress: 1 }, /onProgress must be a function/],
      ['.', { idField: 'id' }, /idField: idField needs textField \(JSONL records\)/],
      ['.', { recursive: 'yes' }, /recursive/],
    ];
    for (const [paths, options, message] of cases) {
      expect(() => loadPath(paths as string, options as LoadPathOptions)).toThrow(message);
    }
    expect(() => loadPath('.', { maxFileBytes: 0.5 })).toThrow(
      'Invalid loadPath options: maxFileBytes: maxFileBytes must be an integer',
    );
    expect(() => loadPath(7 as never)).toThrow('Invalid paths: paths must be a path or a non-empty array of paths');
    expect(() => loadPath('.', { maxFileBytes: 1 })).not.toThrow();
    expect(() => loadPath('.', { idField: 'id', textField: 'text' })).not.toThrow();
  });
});
