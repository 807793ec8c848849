/** The Milvus store's rows: upsert, reads, deletes, counts, scrolls, searches and filter explanations. */
import { InvalidArgumentError, throwIfAborted } from '../../core/errors.js';
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
import { lastWins, splitBatches, writeBatches } from '../kernel/batches.js';
import { checkSearchVectors, decodeCursor, encodeCursor } from '../kernel/checks.js';
import { checkSpaces } from '../kernel/collection.js';
import { finishSearch, planSearch } from '../kernel/search.js';
import {
  COMPONENT,
  countSchema,
  type Described,
  deleteSchema,
  explainSchema,
  FIELDS,
  getSchema,
  ID_CHUNK,
  METRIC_TYPES,
  type MilvusContext,
  parseUpsert,
  STRONG,
  scrollSchema,
  searchSchema,
  toCollection,
} from './client.js';
import { type MilvusExpression, TERMS_FIELD, translateFilter } from './filter.js';
import { decodeId, encodeId } from './keys.js';
import {
  allOf,
  checkJsonSizes,
  checkRecords,
  idsIn,
  outputFields,
  type Row,
  readRecord,
  rowBytes,
  smallSparseValue,
  sortedSparse,
  sparseValueMessage,
  toRow,
} from './records.js';

type RowMethods = Pick<Store, 'upsert' | 'get' | 'delete' | 'count' | 'scroll' | 'search' | 'explain'>;

