/** The Qdrant store's points: upsert, reads, deletes, counts, scrolls, searches and filter explanations. */
import { throwIfAborted } from '../../core/errors.js';
import type { Filter } from '../../core/filter.js';
import type {
  CountOptions,
  DeleteOptions,
  ExplainedFilter,
  GetOptions,
  ScrollOptions,
  ScrollPage,
  SearchOptions,
  Store,
  UpsertOptions,
} from '../../core/store.js';
import type { Match, StoredRecord } from '../../core/types.js';
import { parseArgument } from '../../core/validate.js';
import { lastWins, splitBatches, utf8Length, writeBatches } from '../kernel/batches.js';
import { checkSearchVectors, decodeCursor, encodeCursor } from '../kernel/checks.js';
import { checkSpaces } from '../kernel/collection.js';
import { finishSearch, planSearch } from '../kernel/search.js';
import {
  COMPONENT,
  countSchema,
  DENSE,
  type Description,
  deleteSchema,
  explainSchema,
  getSchema,
  parseUpsert,
  type QdrantContext,
  SPARSE,
  scrollSchema,
  searchSchema,
  toCollection,
} from './client.js';
import { toQdrantFilter } from './filter.js';
import { pointIdOf } from './ids.js';
import type { WirePoint } from './payload.js';
import { checkRecords, toMatches, toPoint, toRecord, unitLength, withVectorOf } from './points.js';
import { type ScrollRequest, scrollInIdOrder } from './scroll.js';

type RowMethods = Pick<Store, 'upsert' | 'get' | 'delete' | 'count' | 'scroll' | 'search' | 'explain'>;

