/**
 * PDF and DOCX loading on real files made in the test (pdf-lib, by hand, the `docx` library), page
 * numbers in citations, a folder with every kind of bad file, and per-file metadata.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { build } from 'esbuild';
import { getDocumentProxy } from 'unpdf';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { UnreadableSourceError } from '../src/core/errors.js';
import { f } from '../src/core/filter.js';
import { createBm25Encoder, createMemoryStore } from '../src/index.js';
import { docxToDocument } from '../src/pipeline/docx.js';
import { ingest } from '../src/pipeline/ingest.js';
import { createMemoryLedger } from '../src/pipeline/ledger.js';
import { loadPath } from '../src/pipeline/loaders-node.js';
import { pdfToDocument } from '../src/pipeline/pdf.js';
import { retrieve } from '../src/pipeline/retrieve.js';
import { createRecursiveSplitter } from '../src/pipeline/splitter.js';
import {
  collect,
  compoundFileHeader,
  handMadePdf,
  imageOnlyPdf,
  libraryDocx,
  libraryPdf,
  rejection,
} from './helpers/documents.js';

/** Page `p`'s lines: every word says which page it is on (`p3w17`), the oracle for page numbers. */
const pageLines = (page: number, lines = 8, words = 9) =>
  Array.from({ length: lines }, (_, line) =>
    Array.from({ length: words }, (_, word) => `p${page}w${line * words + word}`).join(' '),
  );
const pageOf = (word: string) => Number(/^p(\d+)w/.exec(word)?.[1]);

describe('pdfToDocument', () => {
  test('a multi-page PDF from pdf-lib: text per page, where each page starts, title and author', async () => {
    const bytes = await libraryPdf([['First page.', 'Second line.'], [], ['Third page (after an empty one).']], {
      title: 'Quarterly report',
      author: 'Ada Lovelace',
    });
    const copy = bytes.slice();
    const document = await pdfToDocument('mem://report.pdf', bytes, { metadata: { team: 'finance', author: 'app' } });
    expect(document).toEqual({
      uri: 'mem://report.pdf',
      text: 'First page.\nSecond line.\n\nThird page (after an empty one).',
      contentType: 'application/pdf',
      title: 'Quarterly report',
      // The caller's metadata wins over the document's own author.
      metadata: { author: 'app', team: 'finance' },
      pageStarts: [0, 24, 26],
    });
    expect((await pdfToDocument('x', bytes)).metadata).toEqual({ author: 'Ada Lovelace' });
    // The caller's bytes are read, not detached or changed.
    expect(bytes).toEqual(copy);
    expect((await pdfToDocument('x', bytes.buffer.slice(0) as ArrayBuffer)).pageStarts).toEqual([0, 24, 26]);
    // A Node Buffer (what readFile gives), which pdf.js itself refuses.
    expect((await pdfToDocument('x', Buffer.from(bytes))).pageStarts).toEqual([0, 24, 26]);
  });

  test('a hand-made minimal PDF (objects and cross-reference table written byte by byte)', async () => {
    const document = await pdfToDocument(
      'h.pdf',
      handMadePdf([['Hello (world)', 'line two'], ['page two']], { title: 'Hand' }),
    );
    expect(document).toMatchObject({ text: 'Hello (world)\nline two\n\npage two', title: 'Hand', pageStarts: [0, 24] });
  });

  test('encrypted, image-only and corrupt PDFs are typed errors with the reason', async () => {
    const encrypted = handMadePdf([['the secret plan']], { userPassword: 'hunter2' });
    // The file really is encrypted: with the password, pdf.js reads it.
    const opened = await getDocumentProxy(new Uint8Array(encrypted), { password: 'hunter2' });
    const content = await (await opened.getPage(1)).getTextContent();
    expect(content.items.map((item) => ('str' in item ? item.str : '')).join('')).toBe('the secret plan');
    await opened.destroy();

    expect(await rejection(pdfToDocument('e.pdf', encrypted))).toMatchObject({
      reason: 'encrypted',
      message: 'e.pdf: the PDF is password-protected (it needs a password to open)',
    });
    expect(await rejection(pdfToDocument('scan.pdf', await imageOnlyPdf(3)))).toMatchObject({
      reason: 'no-text',
      message: 'scan.pdf: none of its 3 pages has a text layer (a scanned or image-only PDF: run OCR on it first)',
    });
    const good = await libraryPdf([['some text']]);
    for (const corrupt of [good.slice(0, good.length / 2), new TextEncoder().encode('%PDF-1.7\nnot really\n%%EOF')]) {
      expect(await rejection(pdfToDocument('bad.pdf', corrupt))).toMatchObject({
        reason: 'parse-error',
        message: expect.stringMatching(/^bad\.pdf: not a readable PDF \(.+\)$/),
      });
    }
    await expect(pdfToDocument('x.pdf', 'text' as never)).rejects.toThrow(/bytes must be a Uint8Array/);
  });
});

