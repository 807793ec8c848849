#!/usr/bin/env node
import { basename } from 'node:path';
import { parseArgs } from 'node:util';
import { KumikiError } from '../core/errors.js';
import type { RetrievalMode } from '../pipeline/retrieve.js';
import { askCommand, ingestCommand, lineageCommand, type Output, searchCommand } from './commands.js';
import { type ConfigOverrides, loadConfig, openEmbedder } from './config.js';
import { displaySource, runDemo, SAMPLE_QUESTIONS } from './demo.js';
import { openWorkspace, type Workspace } from './workspace.js';

/** Replaced with package.json's version by the build (tsup.config.ts). */
declare const __KUMIKI_VERSION__: string;

const HELP = `kumiki — retrieval-augmented generation toolkit

Usage:
  kumiki ingest <path>... [--prune] [--strict]
                                            Load files/folders (text, Markdown, HTML, JSON, JSONL, PDF, DOCX),
                                            split, embed and store them; unchanged sources cost nothing. Files
                                            not read are listed with the reason; --strict makes them errors.
        [--distributed]                     ... with \`kumiki worker\` processes writing the changed sources.
  kumiki worker [--jobs n]                  Write ingest jobs from the queue until stopped (docs/distributed.md).
  kumiki search <query> [--limit n] [--mode dense|sparse|hybrid]
  kumiki ask <question>                     Answer with cited passages (a model is needed to generate).
  kumiki catalog lineage <id>               Where a chunk, source or collection came from.
  kumiki eval [--data <folder>] [--mode lexical|dense|hybrid]... [--limit n] [--no-compare]
        [--queries all|train|test] [--qrels <file>] [--run <trec run file>]... [--baseline <row id>]
        [--whole-documents]                 Retrieval quality on a SMART or BEIR test collection (default
                                            CISI), against wink, minisearch and TREC runs (docs/evaluation.md).
  kumiki serve [--port n] [--hostname h]    Start the OpenAI-compatible gateway.
  kumiki demo [folder] [--query <text>]... [--limit n] [--fresh]
                                            Ingest docs/ and answer sample questions (offline).
Options:
  --config <file>       Config file (default ./kumiki.config.json; see docs/cli.md). Without one: the
                        embedded store in ./.kumiki, BM25 retrieval, the local catalog, no model.
  --data-dir <dir>      Override the config's dataDir.     --collection <name>  Override the collection.
  --model <file.gguf>   Generate answers with llama.cpp.   --url <baseURL>      ... or an OpenAI-compatible
  --model-name <name>   server (with its model name).
  --json                Machine-readable output.           --quiet              No progress on stderr.
  --help, --version
`;

class UsageError extends Error {}

