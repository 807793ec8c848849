import * as z from 'zod';
import type { Cache, CacheValue } from '../core/cache.js';
import { throwIfAborted } from '../core/errors.js';
import {
  type FinishReason,
  type GenerateOptions,
  type GenerateResult,
  type ModelRunner,
  modelFingerprint,
  type StreamPart,
  type StructuredOutputMode,
  type ToolCall,
  type Usage,
} from '../core/runner.js';
import { sha256Hex } from '../core/sha256.js';
import { implementing, parseArgument } from '../core/validate.js';
import { type Wrapped, wrapRunner } from '../core/wrap.js';
import { parseGenerateOptions, resolveOutputSchema, resolveTools } from '../internal/structured-output.js';

export type ResponseCacheOptions = {
  /** Time to live of cached answers in ms; default: the cache's default. */
  ttlMs?: number;
  /** First part of every key; default `resp`. Change it to drop everything cached before. */
  namespace?: string;
  /**
   * Also cache calls whose answer is not reproducible (temperature above 0 without a seed the runner
   * honours); default false.
   */
  cacheNondeterministic?: boolean;
};

export type ResponseCacheStats = {
  /** Calls answered from the cache. */
  hits: number;
  /** Cacheable calls sent to the runner. */
  misses: number;
  /** Calls sent to the runner without looking at the cache (not reproducible). */
  bypassed: number;
};

/** A generate result that says whether it came from the cache. */
export type CachedGenerateResult<T = unknown> = GenerateResult<T> & { cacheHit: boolean };

/**
 * A ModelRunner that answers repeated calls from a Cache. Every member but these (`describeModel`,
 * `capabilities`, `dispose`, an adapter's extras) is the wrapped runner's own.
 */
export type ResponseCachedRunner<R extends ModelRunner = ModelRunner> = Wrapped<
  R,
  {
    generate<T = unknown>(options: GenerateOptions<T>): Promise<CachedGenerateResult<T>>;
    stream(options: GenerateOptions): AsyncIterable<StreamPart>;
    stats(): ResponseCacheStats;
    /** The wrapped runner. */
    readonly runner: R;
    readonly cache: Cache;
  }
>;

/** What is stored per answer (JSON only). `deltas` is present when the answer was recorded from a stream. */
export type StoredAnswer = {
  text: string;
  finishReason: FinishReason;
  usage: Usage | null;
  object?: unknown;
  structuredOutput?: StructuredOutputMode;
  toolCalls?: ToolCall[];
  deltas?: string[];
};

const optionsSchema = z
  .object({
    ttlMs: z.number().int().positive().optional(),
    namespace: z.string().min(1).optional(),
    cacheNondeterministic: z.boolean().optional(),
  })
  .strict();

const cacheSchema = implementing<Cache>('cache must be a kumiki Cache (with get and set)', { methods: ['get', 'set'] });

const runnerSchema = implementing<ModelRunner>(
  'runner must be a kumiki ModelRunner (specificationVersion kumiki.runner.v1)',
  { fields: { specificationVersion: 'kumiki.runner.v1' }, methods: ['generate'] },
);

const storedSchema = z.object({
  text: z.string(),
  finishReason: z.enum(['stop', 'length', 'tool-calls', 'content-filter', 'aborted', 'error', 'other']),
  usage: z.object({ promptTokens: z.number(), completionTokens: z.number() }).nullable(),
  object: z.unknown().optional(),
  structuredOutput: z.enum(['grammar', 'guided-decoding', 'response-format', 'validate-and-repair']).optional(),
  toolCalls: z.array(z.object({ id: z.string(), name: z.string(), arguments: z.unknown() })).optional(),
  deltas: z.array(z.string()).optional(),
});

/** Reads a stored answer; anything else (another version's format, a foreign key) counts as a miss. */
export function readStoredAnswer(value: CacheValue | undefined): StoredAnswer | undefined {
  const parsed = storedSchema.safeParse(value);
  return parsed.success ? (parsed.data as StoredAnswer) : undefined;
}

