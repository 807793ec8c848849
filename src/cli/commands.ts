import type { DatasetRef, IngestionRun } from '../core/catalog.js';
import { KumikiError, NotFoundError } from '../core/errors.js';
import { type AnswerSource, DEFAULT_NO_ANSWER, streamAnswer } from '../pipeline/answer.js';
import { type IngestOptions, type IngestReport, ingest } from '../pipeline/ingest.js';
import { loadPath } from '../pipeline/loaders-node.js';
import { explainChunk } from '../pipeline/provenance.js';
import { type RetrievalMode, type RetrievedChunk, retrieve } from '../pipeline/retrieve.js';
import { createRecursiveSplitter } from '../pipeline/splitter.js';
import type { SkippedSource, Splitter } from '../pipeline/types.js';
import { createProgressReporter } from './progress.js';
import type { Workspace } from './workspace.js';

export type Output = { json: boolean; write(text: string): void; error(text: string): void };

const excerpt = (text: string, width = 240) => {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > width ? `${flat.slice(0, width)}…` : flat;
};

/** `uri p. 3–4 § Heading`: the source, its pages when paged, the section when known. */
const where = (citation: { source: string; heading?: string; page?: number; pageEnd?: number }) => {
  const pages =
    citation.page === undefined
      ? ''
      : citation.pageEnd !== undefined && citation.pageEnd !== citation.page
        ? ` pp. ${citation.page}–${citation.pageEnd}`
        : ` p. ${citation.page}`;
  return `${citation.source}${pages}${citation.heading ? ` § ${citation.heading}` : ''}`;
};

/** One skipped source, for the terminal: where, why (the reason's name) and what was wrong. */
export const describeSkip = (entry: SkippedSource) => `skipped ${entry.uri} [${entry.reason}]: ${entry.message}`;

/** `3 skipped (2 parse-error, 1 unsupported-type)`, or `nothing skipped`. */
function skipSummary(skipped: readonly SkippedSource[]): string {
  if (skipped.length === 0) return 'nothing skipped';
  const byReason = new Map<string, number>();
  for (const entry of skipped) byReason.set(entry.reason, (byReason.get(entry.reason) ?? 0) + 1);
  const reasons = [...byReason].map(([reason, count]) => `${count} ${reason}`).join(', ');
  return `${skipped.length} skipped (${reasons}; listed above)`;
}

export type IngestCommandResult = IngestReport & { skipped: readonly SkippedSource[] };

/** The splitter the config asks for (in the embedder's tokens when it has a tokenizer). */
export async function configuredSplitter(workspace: Workspace): Promise<Splitter> {
  const { config } = workspace;
  const tokenizer = workspace.embedder?.tokenizer ? await workspace.embedder.tokenizer() : undefined;
  return createRecursiveSplitter({
    ...(config.splitter?.unit === 'characters' || !tokenizer ? { unit: 'characters' as const } : { tokenizer }),
    ...(config.splitter?.chunkSize !== undefined ? { chunkSize: config.splitter.chunkSize } : {}),
    ...(config.splitter?.chunkOverlap !== undefined ? { chunkOverlap: config.splitter.chunkOverlap } : {}),
  });
}

/**
 * `kumiki ingest`: loads the paths (every file not read is listed with its reason; `strict` makes
 * the first one an error), ingests them and prints the report with the skipped files. `run` is what
 * ingests (default `ingest`; `kumiki ingest --distributed` passes the coordinator).
 */
export async function ingestCommand(
  workspace: Workspace,
  paths: string[],
  options: {
    prune: boolean;
    quiet: boolean;
    strict?: boolean;
    run?: (options: IngestOptions) => Promise<IngestReport>;
  },
  out: Output,
): Promise<IngestCommandResult> {
  const { config } = workspace;
  const progress = createProgressReporter({ quiet: options.quiet || out.json });
  const documents = loadPath(paths, {
    ...(options.strict ? { strict: true } : {}),
    onProgress: (event) => progress.load(event),
  });
  // On a terminal the bar needs a total: count the files first (a walk that reads none).
  if (process.stderr.isTTY && !out.json && !options.quiet) progress.setTotalFiles(await documents.countFiles());
  const report = await (options.run ?? ingest)({
    store: workspace.store,
    collection: config.collection,
    documents,
    ...(workspace.embedder ? { embedder: workspace.embedder } : {}),
    ...(workspace.bm25 ? { sparseEmbedder: workspace.bm25 } : {}),
    splitter: await configuredSplitter(workspace),
    ledger: workspace.ledger,
    ...(workspace.catalog ? { catalog: workspace.catalog } : {}),
    storeName: config.store.kind,
    prune: options.prune,
    onProgress: (event) => progress.update(event),
  });
  progress.finish();
  const skipped = documents.skipped;
  if (out.json) {
    out.write(JSON.stringify({ ...report, skipped }, null, 2));
  } else {
    for (const entry of skipped) out.error(describeSkip(entry));
    out.write(
      `Ingested into "${config.collection}" (run ${report.runId}): ${report.added} added, ${report.updated} updated, ` +
        `${report.unchanged} unchanged, ${report.deleted} removed; ${report.chunksWritten} chunks written, ` +
        `${report.chunksDeleted} deleted, ${report.embeddingCalls} embedding calls, ${report.durationMs} ms; ` +
        `${skipSummary(skipped)}.`,
    );
  }
  return { ...report, skipped };
}

