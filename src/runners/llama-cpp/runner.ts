import { basename, resolve } from 'node:path';
import type {
  ChatHistoryItem,
  ChatWrapper,
  Llama,
  LlamaContext,
  LlamaContextSequence,
  LlamaGrammar,
  LlamaModel,
} from 'node-llama-cpp';
import { z } from 'zod';
import {
  AbortedError,
  ConflictError,
  ContextLengthExceededError,
  InvalidArgumentError,
  throwIfAborted,
} from '../../core/errors.js';
import type {
  ChatMessage,
  FinishReason,
  GenerateOptions,
  GenerateResult,
  ModelDescription,
  ModelRunner,
  StreamPart,
  Usage,
} from '../../core/runner.js';
import { parseArgument } from '../../core/validate.js';
import { raceAbort } from '../../internal/abort.js';
import { lazy } from '../../internal/optional.js';
import {
  parseGenerateOptions,
  type ResolvedSchema,
  resolveOutputSchema,
  toolHistoryAsText,
  validateAnswer,
} from '../../internal/structured-output.js';
import { translateLlamaError } from '../../llama/errors.js';
import {
  acquireLlamaModel,
  ggufRevision,
  type LlamaGpu,
  type LlamaGpuLayers,
  type LlamaLogLevel,
  type LlamaModelLease,
  llamaLoadShape,
  loadNodeLlamaCpp,
} from '../../llama/registry.js';
import {
  checkModelSource,
  type LlamaModelSource,
  modelSourceShape,
  resolveLlamaModelFile,
} from '../../llama/resolve.js';
import { countPromptTokens, type TokenCount } from '../../llama/tokens.js';
import { grammarSchema } from './grammar-schema.js';
import { StopScanner } from './stop-scanner.js';

const COMPONENT = 'llama-cpp';
/** Default context cap: the model's training context, but no more than this many tokens. */
const DEFAULT_CONTEXT_CAP = 2048;
const DEFAULT_MAX_TOKENS = 256;
const DEFAULT_TEMPERATURE = 0.8;
/** Grammar-constrained attempts per structured `generate` call (a grammar cannot enforce every JSON Schema rule). */
const STRUCTURED_ATTEMPTS = 3;
/** Compiled grammars kept per runner, by JSON Schema. */
const GRAMMAR_CACHE_SIZE = 32;

export type LlamaCppRunnerOptions = LlamaModelSource & {
  /**
   * CPU threads for this runner's context. Default 1. Always explicit: node-llama-cpp's own default
   * oversubscribes small machines and runs hundreds of times slower.
   */
  threads?: number;
  /** Tokens each request may fill (prompt plus answer). Default: the model's training context, at most 2,048. */
  contextSize?: number;
  /** Tokens llama.cpp evaluates in one batch. Default: node-llama-cpp's (512, at most contextSize). */
  batchSize?: number;
  /**
   * Requests that run at the same time, each on its own llama.cpp context (with one sequence); more
   * wait in line. Default 1. Separate contexts rather than one context with several sequences: in a
   * shared KV cache a request's sampled text depends on what its neighbours occupy, which breaks seeds.
   */
  sequences?: number;
  /** Default `maxTokens` of a call. Default 256. */
  maxTokens?: number;
  /** Default `temperature` of a call (0 = always the most likely token). Default 0.8. */
  temperature?: number;
  /** Default `topP` of a call. Default: off (1). */
  topP?: number;
  /** Sample only from the K most likely tokens (0 = all). Default: node-llama-cpp's (40). */
  topK?: number;
  /** The description's revision. Default: `sha256:` + the SHA-256 of the GGUF file's bytes. */
  revision?: string;
  /** Default `false` (CPU only). `'auto'` probes CUDA, Vulkan and Metal binaries on first use. */
  gpu?: LlamaGpu;
  /** Layers to offload when `gpu` is set: a count, `'max'` or `'auto'` (default). */
  gpuLayers?: LlamaGpuLayers;
  /** llama.cpp's log threshold. Default `'warn'`. */
  logLevel?: LlamaLogLevel;
  /**
   * A chat longer than the context (with the tokens asked for its answer): `'error'` (default)
   * refuses it with `ContextLengthExceededError`; `'drop-oldest-messages'` leaves out the oldest
   * messages other than system messages and the last one until it fits, and says so in `warnings`.
   */
  contextOverflow?: 'error' | 'drop-oldest-messages';
};

