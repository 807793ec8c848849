import * as z from 'zod';
import type { DenseEmbedder } from '../core/embedder.js';
import { throwIfAborted } from '../core/errors.js';
import { f } from '../core/filter.js';
import {
  type GenerateOptions,
  type GenerateResult,
  type ModelRunner,
  modelFingerprint,
  type StreamPart,
} from '../core/runner.js';
import { sha256Hex } from '../core/sha256.js';
import type { Store } from '../core/store.js';
import type { JsonObject } from '../core/types.js';
import { implementing, parseArgument } from '../core/validate.js';
import { type Wrapped, wrapRunner } from '../core/wrap.js';
import { parseGenerateOptions } from '../internal/structured-output.js';
import {
  callIdentity,
  fromStoredAnswer,
  readStoredAnswer,
  recordStream,
  replayParts,
  type StoredAnswer,
  toStoredAnswer,
} from './response-cache.js';

export type SemanticCacheOptions = {
  /** Dense embedder for the question; the collection is built with its embedding space. */
  embedder: DenseEmbedder;
  store: Store;
  /** Collection of cached answers; created (cosine, the embedder's space) when missing. */
  collection: string;
  /** Cosine similarity at or above which a cached answer is returned; default 0.95. */
  threshold?: number;
  /**
   * Who may share answers: a string, or a function of the call's options giving one (a tenant, a user,
   * a system-prompt version). Answers are only ever looked up within their scope.
   */
  scope: string | ((options: GenerateOptions) => string);
};

export type SemanticCacheStats = {
  hits: number;
  misses: number;
  /** Calls passed straight through: schema or tool calls, or calls with no user text. */
  bypassed: number;
};

/** A generate result that says whether it came from the cache and, if so, how close the question was. */
export type SemanticGenerateResult<T = unknown> = GenerateResult<T> & { cacheHit: boolean; similarity?: number };

/** Like `ResponseCachedRunner`: every member but these is the wrapped runner's own. */
export type SemanticCachedRunner<R extends ModelRunner = ModelRunner> = Wrapped<
  R,
  {
    generate<T = unknown>(options: GenerateOptions<T>): Promise<SemanticGenerateResult<T>>;
    stream(options: GenerateOptions): AsyncIterable<StreamPart>;
    stats(): SemanticCacheStats;
    /** The wrapped runner. */
    readonly runner: R;
  }
>;

const optionsSchema = z
  .object({
    embedder: implementing<DenseEmbedder>('embedder must be a dense kumiki Embedder', {
      fields: { specificationVersion: 'kumiki.embedder.v1', kind: 'dense' },
    }),
    store: implementing<Store>('store must be a kumiki Store', { fields: { specificationVersion: 'kumiki.store.v1' } }),
    collection: z.string().min(1),
    threshold: z.number().gt(0).max(1).optional(),
    scope: z.union([z.string().min(1), z.function()], { error: 'scope must be a non-empty string or a function' }),
  })
  .strict();

/** Where the question is: the prompt, or the last user message; `undefined` when the call has neither. */
function questionIndex(call: GenerateOptions): number | 'prompt' | undefined {
  if (call.prompt !== undefined) return 'prompt';
  const messages = call.messages ?? [];
  for (let index = messages.length - 1; index >= 0; index--) if (messages[index]?.role === 'user') return index;
  return undefined;
}

/**
 * A call is the question (matched by similarity) and its context, which must be the same for an answer
 * to be shared: the system prompt, the other messages of the conversation, whether it is a prompt or a
 * chat call, and the generation parameters (`maxTokens`, `temperature`, `topP`, `seed`, `stop`).
 */
function splitCall(call: GenerateOptions): { question: string; context: string } | undefined {
  const at = questionIndex(call);
  if (at === undefined) return undefined;
  const question = at === 'prompt' ? (call.prompt as string) : (call.messages?.[at]?.content as string);
  const { prompt: _prompt, messages: _messages, abortSignal: _abortSignal, ...parameters } = call;
  const withoutQuestion: GenerateOptions = {
    ...parameters,
    ...(at === 'prompt'
      ? { prompt: '' }
      : { messages: call.messages?.map((message, index) => (index === at ? { role: 'user', content: '' } : message)) }),
  };
  return { question, context: sha256Hex(JSON.stringify(callIdentity(withoutQuestion))).slice(0, 32) };
}

/**
 * Wraps a ModelRunner with a semantic cache: a question close enough (cosine similarity ≥ threshold)
 * to one answered before, in the same scope, for the same model and with the same context (see
 * `splitCall`), gets the earlier answer. Calls with a schema or tools pass through.
 */