export async function searchCommand(
  workspace: Workspace,
  query: string,
  options: { limit?: number; mode?: RetrievalMode },
  out: Output,
): Promise<RetrievedChunk[]> {
  const results = await retrieve({
    ...workspace.retrieval(),
    query,
    ...(options.limit ? { limit: options.limit } : {}),
    ...(options.mode ? { mode: options.mode } : {}),
  });
  if (out.json) {
    out.write(
      JSON.stringify(
        results.map(({ payload: _payload, ...chunk }) => chunk),
        null,
        2,
      ),
    );
    return results;
  }
  if (results.length === 0) out.write('No matching passage.');
  results.forEach((result, i) => {
    out.write(
      `${i + 1}. ${where(result.citation)}  (score ${result.score.toFixed(3)}, id ${result.id})\n   ${excerpt(result.text)}`,
    );
  });
  return results;
}

export async function askCommand(workspace: Workspace, question: string, out: Output): Promise<void> {
  const runner = await workspace.runner();
  if (!runner) {
    const results = await retrieve({ ...workspace.retrieval(), query: question });
    if (out.json) {
      out.write(
        JSON.stringify({ question, answer: null, sources: results.map(({ payload: _p, ...chunk }) => chunk) }, null, 2),
      );
      return;
    }
    out.write(`Q: ${question}\n(no model configured: these are the passages an answer would be grounded on)`);
    for (const [i, result] of results.entries()) {
      out.write(`[${i + 1}] ${where(result.citation)}\n    ${excerpt(result.text)}`);
    }
    if (results.length === 0) out.write(DEFAULT_NO_ANSWER);
    return;
  }
  let sources: AnswerSource[] = [];
  if (!out.json) process.stdout.write(`Q: ${question}\nA: `);
  for await (const part of streamAnswer({
    question,
    runner,
    retrieval: workspace.retrieval(),
    maxTokens: 256,
    temperature: 0,
  })) {
    if (part.type === 'sources') sources = part.sources;
    else if (part.type === 'text-delta' && !out.json) process.stdout.write(part.text);
    else if (part.type === 'finish') {
      if (out.json) {
        out.write(
          JSON.stringify(
            { question, answer: part.text, grounded: part.grounded, citations: part.citations, sources },
            null,
            2,
          ),
        );
      } else {
        process.stdout.write('\n');
        for (const source of sources) {
          const cited = part.citations.includes(source) ? '' : ' (not cited)';
          out.write(`[${source.n}] ${where(source)}${cited}`);
        }
      }
    }
  }
}

/**
 * Lineage of a chunk (by id), a source (by URI) or the collection (by name): where it came from,
 * when, with which embedding model and chunker.
 */
export async function lineageCommand(workspace: Workspace, id: string, out: Output): Promise<void> {
  const { catalog, config } = workspace;
  if (!catalog)
    throw new NotFoundError({ resource: 'catalog', name: 'none', hint: 'The config sets catalog.kind to "none".' });
  const collection: DatasetRef = { kind: 'collection', name: `${config.store.kind}/${config.collection}` };
  if (id === config.collection || id === collection.name) {
    const lineage = await catalog.getLineage(collection);
    if (out.json) return out.write(JSON.stringify({ dataset: collection, ...lineage }, null, 2));
    out.write(`${collection.name}\n  upstream:`);
    for (const edge of lineage.upstream)
      out.write(`    ${edge.upstream.kind} ${edge.upstream.name}${edge.via ? ` (run ${edge.via})` : ''}`);
    out.write('  runs:');
    for (const run of lineage.runs) out.write(`    ${describeRun(run)}`);
    return;
  }
  try {
    const provenance = await explainChunk({ store: workspace.store, collection: config.collection, id, catalog });
    if (out.json) return out.write(JSON.stringify(provenance, null, 2));
    const { chunk, run } = provenance;
    out.write(
      `chunk ${id}\n  source: ${where(chunk.citation)} (chunk ${chunk.citation.chunk}, characters ${chunk.citation.start}–${chunk.citation.end})`,
    );
    out.write(`  ingested: ${provenance.ingestedAt ?? 'unknown'} by ${provenance.runId ?? 'an unknown run'}`);
    if (run) {
      out.write(`  embedding model: ${run.embeddingModel ?? 'none'} ${run.embeddingFingerprint ?? ''}`.trimEnd());
      out.write(`  chunker: ${JSON.stringify(run.chunker)}`);
      out.write(`  run: ${describeRun(run)}`);
    }
    return;
  } catch (error) {
    if (!(KumikiError.isInstance(error) && error.code === 'KUMIKI_NOT_FOUND')) throw error;
  }
  const source: DatasetRef = { kind: 'source', name: id };
  const dataset = await catalog.getDataset(source);
  if (!dataset) {
    throw new NotFoundError({
      resource: 'chunk, source or collection',
      name: id,
      hint: `Give a chunk id (see \`kumiki search --json\`), a source URI, or "${config.collection}".`,
    });
  }
  const downstream = await catalog.getLineage(collection);
  const runs = downstream.upstream.filter((edge) => edge.upstream.kind === 'source' && edge.upstream.name === id);
  if (out.json)
    return out.write(JSON.stringify({ dataset, feeds: collection, runs: runs.map((edge) => edge.via) }, null, 2));
  out.write(
    `${id}\n  feeds: ${collection.name}\n  written by runs: ${runs.map((edge) => edge.via).join(', ') || 'none'}`,
  );
}

function describeRun(run: IngestionRun): string {
  const stats = run.stats as Partial<IngestReport> | undefined;
  const counts = stats
    ? ` — ${stats.added ?? 0} added, ${stats.updated ?? 0} updated, ${stats.unchanged ?? 0} unchanged`
    : '';
  return `${run.id} ${run.status} ${run.startedAt}${counts}`;
}
