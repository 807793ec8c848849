/**
 * pdfToDocument and docxToDocument on files written here byte by byte (PDF objects with any content
 * stream, document information and XMP metadata) or by the `docx` library: titles, authors, empty
 * pages, a page that fails, byte views and other realms, argument checks, and the errors' fields.
 */

import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { runInNewContext } from 'node:vm';
import { Document, ImageRun, Packer, Paragraph, TextRun } from 'docx';
import { describe, expect, test } from 'vitest';
import { InvalidArgumentError } from '../src/core/errors.js';
import { docxToDocument } from '../src/pipeline/docx.js';
import { loadPath } from '../src/pipeline/loaders-node.js';
import { pdfToDocument } from '../src/pipeline/pdf.js';
import { collect, libraryDocx, type PdfObject, rejection, writePdf } from './helpers/documents.js';

/**
 * A PDF whose pages have the given content streams (Helvetica as /F1), with an optional document
 * information dictionary and XMP metadata stream.
 */
function rawPdf(pages: string[], options: { info?: string; xmp?: string } = {}): Uint8Array {
  const objects: PdfObject[] = [];
  const add = (object: PdfObject) => objects.push(object);
  const stream = (dict: string, data: string) => ({ dict, stream: Buffer.from(data, 'latin1') });
  add('');
  add('');
  add('<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>');
  const kids: number[] = [];
  for (const content of pages) {
    const contents = add(stream('', content));
    kids.push(
      add(
        `<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> >> /Contents ${contents} 0 R >>`,
      ),
    );
  }
  const metadata =
    options.xmp === undefined ? '' : ` /Metadata ${add(stream('/Type /Metadata /Subtype /XML', options.xmp))} 0 R`;
  objects[0] = `<< /Type /Catalog /Pages 2 0 R${metadata} >>`;
  objects[1] = `<< /Type /Pages /Kids [${kids.map((kid) => `${kid} 0 R`).join(' ')}] /Count ${kids.length} >>`;
  const info = options.info === undefined ? '' : ` /Info ${add(options.info)} 0 R`;
  return writePdf(objects, info);
}

const text = (...lines: string[]) =>
  `BT /F1 12 Tf 14 TL 72 720 Td ${lines.map((line) => `(${line}) Tj T*`).join(' ')} ET`;

const xmpTitle = (title: string) =>
  `<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?><x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title><rdf:Alt><rdf:li xml:lang="x-default">${title}</rdf:li></rdf:Alt></dc:title></rdf:Description></rdf:RDF></x:xmpmeta><?xpacket end="w"?>`;

describe('pdfToDocument', () => {
  test('a pdfjsWorker the app already has in globalThis is left as it was', async () => {
    const scope = globalThis as { pdfjsWorker?: unknown };
    const mine = { WorkerMessageHandler: 'the app’s own' };
    scope.pdfjsWorker = mine;
    try {
      expect((await pdfToDocument('a.pdf', rawPdf([text('one')]))).text).toBe('one');
      expect(scope.pdfjsWorker).toBe(mine);
    } finally {
      delete scope.pdfjsWorker;
    }
  });

  test('the document information: title and author trimmed, blank ones left out; XMP dc:title when the information has none', async () => {
    const page = [text('body')];
    expect(
      await pdfToDocument('a.pdf', rawPdf(page, { info: '<< /Title (  Spaced title ) /Author (\tAda  ) >>' })),
    ).toStrictEqual({
      uri: 'a.pdf',
      text: 'body',
      contentType: 'application/pdf',
      title: 'Spaced title',
      metadata: { author: 'Ada' },
      pageStarts: [0],
    });
    expect(await pdfToDocument('a.pdf', rawPdf(page, { info: '<< /Title (   ) /Author () >>' }))).toStrictEqual({
      uri: 'a.pdf',
      text: 'body',
      contentType: 'application/pdf',
      pageStarts: [0],
    });
    expect((await pdfToDocument('a.pdf', rawPdf(page, { xmp: xmpTitle('From XMP') }))).title).toBe('From XMP');
    expect(
      (await pdfToDocument('a.pdf', rawPdf(page, { info: '<< /Title ( ) >>', xmp: xmpTitle('From XMP') }))).title,
    ).toBe('From XMP');
    expect(
      (await pdfToDocument('a.pdf', rawPdf(page, { info: '<< /Title (Info) >>', xmp: xmpTitle('From XMP') }))).title,
    ).toBe('Info');
    expect(
      await pdfToDocument('a.pdf', rawPdf(page), { metadata: { team: 't' }, modifiedAt: '2026-01-02T03:04:05Z' }),
    ).toStrictEqual({
      uri: 'a.pdf',
      text: 'body',
      contentType: 'application/pdf',
      modifiedAt: '2026-01-02T03:04:05Z',
      metadata: { team: 't' },
      pageStarts: [0],
    });
  });

  test('pages: lines end with a newline, pages are joined by a blank line, an empty page starts where the text before it ends', async () => {
    const document = await pdfToDocument('a.pdf', rawPdf(['', text('one', 'two'), '', text('three')]));
    expect(document.text).toBe('one\ntwo\n\nthree');
    expect(document.pageStarts).toEqual([0, 0, 7, 9]);
    const trailing = await pdfToDocument('a.pdf', rawPdf([text('only'), '']));
    expect([trailing.text, trailing.pageStarts]).toEqual(['only', [0, 4]]);
  });

  test('a page that fails is a parse error naming the page (listed by loadPath with it)', async () => {
    const bytes = rawPdf([text('fine'), '/X1 Do', text('never read')]);
    const error = await rejection(pdfToDocument('p.pdf', bytes));
    expect(error).toMatchObject({
      source: 'p.pdf',
      reason: 'parse-error',
      page: 2,
      message: expect.stringMatching(/^p\.pdf: page 2 cannot be read \(.+\)$/),
    });
    expect(error.cause).toBeInstanceOf(Error);
    const root = await mkdtemp(join(tmpdir(), 'kumiki-pdf-'));
    try {
      await writeFile(join(root, 'p.pdf'), bytes);
      const loaded = loadPath(root);
      expect(await collect(loaded)).toEqual([]);
      expect(loaded.skipped).toEqual([
        {
          uri: pathToFileURL(join(root, 'p.pdf')).href,
          reason: 'parse-error',
          message: expect.stringMatching(/^page 2 cannot be read/),
          page: 2,
        },
      ]);
      await expect(collect(loadPath(root, { strict: true }))).rejects.toMatchObject({ page: 2, reason: 'parse-error' });
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });

  test('bytes: views, ArrayBuffers and typed arrays of another realm; bad arguments are InvalidArgumentError', async () => {
    const bytes = rawPdf([text('viewed')]);
    const padded = new Uint8Array(bytes.length + 16);
    padded.set(bytes, 8);
    expect((await pdfToDocument('v.pdf', padded.subarray(8, 8 + bytes.length))).text).toBe('viewed');
    const foreign = runInNewContext('(data) => new Uint8Array(data)')(Array.from(bytes)) as Uint8Array;
    expect(foreign instanceof Uint8Array).toBe(false);
    expect((await pdfToDocument('f.pdf', foreign)).text).toBe('viewed');
    const foreignBuffer = runInNewContext('(data) => new Uint8Array(data).buffer')(Array.from(bytes)) as ArrayBuffer;
    expect((await pdfToDocument('f.pdf', foreignBuffer)).text).toBe('viewed');
    await expect(pdfToDocument('x.pdf', new Uint16Array(4) as never)).rejects.toThrow(
      'Invalid bytes: bytes must be a Uint8Array (a Buffer is one) or an ArrayBuffer',
    );
    await expect(pdfToDocument('', bytes)).rejects.toThrow('Invalid uri: uri must not be empty');
    await expect(pdfToDocument('x.pdf', bytes, { title: 'x' } as never)).rejects.toThrow(
      /^Invalid pdfToDocument options: Unrecognized key: "title"/,
    );
    await expect(pdfToDocument('x.pdf', bytes, { modifiedAt: 'now' })).rejects.toThrow(InvalidArgumentError);
  });
});

/** A 1 × 1 PNG. */
const PNG = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==',
  'base64',
);