describe('pdf.js elsewhere in the process', () => {
  test("keeps working after kumiki's PDF loader (unpdf's worker handler does not stay in globalThis)", async () => {
    expect((await pdfToDocument('a.pdf', await libraryPdf([['one']]))).text).toBe('one');
    const pdfjs = await import('pdfjs-dist/legacy/build/pdf.mjs');
    const other = await pdfjs.getDocument({ data: await libraryPdf([['two']]), verbosity: 0 }).promise;
    const content = await (await other.getPage(1)).getTextContent();
    expect(content.items.map((item) => ('str' in item ? item.str : '')).join('')).toBe('two');
    await other.destroy();
    expect((await pdfToDocument('b.pdf', await libraryPdf([['three']]))).text).toBe('three');
  });
});

describe('docxToDocument', () => {
  test('Word headings become Markdown headings: the splitter cuts at them and chunks carry them', async () => {
    const bytes = await libraryDocx([
      { heading: 1, text: 'Travel policy' },
      { text: 'Book trains for trips under four hours.' },
      { heading: 2, text: 'Hotels' },
      { text: 'Hotels are booked through the travel desk.' },
      { heading: 2, text: 'Meals' },
      { text: 'Meals are refunded up to the daily rate.' },
    ]);
    const document = await docxToDocument('file:///p.docx', bytes, { modifiedAt: '2026-01-02T00:00:00.000Z' });
    expect(document).toEqual({
      uri: 'file:///p.docx',
      text: '# Travel policy\n\nBook trains for trips under four hours.\n\n## Hotels\n\nHotels are booked through the travel desk.\n\n## Meals\n\nMeals are refunded up to the daily rate.',
      contentType: 'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
      title: 'Travel policy',
      modifiedAt: '2026-01-02T00:00:00.000Z',
    });
    const chunks = createRecursiveSplitter({ chunkSize: 70, chunkOverlap: 0 }).split(document);
    expect(chunks.map((chunk) => [chunk.heading, chunk.text.split('\n')[0]])).toEqual([
      ['Travel policy', '# Travel policy'],
      ['Hotels', '## Hotels'],
      ['Meals', '## Meals'],
    ]);
  });

  test('encrypted, corrupt and empty DOCX files are typed errors with the reason', async () => {
    expect(await rejection(docxToDocument('locked.docx', compoundFileHeader()))).toMatchObject({
      reason: 'encrypted',
      message: expect.stringMatching(/^locked\.docx: an OLE compound file, not a DOCX zip: a password-protected/),
    });
    const good = await libraryDocx([{ text: 'text' }]);
    expect(await rejection(docxToDocument('cut.docx', good.slice(0, 400)))).toMatchObject({
      reason: 'parse-error',
      message: expect.stringMatching(/^cut\.docx: not a readable DOCX file \(.+\)$/),
    });
    expect(await rejection(docxToDocument('n.docx', new TextEncoder().encode('plain text')))).toMatchObject({
      reason: 'parse-error',
      message: 'n.docx: not a DOCX file (not a zip archive)',
    });
    expect(await rejection(docxToDocument('empty.docx', await libraryDocx([{ text: '' }])))).toMatchObject({
      reason: 'no-text',
    });
  });
});

