#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { runDemo, SAMPLE_QUESTIONS } from './demo.js';

/** Replaced with package.json's version by the build (tsup.config.ts). */
declare const __KUMIKI_VERSION__: string;

const HELP = `kumiki — retrieval and model-serving toolkit

Usage:
  kumiki demo [folder] [--query <text>]... [--limit <n>] [--json]
      Index the Markdown files under <folder> (default: docs) with BM25 in the
      embedded memory store and print the best passages for each question, with
      their sources. Runs offline; no model is downloaded.
  kumiki --help | --version
`;

function excerpt(text: string, width = 220): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > width ? `${flat.slice(0, width)}…` : flat;
}

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      query: { type: 'string', short: 'q', multiple: true },
      limit: { type: 'string', short: 'k' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
      version: { type: 'boolean', short: 'v' },
    },
  });
  if (values.version) {
    process.stdout.write(`kumiki ${__KUMIKI_VERSION__}\n`);
    return 0;
  }
  const [command, ...rest] = positionals;
  if (values.help || command === undefined) {
    process.stdout.write(HELP);
    return values.help ? 0 : 1;
  }
  if (command !== 'demo') {
    process.stderr.write(`Unknown command "${command}".\n\n${HELP}`);
    return 1;
  }
  const limit = values.limit === undefined ? 3 : Number(values.limit);
  if (!Number.isInteger(limit) || limit < 1) {
    process.stderr.write(`--limit must be a positive integer, got "${values.limit}".\n`);
    return 1;
  }
  const folder = rest[0] ?? 'docs';
  const started = performance.now();
  const { passages, files, results } = await runDemo(folder, values.query ?? SAMPLE_QUESTIONS, limit);
  if (values.json) {
    process.stdout.write(
      `${JSON.stringify(
        results.map((r) => ({
          question: r.question,
          matches: r.matches.map((m) => ({
            score: m.score,
            source: m.passage.source,
            heading: m.passage.heading,
            text: m.passage.text,
          })),
        })),
        null,
        2,
      )}\n`,
    );
    return 0;
  }
  process.stdout.write(
    `Indexed ${passages} passages from ${files} files under ${folder}/ with BM25 in the memory store (${Math.round(performance.now() - started)} ms).\n`,
  );
  for (const { question, matches } of results) {
    process.stdout.write(`\nQ: ${question}\n`);
    if (matches.length === 0) process.stdout.write('   (no passage shares a term with the question)\n');
    matches.forEach((match, i) => {
      process.stdout.write(
        `  [${i + 1}] ${match.passage.source} § ${match.passage.heading}  (score ${match.score.toFixed(2)})\n      ${excerpt(match.passage.text)}\n`,
      );
    });
  }
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`kumiki: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  },
);