/** A finished answer as a JSON value for a Cache or a Store payload. */
export function toStoredAnswer(result: GenerateResult, deltas?: string[]): StoredAnswer {
  return {
    text: result.text,
    finishReason: result.finishReason,
    usage: result.usage ?? null,
    ...(result.object !== undefined ? { object: result.object } : {}),
    ...(result.structuredOutput !== undefined ? { structuredOutput: result.structuredOutput } : {}),
    ...(result.toolCalls !== undefined ? { toolCalls: result.toolCalls } : {}),
    ...(deltas !== undefined ? { deltas } : {}),
  };
}

/** A stored answer as a generate result. */
export function fromStoredAnswer<T>(stored: StoredAnswer): GenerateResult<T> {
  return {
    text: stored.text,
    finishReason: stored.finishReason,
    usage: stored.usage ?? undefined,
    ...(stored.object !== undefined ? { object: stored.object as T } : {}),
    ...(stored.structuredOutput !== undefined ? { structuredOutput: stored.structuredOutput } : {}),
    ...(stored.toolCalls !== undefined ? { toolCalls: stored.toolCalls } : {}),
  };
}

/** Splits text into about four deltas at word boundaries, for replaying an answer as a stream. */
function chunkText(text: string): string[] {
  const words = text.match(/\S+\s*|\s+/g) ?? [];
  if (words.length === 0) return text === '' ? [] : [text];
  const size = Math.max(1, Math.ceil(words.length / 4));
  const chunks: string[] = [];
  for (let i = 0; i < words.length; i += size) chunks.push(words.slice(i, i + size).join(''));
  return chunks;
}

/** Replays a stored answer as stream parts: its deltas (or the text in a few deltas), tool calls, finish. */
export function* replayParts(stored: StoredAnswer): Generator<StreamPart> {
  for (const text of stored.deltas ?? chunkText(stored.text)) yield { type: 'text-delta', text };
  for (const toolCall of stored.toolCalls ?? []) yield { type: 'tool-call', toolCall };
  yield {
    type: 'finish',
    finishReason: stored.finishReason,
    usage: stored.usage ?? undefined,
    ...(stored.object !== undefined ? { object: stored.object } : {}),
    ...(stored.structuredOutput !== undefined ? { structuredOutput: stored.structuredOutput } : {}),
  };
}

/**
 * Passes a stream through and, when it ends with a finish part (not aborted, not an error) and the
 * consumer read it to the end, hands the recorded answer to `store`.
 */
export async function* recordStream(
  parts: AsyncIterable<StreamPart>,
  store: (answer: StoredAnswer) => Promise<void>,
): AsyncGenerator<StreamPart> {
  const deltas: string[] = [];
  const toolCalls: ToolCall[] = [];
  let finish: Extract<StreamPart, { type: 'finish' }> | undefined;
  for await (const part of parts) {
    if (part.type === 'text-delta') deltas.push(part.text);
    else if (part.type === 'tool-call') toolCalls.push(part.toolCall);
    else finish = part;
    yield part;
  }
  if (finish === undefined || finish.finishReason === 'aborted' || finish.finishReason === 'error') return;
  await store(
    toStoredAnswer(
      {
        text: deltas.join(''),
        finishReason: finish.finishReason,
        usage: finish.usage,
        ...(finish.object !== undefined ? { object: finish.object } : {}),
        ...(finish.structuredOutput !== undefined ? { structuredOutput: finish.structuredOutput } : {}),
        ...(toolCalls.length > 0 ? { toolCalls } : {}),
      },
      deltas,
    ),
  );
}

/** Everything in a call that changes the answer, in a fixed order (the abort signal is left out). */
export function callIdentity(call: GenerateOptions): unknown[] {
  const schema = call.schema === undefined ? null : resolveOutputSchema(call.schema);
  return [
    call.messages?.map((message) => [
      message.role,
      message.content,
      message.toolCallId ?? null,
      message.toolCalls ?? null,
    ]) ?? null,
    call.prompt ?? null,
    call.maxTokens ?? null,
    call.temperature ?? null,
    call.topP ?? null,
    call.seed ?? null,
    call.stop ?? null,
    schema === null ? null : [schema.name, schema.jsonSchema],
    call.tools === undefined
      ? null
      : resolveTools(call.tools).map((tool) => [tool.name, tool.description ?? null, tool.jsonSchema]),
    call.toolChoice ?? null,
  ];
}