describe('page numbers', () => {
  test('each chunk knows the pages it covers (checked against the page every word was written on)', async () => {
    const pages = [1, 2, 3, 4, 5].map((page) => pageLines(page, page === 3 ? 0 : 8));
    const document = await pdfToDocument('p.pdf', await libraryPdf(pages));
    expect(document.pageStarts).toHaveLength(5);
    for (const chunkSize of [170, 300, 700]) {
      const chunks = createRecursiveSplitter({ chunkSize, chunkOverlap: 40 }).split(document);
      let spanning = 0;
      for (const chunk of chunks) {
        const words = chunk.text.split(/\s+/);
        expect([chunk.page, chunk.pageEnd]).toEqual([pageOf(words[0] as string), pageOf(words.at(-1) as string)]);
        if (chunk.pageEnd !== chunk.page) spanning++;
      }
      // Smaller than a page (~420 characters), chunks run across page breaks; larger, a page is one piece.
      if (chunkSize < 420) expect(spanning).toBeGreaterThan(0);
      else expect(spanning).toBe(0);
    }
  });

  test('pageStarts that cannot be right are refused', () => {
    const splitter = createRecursiveSplitter();
    const base = { uri: 'x', text: 'abc def', contentType: 'application/pdf' };
    for (const pageStarts of [[], [1], [0, 5, 3], [0, 99]]) {
      expect(() => splitter.split({ ...base, pageStarts })).toThrow(/pageStarts must start at 0, never decrease/);
    }
    expect(splitter.split({ ...base, pageStarts: [0, 4, 4] })).toMatchObject([{ page: 1, pageEnd: 3 }]);
  });

  test('ingest writes page and pageEnd; retrieve cites them', async () => {
    const store = createMemoryStore();
    const bm25 = createBm25Encoder();
    const document = await pdfToDocument('file:///manual.pdf', await libraryPdf([1, 2, 3, 4].map((p) => pageLines(p))));
    await ingest({
      store,
      collection: 'manuals',
      documents: [document],
      sparseEmbedder: bm25,
      splitter: createRecursiveSplitter({ chunkSize: 200, chunkOverlap: 0 }),
    });
    const [hit] = await retrieve({ store, collection: 'manuals', query: 'p3w40', sparseEmbedder: bm25, limit: 1 });
    expect(hit?.citation).toMatchObject({ source: 'file:///manual.pdf', page: 3, pageEnd: 3 });
    expect(hit?.payload).toMatchObject({ page: 3, pageEnd: 3 });
    // A chunk across a page break cites the range.
    const all = await retrieve({ store, collection: 'manuals', query: 'p2w71 p3w0', sparseEmbedder: bm25, limit: 50 });
    const across = all.find((chunk) => chunk.text.includes('p2w71') && chunk.text.includes('p3w0'));
    expect(across?.citation).toMatchObject({ page: 2, pageEnd: 3 });
  });

  test('the same text paginated differently is a new version of the source (pages are in the version key)', async () => {
    const store = createMemoryStore();
    const bm25 = createBm25Encoder();
    const ledger = createMemoryLedger();
    const text = 'alpha words here\n\nbravo words here';
    const run = (pageStarts: number[]) =>
      ingest({
        store,
        collection: 'c',
        ledger,
        sparseEmbedder: bm25,
        documents: [{ uri: 'file:///x.pdf', text, contentType: 'application/pdf', pageStarts }],
        splitter: createRecursiveSplitter({ chunkSize: 20, chunkOverlap: 0 }),
      });
    expect(await run([0, 18])).toMatchObject({ added: 1 });
    expect(await run([0, 18])).toMatchObject({ unchanged: 1 });
    expect(await run([0, 0])).toMatchObject({ updated: 1 });
    const [hit] = await retrieve({ store, collection: 'c', query: 'alpha', sparseEmbedder: bm25, limit: 1 });
    expect(hit?.citation).toMatchObject({ page: 2, pageEnd: 2 });
  });
});

