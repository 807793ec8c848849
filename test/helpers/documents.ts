/**
 * Real PDF and DOCX files for the loader tests, made here: PDFs by pdf-lib and by hand (including a
 * genuinely encrypted one: RC4 40-bit, PDF standard security handler revision 2), DOCX files by the
 * `docx` library, and the header of an encrypted Word file (an OLE compound file).
 */
import { createHash } from 'node:crypto';
import { crc32, deflateSync } from 'node:zlib';
import { Document, HeadingLevel, Packer, Paragraph } from 'docx';
import { PDFDocument, StandardFonts } from 'pdf-lib';
import { expect } from 'vitest';
import { UnreadableSourceError } from '../../src/core/errors.js';
import type { SourceDocument } from '../../src/pipeline/types.js';

/** Every document a loader yields. */
export async function collect(iterable: AsyncIterable<SourceDocument>): Promise<SourceDocument[]> {
  const out: SourceDocument[] = [];
  for await (const document of iterable) out.push(document);
  return out;
}

/** The `UnreadableSourceError` a loader call rejects with (fails the test on anything else). */
export async function rejection(promise: Promise<unknown>): Promise<UnreadableSourceError> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(UnreadableSourceError.isInstance(error), String(error)).toBe(true);
  return error as UnreadableSourceError;
}

/** A PDF of `pages` (each a list of lines) written by pdf-lib, with a title and author when given. */
export async function libraryPdf(
  pages: string[][],
  info: { title?: string; author?: string } = {},
): Promise<Uint8Array> {
  const pdf = await PDFDocument.create();
  if (info.title) pdf.setTitle(info.title);
  if (info.author) pdf.setAuthor(info.author);
  const font = await pdf.embedFont(StandardFonts.Helvetica);
  for (const lines of pages) {
    const page = pdf.addPage([612, 792]);
    lines.forEach((line, i) => {
      page.drawText(line, { x: 50, y: 740 - i * 14, size: 10, font });
    });
  }
  return pdf.save();
}

/** A 2 × 2 RGB PNG. */
function png(): Uint8Array {
  const chunk = (type: string, data: Uint8Array) => {
    const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
    const length = Buffer.alloc(4);
    length.writeUInt32BE(data.length);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(body));
    return Buffer.concat([length, body, crc]);
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(2, 0);
  header.writeUInt32BE(2, 4);
  header.set([8, 2, 0, 0, 0], 8);
  const rows = Buffer.from([0, 255, 0, 0, 0, 255, 0, 0, 0, 0, 255, 255, 255, 255]);
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', header),
    chunk('IDAT', deflateSync(rows)),
    chunk('IEND', new Uint8Array(0)),
  ]);
}

/** A "scanned" PDF: each page holds only an image, no text layer. */
export async function imageOnlyPdf(pageCount: number): Promise<Uint8Array> {
  const pdf = await PDFDocument.create();
  const image = await pdf.embedPng(png());
  for (let i = 0; i < pageCount; i++) pdf.addPage([612, 792]).drawImage(image, { x: 0, y: 0, width: 612, height: 792 });
  return pdf.save();
}

const PAD = Buffer.from('28bf4e5e4e758a4164004e56fffa01082e2e00b6d0683e802f0ca9fe6453697a', 'hex');
const md5 = (...parts: Uint8Array[]) => createHash('md5').update(Buffer.concat(parts)).digest();

function rc4(key: Uint8Array, data: Uint8Array): Uint8Array {
  const s = Array.from({ length: 256 }, (_, i) => i);
  for (let i = 0, j = 0; i < 256; i++) {
    j = (j + (s[i] as number) + (key[i % key.length] as number)) & 255;
    [s[i], s[j]] = [s[j] as number, s[i] as number];
  }
  const out = new Uint8Array(data.length);
  for (let n = 0, i = 0, j = 0; n < data.length; n++) {
    i = (i + 1) & 255;
    j = (j + (s[i] as number)) & 255;
    [s[i], s[j]] = [s[j] as number, s[i] as number];
    out[n] = (data[n] as number) ^ (s[((s[i] as number) + (s[j] as number)) & 255] as number);
  }
  return out;
}

const padded = (password: string) => Buffer.concat([Buffer.from(password, 'latin1'), PAD]).subarray(0, 32);
const escapePdf = (text: string) => text.replace(/[\\()]/g, '\\$&');

/**
 * A PDF written byte by byte: one Helvetica text line per entry of each page, cross-reference
 * offsets computed. With `userPassword`, it is encrypted for real (the content streams are RC4
 * encrypted with the key that password gives), so no reader can open it without the password.
 */