describe('docxToDocument', () => {
  test("bytes as a view into a larger buffer or as an ArrayBuffer; the caller's metadata; no title without a heading", async () => {
    const bytes = await libraryDocx([{ text: 'Plain paragraph.' }]);
    const padded = new Uint8Array(bytes.length + 64);
    padded.fill(0x50);
    padded.set(bytes, 32);
    expect(
      await docxToDocument('v.docx', padded.subarray(32, 32 + bytes.length), { metadata: { k: 1 } }),
    ).toStrictEqual({
      uri: 'v.docx',
      text: 'Plain paragraph.',
      contentType: 'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
      metadata: { k: 1 },
    });
    const buffer = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
    expect(await docxToDocument('b.docx', buffer)).toStrictEqual({
      uri: 'b.docx',
      text: 'Plain paragraph.',
      contentType: 'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
    });
    await expect(docxToDocument('b.docx', bytes, { extra: 1 } as never)).rejects.toThrow(
      /^Invalid docxToDocument options: Unrecognized key: "extra"/,
    );
  });

  test("an image's alt text is kept", async () => {
    const document = new Document({
      sections: [
        {
          children: [
            new Paragraph({
              children: [
                new TextRun('Figure: '),
                new ImageRun({
                  type: 'png',
                  data: PNG,
                  transformation: { width: 10, height: 10 },
                  altText: { name: 'chart', description: 'sales by month', title: 'Sales' },
                }),
              ],
            }),
          ],
        },
      ],
    });
    const bytes = new Uint8Array(await Packer.toBuffer(document));
    expect((await docxToDocument('i.docx', bytes)).text).toBe('Figure: sales by month');
  });

  test('only the full zip signature is a DOCX and only the full compound-file signature means encrypted', async () => {
    const cases: [number[], string, string][] = [
      [[], 'parse-error', 'e.docx: not a DOCX file (not a zip archive)'],
      [[0x50, 0x4b, 0x03], 'parse-error', 'e.docx: not a DOCX file (not a zip archive)'],
      [[0x50, 0x4b, 0x05, 0x06, 0, 0], 'parse-error', 'e.docx: not a DOCX file (not a zip archive)'],
      [[0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0x00], 'parse-error', 'e.docx: not a DOCX file (not a zip archive)'],
      [
        [0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1],
        'encrypted',
        expect.stringMatching(/^e\.docx: an OLE compound file/),
      ],
    ] as never;
    for (const [bytes, reason, message] of cases) {
      const error = await rejection(docxToDocument('e.docx', new Uint8Array(bytes)));
      expect(error).toMatchObject({ reason, message, source: 'e.docx' });
    }
    const zip = await rejection(docxToDocument('z.docx', new Uint8Array([0x50, 0x4b, 0x03, 0x04, 1, 2, 3])));
    expect(zip).toMatchObject({
      reason: 'parse-error',
      message: expect.stringMatching(/^z\.docx: not a readable DOCX file \(.+\)$/),
    });
    expect(zip.cause).toBeInstanceOf(Error);
  });

  test('a document of blank paragraphs has no text', async () => {
    const error = await rejection(docxToDocument('b.docx', await libraryDocx([{ text: '   ' }, { text: '\t' }])));
    expect(error).toMatchObject({ reason: 'no-text', message: 'b.docx: the document has no text' });
  });
});