describe('a folder with every kind of file', () => {
  let root = '';
  const uri = (name: string) => pathToFileURL(join(root, name)).href;

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'kumiki-documents-'));
    const files: Record<string, string | Uint8Array> = {
      'a-guide.md': '---\ntitle: Guide\nowner: docs-team\ntags: [howto]\n---\n# Guide\n\nKumiki reads guides.\n',
      'b-notes.txt': 'Plain notes about tides.',
      'c-report.pdf': await libraryPdf([pageLines(1), pageLines(2), pageLines(3)], { title: 'Report', author: 'Ada' }),
      'c-report.pdf.meta.json': '{"owner":"finance","acl":["finance"]}',
      'd-policy.docx': await libraryDocx([{ heading: 1, text: 'Policy' }, { text: 'Policies are followed.' }]),
      'e-corrupt.pdf': (await libraryPdf([['cut short']])).slice(0, 300),
      'f-scan.pdf': await imageOnlyPdf(2),
      'g-locked.pdf': handMadePdf([['classified']], { userPassword: 'pw' }),
      'h-broken.json': '{"title": "x",\n "body": }',
      'i-blob.txt': new Uint8Array([0x47, 0x49, 0x46, 0x00, 0x01]),
      'j-photo.png': new Uint8Array([0x89, 0x50, 0x4e, 0x47]),
      'k-locked.docx': compoundFileHeader(),
      'l-data.json': '{"topic":"whales"}',
      'l-data.json.meta.json': '{"owner": }',
      'm-bad-front.md': '---\nowner: [unclosed\n---\ntext',
      'n-lines.jsonl': '{"q":"one"}\nnot json\n{"q":"three"}\n',
      Makefile: 'all:\n\techo hi\n',
    };
    for (const [name, content] of Object.entries(files)) await writeFile(join(root, name), content);
    await mkdir(join(root, 'sub'));
    await writeFile(join(root, 'sub', 'deep.md'), '# Deep\n\nNested file.');
  });
  afterAll(async () => {
    if (root) await rm(root, { recursive: true, force: true });
  });

  const expectedSkips = () => [
    {
      uri: uri('Makefile'),
      reason: 'unsupported-type',
      message: expect.stringMatching(/^no loader for files without an extension/),
    },
    { uri: uri('e-corrupt.pdf'), reason: 'parse-error', message: expect.stringMatching(/^not a readable PDF/) },
    {
      uri: uri('f-scan.pdf'),
      reason: 'no-text',
      message: expect.stringMatching(/^none of its 2 pages has a text layer/),
    },
    {
      uri: uri('g-locked.pdf'),
      reason: 'encrypted',
      message: 'the PDF is password-protected (it needs a password to open)',
    },
    {
      uri: uri('h-broken.json'),
      reason: 'parse-error',
      message: expect.stringMatching(/^invalid JSON at line 2, column 10 /),
      line: 2,
      column: 10,
    },
    { uri: uri('i-blob.txt'), reason: 'binary', message: 'binary content (contains NUL bytes)' },
    {
      uri: uri('j-photo.png'),
      reason: 'unsupported-type',
      message: expect.stringMatching(/^no loader for \.png files/),
    },
    { uri: uri('k-locked.docx'), reason: 'encrypted', message: expect.stringMatching(/^an OLE compound file/) },
    {
      uri: uri('l-data.json'),
      reason: 'parse-error',
      message: expect.stringMatching(/^its sidecar l-data\.json\.meta\.json: invalid JSON at line 1, column 11/),
      line: 1,
      column: 11,
    },
    {
      uri: uri('m-bad-front.md'),
      reason: 'parse-error',
      message: 'front matter line 2: a flow sequence must close on the same line',
      line: 2,
    },
    {
      uri: `${uri('n-lines.jsonl')}#L2`,
      reason: 'parse-error',
      message: expect.stringMatching(/^invalid JSON at line 2, column 1 /),
      line: 2,
      column: 1,
    },
  ];

  test('everything readable is loaded; every other file is in skipped with its reason, and the run goes on', async () => {
    const progress: number[] = [];
    const loaded = loadPath(root, { onProgress: (event) => progress.push(event.files) });
    const documents = await collect(loaded);
    expect(documents.map((document) => document.uri)).toEqual([
      uri('a-guide.md'),
      uri('b-notes.txt'),
      uri('c-report.pdf'),
      uri('d-policy.docx'),
      `${uri('n-lines.jsonl')}#L1`,
      `${uri('n-lines.jsonl')}#L3`,
      uri('sub/deep.md'),
    ]);
    expect(loaded.skipped).toEqual(expectedSkips());
    expect(await loaded.countFiles()).toBe(16);
    expect(progress).toEqual(Array.from({ length: 16 }, (_, i) => i + 1));
    const [guide, , report, policy] = documents;
    expect(guide).toMatchObject({ title: 'Guide', text: '# Guide\n\nKumiki reads guides.\n' });
    expect(guide?.metadata).toEqual({ title: 'Guide', owner: 'docs-team', tags: ['howto'] });
    expect(report).toMatchObject({ title: 'Report', metadata: { author: 'Ada', owner: 'finance', acl: ['finance'] } });
    expect(report?.pageStarts).toHaveLength(3);
    expect(policy).toMatchObject({ title: 'Policy', text: '# Policy\n\nPolicies are followed.' });
  });

  test('ingest takes every readable file; the skips stay listed beside the report', async () => {
    const store = createMemoryStore();
    const bm25 = createBm25Encoder();
    const documents = loadPath(root);
    const report = await ingest({ store, collection: 'all', documents, sparseEmbedder: bm25 });
    expect(report).toMatchObject({ added: 7, updated: 0 });
    expect(documents.skipped.map((entry) => entry.reason)).toEqual(expectedSkips().map((entry) => entry.reason));
    // Per-file metadata reaches the chunks (under metadata.*) and filters see it.
    const finance = await retrieve({
      store,
      collection: 'all',
      query: 'p2w10',
      sparseEmbedder: bm25,
      filter: f.eq('metadata.owner', 'finance'),
    });
    const [hit] = finance;
    const words = hit?.text.split(/\s+/) ?? [];
    expect(words).toContain('p2w10');
    expect(hit?.citation).toMatchObject({
      source: uri('c-report.pdf'),
      title: 'Report',
      page: pageOf(words[0] as string),
      pageEnd: pageOf(words.at(-1) as string),
    });
    const none = await retrieve({
      store,
      collection: 'all',
      query: 'p2w10',
      sparseEmbedder: bm25,
      filter: f.eq('metadata.owner', 'docs-team'),
    });
    expect(none.every((chunk) => chunk.citation.source === uri('a-guide.md'))).toBe(true);
  });

  test('strict: the first file that is not read stops the run with its reason', async () => {
    const run = collect(loadPath(root, { strict: true }));
    await expect(run).rejects.toThrow(UnreadableSourceError);
    await expect(collect(loadPath(root, { strict: true }))).rejects.toMatchObject({
      reason: 'unsupported-type',
      source: uri('Makefile'),
    });
    await expect(collect(loadPath(join(root, 'g-locked.pdf'), { strict: true }))).rejects.toThrow(
      /g-locked\.pdf: the PDF is password-protected \(it needs a password to open\)\. In strict mode/,
    );
  });

  test('metadata: front matter < sidecar < fileMetadata hook < metadata option, on every chunk of the file', async () => {
    const folder = join(root, 'meta');
    await mkdir(folder);
    await writeFile(join(folder, 'x.md'), '---\nowner: front\nlevel: 1\ntopic: tides\n---\n# X\n\nBody.');
    await writeFile(join(folder, 'x.md.meta.json'), '{"owner":"sidecar","level":2,"acl":["a"]}');
    await writeFile(join(folder, 'y.jsonl'), '{"text":"one","n":1}\n{"text":"two","n":2}\n');
    await writeFile(join(folder, 'y.jsonl.meta.json'), '{"source":"crm"}');
    const seen: unknown[] = [];
    const loaded = loadPath(folder, {
      textField: 'text',
      metadata: { tenant: 'acme' },
      fileMetadata: async (file) => {
        seen.push({ relativePath: file.relativePath, contentType: file.contentType, metadata: file.metadata });
        return file.relativePath === 'x.md' ? { level: 3, tenant: 'hook' } : undefined;
      },
    });
    const documents = await collect(loaded);
    expect(seen).toEqual([
      {
        relativePath: 'x.md',
        contentType: 'text/markdown',
        metadata: { owner: 'sidecar', level: 2, topic: 'tides', acl: ['a'] },
      },
      { relativePath: 'y.jsonl', contentType: 'application/x-ndjson', metadata: { source: 'crm' } },
    ]);
    expect(documents.map((document) => document.metadata)).toEqual([
      { owner: 'sidecar', level: 3, topic: 'tides', acl: ['a'], tenant: 'acme' },
      { n: 1, source: 'crm', tenant: 'acme' },
      { n: 2, source: 'crm', tenant: 'acme' },
    ]);
    expect(loaded.skipped).toEqual([]);
    // Sidecars are not documents; turned off, they are JSON documents like any other.
    const plain = await collect(loadPath(folder, { sidecars: false, frontMatter: false, textField: 'text' }));
    expect(plain.map((document) => document.uri.split('/').at(-1))).toEqual([
      'x.md',
      'x.md.meta.json',
      'y.jsonl#L1',
      'y.jsonl#L2',
      'y.jsonl.meta.json',
    ]);
    expect(plain[0]?.text.startsWith('---\nowner: front')).toBe(true);
    await expect(
      collect(loadPath(folder, { fileMetadata: () => ({ bad: undefined }) as never, textField: 'text' })),
    ).rejects.toThrow(/fileMetadata\(.*x\.md\) result/);
  });
});

