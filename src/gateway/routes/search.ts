/**
 * `POST /v1/search`: kumiki's retrieval over the configured collections, as the caller may search them.
 */
import { Hono } from 'hono';
import type { Filter } from '../../core/filter.js';
import { parseArgument } from '../../core/validate.js';
import { retrieve } from '../../pipeline/retrieve.js';
import type { Env } from '../context.js';
import { GatewayHttpError, invalidRequest, shownName } from '../errors.js';
import { clientSignal } from '../middleware/request.js';
import type { Served } from '../served.js';
import { searchRequestSchema } from '../wire.js';

const DEFAULT_MAX_SEARCH_LIMIT = 50;

export function search(served: Served): Hono<Env> {
  const { readJson, collections, access, retrieveOptions } = served;
  const app = new Hono<Env>();
  app.post('/v1/search', async (c) => {
    const state = c.get('state');
    const request = parseArgument(searchRequestSchema, await readJson(c), 'search request');
    const config = collections.get(request.collection);
    if (!config) {
      throw new GatewayHttpError({
        status: 404,
        message: `The collection "${shownName(request.collection)}" is not searchable through this gateway.`,
        type: 'invalid_request_error',
        code: 'collection_not_found',
        param: 'collection',
      });
    }
    access.allow(state, 'search', 'collection', request.collection);
    const maxLimit = config.maxLimit ?? DEFAULT_MAX_SEARCH_LIMIT;
    if (request.limit !== undefined && request.limit > maxLimit) {
      throw invalidRequest(
        `limit must be at most ${maxLimit} for the collection "${shownName(request.collection)}"`,
        'limit',
      );
    }
    const client = clientSignal(c);
    try {
      const chunks = await retrieve({
        ...retrieveOptions(state, config),
        query: request.query,
        ...(request.limit === undefined ? {} : { limit: request.limit }),
        ...(request.filter === undefined ? {} : { filter: request.filter as Filter }),
        ...(request.mode === undefined ? {} : { mode: request.mode }),
        abortSignal: client.signal,
      });
      return c.json({
        object: 'list',
        data: chunks.map((chunk) => ({
          id: chunk.id,
          score: chunk.score,
          text: chunk.text,
          citation: chunk.citation,
          payload: chunk.payload,
        })),
      });
    } finally {
      client.release();
    }
  });
  return app;
}
