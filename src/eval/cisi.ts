/**
 * The CISI test collection (1,460 library-science abstracts, 112 queries, 76 of them judged) and the
 * ranking metrics used to score retrieval on it: nDCG@k, average precision and Recall@k with binary
 * relevance. Node-only (reads files with node:fs).
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import * as z from 'zod';
import { NotFoundError } from '../core/errors.js';
import { parseArgument } from '../core/validate.js';

export type CisiDocument = { id: string; title: string; authors: string[]; abstract: string };
export type CisiQuery = { id: string; text: string };
export type Cisi = {
  documents: CisiDocument[];
  /** Only the queries that have relevance judgements. */
  queries: CisiQuery[];
  /** Number of queries in CISI.QRY, judged or not. */
  queryCount: number;
  /** Query id → ids of the relevant documents. */
  relevant: Map<string, Set<string>>;
};

export const CISI_FILES = ['CISI.ALL', 'CISI.QRY', 'CISI.REL'] as const;

/** The text every contender indexes for a document: title and abstract. */
export function documentText(document: CisiDocument): string {
  return `${document.title}\n${document.abstract}`;
}

type RawRecord = { id: string; fields: Map<string, string[]> };

/** Splits a SMART-format file into records: `.I id` starts one, `.X` style lines start a field. */
function parseRecords(text: string): RawRecord[] {
  const records: RawRecord[] = [];
  let current: RawRecord | undefined;
  let field: string | undefined;
  for (const line of text.split(/\r?\n/)) {
    const marker = /^\.([A-Z])(?:\s+(.*))?$/.exec(line);
    if (marker) {
      const [, name, rest] = marker;
      if (name === 'I') {
        current = { id: (rest ?? '').trim(), fields: new Map() };
        records.push(current);
        field = undefined;
      } else if (current && name) {
        field = name;
        const values = current.fields.get(field) ?? [];
        values.push((rest ?? '').trim());
        current.fields.set(field, values);
      }
      continue;
    }
    if (!current || !field) continue;
    const values = current.fields.get(field) as string[];
    values[values.length - 1] = `${values[values.length - 1]}\n${line.trim()}`.trim();
  }
  return records;
}

function fieldText(record: RawRecord, name: string): string {
  return (record.fields.get(name) ?? []).join(' ').replace(/\s+/g, ' ').trim();
}

/**
 * Loads the collection from `directory` (CISI.ALL, CISI.QRY, CISI.REL). Throws NotFoundError naming
 * the directory, or the file, that is missing.
 */
export function loadCisi(directory: string): Cisi {
  const dir = parseArgument(z.string().min(1, 'directory must not be empty'), directory, 'directory');
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    throw new NotFoundError({
      resource: 'CISI data directory',
      name: dir,
      hint: `It must hold ${CISI_FILES.join(', ')} (e.g. ../shared/data/cisi beside the repository).`,
    });
  }
  for (const file of CISI_FILES) {
    if (!existsSync(join(dir, file))) {
      throw new NotFoundError({
        resource: 'CISI file',
        name: join(dir, file),
        hint: `The directory must hold ${CISI_FILES.join(', ')}.`,
      });
    }
  }
  const read = (file: string) => readFileSync(join(dir, file), 'utf8');
  const documents = parseRecords(read('CISI.ALL')).map((record) => ({
    id: record.id,
    title: fieldText(record, 'T'),
    // Each author sits on its own line of one .A field, or in several .A fields.
    authors: (record.fields.get('A') ?? [])
      .flatMap((value) => value.split('\n').map((name) => name.trim()))
      .filter(Boolean),
    abstract: fieldText(record, 'W'),
  }));
  const relevant = new Map<string, Set<string>>();
  for (const line of read('CISI.REL').split(/\r?\n/)) {
    const [queryId, documentId] = line.trim().split(/\s+/);
    if (!queryId || !documentId) continue;
    const set = relevant.get(queryId) ?? new Set<string>();
    set.add(documentId);
    relevant.set(queryId, set);
  }
  const allQueries = parseRecords(read('CISI.QRY')).map((record) => ({ id: record.id, text: fieldText(record, 'W') }));
  const queries = allQueries.filter((query) => relevant.has(query.id));
  return { documents, queries, queryCount: allQueries.length, relevant };
}

