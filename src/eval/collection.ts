/**
 * Test collections in the usual formats, and TREC run files. Node-only (reads files with node:fs).
 *
 * - SMART (CISI, and the classic collections laid out the same way): one folder with `<NAME>.ALL`
 *   (`.I id`, `.T title`, `.W text` records), `<NAME>.QRY` (`.I id`, `.W text`) and `<NAME>.REL`.
 * - BEIR: `corpus.jsonl` (`{"_id", "title", "text"}` per line), `queries.jsonl` (`{"_id", "text"}`)
 *   and `qrels/test.tsv` (or `qrels.tsv`): `query-id  corpus-id  score`, a header line allowed.
 * - Judgements may also come from a TREC qrels file (`query 0 document grade`) given apart.
 * - Runs: TREC run files, `query Q0 document rank score tag` per line.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import * as z from 'zod';
import { InvalidArgumentError, NotFoundError } from '../core/errors.js';
import { parseArgument } from '../core/validate.js';
import { fieldText, parseRecords } from './cisi.js';

export type TestDocument = { id: string; title: string; text: string };
export type TestQuery = { id: string; text: string };

export type TestCollection = {
  /** The folder's name (e.g. `cisi`). */
  name: string;
  format: 'smart' | 'beir';
  documents: TestDocument[];
  /** The queries that have at least one judgement: only these are scored. */
  queries: TestQuery[];
  /** Number of queries in the collection, judged or not. */
  queryCount: number;
  /** Query id → ids of the documents judged relevant (grade above 0). */
  relevant: Map<string, Set<string>>;
  /** Query id → document id → grade (0 = judged not relevant). */
  grades: Map<string, Map<string, number>>;
  /** Judgements read (query–document pairs, any grade). */
  judgements: number;
};

/** The text every system indexes for a document: its title and its text. */
export function collectionText(document: TestDocument): string {
  return document.title ? `${document.title}\n${document.text}` : document.text;
}

const invalid = (argument: string, path: string, message: string) =>
  new InvalidArgumentError({ argument, issues: [{ path, message }] });

/**
 * Judgements from a qrels file: TREC (`query iteration document grade`, the second column 0 or Q0 on
 * every line), BEIR TSV (`query document grade`, a header allowed) or CISI (`query document …`, every
 * listed pair relevant). Blank lines are skipped; anything else malformed is refused with the line.
 */
export function parseQrels(text: string, file = 'qrels'): Map<string, Map<string, number>> {
  const rows = text
    .split(/\r?\n/)
    .map((line, i) => ({ line: i + 1, parts: line.trim().split(/\s+/) }))
    .filter((row) => row.parts[0] !== '');
  if (rows[0] && rows[0].parts.length === 3 && !Number.isFinite(Number(rows[0].parts[2]))) rows.shift();
  const trec =
    rows.length > 0 && rows.every((row) => row.parts.length === 4 && (row.parts[1] === '0' || row.parts[1] === 'Q0'));
  const grades = new Map<string, Map<string, number>>();
  for (const { line, parts } of rows) {
    let query: string | undefined;
    let document: string | undefined;
    let grade = 1;
    if (trec) [query, , document] = parts;
    else [query, document] = parts;
    if (trec || parts.length === 3) grade = Number(parts[parts.length - 1]);
    if (!query || !document || !Number.isFinite(grade)) {
      throw invalid(
        'qrels',
        `${file}:${line}`,
        'expected "query 0 document grade" (TREC), "query document grade" (BEIR) or "query document …" (CISI)',
      );
    }
    const judged = grades.get(query) ?? new Map<string, number>();
    judged.set(document, Math.max(grade, judged.get(document) ?? Number.NEGATIVE_INFINITY));
    grades.set(query, judged);
  }
  return grades;
}

function readText(path: string, what: string): string {
  if (!existsSync(path)) throw new NotFoundError({ resource: what, name: path });
  return readFileSync(path, 'utf8');
}

