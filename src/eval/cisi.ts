/**
 * The CISI test collection (1,460 library-science abstracts, 112 queries, 76 of them judged), in the
 * SMART format of the classic collections (`.I` records with `.T`, `.W`, … fields). Node-only (reads
 * files with node:fs). Other collections and the metrics: collection.ts, metrics.ts.
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
export function parseRecords(text: string): RawRecord[] {
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

export function fieldText(record: RawRecord, name: string): string {
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