export function rowMethods(ctx: MilvusContext): RowMethods {
  const { call, retried, context, resolve, countRows, timeoutMs, limits, concurrency, retry } = ctx;

  const filterOf = (filter: Filter | undefined): MilvusExpression | undefined =>
    filter === undefined ? undefined : translateFilter(filter);

  const queryRows = async (
    described: Described,
    filter: MilvusExpression,
    limit: number,
    includeVectors: boolean,
    operation: string,
    abortSignal?: AbortSignal,
  ): Promise<Record<string, unknown>[]> => {
    const response = await retried(
      context(operation, described.name),
      abortSignal,
      (client) =>
        client.query({
          collection_name: described.name,
          expr: filter.expr,
          exprValues: filter.exprValues,
          output_fields: outputFields(described.meta, includeVectors),
          limit,
          consistency_level: STRONG,
          timeout: timeoutMs,
        }),
      (result) => result.status,
    );
    return response.data;
  };

  const searchSide = async (
    described: Described,
    side: 'dense' | 'sparse',
    data: number[] | Record<string, number>,
    limit: number,
    filter: MilvusExpression | undefined,
    includeVectors: boolean,
    abortSignal: AbortSignal | undefined,
  ): Promise<Match[]> => {
    const metric = side === 'dense' ? described.meta.metric : 'dot';
    const response = await retried(
      context(`${side} search in "${described.name}"`, described.name),
      abortSignal,
      (client) =>
        client.search({
          collection_name: described.name,
          anns_field: side === 'dense' ? FIELDS.dense : FIELDS.sparse,
          data,
          limit,
          metric_type: side === 'dense' ? METRIC_TYPES[metric] : 'IP',
          params: side === 'dense' ? {} : { drop_ratio_search: 0 },
          ...(filter && filter.expr !== '' ? { filter: filter.expr, exprValues: filter.exprValues } : {}),
          output_fields: outputFields(described.meta, includeVectors),
          consistency_level: STRONG,
          timeout: timeoutMs,
        }),
      (result) => result.status,
    );
    const hits = (response.results as Record<string, unknown>[]).map((hit) => {
      const raw = Number(hit.score);
      // Milvus reports L2 as the squared distance; kumiki's score is the negated distance. Cosine
      // with an all-zero stored vector has no defined angle: kumiki scores it 0.
      const score = metric === 'euclidean' ? -Math.sqrt(Math.max(0, raw)) : Number.isNaN(raw) ? 0 : raw;
      return { ...readRecord(hit, includeVectors), score };
    });
    return hits.sort((a, b) => b.score - a.score);
  };

  return {
    async upsert(input: UpsertOptions): Promise<{ upserted: number }> {
      const { collection, records, abortSignal } = parseUpsert(input);
      throwIfAborted(abortSignal, 'upsert');
      const described = await resolve(collection, abortSignal);
      checkRecords(described, records);
      // Within a batch the last duplicate wins; Milvus may reject duplicate keys in one request.
      const jsonBytes = new Map<Row, number>();
      const converted = records.map((record, index) => {
        const row = toRow(described.meta, record);
        jsonBytes.set(row, checkJsonSizes(row, `record ${index} (id ${JSON.stringify(record.id)})`, index));
        return row;
      });
      const rows = lastWins(converted, (row) => row.pk);
      const batches = splitBatches(
        rows,
        limits,
        (row) => rowBytes(row, jsonBytes.get(row) ?? 0),
        (row) => `record ${JSON.stringify(decodeId(row.pk))}`,
      );
      throwIfAborted(abortSignal, 'upsert');
      await writeBatches({
        collection,
        batches,
        idOf: (row) => decodeId(row.pk),
        concurrency,
        retry: { ...retry, ...(abortSignal === undefined ? {} : { abortSignal }) },
        component: COMPONENT,
        write: async (batch) => {
          await call(
            context(`upsert into "${collection}"`, collection),
            (client) => client.upsert({ collection_name: described.name, data: batch as never[], timeout: timeoutMs }),
            (result) => result.status,
          );
        },
      });
      return { upserted: records.length };
    },

    async get(input: GetOptions): Promise<StoredRecord[]> {
      const { collection, ids, includeVectors, abortSignal } = parseArgument(getSchema, input, 'get options');
      const described = await resolve(collection, abortSignal);
      const keys = [...new Set(ids.map(encodeId))];
      const found = new Map<string, StoredRecord>();
      for (let start = 0; start < keys.length; start += ID_CHUNK) {
        const chunk = keys.slice(start, start + ID_CHUNK);
        const rows = await queryRows(
          described,
          idsIn(chunk),
          chunk.length,
          includeVectors ?? false,
          `get from "${collection}"`,
          abortSignal,
        );
        for (const row of rows) found.set(String(row[FIELDS.pk]), readRecord(row, includeVectors ?? false));
      }
      return ids.flatMap((id) => {
        const record = found.get(encodeId(id));
        return record ? [record] : [];
      });
    },

    async delete(input: DeleteOptions): Promise<{ deleted: number }> {
      const parsed = parseArgument(deleteSchema, input, 'delete options');
      throwIfAborted(parsed.abortSignal, 'delete');
      const described = await resolve(parsed.collection, parsed.abortSignal);
      const remove = (expression: MilvusExpression) =>
        retried(
          context(`delete from "${parsed.collection}"`, parsed.collection),
          parsed.abortSignal,
          (client) =>
            client.deleteEntities({
              collection_name: described.name,
              expr: expression.expr,
              exprValues: expression.exprValues,
              timeout: timeoutMs,
            }),
          (result) => result.status,
        );
      if ('filter' in parsed) {
        const response = await remove(translateFilter(parsed.filter));
        return { deleted: Number(response.delete_cnt ?? 0) };
      }
      // Milvus counts the keys it was asked to delete, present or not; kumiki counts only those
      // that existed, so look them up first.
      const keys = [...new Set(parsed.ids.map(encodeId))];
      let deleted = 0;
      for (let start = 0; start < keys.length; start += ID_CHUNK) {
        const chunk = keys.slice(start, start + ID_CHUNK);
        const rows = await queryRows(
          described,
          idsIn(chunk),
          chunk.length,
          false,
          `delete from "${parsed.collection}"`,
          parsed.abortSignal,
        );
        const present = rows.map((row) => String(row[FIELDS.pk]));
        if (present.length === 0) continue;
        await remove(idsIn(present));
        deleted += present.length;
      }
      return { deleted };
    },

    async count(input: CountOptions): Promise<number> {
      const { collection, filter, abortSignal } = parseArgument(countSchema, input, 'count options');
      const described = await resolve(collection, abortSignal);
      return countRows(described.name, filterOf(filter) ?? { expr: '', exprValues: {} }, abortSignal);
    },

    async scroll(input: ScrollOptions): Promise<ScrollPage> {
      const parsed = parseArgument(scrollSchema, input, 'scroll options');
      const after = parsed.cursor === undefined ? undefined : decodeCursor(parsed.cursor);
      const described = await resolve(parsed.collection, parsed.abortSignal);
      const limit = parsed.limit ?? 100;
      const includeVectors = parsed.includeVectors ?? false;
      const expression = allOf(
        after === undefined ? undefined : { expr: `${FIELDS.pk} > {after}`, exprValues: { after: encodeId(after) } },
        filterOf(parsed.filter),
      );
      // Milvus returns the rows of a limited query in primary-key order, and primary keys sort in
      // kumiki's id order (see keys.ts). One extra row tells whether another page follows.
      const rows = await queryRows(
        described,
        expression,
        limit + 1,
        includeVectors,
        `scroll "${parsed.collection}"`,
        parsed.abortSignal,
      );
      // Keys hold no surrogates (see keys.ts), so JavaScript's string order is their UTF-8 byte order.
      const sorted = rows
        .map((row) => ({ key: String(row[FIELDS.pk]), row }))
        .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
      const page = sorted.slice(0, limit).map(({ row }) => readRecord(row, includeVectors));
      const last = page.at(-1);
      return { records: page, nextCursor: sorted.length > limit && last ? encodeCursor(last.id) : undefined };
    },

    async search(input: SearchOptions): Promise<Match[]> {
      const parsed = parseArgument(searchSchema, input, 'search options');
      throwIfAborted(parsed.abortSignal, 'search');
      const described = await resolve(parsed.collection, parsed.abortSignal);
      const { meta } = described;
      const plan = planSearch(parsed);
      const { depth, includeVectors } = plan;
      checkSearchVectors(toCollection(described), parsed.vector, parsed.sparseVector, COMPONENT);
      checkSpaces(toCollection(described), parsed, COMPONENT);
      const filter = filterOf(parsed.filter);
      const small = parsed.sparseVector ? smallSparseValue(parsed.sparseVector) : undefined;
      if (small !== undefined) {
        throw new InvalidArgumentError({
          argument: 'search options',
          issues: [{ path: `sparseVector.values.${small}`, message: sparseValueMessage('the query has') }],
        });
      }
      const sparseQuery = parsed.sparseVector ? sortedSparse(parsed.sparseVector) : undefined;
      const zeroCosine = meta.metric === 'cosine' && parsed.vector?.every((value) => value === 0);
      const [dense, sparse] = await Promise.all([
        // Cosine against an all-zero query is 0 for every record (as in the memory store), so any
        // `depth` matching records are a correct answer; Milvus is not asked to divide by zero.
        zeroCosine
          ? queryRows(
              described,
              filter ?? { expr: '', exprValues: {} },
              depth,
              includeVectors,
              `search "${parsed.collection}"`,
              parsed.abortSignal,
            ).then((rows) => rows.map((row) => ({ ...readRecord(row, includeVectors), score: 0 })))
          : parsed.vector
            ? searchSide(
                described,
                'dense',
                Array.from(parsed.vector),
                depth,
                filter,
                includeVectors,
                parsed.abortSignal,
              )
            : [],
        // An empty sparse query shares no index with anything: no matches, as in the memory store.
        sparseQuery && sparseQuery.indices.length > 0
          ? searchSide(
              described,
              'sparse',
              Object.fromEntries(sparseQuery.indices.map((index, i) => [index, sparseQuery.values[i] as number])),
              depth,
              filter,
              includeVectors,
              parsed.abortSignal,
            )
          : [],
      ]);
      // Fused here rather than with Milvus's RRFRanker: same formula, but float64 scores, any k > 0
      // and the memory store's tie order (see docs/adapters/milvus.md).
      return finishSearch(parsed, plan, { dense, sparse });
    },

    async explain(input: { collection: string; filter: Filter }): Promise<ExplainedFilter> {
      const { collection, filter } = parseArgument(explainSchema, input, 'explain options');
      await resolve(collection);
      const expression = translateFilter(filter);
      return { backend: 'milvus', native: { field: TERMS_FIELD, ...expression } };
    },
  };
}
