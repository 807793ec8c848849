/**
 * Validation and lineage logic shared by the catalog adapters (local and DataHub). Internal: not part
 * of the public surface.
 */
import * as z from 'zod';
import type { DatasetInfo, DatasetRef, IngestionRun, LineageEdge } from '../core/catalog.js';
import { callOptionsSchema } from '../core/schemas.js';
import { jsonObjectSchema } from '../core/types.js';
import { parseArgument } from '../core/validate.js';

const nameSchema = z
  .string()
  .min(1, 'name must not be empty')
  .max(4096, 'name must be at most 4096 characters')
  .refine((name) => name.trim().length > 0, 'name must not be only whitespace');

export const datasetRefSchema = z
  .object({
    kind: z.enum(['source', 'collection', 'model'], "kind must be 'source', 'collection' or 'model'"),
    name: nameSchema,
  })
  .strict();

const isoSchema = z.iso.datetime({ offset: true, message: 'must be an ISO 8601 date-time, e.g. 2026-01-31T12:00:00Z' });

export const datasetInfoSchema = datasetRefSchema
  .extend({
    description: z.string().optional(),
    fields: z
      .array(
        z
          .object({
            name: z.string().min(1, 'field name must not be empty'),
            type: z.string().min(1, 'field type must not be empty'),
            description: z.string().optional(),
          })
          .strict(),
      )
      .optional(),
    properties: z.optional(jsonObjectSchema),
  })
  .strict();

export const ingestionRunSchema = z
  .object({
    id: z.string().min(1, 'run id must not be empty').max(1024, 'run id must be at most 1024 characters'),
    status: z.enum(['running', 'succeeded', 'failed'], "status must be 'running', 'succeeded' or 'failed'"),
    startedAt: isoSchema,
    finishedAt: isoSchema.optional(),
    inputs: z.array(datasetRefSchema),
    output: datasetRefSchema,
    embeddingFingerprint: z.string().min(1).optional(),
    embeddingModel: z.string().min(1).optional(),
    chunker: z.optional(jsonObjectSchema),
    stats: z.optional(jsonObjectSchema),
    error: z.string().optional(),
  })
  .strict()
  .refine((run) => run.finishedAt === undefined || Date.parse(run.finishedAt) >= Date.parse(run.startedAt), {
    message: 'finishedAt must not be before startedAt',
    path: ['finishedAt'],
  });

export const lineageEdgeSchema = z
  .object({ upstream: datasetRefSchema, downstream: datasetRefSchema, via: z.string().min(1).optional() })
  .strict()
  .refine((edge) => refKey(edge.upstream) !== refKey(edge.downstream), {
    message: 'an edge must not point from a dataset to itself',
  });

export const searchOptionsSchema = z
  .object({
    kind: datasetRefSchema.shape.kind.optional(),
    limit: z.number().int().positive().max(10_000).optional(),
    ...callOptionsSchema.shape,
  })
  .strict();

/** Removes `undefined` members so stored and returned values compare equal after any JSON round trip. */
function clean<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

export const parseRef = (value: unknown, argument = 'dataset'): DatasetRef =>
  clean(parseArgument(datasetRefSchema, value, argument));
export const parseDataset = (value: unknown): DatasetInfo =>
  clean(parseArgument(datasetInfoSchema, value, 'dataset')) as DatasetInfo;
export const parseRun = (value: unknown): IngestionRun =>
  clean(parseArgument(ingestionRunSchema, value, 'run')) as IngestionRun;
export const parseRunId = (value: unknown): string =>
  parseArgument(z.string().min(1, 'run id must not be empty'), value, 'run id');
export const parseEdges = (value: unknown): LineageEdge[] =>
  clean(parseArgument(z.array(lineageEdgeSchema), value, 'lineage edges'));
export const parseSearch = (
  query: unknown,
  options: unknown,
): { query: string; kind?: DatasetRef['kind']; limit: number; abortSignal: AbortSignal | undefined } => {
  const text = parseArgument(z.string(), query, 'search query');
  const parsed = parseArgument(searchOptionsSchema, options ?? {}, 'search options');
  return {
    query: text,
    ...(parsed.kind ? { kind: parsed.kind } : {}),
    limit: parsed.limit ?? 20,
    abortSignal: parsed.abortSignal,
  };
};

/** The signal of a call's `CatalogCallOptions`, validated. */
export const parseCallOptions = (options: unknown): AbortSignal | undefined =>
  parseArgument(callOptionsSchema, options ?? {}, 'catalog call options').abortSignal;

/** A stable key for a dataset reference. */
export function refKey(ref: DatasetRef): string {
  return `${ref.kind}\u0000${ref.name}`;
}

/** The identity of an edge: its two ends. Adding the same ends again with another `via` records the newer `via`. */
export function edgeKey(edge: LineageEdge): string {
  return `${refKey(edge.upstream)}\u0001${refKey(edge.downstream)}`;
}

/** Case-insensitive "name or description contains the query". */
export function matches(dataset: DatasetInfo, query: string): boolean {
  const needle = query.toLowerCase();
  return dataset.name.toLowerCase().includes(needle) || (dataset.description ?? '').toLowerCase().includes(needle);
}

const compareRefs = (a: DatasetRef, b: DatasetRef) =>
  a.kind < b.kind ? -1 : a.kind > b.kind ? 1 : a.name < b.name ? -1 : a.name > b.name ? 1 : 0;

/**
 * Walks upstream from `start` breadth-first: nearest edges first, each edge once, and a dataset is
 * expanded at most once, so cycles end. Within one level edges are ordered by upstream kind and name.
 */
export async function walkUpstream(
  start: DatasetRef,
  upstreamsOf: (datasets: DatasetRef[]) => Promise<Map<string, LineageEdge[]>>,
): Promise<LineageEdge[]> {
  const result: LineageEdge[] = [];
  const seenEdges = new Set<string>();
  const expanded = new Set<string>([refKey(start)]);
  let level: DatasetRef[] = [start];
  while (level.length > 0) {
    const edgesByDataset = await upstreamsOf(level);
    const next: DatasetRef[] = [];
    const found = level.flatMap((dataset) => edgesByDataset.get(refKey(dataset)) ?? []);
    found.sort((a, b) => compareRefs(a.downstream, b.downstream) || compareRefs(a.upstream, b.upstream));
    for (const edge of found) {
      const key = edgeKey(edge);
      if (seenEdges.has(key)) continue;
      seenEdges.add(key);
      result.push(edge);
      const upstreamKey = refKey(edge.upstream);
      if (!expanded.has(upstreamKey)) {
        expanded.add(upstreamKey);
        next.push(edge.upstream);
      }
    }
    level = next;
  }
  return result;
}

/** Newest first by start time, then by id for a stable order. */
export function newestFirst(runs: IngestionRun[]): IngestionRun[] {
  return runs.sort(
    (a, b) => Date.parse(b.startedAt) - Date.parse(a.startedAt) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0),
  );
}