/**
 * Wraps a ModelRunner with an exact-match response cache. The key covers the model's fingerprint and
 * every parameter that changes the answer; calls that are not reproducible (temperature above 0 without
 * a seed the runner honours, or no temperature and no seed) go straight to the runner unless
 * `cacheNondeterministic` is set. Streams are replayed from the cache and recorded on a miss.
 */
export function withResponseCache<R extends ModelRunner>(
  runner: R,
  cache: Cache,
  options: ResponseCacheOptions = {},
): ResponseCachedRunner<R> {
  parseArgument(runnerSchema, runner, 'runner');
  parseArgument(cacheSchema, cache, 'cache');
  const parsed = parseArgument(optionsSchema, options, 'withResponseCache options');
  const namespace = parsed.namespace ?? 'resp';
  const stats: ResponseCacheStats = { hits: 0, misses: 0, bypassed: 0 };
  let fingerprint: Promise<string> | undefined;

  const modelKey = (): Promise<string> => {
    fingerprint ??= runner
      .describeModel()
      .then(modelFingerprint)
      .catch((error: unknown) => {
        fingerprint = undefined;
        throw error;
      });
    return fingerprint;
  };

  const reproducible = (call: GenerateOptions): boolean =>
    parsed.cacheNondeterministic === true ||
    call.temperature === 0 ||
    (call.seed !== undefined && runner.capabilities.seed);

  const keyOf = async (call: GenerateOptions): Promise<string> =>
    `${namespace}:${sha256Hex(JSON.stringify([await modelKey(), ...callIdentity(call)]))}`;

  /** Stores an answer; the caller's signal only stops the wait (the answer still lands if the store received it). */
  const save = (key: string, answer: StoredAnswer, abortSignal: AbortSignal | undefined): Promise<void> =>
    cache.set(key, answer as unknown as CacheValue, {
      ...(parsed.ttlMs === undefined ? {} : { ttlMs: parsed.ttlMs }),
      ...(abortSignal ? { abortSignal } : {}),
    });

  /** A stored answer, if any, that still satisfies the call's schema. */
  const lookup = async (key: string, call: GenerateOptions): Promise<StoredAnswer | undefined> => {
    const stored = readStoredAnswer(
      await cache.get(key, call.abortSignal ? { abortSignal: call.abortSignal } : undefined),
    );
    if (stored === undefined || call.schema === undefined) return stored;
    return resolveOutputSchema(call.schema).validator.safeParse(stored.object).success ? stored : undefined;
  };

  async function generate<T = unknown>(options: GenerateOptions<T>): Promise<CachedGenerateResult<T>> {
    const call = parseGenerateOptions(options);
    throwIfAborted(call.abortSignal, 'Cached generate');
    if (!reproducible(call)) {
      stats.bypassed++;
      return { ...(await runner.generate<T>(options)), cacheHit: false };
    }
    const key = await keyOf(call);
    const stored = await lookup(key, call);
    throwIfAborted(call.abortSignal, 'Cached generate');
    if (stored !== undefined) {
      stats.hits++;
      return { ...fromStoredAnswer<T>(stored), cacheHit: true };
    }
    stats.misses++;
    const result = await runner.generate<T>(options);
    if (result.finishReason !== 'aborted' && result.finishReason !== 'error')
      await save(key, toStoredAnswer(result as GenerateResult), call.abortSignal);
    return { ...result, cacheHit: false };
  }

  async function* stream(options: GenerateOptions): AsyncGenerator<StreamPart> {
    const call = parseGenerateOptions(options);
    throwIfAborted(call.abortSignal, 'Cached stream');
    if (!reproducible(call)) {
      stats.bypassed++;
      yield* runner.stream(options);
      return;
    }
    const key = await keyOf(call);
    const stored = await lookup(key, call);
    throwIfAborted(call.abortSignal, 'Cached stream');
    if (stored !== undefined) {
      stats.hits++;
      yield* replayParts(stored);
      return;
    }
    stats.misses++;
    yield* recordStream(runner.stream(options), (answer) => save(key, answer, call.abortSignal));
  }

  // describeModel, capabilities, dispose and any other member are the wrapped runner's own.
  return wrapRunner(runner, {
    generate,
    stream,
    stats: () => ({ ...stats }),
    runner,
    cache,
  });
}
