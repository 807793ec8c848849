import { readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { createBm25Encoder } from '../bm25/index.js';
import type { Match } from '../core/types.js';
import { createMemoryStore } from '../stores/memory/index.js';

export const SAMPLE_QUESTIONS = [
  'How do filters treat missing fields and null values?',
  'What happens when a snapshot file is torn by a crash?',
  'What goes into an embedding space fingerprint?',
  'How are BM25 query and document weights computed?',
];

export type Passage = { source: string; heading: string; text: string };

/** Splits Markdown into passages at headings, so each search hit cites a file and a section. */
export function splitMarkdown(source: string, markdown: string): Passage[] {
  const passages: Passage[] = [];
  let heading = source;
  let lines: string[] = [];
  const flush = () => {
    const text = lines.join('\n').trim();
    if (text) passages.push({ source, heading, text });
    lines = [];
  };
  for (const line of markdown.split('\n')) {
    const match = /^#{1,6}\s+(.*)$/.exec(line);
    if (match) {
      flush();
      heading = (match[1] ?? '').trim();
    } else {
      lines.push(line);
    }
  }
  flush();
  return passages;
}

async function markdownFiles(root: string): Promise<string[]> {
  const entries = await readdir(root, { withFileTypes: true, recursive: true });
  return entries
    .filter((entry) => entry.isFile() && entry.name.endsWith('.md'))
    .map((entry) => join(entry.parentPath ?? entry.path, entry.name))
    .sort();
}

export type DemoResult = { question: string; matches: (Match & { passage: Passage })[] }[];

/** Indexes every Markdown file under `root` with BM25 in the memory store and answers the questions. */
export async function runDemo(
  root: string,
  questions: readonly string[],
  limit = 3,
): Promise<{ passages: number; files: number; results: DemoResult }> {
  const files = await markdownFiles(root);
  const passages: Passage[] = [];
  for (const file of files)
    passages.push(...splitMarkdown(relative(process.cwd(), file), await readFile(file, 'utf8')));
  const texts = passages.map((p) => `${p.heading}\n${p.text}`);
  const encoder = createBm25Encoder({ corpus: texts });
  const store = createMemoryStore();
  await store.createCollection({ name: 'docs', sparse: true, sparseEmbeddingSpace: await encoder.space() });
  const { vectors } = await encoder.embed({ values: texts, role: 'document' });
  await store.upsert({
    collection: 'docs',
    records: passages.map((passage, i) => ({
      id: i,
      sparseVector: vectors[i] as (typeof vectors)[number],
      payload: { source: passage.source, heading: passage.heading },
    })),
  });
  const queries = await encoder.embed({ values: questions, role: 'query' });
  const results: DemoResult = [];
  for (const [i, question] of questions.entries()) {
    const matches = await store.search({
      collection: 'docs',
      sparseVector: queries.vectors[i] as (typeof vectors)[number],
      limit,
    });
    results.push({
      question,
      matches: matches.map((match) => ({ ...match, passage: passages[match.id as number] as Passage })),
    });
  }
  await store.dispose();
  return { passages: passages.length, files: files.length, results };
}
