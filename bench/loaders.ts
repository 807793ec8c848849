/**
 * PDF text extraction, pages per second: kumiki's `pdfToDocument` (unpdf's serverless pdf.js build),
 * `loadPath` on the same files on disk, LangChain's PDFLoader code path (pdf-parse 2 called exactly as
 * `PDFLoader.parseWithV2` in @langchain/community 1.1.29 calls it: `new PDFParse({ data })`,
 * `getText()`, `getInfo()`, `destroy()`), and pdf.js (pdfjs-dist) used directly, page by page, as
 * PDFLoader's pdf-parse 1 path does. Same PDFs (CISI abstracts typeset by pdf-lib), same process,
 * rounds interleaved.
 *
 * @langchain/community itself does not install here: npm refuses its peer set (its optional peer
 * @browserbasehq/stagehand wants openai 4, kumiki has openai 6), so its PDFLoader class is not imported.
 *
 *   npx tsx bench/loaders.ts            (or npm run bench -- loaders)
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PDFDocument, StandardFonts } from 'pdf-lib';
import { loadPath } from '../src/pipeline/loaders-node.js';
import { pdfToDocument } from '../src/pipeline/pdf.js';
import type { SourceDocument } from '../src/pipeline/types.js';
import { documentText, loadCisi } from './cisi.js';

const LINES_PER_PAGE = 48;
const CHARACTERS_PER_LINE = 95;

/** Words wrapped into lines of at most CHARACTERS_PER_LINE characters. */
function wrap(text: string): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/)) {
    if (word === '') continue;
    if (line.length + word.length + 1 > CHARACTERS_PER_LINE && line !== '') {
      lines.push(line);
      line = word;
    } else {
      line = line === '' ? word : `${line} ${word}`;
    }
  }
  if (line !== '') lines.push(line);
  return lines;
}

/** `files` PDFs of `pages` pages each, typeset from the CISI abstracts in order. */
async function makePdfs(files: number, pages: number): Promise<Uint8Array[]> {
  const cisi = loadCisi();
  const lines = cisi.documents.flatMap((document) => [...wrap(documentText(document)), '']);
  const pdfs: Uint8Array[] = [];
  let at = 0;
  for (let file = 0; file < files; file++) {
    const pdf = await PDFDocument.create();
    pdf.setTitle(`CISI part ${file + 1}`);
    const font = await pdf.embedFont(StandardFonts.Helvetica);
    for (let page = 0; page < pages; page++) {
      const sheet = pdf.addPage([612, 792]);
      for (let row = 0; row < LINES_PER_PAGE; row++) {
        const text = lines[at++ % lines.length] as string;
        if (text !== '') sheet.drawText(text, { x: 40, y: 760 - row * 15, size: 9, font });
      }
    }
    pdfs.push(await pdf.save());
  }
  return pdfs;
}

type Extractor = { name: string; run(): Promise<{ pages: number; characters: number }> };

const nonSpace = (text: string) => text.replace(/\s+/g, '').length;

/** Pages and characters of kumiki's documents, taken one at a time. */
async function tally(
  documents: Iterable<Promise<SourceDocument>> | AsyncIterable<SourceDocument>,
): Promise<{ pages: number; characters: number }> {
  let pages = 0;
  let characters = 0;
  for await (const document of documents) {
    pages += document.pageStarts?.length ?? 0;
    characters += nonSpace(document.text);
  }
  return { pages, characters };
}