export function handMadePdf(pages: string[][], options: { title?: string; userPassword?: string } = {}): Uint8Array {
  const id = createHash('md5').update(JSON.stringify(pages)).digest();
  const objects: PdfObject[] = [];
  const add = (object: PdfObject) => objects.push(object);
  add('<< /Type /Catalog /Pages 2 0 R >>');
  add(''); // pages, filled below
  add('<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>');
  const kids: number[] = [];
  for (const lines of pages) {
    const content = `BT /F1 12 Tf 14 TL 72 720 Td ${lines.map((line) => `(${escapePdf(line)}) Tj T*`).join(' ')} ET`;
    add({ dict: '', stream: Buffer.from(content, 'latin1') });
    const contentNumber = objects.length;
    kids.push(
      add(
        `<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> >> /Contents ${contentNumber} 0 R >>`,
      ),
    );
  }
  objects[1] = `<< /Type /Pages /Kids [${kids.map((kid) => `${kid} 0 R`).join(' ')}] /Count ${kids.length} >>`;
  let trailer = '';
  let key: Buffer | undefined;
  if (options.userPassword !== undefined) {
    const permissions = -44;
    const owner = rc4(md5(padded(`${options.userPassword}-owner`)).subarray(0, 5), padded(options.userPassword));
    const p = Buffer.alloc(4);
    p.writeInt32LE(permissions);
    key = md5(padded(options.userPassword), owner, p, id).subarray(0, 5);
    const user = rc4(key, PAD);
    const encrypt = add(
      `<< /Filter /Standard /V 1 /R 2 /O <${Buffer.from(owner).toString('hex')}> /U <${Buffer.from(user).toString('hex')}> /P ${permissions} >>`,
    );
    trailer = ` /Encrypt ${encrypt} 0 R`;
  } else if (options.title !== undefined) {
    trailer = ` /Info ${add(`<< /Title (${escapePdf(options.title)}) >>`)} 0 R`;
  }
  const encode = key
    ? (number: number, data: Uint8Array) =>
        rc4(
          md5(key, Buffer.from([number & 255, (number >> 8) & 255, (number >> 16) & 255, 0, 0])).subarray(0, 10),
          data,
        )
    : undefined;
  return writePdf(objects, `${trailer} /ID [<${id.toString('hex')}> <${id.toString('hex')}>]`, encode);
}

export type PdfObject = string | { dict: string; stream: Uint8Array };

/**
 * Numbered PDF objects (the first is the catalog) as a file with its cross-reference table. `trailer`
 * adds entries to the trailer dictionary; `encode` transforms each stream's bytes (for encryption).
 */
export function writePdf(
  objects: readonly PdfObject[],
  trailer: string,
  encode?: (number: number, data: Uint8Array) => Uint8Array,
): Uint8Array {
  const parts: Buffer[] = [Buffer.from('%PDF-1.4\n%\xe2\xe3\xcf\xd3\n', 'latin1')];
  let length = parts[0]?.length ?? 0;
  const offsets: number[] = [];
  objects.forEach((object, index) => {
    const number = index + 1;
    let body: Buffer;
    if (typeof object === 'string') {
      body = Buffer.from(`${number} 0 obj\n${object}\nendobj\n`, 'latin1');
    } else {
      const data = encode ? encode(number, object.stream) : object.stream;
      body = Buffer.concat([
        Buffer.from(
          `${number} 0 obj\n<< /Length ${data.length}${object.dict ? ` ${object.dict}` : ''} >>\nstream\n`,
          'latin1',
        ),
        data,
        Buffer.from('\nendstream\nendobj\n', 'latin1'),
      ]);
    }
    offsets.push(length);
    parts.push(body);
    length += body.length;
  });
  const xref = [
    'xref',
    `0 ${objects.length + 1}`,
    '0000000000 65535 f ',
    ...offsets.map((offset) => `${String(offset).padStart(10, '0')} 00000 n `),
    'trailer',
    `<< /Size ${objects.length + 1} /Root 1 0 R${trailer} >>`,
    'startxref',
    String(length),
    '%%EOF',
    '',
  ].join('\n');
  parts.push(Buffer.from(xref, 'latin1'));
  return new Uint8Array(Buffer.concat(parts));
}

export type DocxBlock = { heading?: 1 | 2 | 3; text: string };

/** A DOCX file written by the `docx` library: paragraphs, some with Word's heading styles. */
export async function libraryDocx(blocks: DocxBlock[]): Promise<Uint8Array> {
  const levels = { 1: HeadingLevel.HEADING_1, 2: HeadingLevel.HEADING_2, 3: HeadingLevel.HEADING_3 } as const;
  const document = new Document({
    sections: [
      {
        children: blocks.map((block) =>
          block.heading
            ? new Paragraph({ text: block.text, heading: levels[block.heading] })
            : new Paragraph(block.text),
        ),
      },
    ],
  });
  return new Uint8Array(await Packer.toBuffer(document));
}

/** The start of an OLE compound file, which is what Word writes for a password-protected document. */
export function compoundFileHeader(): Uint8Array {
  const bytes = new Uint8Array(512);
  bytes.set([0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1, 0, 0, 0, 0, 0, 0, 0, 0, 0x3e, 0, 0x03, 0, 0xfe, 0xff]);
  return bytes;
}
