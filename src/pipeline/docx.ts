/**
 * `kumiki/loaders/docx`: Word (DOCX) bytes → one SourceDocument whose headings are Markdown
 * headings, so the splitter cuts at sections and chunks carry their `heading`. `mammoth`, an
 * optional peer, is imported on first use. See docs/loading.md.
 */
import type Mammoth from 'mammoth';
import { importOptional, lazy } from '../internal/optional.js';
import { htmlToText } from './html.js';
import { APPLICATION_DOCX, type ByteLoaderOptions, parseByteLoaderArguments, unreadable } from './loaders.js';
import type { SourceDocument } from './types.js';

export type DocxToDocumentOptions = ByteLoaderOptions;

const loadMammoth = lazy(async () => {
  const module = await importOptional('mammoth', 'docx', () => import('mammoth'));
  return ((module as { default?: typeof Mammoth }).default ?? module) as typeof Mammoth;
});

const startsWith = (bytes: Uint8Array, magic: readonly number[]) => magic.every((byte, i) => bytes[i] === byte);
/** An OLE compound file: what Word writes for a password-protected document (and for legacy .doc). */
const COMPOUND_FILE = [0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1];
const ZIP = [0x50, 0x4b, 0x03, 0x04];

/**
 * Reads a DOCX file: mammoth turns Word's heading styles into `<h1>`…`<h6>` and the HTML becomes
 * text with `#` headings (see htmlToText); `title` is the first top-level heading. Images are left
 * out (their alt text kept) and external files are never fetched. A password-protected file
 * (`encrypted`), one that is not a DOCX zip or does not parse (`parse-error`) or has no text
 * (`no-text`) throws UnreadableSourceError; `mammoth` not installed throws MissingDependencyError.
 */
export async function docxToDocument(
  uri: string,
  bytes: Uint8Array | ArrayBuffer,
  options: DocxToDocumentOptions = {},
): Promise<SourceDocument> {
  const {
    uri: checkedUri,
    bytes: view,
    options: parsed,
  } = parseByteLoaderArguments(uri, bytes, options, 'docxToDocument');
  if (startsWith(view, COMPOUND_FILE)) {
    throw unreadable({
      uri: checkedUri,
      reason: 'encrypted',
      message:
        'an OLE compound file, not a DOCX zip: a password-protected Word document (or a legacy .doc file); remove the password or save it as .docx',
    });
  }
  if (!startsWith(view, ZIP)) {
    throw unreadable({ uri: checkedUri, reason: 'parse-error', message: 'not a DOCX file (not a zip archive)' });
  }
  const mammoth = await loadMammoth();
  const arrayBuffer = view.buffer.slice(view.byteOffset, view.byteOffset + view.byteLength) as ArrayBuffer;
  let html: string;
  try {
    // Node's mammoth reads `buffer`, its browser build `arrayBuffer`: give both.
    const input = { buffer: new Uint8Array(arrayBuffer) as Buffer, arrayBuffer };
    ({ value: html } = await mammoth.convertToHtml(input, {
      convertImage: mammoth.images.imgElement(async () => ({ src: '' })),
      externalFileAccess: false,
    }));
  } catch (error) {
    const detail = error instanceof Error ? error.message : String(error);
    throw unreadable(
      { uri: checkedUri, reason: 'parse-error', message: `not a readable DOCX file (${detail})` },
      error,
    );
  }
  const { text, title } = htmlToText(html);
  if (text.trim() === '') {
    throw unreadable({ uri: checkedUri, reason: 'no-text', message: 'the document has no text' });
  }
  return {
    uri: checkedUri,
    text,
    contentType: APPLICATION_DOCX,
    ...(parsed.modifiedAt === undefined ? {} : { modifiedAt: parsed.modifiedAt }),
    ...(title === undefined ? {} : { title }),
    ...(parsed.metadata === undefined ? {} : { metadata: parsed.metadata }),
  };
}
