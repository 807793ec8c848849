/** The pgvector store's collections and aliases: catalog rows, tables, and the alias table. */
import { ConflictError, InvalidArgumentError, NotFoundError } from '../../core/errors.js';
import { sha256Hex } from '../../core/sha256.js';
import type {
  AliasInfo,
  CollectionInfo,
  CreateCollectionOptions,
  OpenCollectionOptions,
  Store,
} from '../../core/store.js';
import { parseArgument } from '../../core/validate.js';
import { collectionInfo, newCollection, openedCollection, reopenCollection } from '../kernel/collection.js';
import { type PgContext, toCollection } from './client.js';
import { MAX_HNSW_DIMENSIONS } from './encoding.js';
import { BACKEND } from './filter-sql.js';
import {
  aliasSchema,
  createSchema,
  deleteAliasSchema,
  deleteCollectionSchema,
  listSchema,
  openSchema,
} from './schemas.js';
import { CATALOG_COLUMNS, CATALOG_EPOCH, CATALOG_SELECT, type CatalogRow, createTableSql } from './table.js';

type CollectionMethods = Pick<Store, 'createCollection' | 'openCollection' | 'listCollections' | 'deleteCollection'> &
  Required<Pick<Store, 'setAlias' | 'deleteAlias' | 'listAliases'>>;