/** The node-llama-cpp objects behind a runner, for what kumiki does not wrap. */
export type LlamaCppRunnerNative = {
  llama: Llama;
  /** Shared with every other embedder and runner on the same GGUF file: do not dispose it. */
  model: LlamaModel;
  /** This runner's own contexts (`sequences` of them), each lent to one request at a time. */
  contexts: LlamaContext[];
  /** The chat template messages are rendered with. */
  chatWrapper: ChatWrapper;
};

export interface LlamaCppRunner extends ModelRunner {
  readonly provider: 'llama-cpp';
  /** The GGUF file name. */
  readonly modelId: string;
  /** Requests that run at the same time (the `sequences` option); the gateway gives the model as many slots. */
  readonly sequences: number;
  /** Loads the model (once, shared) and creates this runner's contexts, if not done yet. */
  native(): Promise<LlamaCppRunnerNative>;
  /** Waits for running requests, closes the contexts and releases the shared model. Idempotent. */
  dispose(): Promise<void>;
}

const positiveInt = (name: string) => z.number().int(`${name} must be an integer`).min(1, `${name} must be at least 1`);

const optionsSchema = z
  .object({
    ...modelSourceShape,
    threads: positiveInt('threads').optional(),
    contextSize: z.number().int('contextSize must be an integer').min(16, 'contextSize must be at least 16').optional(),
    batchSize: z.number().int('batchSize must be an integer').min(8, 'batchSize must be at least 8').optional(),
    sequences: positiveInt('sequences').max(64, 'sequences must be at most 64').optional(),
    maxTokens: positiveInt('maxTokens').optional(),
    temperature: z.number().min(0, 'temperature must be at least 0').max(2, 'temperature must be at most 2').optional(),
    topP: z.number().gt(0, 'topP must be above 0').max(1, 'topP must be at most 1').optional(),
    topK: z.number().int('topK must be an integer').nonnegative('topK must not be negative').optional(),
    contextOverflow: z
      .enum(['error', 'drop-oldest-messages'], { error: "contextOverflow must be 'error' or 'drop-oldest-messages'" })
      .optional(),
    ...llamaLoadShape,
  })
  .strict()
  .superRefine(checkModelSource);

type State = {
  lease: LlamaModelLease;
  contexts: LlamaContext[];
  chatWrapper: ChatWrapper;
  /** Whether plain prompts get the model's BOS token first (as LlamaCompletion does). */
  prependsBos: boolean;
  quantization: string | undefined;
  lib: Awaited<ReturnType<typeof loadNodeLlamaCpp>>;
  /** The contexts' sequences that no request holds. */
  free: LlamaContextSequence[];
  /** Requests waiting for a sequence, first come first served. */
  waiting: ((sequence: LlamaContextSequence) => void)[];
};

/** One evaluation's outcome, before structured-output handling. */
type Evaluation = { text: string; finishReason: FinishReason; usage: Usage };

/** What is evaluated: the chat or prompt that fits the context, its size, and the answer's budget. */
type Prepared = {
  history: ChatHistoryItem[] | undefined;
  prompt: string | undefined;
  promptTokens: number;
  maxTokens: number;
  warnings: string[];
};

const FINISH_REASONS: Record<string, FinishReason> = {
  maxTokens: 'length',
  eogToken: 'stop',
  stopGenerationTrigger: 'stop',
  customStopTrigger: 'stop',
  functionCalls: 'tool-calls',
  abort: 'aborted',
};

function unsupportedTools(path: string, what: string): InvalidArgumentError {
  return new InvalidArgumentError({
    argument: 'generate options',
    issues: [
      {
        path,
        message: `${what}: the llama.cpp runner does not call tools (capabilities.tools is false); use a runner that supports tools, or ask for a structured answer with schema`,
      },
    ],
    component: COMPONENT,
  });
}