/** One JSON object per line; blank lines skipped; a bad line is refused with its number. */
function jsonLines(path: string, what: string): Array<Record<string, unknown>> {
  const out: Array<Record<string, unknown>> = [];
  readText(path, what)
    .split(/\r?\n/)
    .forEach((line, i) => {
      if (line.trim() === '') return;
      let value: unknown;
      try {
        value = JSON.parse(line);
      } catch (error) {
        throw invalid('dataDirectory', `${basename(path)}:${i + 1}`, `not JSON (${(error as Error).message})`);
      }
      if (typeof value !== 'object' || value === null || Array.isArray(value)) {
        throw invalid('dataDirectory', `${basename(path)}:${i + 1}`, 'each line must be a JSON object');
      }
      out.push(value as Record<string, unknown>);
    });
  return out;
}

const idOf = (value: unknown, path: string): string => {
  if (typeof value === 'string' && value.length > 0) return value;
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  throw invalid('dataDirectory', path, '"_id" must be a non-empty string or a number');
};

function loadBeir(directory: string): { documents: TestDocument[]; queries: TestQuery[]; qrels: string | undefined } {
  const documents = jsonLines(join(directory, 'corpus.jsonl'), 'BEIR corpus').map((row, i) => ({
    id: idOf(row._id, `corpus.jsonl:${i + 1}`),
    title: typeof row.title === 'string' ? row.title : '',
    text: typeof row.text === 'string' ? row.text : '',
  }));
  const queries = jsonLines(join(directory, 'queries.jsonl'), 'BEIR queries').map((row, i) => ({
    id: idOf(row._id, `queries.jsonl:${i + 1}`),
    text: typeof row.text === 'string' ? row.text : '',
  }));
  const qrels = [join(directory, 'qrels', 'test.tsv'), join(directory, 'qrels.tsv')].find((path) => existsSync(path));
  return { documents, queries, qrels };
}

function loadSmart(
  directory: string,
  files: string[],
): { documents: TestDocument[]; queries: TestQuery[]; qrels: string | undefined } {
  const pick = (extension: string) => {
    const found = files.filter((file) => file.toUpperCase().endsWith(extension));
    if (found.length > 1) {
      throw invalid('dataDirectory', directory, `holds ${found.join(', ')}: one ${extension} file expected`);
    }
    return found[0] ? join(directory, found[0]) : undefined;
  };
  const all = pick('.ALL') as string;
  const queryFile = pick('.QRY');
  if (!queryFile) throw new NotFoundError({ resource: 'SMART query file (<NAME>.QRY)', name: directory });
  const documents = parseRecords(readText(all, 'SMART documents')).map((record) => ({
    id: record.id,
    title: fieldText(record, 'T'),
    text: fieldText(record, 'W'),
  }));
  const queries = parseRecords(readText(queryFile, 'SMART queries')).map((record) => ({
    id: record.id,
    text: fieldText(record, 'W'),
  }));
  return { documents, queries, qrels: pick('.REL') };
}

/**
 * Loads a test collection from `directory` (SMART or BEIR, recognised by its files); `qrels`, when
 * given, is read instead of the collection's own judgements. Throws NotFoundError naming what is
 * missing, InvalidArgumentError naming the file and line of what is malformed.
 */
export function loadCollection(directory: string, options: { qrels?: string } = {}): TestCollection {
  const dir = parseArgument(z.string().min(1, 'dataDirectory must not be empty'), directory, 'dataDirectory');
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    throw new NotFoundError({
      resource: 'test collection directory',
      name: dir,
      hint: 'It must hold a SMART collection (<NAME>.ALL, .QRY, .REL, like ../shared/data/cisi) or a BEIR one (corpus.jsonl, queries.jsonl, qrels/test.tsv).',
    });
  }
  const files = readdirSync(dir);
  const beir = files.includes('corpus.jsonl');
  const smart = files.some((file) => file.toUpperCase().endsWith('.ALL'));
  if (!beir && !smart) {
    throw new NotFoundError({
      resource: 'test collection (corpus.jsonl, or <NAME>.ALL)',
      name: dir,
      hint: 'A SMART collection has <NAME>.ALL, .QRY and .REL; a BEIR one corpus.jsonl, queries.jsonl and qrels/test.tsv.',
    });
  }
  const loaded = beir ? loadBeir(dir) : loadSmart(dir, files);
  const qrelsFile = options.qrels ?? loaded.qrels;
  if (!qrelsFile) {
    throw new NotFoundError({
      resource: 'relevance judgements',
      name: dir,
      hint: beir ? 'Expected qrels/test.tsv or qrels.tsv, or pass qrels.' : 'Expected <NAME>.REL, or pass qrels.',
    });
  }
  const grades = parseQrels(readText(qrelsFile, 'qrels file'), basename(qrelsFile));
  const relevant = new Map<string, Set<string>>();
  let judgements = 0;
  for (const [query, judged] of grades) {
    judgements += judged.size;
    const ids = [...judged].filter(([, grade]) => grade > 0).map(([id]) => id);
    if (ids.length > 0) relevant.set(query, new Set(ids));
  }
  const seen = new Set<string>();
  for (const document of loaded.documents) {
    if (seen.has(document.id)) throw invalid('dataDirectory', dir, `document id "${document.id}" appears twice`);
    seen.add(document.id);
  }
  return {
    name: basename(dir),
    format: beir ? 'beir' : 'smart',
    documents: loaded.documents,
    queries: loaded.queries.filter((query) => relevant.has(query.id)),
    queryCount: loaded.queries.length,
    relevant,
    grades,
    judgements,
  };
}