export function collectionMethods(ctx: PgContext): CollectionMethods {
  const { catalog, aliasTable, table, query, run, transaction, start, countRows, index, prefix } = ctx;

  /** The collection an alias points at, if `name` is an alias. */
  const aliasTarget = async (client: Parameters<PgContext['query']>[0], name: string, operation: string) =>
    (
      await query<{ collection: string }>(client, `SELECT collection FROM ${aliasTable} WHERE alias = $1`, [name], {
        operation,
      })
    ).rows[0]?.collection;

  return {
    async createCollection(input: CreateCollectionOptions): Promise<CollectionInfo> {
      const config = parseArgument(createSchema, input, 'createCollection options');
      const operation = `createCollection "${config.name}"`;
      if (index !== 'exact' && config.dimensions !== undefined && config.dimensions > MAX_HNSW_DIMENSIONS) {
        throw new InvalidArgumentError({
          argument: 'createCollection options',
          issues: [
            {
              path: 'dimensions',
              message: `pgvector's HNSW index covers at most ${MAX_HNSW_DIMENSIONS} dimensions; use index: 'exact' for ${config.dimensions}`,
            },
          ],
        });
      }
      const pool = await start(operation, config.abortSignal);
      return transaction(pool, operation, config.abortSignal, async (client) => {
        const target = await aliasTarget(client, config.name, operation);
        if (target !== undefined) {
          throw new ConflictError({
            message: `"${config.name}" is an alias (of "${target}"); pick another collection name or delete the alias.`,
            component: BACKEND,
          });
        }
        const existing = (
          await query<CatalogRow>(client, `SELECT ${CATALOG_SELECT} FROM ${catalog} WHERE name = $1`, [config.name], {
            operation,
          })
        ).rows[0];
        if (existing) {
          return reopenCollection(
            toCollection(existing),
            config,
            () => countRows(client, existing, operation),
            BACKEND,
          );
        }
        const settings = newCollection(config);
        const slug = config.name
          .toLowerCase()
          .replace(/[^a-z0-9_]/g, '_')
          .slice(0, 63 - prefix.length - 13);
        const meta: CatalogRow = {
          name: settings.name,
          table_name: `${prefix}${slug}_${sha256Hex(config.name).slice(0, 12)}`,
          dimensions: settings.dimensions ?? null,
          metric: settings.metric,
          sparse: settings.sparse,
          fingerprint: settings.fingerprint ?? null,
          sparse_fingerprint: settings.sparseFingerprint ?? null,
          space: settings.space ?? null,
          sparse_space: settings.sparseSpace ?? null,
          search_index: index === 'exact' || config.dimensions === undefined ? 'exact' : 'hnsw',
        };
        const inserted = await query<{ epoch: string }>(
          client,
          `INSERT INTO ${catalog} (${CATALOG_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING ${CATALOG_EPOCH}`,
          [
            meta.name,
            meta.table_name,
            meta.dimensions,
            meta.metric,
            meta.sparse,
            meta.fingerprint,
            meta.sparse_fingerprint,
            meta.space === null ? null : JSON.stringify(meta.space),
            meta.sparse_space === null ? null : JSON.stringify(meta.sparse_space),
            meta.search_index,
          ],
          { operation },
        );
        for (const statement of createTableSql(meta, table(meta.table_name), index)) {
          await query(client, statement, [], { operation });
        }
        return collectionInfo(toCollection({ ...meta, ...(inserted.rows[0] ?? {}) }), 0);
      });
    },

    async openCollection(input: OpenCollectionOptions): Promise<CollectionInfo> {
      const config = parseArgument(openSchema, input, 'openCollection options');
      const operation = `openCollection "${config.name}"`;
      const pool = await start(operation, config.abortSignal);
      const meta = await ctx.resolve(pool, config.name, operation);
      return openedCollection(toCollection(meta), config, () => countRows(pool, meta, operation), BACKEND);
    },

    async listCollections(input?: { abortSignal?: AbortSignal }): Promise<CollectionInfo[]> {
      const parsed = parseArgument(listSchema, input, 'listCollections options');
      const operation = 'listCollections';
      const pool = await start(operation, parsed?.abortSignal);
      const rows = (
        await run<CatalogRow>(pool, `SELECT ${CATALOG_SELECT} FROM ${catalog} ORDER BY name`, [], { operation })
      ).rows;
      return Promise.all(
        rows.map(async (meta) => collectionInfo(toCollection(meta), await countRows(pool, meta, operation))),
      );
    },

    async deleteCollection(input: { name: string; abortSignal?: AbortSignal }): Promise<boolean> {
      const { name, abortSignal } = parseArgument(deleteCollectionSchema, input, 'deleteCollection options');
      const operation = `deleteCollection "${name}"`;
      const pool = await start(operation, abortSignal);
      return transaction(pool, operation, abortSignal, async (client) => {
        const target = await aliasTarget(client, name, operation);
        if (target !== undefined) {
          throw new ConflictError({
            message: `"${name}" is an alias of "${target}"; delete the alias with deleteAlias, or the collection by its own name.`,
            component: BACKEND,
          });
        }
        // Aliases of the collection go with it (ON DELETE CASCADE).
        const deleted = await query<{ table_name: string }>(
          client,
          `DELETE FROM ${catalog} WHERE name = $1 RETURNING table_name`,
          [name],
          { operation },
        );
        const row = deleted.rows[0];
        if (!row) return false;
        await query(client, `DROP TABLE IF EXISTS ${table(row.table_name)}`, [], { operation });
        return true;
      });
    },

    async setAlias(input: { alias: string; collection: string; abortSignal?: AbortSignal }): Promise<void> {
      const { alias, collection, abortSignal } = parseArgument(aliasSchema, input, 'setAlias options');
      const operation = `setAlias "${alias}"`;
      const pool = await start(operation, abortSignal);
      await transaction(pool, operation, abortSignal, async (client) => {
        const names = await query<{ name: string }>(
          client,
          `SELECT name FROM ${catalog} WHERE name = ANY($1::text[])`,
          [[alias, collection]],
          { operation },
        );
        const existing = new Set(names.rows.map((row) => row.name));
        if (existing.has(alias)) {
          throw new ConflictError({
            message: `"${alias}" is a collection; an alias cannot take its name.`,
            component: BACKEND,
          });
        }
        if (!existing.has(collection)) {
          throw new NotFoundError({
            resource: 'Collection',
            name: collection,
            hint: 'Aliases point at collections by their own names.',
            component: BACKEND,
          });
        }
        // One statement: readers see the old target or the new one, never neither.
        await query(
          client,
          `INSERT INTO ${aliasTable} (alias, collection) VALUES ($1, $2)
           ON CONFLICT (alias) DO UPDATE SET collection = EXCLUDED.collection`,
          [alias, collection],
          { operation },
        );
      });
    },

    async deleteAlias(input: { alias: string; abortSignal?: AbortSignal }): Promise<boolean> {
      const { alias, abortSignal } = parseArgument(deleteAliasSchema, input, 'deleteAlias options');
      const operation = `deleteAlias "${alias}"`;
      const pool = await start(operation, abortSignal);
      const result = await run(pool, `DELETE FROM ${aliasTable} WHERE alias = $1`, [alias], { operation }, abortSignal);
      ctx.forget(alias);
      return (result.rowCount ?? 0) > 0;
    },

    async listAliases(input?: { abortSignal?: AbortSignal }): Promise<AliasInfo[]> {
      const parsed = parseArgument(listSchema, input, 'listAliases options');
      const operation = 'listAliases';
      const pool = await start(operation, parsed?.abortSignal);
      const result = await run<AliasInfo>(
        pool,
        `SELECT alias, collection FROM ${aliasTable} ORDER BY alias`,
        [],
        { operation },
        parsed?.abortSignal,
      );
      return result.rows.map((row) => ({ alias: row.alias, collection: row.collection }));
    },
  };
}
