/**
 * The CISI test collection (1,460 library-science abstracts, 112 queries, 76 of them judged) and the
 * retrieval metrics used by the benchmarks: nDCG@10, MAP and Recall@100 with binary relevance.
 *
 * The files live in the shared data folder beside the repository: `../shared/data/cisi` from the
 * repository root (override with KUMIKI_CISI_DIR).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export type CisiDocument = { id: string; title: string; authors: string[]; abstract: string };
export type CisiQuery = { id: string; text: string };
export type Cisi = {
  documents: CisiDocument[];
  /** Only the queries that have relevance judgements. */
  queries: CisiQuery[];
  /** Query id → ids of the relevant documents. */
  relevant: Map<string, Set<string>>;
};

export const CISI_FILES = ['CISI.ALL', 'CISI.QRY', 'CISI.REL'] as const;

/** `../shared/data/cisi` relative to the repository root, or `KUMIKI_CISI_DIR`. */
export function cisiDirectory(): string {
  return process.env.KUMIKI_CISI_DIR ?? fileURLToPath(new URL('../../shared/data/cisi', import.meta.url));
}

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
      } else if (current) {
        field = name!;
        const values = current.fields.get(field) ?? [];
        values.push((rest ?? '').trim());
        current.fields.set(field, values);
      }
      continue;
    }
    if (!current || !field) continue;
    const values = current.fields.get(field)!;
    values[values.length - 1] = `${values[values.length - 1]}\n${line.trim()}`.trim();
  }
  return records;
}

function fieldText(record: RawRecord, name: string): string {
  return (record.fields.get(name) ?? []).join(' ').replace(/\s+/g, ' ').trim();
}

/** Loads the collection; throws an error naming the directory when it or a file is missing. */
export function loadCisi(directory = cisiDirectory()): Cisi {
  const missing = CISI_FILES.filter((file) => !existsSync(join(directory, file)));
  if (missing.length > 0) {
    throw new Error(
      `CISI collection not found: ${missing.join(', ')} missing in ${directory}. ` +
        'Place CISI.ALL, CISI.QRY and CISI.REL there (shared/data/cisi beside the repository) or set KUMIKI_CISI_DIR.',
    );
  }
  const read = (file: string) => readFileSync(join(directory, file), 'utf8');
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
    const parts = line.trim().split(/\s+/);
    if (parts.length < 2 || parts[0] === '') continue;
    const [queryId, documentId] = parts as [string, string];
    const set = relevant.get(queryId) ?? new Set<string>();
    set.add(documentId);
    relevant.set(queryId, set);
  }
  const queries = parseRecords(read('CISI.QRY'))
    .map((record) => ({ id: record.id, text: fieldText(record, 'W') }))
    .filter((query) => relevant.has(query.id));
  return { documents, queries, relevant };
}

/** nDCG@k with binary gains. */
export function ndcgAt(ranking: readonly string[], relevant: ReadonlySet<string>, k = 10): number {
  let dcg = 0;
  for (let i = 0; i < Math.min(k, ranking.length); i++) if (relevant.has(ranking[i]!)) dcg += 1 / Math.log2(i + 2);
  let ideal = 0;
  for (let i = 0; i < Math.min(k, relevant.size); i++) ideal += 1 / Math.log2(i + 2);
  return ideal === 0 ? 0 : dcg / ideal;
}

/** Average precision over the whole ranking; relevant documents not retrieved count as misses. */
export function averagePrecision(ranking: readonly string[], relevant: ReadonlySet<string>): number {
  if (relevant.size === 0) return 0;
  let hits = 0;
  let sum = 0;
  for (let i = 0; i < ranking.length; i++) {
    if (relevant.has(ranking[i]!)) {
      hits += 1;
      sum += hits / (i + 1);
    }
  }
  return sum / relevant.size;
}

export function recallAt(ranking: readonly string[], relevant: ReadonlySet<string>, k = 100): number {
  if (relevant.size === 0) return 0;
  let hits = 0;
  for (let i = 0; i < Math.min(k, ranking.length); i++) if (relevant.has(ranking[i]!)) hits += 1;
  return hits / relevant.size;
}

export type Metrics = { ndcg10: number; map: number; recall100: number };

/** Mean metrics over the judged queries. `rankings` maps query id → ranked document ids. */
export function evaluate(cisi: Cisi, rankings: ReadonlyMap<string, readonly string[]>): Metrics {
  let ndcg10 = 0;
  let map = 0;
  let recall100 = 0;
  for (const query of cisi.queries) {
    const relevant = cisi.relevant.get(query.id)!;
    const ranking = rankings.get(query.id) ?? [];
    ndcg10 += ndcgAt(ranking, relevant, 10);
    map += averagePrecision(ranking, relevant);
    recall100 += recallAt(ranking, relevant, 100);
  }
  const n = cisi.queries.length;
  return { ndcg10: ndcg10 / n, map: map / n, recall100: recall100 / n };
}
