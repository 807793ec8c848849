/**
 * `POST /v1/embeddings`: OpenAI embeddings from the configured embedders, in batches of each
 * embedder's size, as floats or base64.
 */
import { Hono } from 'hono';
import type { DenseEmbedder } from '../../core/embedder.js';
import { parseArgument } from '../../core/validate.js';
import { mapLimit } from '../../internal/concurrency.js';
import type { Env } from '../context.js';
import { invalidRequest, modelNotFound, shownName } from '../errors.js';
import { clientSignal, countTokens } from '../middleware/request.js';
import type { Served } from '../served.js';
import { embeddingsRequestSchema, float32Base64 } from '../wire.js';

export function embeddings(served: Served): Hono<Env> {
  const { readJson, embedders, access, metrics } = served;
  const app = new Hono<Env>();
  app.post('/v1/embeddings', async (c) => {
    const state = c.get('state');
    const request = parseArgument(embeddingsRequestSchema, await readJson(c), 'embeddings request');
    const embedder = embedders.get(request.model);
    if (!embedder) throw modelNotFound(request.model, 'embedding');
    access.allow(state, 'embed', 'model', request.model);
    state.model = shownName(request.model);
    const values = typeof request.input === 'string' ? [request.input] : request.input;
    const empty = values.findIndex((value) => value.length === 0);
    if (empty >= 0) {
      throw invalidRequest(
        'input must not contain empty strings',
        typeof request.input === 'string' ? 'input' : `input.${empty}`,
      );
    }
    const batches: string[][] = [];
    for (let i = 0; i < values.length; i += embedder.maxBatchSize)
      batches.push(values.slice(i, i + embedder.maxBatchSize));
    const client = clientSignal(c);
    let results: Awaited<ReturnType<DenseEmbedder['embed']>>[];
    try {
      results = await mapLimit(batches, embedder.supportsParallelCalls ? 4 : 1, (batch) =>
        embedder.embed({ values: batch, role: request.input_type ?? 'document', abortSignal: client.signal }),
      );
    } finally {
      client.release();
    }
    const vectors = results.flatMap((result) => result.vectors);
    const tokens = results.reduce((sum, result) => sum + (result.usage?.tokens ?? 0), 0);
    const dimensions = vectors[0]?.length;
    countTokens(metrics, state, request.model, undefined, tokens);
    await access.charge(state, tokens, 'embed', false);
    if (request.dimensions !== undefined && request.dimensions !== dimensions) {
      throw invalidRequest(
        `The model "${shownName(request.model)}" gives ${dimensions}-dimensional vectors and cannot shorten them; omit dimensions.`,
        'dimensions',
        'unsupported_parameter',
      );
    }
    const base64 = request.encoding_format === 'base64';
    return c.json({
      object: 'list',
      data: vectors.map((vector, index) => ({
        object: 'embedding',
        index,
        embedding: base64 ? float32Base64(vector) : Array.from(vector),
      })),
      model: request.model,
      usage: { prompt_tokens: tokens, total_tokens: tokens },
    });
  });
  return app;
}
