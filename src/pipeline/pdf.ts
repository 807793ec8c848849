/**
 * `kumiki/loaders/pdf`: PDF bytes → one SourceDocument whose text is its pages' text, with where
 * each page starts (so every chunk's citation has its pages). Runtime-neutral: works from bytes in
 * Node, Workers and browsers; `unpdf` (pdf.js built for serverless runtimes), an optional peer, is
 * imported on first use. See docs/loading.md.
 */
import type * as Unpdf from 'unpdf';
import { importOptional, lazy } from '../internal/optional.js';
import { APPLICATION_PDF, type ByteLoaderOptions, parseByteLoaderArguments, unreadable } from './loaders.js';
import type { SourceDocument } from './types.js';

export type PdfToDocumentOptions = ByteLoaderOptions;

type PdfDocument = Awaited<ReturnType<typeof Unpdf.getDocumentProxy>>;

/**
 * unpdf's pdf.js build puts its worker handler in `globalThis.pdfjsWorker` when it is imported, where
 * any other copy of pdf.js in the process (pdfjs-dist, pdf-parse) would take it and fail ("The API
 * version … does not match the Worker version …"). Its own choice of handler is fixed when it opens
 * its first document; after that the global is put back as it was.
 */
let restoreWorkerGlobal: (() => void) | undefined;
const loadUnpdf = lazy(async () => {
  const unpdf = await importOptional('unpdf', 'pdf', () => import('unpdf'));
  const scope = globalThis as { pdfjsWorker?: unknown };
  const had = Object.hasOwn(scope, 'pdfjsWorker');
  const previous = scope.pdfjsWorker;
  // Resolving pdf.js is unpdf's business: a failure there is not the file's.
  await unpdf.getResolvedPDFJS();
  restoreWorkerGlobal = () => {
    restoreWorkerGlobal = undefined;
    if (had) scope.pdfjsWorker = previous;
    else delete scope.pdfjsWorker;
  };
  return unpdf;
});

/** Text items in reading order as pdf.js gives them; `hasEOL` ends a line. */
function pageText(items: readonly unknown[]): string {
  let text = '';
  for (const item of items) {
    if (typeof item !== 'object' || item === null || !('str' in item)) continue;
    const { str, hasEOL } = item as { str: string; hasEOL?: boolean };
    text += hasEOL ? `${str}\n` : str;
  }
  return text
    .replace(/[ \t\u00a0]+\n/g, '\n')
    .replace(/\n{3,}/g, '\n\n')
    .trim();
}

const infoString = (info: unknown, key: string): string | undefined => {
  const value = (info as Record<string, unknown> | undefined)?.[key];
  return typeof value === 'string' && value.trim() !== '' ? value.trim() : undefined;
};

/**
 * Reads a PDF: the text of each page (pages joined by a blank line), `pageStarts` (where each page
 * begins in the text), `title` from the document information (or XMP `dc:title`) and `author` in
 * `metadata` (under the caller's `metadata`). A PDF that needs a password, has no text layer on any
 * page (scanned, image-only), or cannot be parsed throws UnreadableSourceError with reason
 * `encrypted`, `no-text` or `parse-error` (and the page, when one page fails); `unpdf` not installed
 * throws MissingDependencyError. The bytes are copied, never detached.
 */
export async function pdfToDocument(
  uri: string,
  bytes: Uint8Array | ArrayBuffer,
  options: PdfToDocumentOptions = {},
): Promise<SourceDocument> {
  const {
    uri: checkedUri,
    bytes: data,
    options: parsed,
  } = parseByteLoaderArguments(uri, bytes, options, 'pdfToDocument');
  const unpdf = await loadUnpdf();
  let pdf: PdfDocument;
  try {
    // A copy, and a plain Uint8Array: pdf.js may detach the buffer it is given and refuses Node Buffers.
    pdf = await unpdf.getDocumentProxy(new Uint8Array(data), {
      verbosity: 0,
      isEvalSupported: false,
      // A damaged page fails instead of giving whatever text pdf.js could recover from it.
      stopAtErrors: true,
    });
  } catch (error) {
    if ((error as { name?: string } | null)?.name === 'PasswordException') {
      throw unreadable(
        {
          uri: checkedUri,
          reason: 'encrypted',
          message: 'the PDF is password-protected (it needs a password to open)',
        },
        error,
      );
    }
    const detail = error instanceof Error ? error.message : String(error);
    throw unreadable({ uri: checkedUri, reason: 'parse-error', message: `not a readable PDF (${detail})` }, error);
  } finally {
    restoreWorkerGlobal?.();
  }
  try {
    const pages: string[] = [];
    for (let number = 1; number <= pdf.numPages; number++) {
      try {
        const page = await pdf.getPage(number);
        pages.push(pageText((await page.getTextContent()).items));
        page.cleanup();
      } catch (error) {
        const detail = error instanceof Error ? error.message : String(error);
        throw unreadable(
          {
            uri: checkedUri,
            reason: 'parse-error',
            message: `page ${number} cannot be read (${detail})`,
            page: number,
          },
          error,
        );
      }
    }
    if (pages.every((page) => page === '')) {
      throw unreadable({
        uri: checkedUri,
        reason: 'no-text',
        message: `none of its ${pages.length} pages has a text layer (a scanned or image-only PDF: run OCR on it first)`,
      });
    }
    let text = '';
    const pageStarts: number[] = [];
    for (const page of pages) {
      if (page !== '' && text !== '') text += '\n\n';
      pageStarts.push(text.length);
      text += page;
    }
    const meta = await pdf.getMetadata().catch(() => undefined);
    const xmp = meta?.metadata as { get(name: string): unknown } | null | undefined;
    const xmpTitle = xmp?.get('dc:title');
    const title = infoString(meta?.info, 'Title') ?? (typeof xmpTitle === 'string' ? xmpTitle : undefined);
    const author = infoString(meta?.info, 'Author');
    const metadata = author === undefined ? parsed.metadata : { author, ...parsed.metadata };
    return {
      uri: checkedUri,
      text,
      contentType: APPLICATION_PDF,
      ...(parsed.modifiedAt === undefined ? {} : { modifiedAt: parsed.modifiedAt }),
      ...(title === undefined ? {} : { title }),
      ...(metadata === undefined ? {} : { metadata }),
      pageStarts,
    };
  } finally {
    await pdf.destroy();
  }
}