export async function runLoadersBench(
  options: { files?: number; pages?: number; rounds?: number } = {},
): Promise<string> {
  const files = options.files ?? 20;
  const pagesPerFile = options.pages ?? 25;
  const rounds = options.rounds ?? 3;
  const pdfs = await makePdfs(files, pagesPerFile);
  const folder = await mkdtemp(join(tmpdir(), 'kumiki-bench-loaders-'));
  try {
    for (const [i, bytes] of pdfs.entries())
      await writeFile(join(folder, `part-${String(i).padStart(3, '0')}.pdf`), bytes);
    const { PDFParse } = await import('pdf-parse');
    const pdfjs = await import('pdfjs-dist/legacy/build/pdf.mjs');

    const extractors: Extractor[] = [
      {
        name: 'kumiki `pdfToDocument` (unpdf 1.7.0, pdf.js serverless build)',
        run: () =>
          tally(
            (function* () {
              // Lazily: each PDF is read when the previous one is done.
              for (const [i, bytes] of pdfs.entries()) yield pdfToDocument(`mem://${i}.pdf`, bytes);
            })(),
          ),
      },
      { name: 'kumiki `loadPath` (the same files on disk)', run: () => tally(loadPath(folder)) },
      {
        name: "LangChain PDFLoader's path: pdf-parse 2.4.5 (`PDFParse.getText`, `getInfo`)",
        async run() {
          let pages = 0;
          let characters = 0;
          for (const bytes of pdfs) {
            const parser = new PDFParse({ data: new Uint8Array(bytes) });
            try {
              const text = await parser.getText();
              await parser.getInfo();
              pages += text.total;
              for (const page of text.pages) characters += nonSpace(page.text);
            } finally {
              await parser.destroy();
            }
          }
          return { pages, characters };
        },
      },
      {
        name: 'pdf.js directly (pdfjs-dist 5.4.296 legacy build, `getTextContent` per page)',
        async run() {
          let pages = 0;
          let characters = 0;
          for (const bytes of pdfs) {
            const pdf = await pdfjs.getDocument({
              data: new Uint8Array(bytes),
              useWorkerFetch: false,
              isEvalSupported: false,
              useSystemFonts: true,
              verbosity: 0,
            }).promise;
            try {
              await pdf.getMetadata();
              for (let number = 1; number <= pdf.numPages; number++) {
                const content = await (await pdf.getPage(number)).getTextContent();
                for (const item of content.items) if ('str' in item) characters += nonSpace(item.str);
                pages++;
              }
            } finally {
              await pdf.destroy();
            }
          }
          return { pages, characters };
        },
      },
    ];

    // A warm-up pass loads each library and lets the JIT settle; then rounds, interleaved.
    const checks = new Map<string, { pages: number; characters: number }>();
    const total = files * pagesPerFile;
    for (const extractor of extractors) {
      const check = await extractor.run();
      if (check.pages !== total) throw new Error(`${extractor.name} read ${check.pages} of ${total} pages`);
      checks.set(extractor.name, check);
    }
    const rates = new Map<string, number[]>(extractors.map((extractor) => [extractor.name, []]));
    for (let round = 0; round < rounds; round++) {
      for (const extractor of extractors) {
        const started = performance.now();
        const { pages } = await extractor.run();
        rates.get(extractor.name)?.push(pages / ((performance.now() - started) / 1000));
      }
    }
    const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] as number;
    return [
      '### PDF extraction (pages per second)',
      '',
      `${files} PDFs of ${pagesPerFile} pages (${total} pages, ${LINES_PER_PAGE} lines of CISI abstracts each, typeset ` +
        `by pdf-lib; ${(pdfs.reduce((sum, pdf) => sum + pdf.length, 0) / 2 ** 20).toFixed(1)} MiB), text extracted from ` +
        `bytes in memory (loadPath: from the files), one file at a time, median of ${rounds} interleaved rounds after a ` +
        "warm-up. LangChain's `PDFLoader` (@langchain/community) does not install beside kumiki (npm rejects its peer " +
        'set: its optional peer @browserbasehq/stagehand needs openai 4), so its code path is run directly: pdf-parse 2 ' +
        'called as `PDFLoader.parseWithV2` calls it. Run alone: `npm run bench -- loaders`.',
      '',
      '| extractor | pages/s | pages | characters (non-space) |',
      '| --- | ---: | ---: | ---: |',
      ...extractors.map((extractor) => {
        const check = checks.get(extractor.name) as { pages: number; characters: number };
        return `| ${extractor.name} | ${Math.round(median(rates.get(extractor.name) as number[]))} | ${check.pages} | ${check.characters} |`;
      }),
      '',
      'Equal character counts mean the same text was extracted (spacing aside).',
    ].join('\n');
  } finally {
    await rm(folder, { recursive: true, force: true });
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  console.log(await runLoadersBench());
}