/**
 * Chat messages as node-llama-cpp history; the last one is the model's (possibly empty) answer to
 * continue. Tool calls and results in the history are written out as text (the runner has no
 * tool-calling template).
 */
function toHistory(messages: readonly ChatMessage[]): ChatHistoryItem[] {
  const history: ChatHistoryItem[] = toolHistoryAsText(messages).map((message) => {
    if (message.role === 'system') return { type: 'system', text: message.content };
    if (message.role === 'user') return { type: 'user', text: message.content };
    return { type: 'model', response: [message.content] };
  });
  if (history.at(-1)?.type !== 'model') history.push({ type: 'model', response: [] });
  return history;
}

/**
 * Creates a `ModelRunner` that generates with a GGUF model in-process with llama.cpp (node-llama-cpp).
 * Nothing loads until the first call; runners and embedders on the same file share one model in
 * memory. See docs/adapters/llama-cpp-runner.md.
 */
export function createLlamaCppRunner(options: LlamaCppRunnerOptions): LlamaCppRunner {
  const parsed = parseArgument(optionsSchema, options, 'llama.cpp runner options');
  // With `model`, the URI until the first call resolves it to a file (see load()).
  let modelPath = parsed.modelPath === undefined ? (parsed.model ?? '') : resolve(parsed.modelPath);
  let modelId = parsed.modelPath === undefined ? modelPath : basename(modelPath);
  const threads = parsed.threads ?? 1;
  const sequences = parsed.sequences ?? 1;

  let disposed = false;
  const inFlight = new Set<Promise<unknown>>();
  const grammars = new Map<string, Promise<LlamaGrammar>>();

  async function load(): Promise<State> {
    if (parsed.model !== undefined) {
      modelPath = await resolveLlamaModelFile({
        model: parsed.model,
        modelsDirectory: parsed.modelsDirectory,
        offline: parsed.offline,
        onProgress: parsed.onProgress,
        component: COMPONENT,
      });
      modelId = basename(modelPath);
    }
    const lease = await acquireLlamaModel({
      modelPath,
      gpu: parsed.gpu,
      gpuLayers: parsed.gpuLayers,
      logLevel: parsed.logLevel,
      component: COMPONENT,
    });
    const mark = lease.errorLog.count;
    try {
      const { model } = lease;
      const lib = await loadNodeLlamaCpp();
      const contextSize = parsed.contextSize ?? Math.min(model.trainContextSize, DEFAULT_CONTEXT_CAP);
      const contexts: LlamaContext[] = [];
      try {
        for (let i = 0; i < sequences; i++) {
          contexts.push(
            await model.createContext({
              contextSize,
              sequences: 1,
              threads,
              ...(parsed.batchSize === undefined ? {} : { batchSize: parsed.batchSize }),
            }),
          );
        }
      } catch (error) {
        await Promise.all(contexts.map((context) => context.dispose()));
        throw error;
      }
      const fileType = model.fileInfo.metadata.general.file_type;
      return {
        lease,
        contexts,
        chatWrapper: lib.resolveChatWrapper(model),
        prependsBos: model.tokens.shouldPrependBosToken && model.tokens.bos !== null,
        quantization: fileType === undefined ? undefined : (lib.GgufFileType[fileType] ?? String(fileType)),
        lib,
        free: contexts.map((context) => context.getSequence()),
        waiting: [],
      };
    } catch (error) {
      await lease.release();
      throw translateLlamaError(error, {
        operation: `creating a context for ${modelId}`,
        modelPath,
        component: COMPONENT,
        log: await lease.errorLog.since(mark),
      });
    }
  }

  /** The loaded state: one load however many calls race for it; a failed load is retried by the next call. */
  let loading: Promise<State> | undefined;
  function init(): Promise<State> {
    loading ??= load().catch((error: unknown) => {
      loading = undefined;
      throw error;
    });
    return loading;
  }

  /** Lends a sequence to `task`; waits in line when all are busy. */
  async function withSequence<T>(
    state: State,
    signal: AbortSignal | undefined,
    operation: string,
    task: (sequence: LlamaContextSequence) => Promise<T>,
  ): Promise<T> {
    let sequence = state.free.pop();
    if (sequence === undefined) {
      let waiter: ((sequence: LlamaContextSequence) => void) | undefined;
      const granted = new Promise<LlamaContextSequence>((grant) => {
        waiter = grant;
        state.waiting.push(grant);
      });
      try {
        sequence = await raceAbort(granted, signal, operation, COMPONENT);
      } catch (error) {
        const index = state.waiting.indexOf(waiter as (sequence: LlamaContextSequence) => void);
        if (index >= 0) state.waiting.splice(index, 1);
        // Granted just as the signal fired: hand it on.
        else void granted.then((lent) => giveBack(state, lent));
        throw error;
      }
    }
    try {
      return await task(sequence);
    } finally {
      giveBack(state, sequence);
    }
  }

  function giveBack(state: State, sequence: LlamaContextSequence): void {
    const next = state.waiting.shift();
    if (next) next(sequence);
    else state.free.push(sequence);
  }

  /** The grammar for a JSON Schema, compiled once per runner. */
  function grammarFor(state: State, schema: ResolvedSchema): Promise<LlamaGrammar> {
    const jsonSchema = grammarSchema(schema.jsonSchema);
    const key = JSON.stringify(jsonSchema);
    let pending = grammars.get(key);
    if (pending === undefined) {
      pending = (async () => {
        try {
          // node-llama-cpp types the schema precisely; kumiki accepts any JSON Schema and reports what it refuses.
          return await state.lease.llama.createGrammarForJsonSchema(jsonSchema as never);
        } catch (error) {
          throw new InvalidArgumentError({
            argument: 'schema',
            issues: [
              {
                path: '',
                message: `node-llama-cpp cannot turn this JSON Schema into a grammar (${error instanceof Error ? error.message : String(error)}); simplify the schema`,
              },
            ],
            cause: error,
            component: COMPONENT,
          });
        }
      })();
      pending.catch(() => grammars.delete(key));
      grammars.set(key, pending);
      const oldest = grammars.keys().next().value;
      if (grammars.size > GRAMMAR_CACHE_SIZE && oldest !== undefined) grammars.delete(oldest);
    }
    return pending;
  }

  /** The context every sequence has, in tokens. */
  const contextSizeOf = (state: State) => (state.contexts[0] as LlamaContext).contextSize;

  function tooLong(state: State, count: TokenCount, maxTokens: number): ContextLengthExceededError {
    return new ContextLengthExceededError({
      contextSize: contextSizeOf(state),
      promptTokens: count.tokens,
      maxTokens,
      exact: count.exact,
      component: COMPONENT,
    });
  }

  /**
   * Counts the prompt's tokens (without holding the event loop: see llama/tokens.ts) and decides the
   * answer's budget: the caller's `maxTokens` must fit next to the prompt (else
   * `ContextLengthExceededError`, or older messages are dropped with `contextOverflow`); without one,
   * the default is lowered to what fits.
   */
  async function preparePrompt(state: State, call: GenerateOptions, signal: AbortSignal): Promise<Prepared> {
    const contextSize = contextSizeOf(state);
    const asked = call.maxTokens;
    const budget = asked ?? 1;
    const limit = contextSize - budget;
    const warnings: string[] = [];
    const fitting = (count: TokenCount): Prepared | undefined => {
      if (count.tokens + budget > contextSize) return undefined;
      const maxTokens = asked ?? Math.min(parsed.maxTokens ?? DEFAULT_MAX_TOKENS, contextSize - count.tokens);
      return { history: undefined, prompt: undefined, promptTokens: count.tokens, maxTokens, warnings };
    };
    if (call.prompt !== undefined) {
      const text = { text: call.prompt, prependBos: state.prependsBos } as const;
      const count = await countPromptTokens(
        state.lease.model,
        state.prependsBos ? { ...text, options: 'trimLeadingSpace' } : text,
        limit,
        signal,
      );
      const prepared = fitting(count);
      if (prepared === undefined) throw tooLong(state, count, budget);
      return { ...prepared, prompt: call.prompt };
    }
    const messages = call.messages ?? [];
    const countChat = async (kept: readonly ChatMessage[]) => {
      const history = toHistory(kept);
      const chat = state.chatWrapper.generateContextState({ chatHistory: history }).contextText;
      return { history, count: await countPromptTokens(state.lease.model, { chat }, limit, signal) };
    };
    const whole = await countChat(messages);
    const prepared = fitting(whole.count);
    if (prepared !== undefined) return { ...prepared, history: whole.history };
    if ((parsed.contextOverflow ?? 'error') === 'error') throw tooLong(state, whole.count, budget);
    // Drop the oldest messages that are neither system messages nor the last one: the fewest that make it fit.
    const droppable = messages.flatMap((message, index) =>
      message.role !== 'system' && index < messages.length - 1 ? [index] : [],
    );
    const keeping = (dropped: number) => {
      const gone = new Set(droppable.slice(0, dropped));
      return messages.filter((_, index) => !gone.has(index));
    };
    let low = 1;
    let high = droppable.length;
    let best: { dropped: number; history: ChatHistoryItem[]; prepared: Prepared } | undefined;
    while (low <= high) {
      const middle = Math.floor((low + high) / 2);
      const attempt = await countChat(keeping(middle));
      const fits = fitting(attempt.count);
      if (fits === undefined) low = middle + 1;
      else {
        best = { dropped: middle, history: attempt.history, prepared: fits };
        high = middle - 1;
      }
    }
    if (best === undefined) throw tooLong(state, (await countChat(keeping(droppable.length))).count, budget);
    warnings.push(
      `dropped the ${best.dropped} oldest of ${messages.length} messages so that the chat fits the context of ${contextSize} tokens with ${best.prepared.maxTokens} for the answer`,
    );
    return { ...best.prepared, history: best.history };
  }

  /** One generation on one sequence. */
  async function evaluate(
    state: State,
    sequence: LlamaContextSequence,
    call: GenerateOptions,
    prepared: Prepared,
    signal: AbortSignal,
    grammar: LlamaGrammar | undefined,
    seed: number | undefined,
    onText: ((text: string) => void) | undefined,
  ): Promise<Evaluation> {
    const { lib } = state;
    const scanner = new StopScanner(call.stop ?? []);
    const stopped = new AbortController();
    const settings = {
      // Stop sequences end generation through this signal; a caller's abort is told apart afterwards.
      signal: AbortSignal.any([signal, stopped.signal]),
      stopOnAbortSignal: true,
      maxTokens: prepared.maxTokens,
      temperature: call.temperature ?? parsed.temperature ?? DEFAULT_TEMPERATURE,
      ...((call.topP ?? parsed.topP) === undefined ? {} : { topP: call.topP ?? parsed.topP }),
      ...(parsed.topK === undefined ? {} : { topK: parsed.topK }),
      ...(seed === undefined ? {} : { seed }),
      ...(grammar === undefined ? {} : { grammar }),
      onTextChunk: (chunk: string) => {
        const text = scanner.push(chunk);
        if (text.length > 0) onText?.(text);
        if (scanner.stopped) stopped.abort();
      },
    };
    // Every request starts from an empty sequence, so that its text never depends on what the
    // sequence served before (reusing another request's cached tokens changes sampled text).
    await sequence.clearHistory();
    const before = sequence.tokenMeter.getState();
    let stopReason: string;
    if (prepared.prompt !== undefined) {
      const completion = new lib.LlamaCompletion({ contextSequence: sequence });
      try {
        stopReason = (await completion.generateCompletionWithMeta(prepared.prompt, settings)).metadata.stopReason;
      } finally {
        completion.dispose();
      }
    } else {
      const chat = new lib.LlamaChat({ contextSequence: sequence, chatWrapper: state.chatWrapper });
      try {
        stopReason = (await chat.generateResponse(prepared.history ?? [], settings)).metadata.stopReason;
      } finally {
        chat.dispose();
      }
    }
    if (signal.aborted) throw signal.reason;
    const rest = scanner.flush();
    if (rest.length > 0) onText?.(rest);
    return {
      text: scanner.text,
      finishReason: scanner.stopped ? 'stop' : (FINISH_REASONS[stopReason] ?? 'other'),
      usage: {
        promptTokens: prepared.promptTokens,
        completionTokens: sequence.tokenMeter.diff(before).usedOutputTokens,
      },
    };
  }

  /**
   * Validated generate/stream options, or the typed error for what this runner refuses. Tools are
   * accepted only with `toolChoice: 'none'` (then they are not offered to the model).
   */
  function prepare(options: GenerateOptions): { call: GenerateOptions; schema: ResolvedSchema | undefined } {
    const call = parseGenerateOptions(options);
    if (call.toolChoice === 'required' || typeof call.toolChoice === 'object')
      throw unsupportedTools('toolChoice', 'a tool call was required');
    if (call.tools !== undefined && call.tools.length > 0 && call.toolChoice !== 'none')
      throw unsupportedTools('tools', 'tools were given (send toolChoice: "none" to answer without them)');
    return { call, schema: call.schema === undefined ? undefined : resolveOutputSchema(call.schema) };
  }

  /**
   * Generates (with `schema`: up to `attempts` grammar-constrained tries until the answer validates),
   * reporting text as it comes through `onText`.
   */
  async function run(
    options: GenerateOptions,
    signal: AbortSignal,
    attempts: number,
    onText: ((text: string) => void) | undefined,
  ): Promise<GenerateResult> {
    const { call, schema } = prepare(options);
    const operation = `llama.cpp generation with ${modelId}`;
    throwIfAborted(signal, operation);
    const state = await raceAbort(init(), signal, operation, COMPONENT);
    let prepared: Prepared;
    try {
      prepared = await preparePrompt(state, call, signal);
    } catch (error) {
      if (signal.aborted) throw new AbortedError({ operation, cause: signal.reason, component: COMPONENT });
      throw error;
    }
    const grammar = schema === undefined ? undefined : await grammarFor(state, schema);
    const usage: Usage = { promptTokens: 0, completionTokens: 0 };
    const warnings: string[] = [...prepared.warnings];
    const withWarnings = (result: GenerateResult): GenerateResult =>
      warnings.length > 0 ? { ...result, warnings } : result;
    for (let attempt = 0; ; attempt++) {
      const seed = call.seed === undefined ? undefined : call.seed + attempt;
      const mark = state.lease.errorLog.count;
      let result: Evaluation;
      try {
        result = await withSequence(state, signal, operation, (sequence) =>
          evaluate(state, sequence, call, prepared, signal, grammar, seed, onText),
        );
      } catch (error) {
        if (signal.aborted) throw new AbortedError({ operation, cause: signal.reason, component: COMPONENT });
        const log = await state.lease.errorLog.since(mark);
        throw translateLlamaError(error, { operation, modelPath, component: COMPONENT, log });
      }
      usage.promptTokens += result.usage.promptTokens;
      usage.completionTokens += result.usage.completionTokens;
      if (schema === undefined) return withWarnings({ text: result.text, finishReason: result.finishReason, usage });
      const outcome = validateAnswer(result.text, schema);
      if (outcome.ok) {
        return withWarnings({
          text: result.text,
          finishReason: result.finishReason,
          usage,
          object: outcome.value,
          structuredOutput: 'grammar',
        });
      }
      if (result.finishReason === 'length') {
        // Cut off: another attempt with the same budget would be cut too. The text is what there is, as OpenAI answers.
        warnings.push(
          `the answer was cut off at maxTokens (${prepared.maxTokens}) before it matched the schema (${outcome.problem}); no object was parsed: raise maxTokens`,
        );
        return withWarnings({ text: result.text, finishReason: 'length', usage });
      }
      if (attempt + 1 >= attempts) {
        throw new InvalidArgumentError({
          argument: 'schema',
          issues: [
            {
              path: '',
              message: `${modelId} gave no answer matching the schema in ${attempts} grammar-constrained attempt(s); the last one failed with: ${outcome.problem}. The grammar enforces the JSON shape, enums, consts, string lengths and bounded integers, but not every JSON Schema rule (e.g. unbounded minimum/maximum, patterns, formats): simplify the schema`,
            },
          ],
          component: COMPONENT,
        });
      }
      warnings.push(`attempt ${attempt + 1} did not validate (${outcome.problem}); generated again with another seed`);
    }
  }

  /** Runs `task` unless disposed, and lets `dispose()` wait for it. */
  function guarded<T>(operation: string, task: () => Promise<T>): Promise<T> {
    if (disposed) {
      return Promise.reject(
        new ConflictError({
          message: `Cannot ${operation}: this llama.cpp runner (${modelId}) was disposed. Create a new one.`,
          component: COMPONENT,
        }),
      );
    }
    const running = task();
    const settled = running.then(
      () => undefined,
      () => undefined,
    );
    inFlight.add(settled);
    void settled.then(() => inFlight.delete(settled));
    return running;
  }

  async function* streamParts(options: GenerateOptions): AsyncGenerator<StreamPart> {
    // Validate before anything starts, so that bad input fails the first `next()` and nothing runs.
    prepare(options);
    const cancel = new AbortController();
    const signal = options.abortSignal ? AbortSignal.any([options.abortSignal, cancel.signal]) : cancel.signal;
    // node-llama-cpp pushes text synchronously and cannot be paused; the queue holds at most maxTokens chunks.
    const queue: string[] = [];
    let wake: (() => void) | undefined;
    let outcome: { ok: true; result: GenerateResult } | { ok: false; error: unknown } | undefined;
    const running = guarded('stream', () =>
      run(options, signal, 1, (text) => {
        if (text.length === 0) return;
        queue.push(text);
        wake?.();
      }),
    );
    void running.then(
      (result) => {
        outcome = { ok: true, result };
        wake?.();
      },
      (error: unknown) => {
        outcome = { ok: false, error };
        wake?.();
      },
    );
    try {
      for (;;) {
        const text = queue.shift();
        if (text !== undefined) {
          yield { type: 'text-delta', text };
          continue;
        }
        if (outcome !== undefined) break;
        await new Promise<void>((awake) => {
          wake = awake;
        });
        wake = undefined;
      }
      if (!outcome.ok) throw outcome.error;
      const { finishReason, usage, object, structuredOutput, warnings } = outcome.result;
      yield {
        type: 'finish',
        finishReason,
        usage,
        ...(object === undefined ? {} : { object }),
        ...(structuredOutput === undefined ? {} : { structuredOutput }),
        ...(warnings === undefined ? {} : { warnings }),
      };
    } finally {
      // The consumer stopped early (or it ended): stop generating, and let the sequence go back.
      cancel.abort(new AbortedError({ operation: 'llama.cpp stream (closed by its consumer)', component: COMPONENT }));
      await running.catch(() => undefined);
    }
  }

  const describe = lazy(async (): Promise<ModelDescription> => {
    const state = await init();
    const revision = parsed.revision ?? (await ggufRevision(state.lease.file, COMPONENT));
    return {
      provider: 'llama-cpp',
      model: modelId,
      revision,
      ...(state.quantization === undefined ? {} : { quantization: state.quantization }),
    };
  });

  return {
    specificationVersion: 'kumiki.runner.v1',
    provider: 'llama-cpp',
    get modelId() {
      return modelId;
    },
    sequences,
    capabilities: { streaming: true, structuredOutput: ['grammar'], tools: false, seed: true },
    describeModel: () => guarded('describe the model', describe),
    generate: <T>(generateOptions: GenerateOptions) =>
      guarded('generate', () => {
        const signal = generateOptions.abortSignal ?? new AbortController().signal;
        return run(generateOptions, signal, STRUCTURED_ATTEMPTS, undefined) as Promise<GenerateResult<T>>;
      }),
    stream: (streamOptions) => streamParts(streamOptions),
    native: () =>
      guarded('get the llama.cpp instance', async () => {
        const state = await init();
        return {
          llama: state.lease.llama,
          model: state.lease.model,
          contexts: [...state.contexts],
          chatWrapper: state.chatWrapper,
        };
      }),
    async dispose() {
      if (disposed) return;
      disposed = true;
      await Promise.all(inFlight);
      grammars.clear();
      if (loading === undefined) return;
      let state: State;
      try {
        state = await loading;
      } catch {
        return;
      }
      try {
        await Promise.all(state.contexts.map((context) => context.dispose()));
      } finally {
        await state.lease.release();
      }
    },
  };
}