describe('without the optional libraries', () => {
  test('PDF and DOCX files are skipped as missing-dependency (strict: MissingDependencyError); importing is free', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kumiki-nolibs-'));
    try {
      await build({
        entryPoints: [fileURLToPath(new URL('../src/pipeline/loaders-node.ts', import.meta.url))],
        bundle: true,
        format: 'esm',
        platform: 'node',
        external: ['unpdf', 'mammoth'],
        outfile: join(dir, 'loaders.mjs'),
        logLevel: 'silent',
      });
      await mkdir(join(dir, 'docs'));
      await writeFile(join(dir, 'docs', 'a.pdf'), await libraryPdf([['text']]));
      await writeFile(join(dir, 'docs', 'b.docx'), await libraryDocx([{ text: 'text' }]));
      await writeFile(join(dir, 'docs', 'c.md'), '# C');
      await writeFile(
        join(dir, 'run.mjs'),
        `import { loadPath } from './loaders.mjs';
const loaded = loadPath('docs');
const uris = [];
for await (const document of loaded) uris.push(document.uri.split('/').at(-1));
let strict;
try { for await (const _ of loadPath('docs', { strict: true })) {} } catch (error) { strict = { name: error.name, message: error.message }; }
console.log(JSON.stringify({ uris, skipped: loaded.skipped.map((s) => [s.uri.split('/').at(-1), s.reason, s.message]), strict }));`,
      );
      const { stdout } = await promisify(execFile)(process.execPath, [join(dir, 'run.mjs')], { cwd: dir });
      expect(JSON.parse(stdout)).toEqual({
        uris: ['c.md'],
        skipped: [
          [
            'a.pdf',
            'missing-dependency',
            'Cannot import `unpdf`, which the pdf adapter needs. Install it with `npm install unpdf`.',
          ],
          [
            'b.docx',
            'missing-dependency',
            'Cannot import `mammoth`, which the docx adapter needs. Install it with `npm install mammoth`.',
          ],
        ],
        strict: {
          name: 'MissingDependencyError',
          message: 'Cannot import `unpdf`, which the pdf adapter needs. Install it with `npm install unpdf`.',
        },
      });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
