/**
 * What the coordinator and the workers say to each other through the queue: a job (a batch of
 * changed sources of one run), a worker's progress on it, and its result. Versioned, and checked on
 * arrival, since the two sides may run different versions of kumiki during a rolling upgrade.
 */
import { type Context, context, type SpanContext, trace } from '@opentelemetry/api';
import { z } from 'zod';
import type { SourceDocument } from '../pipeline/types.js';

/** The queue's name in BullMQ; with `namespace` it names the queue's keys. */
export const DEFAULT_QUEUE = 'ingest';

/** The job name in BullMQ. */
export const JOB_NAME = 'kumiki.ingest.batch';

const traceSchema = z
  .object({
    traceId: z.string().regex(/^[0-9a-f]{32}$/),
    spanId: z.string().regex(/^[0-9a-f]{16}$/),
    traceFlags: z.number().int().min(0).max(255),
  })
  .strict();

export const jobSchema = z
  .object({
    format: z.literal(1),
    collection: z.string().min(1),
    runId: z.string().min(1),
    /** The run's ledger lease: the worker writes only while the run holds the collection. */
    lease: z.string().min(1),
    documents: z.array(z.custom<SourceDocument>((value) => typeof value === 'object' && value !== null)).min(1),
    /** The version key the coordinator computed for each document, in order. */
    keys: z.array(z.string().min(1)),
    /** The coordinator's span, to continue the trace in the worker. */
    trace: traceSchema.optional(),
  })
  .strict()
  .refine((job) => job.keys.length === job.documents.length, 'one key per document');

export type IngestJob = z.output<typeof jobSchema>;

/** Counters a worker reports while it works on a job (`job.updateProgress`). */
export const progressSchema = z.object({ chunksEmbedded: z.number(), chunksWritten: z.number() }).strict();
export type JobProgress = z.output<typeof progressSchema>;

export const resultSchema = z
  .object({
    /** The run no longer held the collection when the job started: nothing was done. */
    abandoned: z.boolean(),
    chunksEmbedded: z.number(),
    chunksWritten: z.number(),
    chunksDeleted: z.number(),
    embeddingCalls: z.number(),
  })
  .strict();
export type JobResult = z.output<typeof resultSchema>;

/** The active span's context, to send along with a job. */
export function activeTrace(): IngestJob['trace'] {
  const span = trace.getActiveSpan();
  if (!span) return undefined;
  const { traceId, spanId, traceFlags } = span.spanContext();
  return trace.isSpanContextValid(span.spanContext()) ? { traceId, spanId, traceFlags } : undefined;
}

/** A context whose parent span is the coordinator's (from another process), when the job carries one. */
export function remoteContext(sent: IngestJob['trace']): Context {
  if (!sent) return context.active();
  const remote: SpanContext = { ...sent, isRemote: true };
  return trace.setSpanContext(context.active(), remote);
}