/** Query ids in natural order: numerically when every id is a number, else as strings. */
function ordered(ids: readonly string[]): string[] {
  const numeric = ids.every((id) => /^\d+$/.test(id));
  return [...ids].sort((a, b) => (numeric ? Number(a) - Number(b) : a < b ? -1 : a > b ? 1 : 0));
}

/**
 * The fixed train/test split of a collection's judged queries: in id order, the 1st, 3rd, 5th, …
 * query trains (tunes parameters), the 2nd, 4th, … tests. On CISI: 38 and 38 queries.
 */
export function splitQueries(collection: Pick<TestCollection, 'queries'>): { train: Set<string>; test: Set<string> } {
  const ids = ordered(collection.queries.map((query) => query.id));
  return {
    train: new Set(ids.filter((_, i) => i % 2 === 0)),
    test: new Set(ids.filter((_, i) => i % 2 === 1)),
  };
}

/**
 * A TREC run (`query Q0 document rank score tag` per line) as query id → document ids, best first:
 * ordered by score (higher first), then by rank. A malformed line is refused with its number.
 */
export function parseTrecRun(text: string, file = 'run'): Map<string, string[]> {
  const hits = new Map<string, Array<{ document: string; rank: number; score: number }>>();
  text.split(/\r?\n/).forEach((line, i) => {
    const parts = line.trim().split(/\s+/);
    if (parts[0] === '') return;
    const [query, , document, rank, score] = parts;
    if (
      parts.length !== 6 ||
      !query ||
      !document ||
      !Number.isFinite(Number(rank)) ||
      !Number.isFinite(Number(score))
    ) {
      throw invalid('run', `${file}:${i + 1}`, 'expected "query Q0 document rank score tag" (six columns)');
    }
    const list = hits.get(query) ?? [];
    list.push({ document, rank: Number(rank), score: Number(score) });
    hits.set(query, list);
  });
  const rankings = new Map<string, string[]>();
  for (const [query, list] of hits) {
    const seen = new Set<string>();
    const ranking: string[] = [];
    for (const hit of list.sort((a, b) => b.score - a.score || a.rank - b.rank)) {
      if (seen.has(hit.document)) continue;
      seen.add(hit.document);
      ranking.push(hit.document);
    }
    rankings.set(query, ranking);
  }
  return rankings;
}

/** Reads a TREC run file (see `parseTrecRun`). */
export function readTrecRun(path: string): Map<string, string[]> {
  return parseTrecRun(readText(path, 'TREC run file'), basename(path));
}

/**
 * Rankings as a TREC run: `query Q0 document rank score tag`, rank from 1; the score is the number
 * of documents below it plus one, so tools that sort by score keep the order.
 */
export function formatTrecRun(rankings: ReadonlyMap<string, readonly string[]>, tag: string): string {
  const name = tag.replace(/\s+/g, '_') || 'kumiki';
  const lines: string[] = [];
  for (const [query, ranking] of rankings) {
    ranking.forEach((document, i) => {
      lines.push(`${query} Q0 ${document} ${i + 1} ${ranking.length - i} ${name}`);
    });
  }
  return lines.length > 0 ? `${lines.join('\n')}\n` : '';
}
