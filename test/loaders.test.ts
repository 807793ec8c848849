import { mkdir, mkdtemp, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { InvalidArgumentError, NotFoundError, UnreadableSourceError } from '../src/core/errors.js';
import { sha256Hex } from '../src/core/sha256.js';
import { htmlToText } from '../src/pipeline/html.js';
import { fromIterable, fromStrings, textToDocument, textToDocuments } from '../src/pipeline/loaders.js';
import { loadPath } from '../src/pipeline/loaders-node.js';
import type { SkippedSource } from '../src/pipeline/types.js';
import { collect } from './helpers/documents.js';

const PAGE = `<!DOCTYPE html>
<html><head><title>Caf&eacute; &amp; Bar</title><meta charset="utf-8"><style>p { color: red }</style>
<script>var x = "<p>not text</p>";</script></head>
<body>
<!-- a comment -->
<h1>Menu</h1>
<p>Coffee &lt;3 &#8364;2&nbsp;each &#x1F600; &unknown; </p>
<ul><li>Drinks<ul><li>Tea</li><li>Juice</li></ul></li><li>Food</li></ul>
<pre>  line one
    indented &gt; two</pre>
<noscript>enable JS</noscript><template><p>hidden</p></template>
<div>a<br>b</div><p><img src="x.png" alt="a photo"> done</p>
</body></html>`;

describe('htmlToText', () => {
  test('drops scripts, styles and head; decodes entities; lists, headings and pre', () => {
    expect(htmlToText(PAGE)).toEqual({
      title: 'Café & Bar',
      text: [
        '# Menu',
        '',
        'Coffee <3 €2 each 😀 &unknown;',
        '',
        '- Drinks',
        '  - Tea',
        '  - Juice',
        '- Food',
        '',
        '  line one',
        '    indented > two',
        '',
        'a',
        'b',
        '',
        'a photo done',
      ].join('\n'),
    });
  });

  test('title falls back to the first h1; attributes may hold ">"; a stray "<" is text', () => {
    expect(htmlToText('<h2>Sub</h2><h1 data-x="a>b">Main <b>page</b></h1><p>1 < 2</p>')).toEqual({
      title: 'Main page',
      text: '## Sub\n\n# Main page\n\n1 < 2',
    });
    expect(htmlToText('plain &#0; &#xD800; &#1114112;')).toEqual({ text: 'plain \ufffd \ufffd \ufffd' });
  });
});

describe('textToDocuments', () => {
  test('guesses the type from the extension; Markdown keeps its text and finds its title', () => {
    const [markdown] = textToDocuments('notes/a.md', '```\n# not a title\n```\n\n# Real title\r\nbody\r\n', {
      modifiedAt: '2026-01-02T03:04:05.000Z',
      metadata: { team: 'docs' },
    });
    expect(markdown).toEqual({
      uri: 'notes/a.md',
      text: '```\n# not a title\n```\n\n# Real title\nbody\n',
      contentType: 'text/markdown',
      title: 'Real title',
      modifiedAt: '2026-01-02T03:04:05.000Z',
      metadata: { team: 'docs' },
    });
    expect(textToDocuments('x.unknown', 'hello')).toEqual([
      { uri: 'x.unknown', text: 'hello', contentType: 'text/plain' },
    ]);
    expect(textToDocument('page', '<p>hi</p>', { contentType: 'text/HTML; charset=utf-8' })).toEqual({
      uri: 'page',
      text: 'hi',
      contentType: 'text/html',
    });
    expect(textToDocument('r.csv', 'a,b', { contentType: 'text/csv' }).text).toBe('a,b');
  });

  test('JSON becomes path: value lines, or the chosen textFields', () => {
    const json = JSON.stringify({
      title: 'T',
      body: 'Line 1\nLine 2',
      tags: ['a', 'b'],
      meta: { n: 1, ok: true, none: null },
      e: [],
    });
    expect(textToDocument('d.json', json).text).toBe(
      'title: T\nbody: Line 1\nLine 2\ntags[0]: a\ntags[1]: b\nmeta.n: 1\nmeta.ok: true\nmeta.none: null\ne: []',
    );
    expect(textToDocument('d.json', json, { textFields: ['body', 'title', 'missing'] }).text).toBe(
      'Line 1\nLine 2\n\nT',
    );
    expect(textToDocument('list.json', '[{"body":"one"},{"body":"two"}]', { textFields: ['body'] }).text).toBe(
      'one\n\ntwo',
    );
    expect(() => textToDocument('d.json', json, { textFields: ['nope'] })).toThrow(
      /d\.json: none of the textFields \(nope\)/,
    );
  });

  test('invalid JSON names the uri, line and column', () => {
    const call = () => textToDocument('bad.json', '{\n  "a": 1,\n  "b": ]\n}');
    expect(call).toThrow(UnreadableSourceError);
    expect(call).toThrow(/bad\.json: invalid JSON at line 3, column 8/);
    try {
      call();
    } catch (error) {
      expect(error).toMatchObject({ reason: 'parse-error', source: 'bad.json', line: 3, column: 8 });
      expect((error as Error).message).toMatch(/\. Pass onUnsupported: 'skip' \(with onSkip\)/);
    }
    for (const [text, place] of [
      ['{"a" 1}', 'line 1, column 6'],
      ['[1, 2,]', 'line 1, column 7'],
      ['{"a": tru}', 'line 1, column 7'],
      ['"unterminated', 'line 1, column 1'],
      ['{}\n\n  x', 'line 3, column 3'],
      ['', 'line 1, column 1'],
    ]) {
      expect(() => textToDocument('t.json', text as string)).toThrow(`t.json: invalid JSON at ${place}`);
    }
  });

  test('JSONL: one document per line, or records with textField and idField', () => {
    const lines = '{"text":"first","lang":"en"}\n\n{"text":"second","lang":"de"}\n';
    expect(textToDocuments('file:///d/x.jsonl', lines)).toEqual([
      { uri: 'file:///d/x.jsonl#L1', text: 'text: first\nlang: en', contentType: 'application/x-ndjson' },
      { uri: 'file:///d/x.jsonl#L3', text: 'text: second\nlang: de', contentType: 'application/x-ndjson' },
    ]);
    const records = '{"id":"a/1","text":"first","lang":"en"}\n{"id":2,"text":"second"}';
    expect(textToDocuments('r.ndjson', records, { textField: 'text', idField: 'id', metadata: { src: 'r' } })).toEqual([
      {
        uri: 'r.ndjson#a%2F1',
        text: 'first',
        contentType: 'application/x-ndjson',
        metadata: { id: 'a/1', lang: 'en', src: 'r' },
      },
      { uri: 'r.ndjson#2', text: 'second', contentType: 'application/x-ndjson', metadata: { id: 2, src: 'r' } },
    ]);
    expect(() => textToDocuments('r.jsonl', '{"text":"a"}\n{"text": nope}\n')).toThrow(
      /r\.jsonl#L2: invalid JSON at line 2, column 10/,
    );
    expect(() => textToDocuments('r.jsonl', '{"text":1}', { textField: 'text' })).toThrow(
      /r\.jsonl#L1: line 1: field "text" \(textField\) must be a string/,
    );
    expect(() =>
      textToDocuments('r.jsonl', '{"id":1,"text":"a"}\n{"id":1,"text":"b"}', { textField: 'text', idField: 'id' }),
    ).toThrow(/r\.jsonl#L2: line 2: id 1 \(idField\) repeats the record on line 1/);
    expect(() => textToDocument('r.jsonl', lines)).toThrow(/use textToDocuments/);
  });

  test('binary content throws, or is skipped and reported', () => {
    expect(() => textToDocuments('img.txt', 'GIF\u0000\u0001')).toThrow(
      /img\.txt: binary content \(contains NUL bytes\)/,
    );
    const skipped: SkippedSource[] = [];
    const onSkip = (entry: SkippedSource) => skipped.push(entry);
    expect(textToDocuments('img.txt', 'GIF\u0000', { onUnsupported: 'skip', onSkip })).toEqual([]);
    expect(textToDocuments('a.pdf', '%PDF', { onUnsupported: 'skip', onSkip })).toEqual([]);
    expect(textToDocuments('x', 'GIF', { contentType: 'image/gif', onUnsupported: 'skip', onSkip })).toEqual([]);
    expect(skipped).toEqual([
      { uri: 'img.txt', reason: 'binary', message: 'binary content (contains NUL bytes)' },
      {
        uri: 'a.pdf',
        reason: 'unsupported-type',
        message: 'application/pdf is a binary format: read its bytes with pdfToDocument (kumiki/loaders/pdf)',
      },
      { uri: 'x', reason: 'unsupported-type', message: 'unsupported content type image/gif' },
    ]);
    expect(() => textToDocuments('a.gif', 'GIF', { contentType: 'image/gif' })).toThrow(UnreadableSourceError);
    expect(() => textToDocuments('a.gif', 'GIF', { contentType: 'image/gif' })).toThrow(/unsupported content type/);
    expect(() => textToDocuments('x', 'y', { onUnsupported: 'skip' })).toThrow(/needs an onSkip callback/);
    expect(() => textToDocuments('x', 'y', { onUnsupported: 'skip' })).toThrow(InvalidArgumentError);
    expect(() => textToDocuments('', 'y')).toThrow(/uri must not be empty/);
    expect(() => textToDocuments('x', 'y', { modifiedAt: 'yesterday' })).toThrow(/modifiedAt must be an ISO 8601/);
  });
});

describe('skipping unreadable content', () => {
  test("with onUnsupported: 'skip', parse errors are skipped with their place; a bad JSONL line is one source", () => {
    const skipped: SkippedSource[] = [];
    const options = { onUnsupported: 'skip' as const, onSkip: (entry: SkippedSource) => skipped.push(entry) };
    expect(textToDocuments('bad.json', '{\n  "a": ]', options)).toEqual([]);
    const lines = '{"q":"one"}\n{"q": nope}\n{"q":"three"}\n';
    expect(textToDocuments('r.jsonl', lines, options).map((document) => document.uri)).toEqual([
      'r.jsonl#L1',
      'r.jsonl#L3',
    ]);
    expect(textToDocuments('f.json', '{"x":1}', { ...options, textFields: ['body'] })).toEqual([]);
    const records = '{"id":1,"text":"a"}\n{"id":1,"text":"b"}\n{"id":2,"text":3}';
    expect(textToDocuments('ids.jsonl', records, { ...options, textField: 'text', idField: 'id' })).toHaveLength(1);
    expect(skipped).toEqual([
      {
        uri: 'bad.json',
        reason: 'parse-error',
        message: expect.stringMatching(/^invalid JSON at line 2, column 8 \(.+\)$/),
        line: 2,
        column: 8,
      },
      {
        uri: 'r.jsonl#L2',
        reason: 'parse-error',
        message: expect.stringMatching(/^invalid JSON at line 2, column 7 /),
        line: 2,
        column: 7,
      },
      {
        uri: 'f.json',
        reason: 'invalid-content',
        message: 'none of the textFields (body) is present; fix the data or textFields',
      },
      {
        uri: 'ids.jsonl#L2',
        reason: 'invalid-content',
        message: 'line 2: id 1 (idField) repeats the record on line 1',
        line: 2,
      },
      {
        uri: 'ids.jsonl#L3',
        reason: 'invalid-content',
        message: 'line 3: field "text" (textField) must be a string, found 3',
        line: 3,
      },
    ]);
  });

  test('options that do not fit the content type stay InvalidArgumentError, even when skipping', () => {
    const onSkip = () => undefined;
    expect(() => textToDocuments('a.md', '# a', { textFields: ['x'], onUnsupported: 'skip', onSkip })).toThrow(
      InvalidArgumentError,
    );
    expect(() => textToDocuments('a.json', '{}', { textField: 'x' })).toThrow(/textField and idField apply to JSONL/);
  });
});

describe('UnreadableSourceError', () => {
  test('has a stable name and code, is not retryable, and carries the skip fields', () => {
    const error = new UnreadableSourceError({
      source: 'file:///a.json',
      reason: 'parse-error',
      detail: 'invalid JSON at line 1, column 2',
      hint: 'Fix it',
      line: 1,
      column: 2,
    });
    expect(error).toMatchObject({
      name: 'UnreadableSourceError',
      code: 'KUMIKI_UNREADABLE_SOURCE',
      isRetryable: false,
      source: 'file:///a.json',
      reason: 'parse-error',
      detail: 'invalid JSON at line 1, column 2',
      line: 1,
      column: 2,
      page: undefined,
      message: 'file:///a.json: invalid JSON at line 1, column 2. Fix it',
    });
    const foreign = Object.assign(new Error('x'), {
      name: 'UnreadableSourceError',
      [Symbol.for('kumiki.error')]: true,
    });
    expect(UnreadableSourceError.isInstance(foreign)).toBe(true);
    expect(UnreadableSourceError.isInstance(new NotFoundError({ resource: 'Path', name: 'x' }))).toBe(false);
  });
});

describe('Markdown front matter', () => {
  const page = '---\ntitle: "Front: title"\nowner: ada\ntags: [a, b]\nacl:\n  - team-a\n---\n# Heading\n\nBody.\n';

  test("becomes metadata (the caller's fields win) and its title wins over the first heading", () => {
    expect(textToDocument('p.md', page, { metadata: { owner: 'app', tenant: 't1' } })).toEqual({
      uri: 'p.md',
      text: '# Heading\n\nBody.\n',
      contentType: 'text/markdown',
      title: 'Front: title',
      metadata: { title: 'Front: title', owner: 'app', tags: ['a', 'b'], acl: ['team-a'], tenant: 't1' },
    });
    expect(textToDocument('p.md', page, { frontMatter: false }).text).toBe(page);
    // Not Markdown, no front matter; an unclosed block is text.
    expect(textToDocument('p.txt', page).text).toBe(page);
    expect(textToDocument('q.md', '---\nnot closed\n').text).toBe('---\nnot closed\n');
  });

  test('front matter that cannot be read is a parse error with its line, never a guess', () => {
    expect(() => textToDocument('p.md', '---\na: 1\nb: &anchor 2\n---\ntext')).toThrow(
      /p\.md: front matter line 3: anchors, aliases and tags are not supported/,
    );
    const skipped: SkippedSource[] = [];
    const documents = textToDocuments('p.md', '---\nowner:\n  name: x\n   bad: y\n---\n', {
      onUnsupported: 'skip',
      onSkip: (entry) => skipped.push(entry),
    });
    expect(documents).toEqual([]);
    expect(skipped).toEqual([
      {
        uri: 'p.md',
        reason: 'parse-error',
        message: expect.stringMatching(/^front matter line 4: unexpected/),
        line: 4,
      },
    ]);
  });
});

describe('fromStrings and fromIterable', () => {
  test('strings get content-addressed uris; items keep theirs; documents pass through', async () => {
    const hash = `string:${sha256Hex('hello').slice(0, 16)}`;
    expect(
      await collect(fromStrings(['hello', { uri: 'app:1', text: 'world', metadata: { n: 1 } }, { text: 'hello' }])),
    ).toEqual([
      { uri: hash, text: 'hello', contentType: 'text/plain' },
      { uri: 'app:1', text: 'world', contentType: 'text/plain', metadata: { n: 1 } },
      { uri: hash, text: 'hello', contentType: 'text/plain' },
    ]);
    async function* source() {
      yield 'hello';
      yield { uri: 'doc:1', text: '# T', contentType: 'text/markdown', title: 'T' };
    }
    expect(await collect(fromIterable(source()))).toEqual([
      { uri: hash, text: 'hello', contentType: 'text/plain' },
      { uri: 'doc:1', text: '# T', contentType: 'text/markdown', title: 'T' },
    ]);
    expect(await collect(fromIterable(new Set(['hello'])))).toHaveLength(1);
  });

  test('a bad item throws InvalidArgumentError naming its index', async () => {
    expect(() => fromStrings(['ok', { text: 5 } as never])).toThrow(/fromStrings items: 1\.text/);
    expect(() => fromStrings(['ok', 'ok', 7 as never])).toThrow(/2: each item must be a string/);
    expect(() => fromStrings(['a\u0000b'])).toThrow(/0: text contains NUL bytes/);
    expect(() => fromStrings('abc' as never)).toThrow(/items must be an array/);
    expect(() => fromIterable(42 as never)).toThrow(/must be an Iterable or AsyncIterable/);
    const lazy = fromIterable(['a', { uri: '', text: 'b' }]);
    await expect(collect(lazy)).rejects.toThrow(/fromIterable items: 1\.uri: uri must not be empty/);
    await expect(collect(fromIterable([{ text: 'x', extra: 1 } as never]))).rejects.toThrow(InvalidArgumentError);
  });
});

describe('loadPath', () => {
  let root = '';
  const uri = (...parts: string[]) => pathToFileURL(join(root, ...parts)).href;

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'kumiki-loaders-'));
    await mkdir(join(root, 'docs', 'deep'), { recursive: true });
    await mkdir(join(root, 'node_modules', 'pkg'), { recursive: true });
    await mkdir(join(root, '.git'), { recursive: true });
    await mkdir(join(root, 'outside'), { recursive: true });
    await writeFile(join(root, 'docs', 'b.md'), '# Bee\n\nText about bees.\n');
    await writeFile(join(root, 'docs', 'a.html'), PAGE);
    await writeFile(join(root, 'docs', 'deep', 'c.json'), '{"title":"Sea","depth":3}');
    await writeFile(join(root, 'docs', 'deep', 'd.jsonl'), '{"q":"one"}\n{"q":"two"}\n');
    await writeFile(join(root, 'docs', 'image.txt'), Buffer.from([0x47, 0x49, 0x46, 0x00, 0x01]));
    await writeFile(join(root, 'docs', 'big.txt'), 'x'.repeat(2048));
    await writeFile(join(root, 'docs', 'skip.bin'), 'not a supported extension');
    await writeFile(join(root, 'node_modules', 'pkg', 'readme.md'), '# dependency');
    await writeFile(join(root, '.git', 'notes.md'), '# git');
    await writeFile(join(root, 'outside', 'secret.md'), '# outside');
    await symlink(join(root, 'outside'), join(root, 'docs', 'link'));
    await utimes(join(root, 'docs', 'b.md'), new Date('2026-01-01T00:00:00Z'), new Date('2026-01-01T00:00:00Z'));
  });

  afterAll(async () => {
    if (root) await rm(root, { recursive: true, force: true });
  });

  test('walks in sorted order, converts every format, excludes node_modules and dot-folders, lists every file not read', async () => {
    const reported: SkippedSource[] = [];
    const loaded = loadPath(join(root, 'docs'), { maxFileBytes: 1024, onSkip: (entry) => reported.push(entry) });
    const documents = await collect(loaded);
    expect(documents.map((document) => document.uri)).toEqual([
      uri('docs', 'a.html'),
      uri('docs', 'b.md'),
      uri('docs', 'deep', 'c.json'),
      `${uri('docs', 'deep', 'd.jsonl')}#L1`,
      `${uri('docs', 'deep', 'd.jsonl')}#L2`,
    ]);
    expect(documents[0]).toMatchObject({ contentType: 'text/html', title: 'Café & Bar' });
    expect(documents[0]?.text).toContain('- Drinks\n  - Tea');
    expect(documents[1]).toEqual({
      uri: uri('docs', 'b.md'),
      text: '# Bee\n\nText about bees.\n',
      contentType: 'text/markdown',
      title: 'Bee',
      modifiedAt: '2026-01-01T00:00:00.000Z',
    });
    expect(documents[2]?.text).toBe('title: Sea\ndepth: 3');
    expect(documents[4]?.text).toBe('q: two');
    expect(loaded.skipped).toEqual([
      {
        uri: uri('docs', 'big.txt'),
        reason: 'too-big',
        message: 'file is 2048 bytes, more than maxFileBytes (1024); raise maxFileBytes',
      },
      { uri: uri('docs', 'image.txt'), reason: 'binary', message: 'binary content (contains NUL bytes)' },
      { uri: uri('docs', 'link'), reason: 'link', message: 'symbolic link not followed (followSymlinks: false)' },
      {
        uri: uri('docs', 'skip.bin'),
        reason: 'unsupported-type',
        message: expect.stringMatching(/^no loader for \.bin files \(kumiki reads \.md .* \.pdf \.docx\)$/),
      },
    ]);
    expect(reported).toEqual(loaded.skipped);
    expect(await loaded.countFiles()).toBe(7);
  });

  test('the whole tree: node_modules and .git stay out; followSymlinks reads each real folder once', async () => {
    const uris = (await collect(loadPath(root, { include: ['*.md'], followSymlinks: true }))).map((d) => d.uri);
    // outside/ was already read through docs/link (sorted order reaches the link first).
    expect(uris).toEqual([uri('docs', 'b.md'), uri('docs', 'link', 'secret.md')]);
    const plain = (await collect(loadPath(root, { include: ['*.md'] }))).map((d) => d.uri);
    expect(plain).toEqual([uri('docs', 'b.md'), uri('outside', 'secret.md')]);
    const globbed = await collect(loadPath([root, join(root, 'docs')], { include: ['docs/**/*.json'], exclude: [] }));
    expect(globbed.map((d) => d.uri)).toEqual([uri('docs', 'deep', 'c.json')]);
    const flat = await collect(loadPath(join(root, 'docs'), { include: ['.md'], recursive: false }));
    expect(flat.map((d) => d.uri)).toEqual([uri('docs', 'b.md')]);
  });

  test('strict: the first file not read throws UnreadableSourceError; missing paths are NotFoundError either way', async () => {
    await expect(collect(loadPath(join(root, 'docs', 'image.txt'), { strict: true }))).rejects.toThrow(
      /image\.txt: binary content \(contains NUL bytes\)\. In strict mode every file that is not read is an error/,
    );
    await expect(collect(loadPath(join(root, 'docs'), { strict: true, maxFileBytes: 100 }))).rejects.toMatchObject({
      name: 'UnreadableSourceError',
      reason: 'too-big',
      source: uri('docs', 'a.html'),
    });
    const bad = join(root, 'bad.jsonl');
    await writeFile(bad, '{"a":1}\n{"a":\n');
    await expect(collect(loadPath(bad, { strict: true }))).rejects.toThrow(/bad\.jsonl#L2: invalid JSON at line 2/);
    const lenient = loadPath(bad);
    expect((await collect(lenient)).map((document) => document.uri)).toEqual([`${pathToFileURL(bad).href}#L1`]);
    expect(lenient.skipped).toMatchObject([{ uri: `${pathToFileURL(bad).href}#L2`, reason: 'parse-error', line: 2 }]);
    const missing = join(root, 'nope.md');
    await expect(collect(loadPath(missing))).rejects.toThrow(NotFoundError);
    await expect(collect(loadPath(missing))).rejects.toThrow(`Path "${missing}" does not exist`);
    expect(() => loadPath(root, { maxFileBytes: 0 })).toThrow(/maxFileBytes must be positive/);
    expect(() => loadPath(root, { onUnsupported: 'skip' } as never)).toThrow(/Unrecognized key: "onUnsupported"/);
    expect(() => loadPath([])).toThrow(InvalidArgumentError);
  });

  test('reads lazily: documents come before later files are opened', async () => {
    const folder = join(root, 'lazy');
    await mkdir(folder);
    await writeFile(join(folder, '1.txt'), 'one');
    await writeFile(join(folder, '2.txt'), 'two');
    const iterator = loadPath(folder)[Symbol.asyncIterator]();
    const first = await iterator.next();
    expect(first.value?.text).toBe('one');
    // Written after the first document was yielded: a loader that read everything up front would miss it.
    await writeFile(join(folder, '2.txt'), 'changed');
    expect((await iterator.next()).value?.text).toBe('changed');
    expect((await iterator.next()).done).toBe(true);
  });
});