const positiveInteger = (value: string | undefined, flag: string): number | undefined => {
  if (value === undefined) return undefined;
  const number = Number(value);
  if (!Number.isInteger(number) || number < 1)
    throw new UsageError(`${flag} must be a positive integer, got "${value}".`);
  return number;
};

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      config: { type: 'string' },
      'data-dir': { type: 'string' },
      collection: { type: 'string' },
      model: { type: 'string' },
      url: { type: 'string' },
      'model-name': { type: 'string' },
      query: { type: 'string', short: 'q', multiple: true },
      limit: { type: 'string', short: 'k' },
      mode: { type: 'string', multiple: true },
      prune: { type: 'boolean' },
      strict: { type: 'boolean' },
      distributed: { type: 'boolean' },
      jobs: { type: 'string' },
      fresh: { type: 'boolean' },
      data: { type: 'string' },
      'no-compare': { type: 'boolean' },
      queries: { type: 'string' },
      qrels: { type: 'string' },
      run: { type: 'string', multiple: true },
      baseline: { type: 'string' },
      'whole-documents': { type: 'boolean' },
      port: { type: 'string' },
      hostname: { type: 'string' },
      json: { type: 'boolean' },
      quiet: { type: 'boolean' },
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
  const out: Output = {
    json: values.json === true,
    write: (text) => process.stdout.write(`${text}\n`),
    error: (text) => process.stderr.write(`${text}\n`),
  };
  const overrides: ConfigOverrides = {
    ...(values['data-dir'] ? { dataDir: values['data-dir'] } : {}),
    ...(values.collection ? { collection: values.collection } : {}),
    ...(values.model ? { modelPath: values.model } : {}),
    ...(values.url ? { modelURL: values.url } : {}),
    ...(values['model-name'] ? { modelName: values['model-name'] } : {}),
  };
  const limit = positiveInteger(values.limit, '--limit');
  const withWorkspace = async (task: (workspace: Workspace) => Promise<unknown>, retrieval = true) => {
    const workspace = await openWorkspace(await loadConfig(values.config, overrides), { retrieval });
    try {
      await task(workspace);
    } finally {
      await workspace.close();
    }
  };
  const text = (what: string) => {
    const value = rest.join(' ').trim();
    if (!value) throw new UsageError(`kumiki ${command} needs ${what}.`);
    return value;
  };

  switch (command) {
    case 'demo': {
      const answers = await runDemo(
        {
          folder: rest[0] ?? 'docs',
          questions: values.query ?? SAMPLE_QUESTIONS,
          limit: limit ?? 3,
          fresh: values.fresh === true,
          quiet: values.quiet === true,
          config: values.config,
          overrides,
        },
        out,
      );
      if (out.json) {
        out.write(
          JSON.stringify(
            answers.map(({ question, answer, passages }) => ({
              question,
              answer,
              passages: passages.map((p) => ({
                id: p.id,
                score: p.score,
                source: displaySource(p.citation.source),
                heading: p.citation.heading,
                text: p.text,
              })),
            })),
            null,
            2,
          ),
        );
      }
      return 0;
    }
    case 'ingest':
      if (rest.length === 0) throw new UsageError('kumiki ingest needs at least one file or folder.');
      await withWorkspace(async (workspace) =>
        ingestCommand(
          workspace,
          rest,
          {
            prune: values.prune === true,
            quiet: values.quiet === true,
            strict: values.strict === true,
            ...(values.distributed ? { run: (await import('./distributed.js')).distributedIngest(workspace) } : {}),
          },
          out,
        ),
      );
      return 0;
    case 'worker': {
      const jobs = positiveInteger(values.jobs, '--jobs');
      const { workerCommand } = await import('./distributed.js');
      await withWorkspace((workspace) =>
        workerCommand(workspace, { ...(jobs ? { jobs } : {}), quiet: values.quiet === true }, out),
      );
      return 0;
    }
    case 'search': {
      const query = text('a query');
      const mode = values.mode?.[0];
      if (mode !== undefined && !['dense', 'sparse', 'hybrid'].includes(mode))
        throw new UsageError(`--mode must be dense, sparse or hybrid, got "${mode}".`);
      await withWorkspace((workspace) =>
        searchCommand(
          workspace,
          query,
          { ...(limit ? { limit } : {}), ...(mode ? { mode: mode as RetrievalMode } : {}) },
          out,
        ),
      );
      return 0;
    }
    case 'ask': {
      const question = text('a question');
      await withWorkspace((workspace) => askCommand(workspace, question, out));
      return 0;
    }
    case 'catalog': {
      if (rest[0] !== 'lineage' || !rest[1])
        throw new UsageError('Usage: kumiki catalog lineage <chunk id | source URI | collection>.');
      const id = rest[1];
      await withWorkspace((workspace) => lineageCommand(workspace, id, out), false);
      return 0;
    }
    case 'eval': {
      const { evaluateRetrieval, formatEvaluation, readTrecRun } = await import('../eval/index.js');
      const modes = values.mode as ('lexical' | 'dense' | 'hybrid')[] | undefined;
      const queries = values.queries;
      if (queries !== undefined && queries !== 'all' && queries !== 'train' && queries !== 'test')
        throw new UsageError(`--queries must be all, train or test, got "${queries}".`);
      const runs = (values.run ?? []).map((file) => ({
        name: basename(file).replace(/\.[^.]*$/, '') || file,
        rankings: readTrecRun(file),
      }));
      const config = await loadConfig(values.config, overrides);
      const embedder = await openEmbedder(config);
      try {
        const result = await evaluateRetrieval({
          dataDirectory: values.data ?? '../shared/data/cisi',
          ...(modes ? { modes } : {}),
          ...(embedder ? { embedder } : {}),
          ...(limit ? { limit } : {}),
          compare: values['no-compare'] !== true,
          ...(queries ? { queries } : {}),
          ...(values.qrels ? { qrels: values.qrels } : {}),
          ...(runs.length > 0 ? { runs } : {}),
          ...(values.baseline ? { baseline: values.baseline } : {}),
          ...(values['whole-documents'] ? { wholeDocuments: true } : {}),
          onProgress: (done, total, phase) => {
            if (!values.quiet && !out.json) process.stderr.write(`\r\x1b[2K${phase} ${done}/${total}`);
          },
        });
        if (!values.quiet && !out.json) process.stderr.write('\n');
        out.write(out.json ? JSON.stringify(result, null, 2) : formatEvaluation(result));
      } finally {
        await embedder?.dispose?.();
      }
      return 0;
    }
    case 'serve': {
      const { serve } = await import('./serve.js');
      const config = await loadConfig(values.config, overrides);
      const port = values.port === undefined ? undefined : Number(values.port);
      if (port !== undefined && !(Number.isInteger(port) && port >= 0 && port <= 65535))
        throw new UsageError(`--port must be 0 to 65535, got "${values.port}".`);
      if (port !== undefined) config.gateway.port = port;
      if (values.hostname) config.gateway.hostname = values.hostname;
      await serve(config, out);
      return 0;
    }
    default:
      throw new UsageError(`Unknown command "${command}".\n\n${HELP}`);
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    if (error instanceof UsageError) process.stderr.write(`${error.message}\n`);
    else if (KumikiError.isInstance(error)) process.stderr.write(`${error.name}: ${error.message}\n`);
    else if (error instanceof Error && (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS'))
      process.stderr.write(`${error.message}\n\n${HELP}`);
    else process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exitCode = 1;
  },
);
