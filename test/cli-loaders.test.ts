/**
 * `kumiki ingest` (the built CLI) on a folder with Markdown, a PDF, a DOCX and bad files: what is
 * readable is ingested, the rest is listed with its reason, `--strict` makes the first skip an error.
 */
import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { handMadePdf, imageOnlyPdf, libraryDocx, libraryPdf } from './helpers/documents.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const bin = fileURLToPath(new URL('../dist/cli/index.js', import.meta.url));

let work = '';
let corpus = '';
const uri = (name: string) => pathToFileURL(join(corpus, name)).href;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'kumiki-cli-loaders-'));
  corpus = join(work, 'corpus');
  await mkdir(corpus);
  await writeFile(join(corpus, 'a.md'), '---\nowner: docs\n---\n# Tides\n\nThe moon pulls the oceans.');
  await writeFile(
    join(corpus, 'b.pdf'),
    await libraryPdf([['Lighthouses guide ships.'], ['Keepers trimmed the lamp wicks nightly.']], { title: 'Lights' }),
  );
  await writeFile(
    join(corpus, 'c.docx'),
    await libraryDocx([{ heading: 1, text: 'Bread' }, { text: 'Sourdough rises.' }]),
  );
  await writeFile(join(corpus, 'd-broken.json'), '{"a": }');
  await writeFile(join(corpus, 'e-scan.pdf'), await imageOnlyPdf(1));
  await writeFile(join(corpus, 'f-locked.pdf'), handMadePdf([['x']], { userPassword: 'pw' }));
  await writeFile(join(corpus, 'g.bin'), Buffer.from([0, 1, 2]));
});
afterAll(() => rm(work, { recursive: true, force: true }));

const kumiki = (...args: string[]) =>
  spawnSync(process.execPath, [bin, ...args, '--data-dir', join(work, 'data')], {
    cwd: root,
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '1' },
  });

describe('kumiki ingest on a folder with PDFs, DOCX and bad files (built)', () => {
  test('ingests what it can read; --json lists every other file with its reason', () => {
    const run = kumiki('ingest', corpus, '--json');
    expect(run.status, run.stderr).toBe(0);
    const report = JSON.parse(run.stdout);
    expect(report).toMatchObject({ added: 3, updated: 0 });
    expect(report.skipped).toEqual([
      {
        uri: uri('d-broken.json'),
        reason: 'parse-error',
        message: expect.stringMatching(/^invalid JSON at line 1, column 7/),
        line: 1,
        column: 7,
      },
      { uri: uri('e-scan.pdf'), reason: 'no-text', message: expect.stringMatching(/^none of its 1 pages/) },
      { uri: uri('f-locked.pdf'), reason: 'encrypted', message: expect.stringMatching(/password-protected/) },
      { uri: uri('g.bin'), reason: 'unsupported-type', message: expect.stringMatching(/^no loader for \.bin files/) },
    ]);
  });

  test('text output: one stderr line per skipped file and a summary by reason; search cites the PDF page', () => {
    const run = kumiki('ingest', corpus);
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).toMatch(
      /0 added, 0 updated, 3 unchanged, 0 removed; .* 4 skipped \(1 parse-error, 1 no-text, 1 encrypted, 1 unsupported-type; listed above\)\./,
    );
    expect(run.stderr).toContain(`skipped ${uri('d-broken.json')} [parse-error]: invalid JSON at line 1, column 7`);
    expect(run.stderr).toContain(`skipped ${uri('g.bin')} [unsupported-type]: no loader for .bin files`);
    const search = kumiki('search', 'keepers lamp wicks', '--json');
    expect(search.status, search.stderr).toBe(0);
    // The two short pages fit in one chunk: it cites the range.
    expect(JSON.parse(search.stdout)[0].citation).toMatchObject({
      source: uri('b.pdf'),
      title: 'Lights',
      page: 1,
      pageEnd: 2,
    });
    const text = kumiki('search', 'keepers lamp wicks');
    expect(text.stdout).toContain(`1. ${uri('b.pdf')} pp. 1–2  (score`);
  });

  test('--strict: the first file that is not read fails the run, naming it and the reason', () => {
    const run = kumiki('ingest', corpus, '--strict');
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(
      /^UnreadableSourceError: file:\/\/.*d-broken\.json: invalid JSON at line 1, column 7 .*In strict mode every file that is not read is an error/m,
    );
  });
});
