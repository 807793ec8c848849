import { basename, resolve } from 'node:path';
import { AbortedError, ConflictError, InvalidArgumentError, throwIfAborted } from '../../core/errors.js';
import type { GenerateOptions, GenerateResult, ModelDescription, StreamPart, Usage } from '../../core/runner.js';
import { parseArgument } from '../../core/validate.js';
import { raceAbort } from '../../internal/abort.js';
import { lazy } from '../../internal/optional.js';
import { validateAnswer } from '../../internal/structured-output.js';
import { translateLlamaError } from '../../llama/errors.js';
import { ggufRevision } from '../../llama/registry.js';
import { loadState, type ModelFile, type State, withSequence } from './context.js';
import { type Evaluation, evaluate } from './generation.js';
import { COMPONENT, type LlamaCppRunner, type LlamaCppRunnerOptions, optionsSchema } from './options.js';
import { type Prepared, preparePrompt } from './prompt.js';
import { createGrammarCache, prepareCall } from './structured.js';

/** Grammar-constrained attempts per structured `generate` call (a grammar cannot enforce every JSON Schema rule). */
const STRUCTURED_ATTEMPTS = 3;

/**
 * Creates a `ModelRunner` that generates with a GGUF model in-process with llama.cpp (node-llama-cpp).
 * Nothing loads until the first call; runners and embedders on the same file share one model in
 * memory. See docs/adapters/llama-cpp-runner.md.
 */
export function createLlamaCppRunner(options: LlamaCppRunnerOptions): LlamaCppRunner {
  const parsed = parseArgument(optionsSchema, options, 'llama.cpp runner options');
  // With `model`, the URI until the first call resolves it to a file (see loadState()).
  const path = parsed.modelPath === undefined ? (parsed.model ?? '') : resolve(parsed.modelPath);
  const file: ModelFile = { path, id: parsed.modelPath === undefined ? path : basename(path) };
  const threads = parsed.threads ?? 1;
  const sequences = parsed.sequences ?? 1;

  let disposed = false;
  const inFlight = new Set<Promise<unknown>>();
  const grammars = createGrammarCache();

  /** The loaded state: one load however many calls race for it; a failed load is retried by the next call. */
  let loading: Promise<State> | undefined;
  function init(): Promise<State> {
    loading ??= loadState(parsed, file, sequences, threads).catch((error: unknown) => {
      loading = undefined;
      throw error;
    });
    return loading;
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
    const { call, schema } = prepareCall(options);
    const operation = `llama.cpp generation with ${file.id}`;
    throwIfAborted(signal, operation);
    const state = await raceAbort(init(), signal, operation, COMPONENT);
    let prepared: Prepared;
    try {
      prepared = await preparePrompt(state, parsed, call, signal);
    } catch (error) {
      if (signal.aborted) throw new AbortedError({ operation, cause: signal.reason, component: COMPONENT });
      throw error;
    }
    const grammar = schema === undefined ? undefined : await grammars.get(state, schema);
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
          evaluate(state, parsed, sequence, { call, prepared, signal, grammar, seed, onText }),
        );
      } catch (error) {
        if (signal.aborted) throw new AbortedError({ operation, cause: signal.reason, component: COMPONENT });
        const log = await state.lease.errorLog.since(mark);
        throw translateLlamaError(error, { operation, modelPath: file.path, component: COMPONENT, log });
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
              message: `${file.id} gave no answer matching the schema in ${attempts} grammar-constrained attempt(s); the last one failed with: ${outcome.problem}. The grammar enforces the JSON shape, enums, consts, string lengths and bounded integers, but not every JSON Schema rule (e.g. unbounded minimum/maximum, patterns, formats): simplify the schema`,
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
          message: `Cannot ${operation}: this llama.cpp runner (${file.id}) was disposed. Create a new one.`,
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
    prepareCall(options);
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
      model: file.id,
      revision,
      ...(state.quantization === undefined ? {} : { quantization: state.quantization }),
    };
  });

  return {
    specificationVersion: 'kumiki.runner.v1',
    provider: 'llama-cpp',
    get modelId() {
      return file.id;
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