const cutoffSchema = z.number().int('k must be an integer').min(1, 'k must be at least 1');
const rankingSchema = z.array(z.string(), { error: 'ranking must be an array of document ids' });
const relevantSchema = z.custom<ReadonlySet<string>>(
  (value) => value instanceof Set,
  'relevant must be a Set of document ids',
);

function metricArguments(ranking: readonly string[], relevant: ReadonlySet<string>, k: number, name: string) {
  return {
    ranking: parseArgument(rankingSchema, ranking, `${name} ranking`),
    relevant: parseArgument(relevantSchema, relevant, `${name} relevant`),
    k: parseArgument(cutoffSchema, k, `${name} k`),
  };
}

/** nDCG@k with binary gains; 0 when nothing is relevant. */
export function ndcgAt(ranking: readonly string[], relevant: ReadonlySet<string>, k = 10): number {
  const args = metricArguments(ranking, relevant, k, 'ndcgAt');
  let dcg = 0;
  for (let i = 0; i < Math.min(args.k, args.ranking.length); i++)
    if (args.relevant.has(args.ranking[i] as string)) dcg += 1 / Math.log2(i + 2);
  let ideal = 0;
  for (let i = 0; i < Math.min(args.k, args.relevant.size); i++) ideal += 1 / Math.log2(i + 2);
  return ideal === 0 ? 0 : dcg / ideal;
}

/**
 * Average precision over the whole ranking given (pass a truncated ranking for AP@k); relevant
 * documents not retrieved count as misses; 0 when nothing is relevant.
 */
export function averagePrecision(ranking: readonly string[], relevant: ReadonlySet<string>): number {
  const args = metricArguments(ranking, relevant, 1, 'averagePrecision');
  if (args.relevant.size === 0) return 0;
  let hits = 0;
  let sum = 0;
  for (let i = 0; i < args.ranking.length; i++) {
    if (args.relevant.has(args.ranking[i] as string)) {
      hits += 1;
      sum += hits / (i + 1);
    }
  }
  return sum / args.relevant.size;
}

/** Share of the relevant documents found in the first k; 0 when nothing is relevant. */
export function recallAt(ranking: readonly string[], relevant: ReadonlySet<string>, k = 100): number {
  const args = metricArguments(ranking, relevant, k, 'recallAt');
  if (args.relevant.size === 0) return 0;
  let hits = 0;
  for (let i = 0; i < Math.min(args.k, args.ranking.length); i++)
    if (args.relevant.has(args.ranking[i] as string)) hits += 1;
  return hits / args.relevant.size;
}

export type Metrics = { ndcg10: number; map: number; recall100: number };

/**
 * Mean nDCG@10, MAP and Recall@100 over the judged queries. `rankings` maps query id → ranked
 * document ids; a judged query without a ranking scores 0.
 */
export function evaluateRankings(cisi: Cisi, rankings: ReadonlyMap<string, readonly string[]>): Metrics {
  let ndcg10 = 0;
  let map = 0;
  let recall100 = 0;
  for (const query of cisi.queries) {
    const relevant = cisi.relevant.get(query.id) ?? new Set<string>();
    const ranking = rankings.get(query.id) ?? [];
    ndcg10 += ndcgAt(ranking, relevant, 10);
    map += averagePrecision(ranking, relevant);
    recall100 += recallAt(ranking, relevant, 100);
  }
  const n = cisi.queries.length;
  return n === 0 ? { ndcg10: 0, map: 0, recall100: 0 } : { ndcg10: ndcg10 / n, map: map / n, recall100: recall100 / n };
}