export function rowMethods(ctx: QdrantContext): RowMethods {
  const { call, describe, countPoints, limits, concurrency } = ctx;

  const pagesOf =
    (description: Description, withVector: boolean | string[], abortSignal: AbortSignal | undefined): ScrollRequest =>
    (body) => {
      const collection = description.addressedAs;
      return call({ operation: `scroll "${collection}"`, collection, abortSignal }, (api, init) =>
        api.scrollPoints({ collection_name: collection, with_payload: true, with_vector: withVector, ...body }, init),
      ).then((result) => ({
        points: (result?.points ?? []) as WirePoint[],
        next: result?.next_page_offset ?? undefined,
      }));
    };

  return {
    async upsert(input: UpsertOptions): Promise<{ upserted: number }> {
      const { collection, records, abortSignal } = parseUpsert(input);
      throwIfAborted(abortSignal, 'upsert');
      const description = await describe(collection, abortSignal);
      checkRecords(description, records);
      throwIfAborted(abortSignal, 'upsert');
      // Within a batch the last duplicate wins, even when copies would land in different requests.
      const points = lastWins(records, (record) => `${typeof record.id}:${record.id}`).map((record) => ({
        record,
        point: toPoint(description, record),
      }));
      const batches = splitBatches(
        points,
        limits,
        (item) => utf8Length(JSON.stringify(item.point)) + 1,
        (item) => `record ${JSON.stringify(item.record.id)}`,
      );
      await writeBatches({
        collection,
        batches,
        idOf: (item) => item.record.id,
        concurrency,
        retry: { retries: 0 },
        component: COMPONENT,
        write: async (batch) => {
          await call({ operation: `upsert into "${collection}"`, collection, abortSignal }, (api, init) =>
            api.upsertPoints(
              { collection_name: collection, wait: true, points: batch.map((item) => item.point) },
              init,
            ),
          );
        },
      });
      return { upserted: records.length };
    },

    async get(input: GetOptions): Promise<StoredRecord[]> {
      const { collection, ids, includeVectors, abortSignal } = parseArgument(getSchema, input, 'get options');
      const description = await describe(collection, abortSignal);
      if (ids.length === 0) return [];
      const points = await call({ operation: `get from "${collection}"`, collection, abortSignal }, (api, init) =>
        api.getPoints(
          {
            collection_name: collection,
            ids: [...new Set(ids.map(pointIdOf))],
            with_payload: true,
            with_vector: withVectorOf(description, includeVectors ?? false),
          },
          init,
        ),
      );
      const found = new Map<string, StoredRecord>();
      for (const point of (points ?? []) as WirePoint[]) {
        const record = toRecord(description, point, includeVectors ?? false);
        found.set(`${typeof record.id}:${record.id}`, record);
      }
      return ids.flatMap((id) => found.get(`${typeof id}:${id}`) ?? []);
    },

    async delete(input: DeleteOptions): Promise<{ deleted: number }> {
      const parsed = parseArgument(deleteSchema, input, 'delete options');
      const { collection, abortSignal } = parsed;
      throwIfAborted(abortSignal, 'delete');
      const how = { operation: `delete from "${collection}"`, collection, abortSignal };
      if ('ids' in parsed) {
        const pointIds = [...new Set(parsed.ids.map(pointIdOf))];
        if (pointIds.length === 0) return { deleted: 0 };
        const existing = await call(how, (api, init) =>
          api.getPoints({ collection_name: collection, ids: pointIds, with_payload: false, with_vector: false }, init),
        );
        const present = (existing ?? []).map((point) => point.id);
        if (present.length > 0) {
          await call(how, (api, init) =>
            api.deletePoints({ collection_name: collection, wait: true, points: present }, init),
          );
        }
        return { deleted: present.length };
      }
      const filter = toQdrantFilter(parsed.filter, await describe(collection, abortSignal));
      const deleted = await countPoints(collection, filter, abortSignal);
      if (deleted > 0) {
        await call(how, (api, init) => api.deletePoints({ collection_name: collection, wait: true, filter }, init));
      }
      return { deleted };
    },

    async count(input: CountOptions): Promise<number> {
      const { collection, filter, abortSignal } = parseArgument(countSchema, input, 'count options');
      const native = filter ? toQdrantFilter(filter, await describe(collection, abortSignal)) : undefined;
      return countPoints(collection, native, abortSignal);
    },

    async scroll(input: ScrollOptions): Promise<ScrollPage> {
      const parsed = parseArgument(scrollSchema, input, 'scroll options');
      const after = parsed.cursor === undefined ? undefined : decodeCursor(parsed.cursor);
      const description = await describe(parsed.collection, parsed.abortSignal);
      const filter = parsed.filter ? toQdrantFilter(parsed.filter, description) : undefined;
      const includeVectors = parsed.includeVectors ?? false;
      const limit = parsed.limit ?? 100;
      const pages = pagesOf(description, withVectorOf(description, includeVectors), parsed.abortSignal);
      const points = await scrollInIdOrder(pages, filter, after, limit + 1);
      const records = points.slice(0, limit).map((point) => toRecord(description, point, includeVectors));
      const lastRecord = records.at(-1);
      return { records, nextCursor: points.length > limit && lastRecord ? encodeCursor(lastRecord.id) : undefined };
    },

    async search(input: SearchOptions): Promise<Match[]> {
      const parsed = parseArgument(searchSchema, input, 'search options');
      throwIfAborted(parsed.abortSignal, 'search');
      const description = await describe(parsed.collection, parsed.abortSignal);
      const filter = parsed.filter ? toQdrantFilter(parsed.filter, description) : undefined;
      checkSearchVectors(toCollection(description), parsed.vector, parsed.sparseVector, COMPONENT);
      checkSpaces(toCollection(description), parsed, COMPONENT);
      const plan = planSearch(parsed);
      const { includeVectors } = plan;
      const common = {
        limit: plan.depth,
        with_payload: true,
        with_vector: withVectorOf(description, includeVectors),
        ...(filter ? { filter } : {}),
      };
      const searches: { query: number[] | { indices: number[]; values: number[] }; using: string }[] = [];
      if (parsed.vector) {
        const query = Array.from(parsed.vector);
        searches.push({ query: description.metric === 'cosine' ? unitLength(query) : query, using: DENSE });
      }
      if (parsed.sparseVector) {
        searches.push({
          query: { indices: Array.from(parsed.sparseVector.indices), values: Array.from(parsed.sparseVector.values) },
          using: SPARSE,
        });
      }
      const collection = parsed.collection;
      const how = {
        operation: `search "${collection}"`,
        collection,
        abortSignal: parsed.abortSignal,
      };
      // Hybrid: both rankings in one request, fused here with kumiki's RRF (see docs/adapters/qdrant.md).
      const responses = await call(how, (api, init) =>
        api.queryBatchPoints(
          { collection_name: collection, searches: searches.map((search) => ({ ...search, ...common })) },
          init,
        ),
      );
      const rankings = (responses ?? []).map((response) =>
        toMatches(description, response.points as WirePoint[], includeVectors),
      );
      const ranking = (using: string) => rankings[searches.findIndex((search) => search.using === using)];
      return finishSearch(parsed, plan, { dense: ranking(DENSE), sparse: ranking(SPARSE) });
    },

    async explain(input: { collection: string; filter: Filter }): Promise<ExplainedFilter> {
      const { collection, filter } = parseArgument(explainSchema, input, 'explain options');
      return { backend: 'qdrant', native: toQdrantFilter(filter, await describe(collection)) };
    },
  };
}