export function withSemanticCache<R extends ModelRunner>(
  runner: R,
  options: SemanticCacheOptions,
): SemanticCachedRunner<R> {
  parseArgument(
    implementing<ModelRunner>('runner must be a kumiki ModelRunner', {
      fields: { specificationVersion: 'kumiki.runner.v1' },
    }),
    runner,
    'runner',
  );
  const parsed = parseArgument(optionsSchema, options, 'withSemanticCache options');
  const { embedder, store, collection } = options;
  const threshold = parsed.threshold ?? 0.95;
  const stats: SemanticCacheStats = { hits: 0, misses: 0, bypassed: 0 };
  let ready: Promise<string> | undefined;

  /** Opens or creates the collection once; resolves to the model's fingerprint. */
  const prepare = (): Promise<string> => {
    ready ??= (async () => {
      const space = await embedder.space();
      await store.createCollection({
        name: collection,
        dimensions: space.dimensions,
        metric: 'cosine',
        embeddingSpace: space,
        ifExists: 'open',
      });
      return modelFingerprint(await runner.describeModel());
    })().catch((error: unknown) => {
      ready = undefined;
      throw error;
    });
    return ready;
  };

  const scopeOf = (call: GenerateOptions): string => {
    const scope = typeof options.scope === 'function' ? options.scope(call) : options.scope;
    return parseArgument(z.string().min(1), scope, 'semantic cache scope');
  };

  type Lookup = { vector: Float32Array; scope: string; model: string; question: string; context: string };

  /** Embeds the question and finds the closest cached answer in scope; `undefined` when the call is not cacheable. */
  const find = async (
    call: GenerateOptions,
  ): Promise<{ lookup: Lookup; hit: { answer: StoredAnswer; similarity: number } | undefined } | undefined> => {
    if (call.schema !== undefined || call.tools !== undefined) return undefined;
    const split = splitCall(call);
    if (split === undefined) return undefined;
    const { question, context } = split;
    const scope = scopeOf(call);
    const model = await prepare();
    const { vectors } = await embedder.embed({
      values: [question],
      role: 'query',
      ...(call.abortSignal ? { abortSignal: call.abortSignal } : {}),
    });
    const vector = vectors[0] as Float32Array;
    const [match] = await store.search({
      collection,
      vector,
      limit: 1,
      filter: f.and(f.eq('scope', scope), f.eq('model', model), f.eq('context', context)),
      ...(call.abortSignal ? { abortSignal: call.abortSignal } : {}),
    });
    const answer = match && match.score >= threshold ? readStoredAnswer(match.payload.answer) : undefined;
    return {
      lookup: { vector, scope, model, question, context },
      hit: answer && match ? { answer, similarity: match.score } : undefined,
    };
  };

  const save = async (lookup: Lookup, answer: StoredAnswer): Promise<void> => {
    if (answer.finishReason === 'aborted' || answer.finishReason === 'error') return;
    const { deltas: _deltas, ...kept } = answer;
    await store.upsert({
      collection,
      records: [
        {
          id: sha256Hex(JSON.stringify([lookup.scope, lookup.model, lookup.context, lookup.question])).slice(0, 32),
          vector: lookup.vector,
          payload: {
            prompt: lookup.question,
            answer: kept as unknown as JsonObject,
            scope: lookup.scope,
            model: lookup.model,
            context: lookup.context,
          },
        },
      ],
    });
  };

  async function generate<T = unknown>(options: GenerateOptions<T>): Promise<SemanticGenerateResult<T>> {
    const call = parseGenerateOptions(options);
    throwIfAborted(call.abortSignal, 'Semantic-cached generate');
    const found = await find(call);
    if (found === undefined) {
      stats.bypassed++;
      return { ...(await runner.generate<T>(options)), cacheHit: false };
    }
    throwIfAborted(call.abortSignal, 'Semantic-cached generate');
    if (found.hit) {
      stats.hits++;
      return { ...fromStoredAnswer<T>(found.hit.answer), cacheHit: true, similarity: found.hit.similarity };
    }
    stats.misses++;
    const result = await runner.generate<T>(options);
    await save(found.lookup, toStoredAnswer(result as GenerateResult));
    return { ...result, cacheHit: false };
  }

  async function* stream(options: GenerateOptions): AsyncGenerator<StreamPart> {
    const call = parseGenerateOptions(options);
    throwIfAborted(call.abortSignal, 'Semantic-cached stream');
    const found = await find(call);
    if (found === undefined) {
      stats.bypassed++;
      yield* runner.stream(options);
      return;
    }
    throwIfAborted(call.abortSignal, 'Semantic-cached stream');
    if (found.hit) {
      stats.hits++;
      yield* replayParts(found.hit.answer);
      return;
    }
    stats.misses++;
    yield* recordStream(runner.stream(options), (answer) => save(found.lookup, answer));
  }

  // describeModel, capabilities, dispose and any other member are the wrapped runner's own.
  return wrapRunner(runner, {
    generate,
    stream,
    stats: () => ({ ...stats }),
    runner,
  });
}
