/**
 * `kumiki ingest --distributed` (the coordinator) and `kumiki worker`, configured by the config
 * file's `distributed` section (docs/distributed.md). `kumiki/distributed` loads only here.
 */
import { InvalidArgumentError } from '../core/errors.js';
import type { IngestOptions, IngestReport } from '../pipeline/ingest.js';
import { configuredSplitter, type Output } from './commands.js';
import { type KumikiConfig, secret } from './config.js';
import type { Workspace } from './workspace.js';

type Settings = NonNullable<KumikiConfig['distributed']>;

function settingsOf(config: KumikiConfig, command: string): Settings & { redis: string } {
  const settings = config.distributed;
  if (!settings) {
    throw new InvalidArgumentError({
      argument: 'config',
      issues: [
        {
          path: 'distributed',
          message: `${command} needs a "distributed" section naming the environment variable with the Redis URL, e.g. "distributed": { "redisUrlEnv": "REDIS_URL" } (see docs/distributed.md)`,
        },
      ],
    });
  }
  return { ...settings, redis: secret(settings.redisUrlEnv) as string };
}

const connectionOf = (settings: Settings & { redis: string }) => ({
  redis: settings.redis,
  ...(settings.namespace ? { namespace: settings.namespace } : {}),
  ...(settings.queue ? { queue: settings.queue } : {}),
  ...(settings.leaseMs ? { leaseMs: settings.leaseMs } : {}),
});

/** What `ingestCommand` runs instead of `ingest` for `kumiki ingest --distributed`. */
export function distributedIngest(workspace: Workspace): (options: IngestOptions) => Promise<IngestReport> {
  const settings = settingsOf(workspace.config, 'kumiki ingest --distributed');
  return async ({ ledger: _ledger, ...options }) => {
    const { ingestDistributed } = await import('../distributed/index.js');
    return ingestDistributed({
      ...options,
      ...connectionOf(settings),
      ...(settings.maxAttempts ? { maxAttempts: settings.maxAttempts } : {}),
      ...(settings.maxOpenJobs ? { maxOpenJobs: settings.maxOpenJobs } : {}),
      ...(settings.jobChunks ? { writeBatchChunks: settings.jobChunks } : {}),
    });
  };
}

/** `kumiki worker`: writes ingest jobs until SIGINT or SIGTERM, then finishes the jobs in hand. */
export async function workerCommand(workspace: Workspace, options: { jobs?: number; quiet: boolean }, out: Output) {
  const settings = settingsOf(workspace.config, 'kumiki worker');
  const { createIngestWorker } = await import('../distributed/index.js');
  const log = (text: string, event: object) => {
    if (out.json) out.write(JSON.stringify(event));
    else if (!options.quiet) out.error(text);
  };
  const worker = await createIngestWorker({
    ...connectionOf(settings),
    store: workspace.store,
    ...(workspace.embedder ? { embedder: workspace.embedder } : {}),
    ...(workspace.bm25 ? { sparseEmbedder: workspace.bm25 } : {}),
    splitter: await configuredSplitter(workspace),
    ...((options.jobs ?? settings.workerJobs) ? { jobs: options.jobs ?? settings.workerJobs } : {}),
    ...(settings.embeddingRate ? { embeddingRate: settings.embeddingRate } : {}),
    onEvent: (event) => {
      if (event.type === 'started')
        log(`job ${event.jobId}: ${event.sources} sources of "${event.collection}" (attempt ${event.attempt})`, event);
      else if (event.type === 'completed')
        log(
          `job ${event.jobId}: ${event.result.abandoned ? 'abandoned (its run has ended)' : `${event.result.chunksWritten} chunks written, ${event.result.chunksDeleted} deleted`}`,
          event,
        );
      else log(`job ${event.jobId} failed${event.willRetry ? ' (will be retried)' : ''}: ${event.error}`, event);
    },
  });
  log(`worker ${worker.name} is waiting for jobs (Ctrl-C stops it after the jobs in hand)`, {
    type: 'ready',
    name: worker.name,
  });
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await worker.close();
  log(`worker ${worker.name} stopped`, { type: 'stopped', name: worker.name });
}
