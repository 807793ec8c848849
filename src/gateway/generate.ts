/**
 * Runs a generation request, whatever the endpoint: the model or knowledge model it names (once the
 * caller may use it), the options adapted to what the model can do, and the generation under
 * admission control (slots, token reservations, the time limit, the client's disconnect).
 */
import type { Context } from 'hono';
import { AbortedError, TimeoutError } from '../core/errors.js';
import type { GenerateOptions, Usage } from '../core/runner.js';
import { toolHistoryAsText } from '../internal/structured-output.js';
import type { Slot } from './admission.js';
import type { Env, KnowledgeEntry, ModelEntry, RequestState, RetrieveFor, Target } from './context.js';
import { invalidRequest, modelNotFound, shownName } from './errors.js';
import { type Collected, collect, type GenerationEvent, knowledgeEvents, runnerEvents } from './generation.js';
import type { GatewayMetrics } from './metrics.js';
import type { Access } from './middleware/access.js';
import { type ClientSignal, clientSignal, countTokens } from './middleware/request.js';
import type { RequestedGeneration } from './wire.js';

const DEFAULT_KNOWLEDGE_LIMIT = 5;
const DEFAULT_CONTEXT_CHARS = 6_000;
/** Completion tokens reserved against the token limit for a request that names no maximum. */
const RESERVED_COMPLETION_TOKENS = 256;
const TIMEOUT_HEADER = 'x-kumiki-timeout-ms';

/** A generation request as every endpoint turns it into: whose model, which options, streamed or not. */
export type GenerationRequest = {
  model: string;
  stream: boolean;
  options: RequestedGeneration;
  /** The request field naming the completion budget, for errors. */
  maxTokensParam: string;
};

/** What the generation endpoints use to answer: `prepare`, then `collected` or `admitted` (streamed). */
export type Generations = ReturnType<typeof generations>;

/** The request's time limit: the model's, or less when the client asks (`x-kumiki-timeout-ms`). */
function timeoutOf(c: Context<Env>, entry: ModelEntry): number {
  const header = c.req.header(TIMEOUT_HEADER);
  if (header === undefined) return entry.timeoutMs;
  const asked = Number(header);
  if (!/^\d{1,9}$/.test(header.trim()) || asked < 1) {
    throw invalidRequest(`${TIMEOUT_HEADER} must be a whole number of milliseconds (at least 1)`, TIMEOUT_HEADER);
  }
  return Math.min(asked, entry.timeoutMs);
}

/** Roughly the tokens a request will use, reserved against the token limit until its usage is known. */
function estimate(target: Target, options: RequestedGeneration): number {
  const characters =
    (options.prompt?.length ?? 0) + (options.messages ?? []).reduce((sum, message) => sum + message.content.length, 0);
  const context = target.knowledge ? (target.knowledge.config.maxContextChars ?? DEFAULT_CONTEXT_CHARS) : 0;
  return Math.ceil((characters + context) / 4) + (options.maxTokens ?? RESERVED_COMPLETION_TOKENS);
}

/**
 * The options as the target can take them: tools refused unless the model calls them (or
 * `tool_choice` is `none`, then they are left out), tool history written out as text for runners
 * without tools, structured output refused where unsupported, `max_tokens` within the model's cap.
 */
function adapt(target: Target, request: GenerationRequest): RequestedGeneration {
  const { runner } = target.model;
  const callsTools = target.knowledge === undefined && runner.capabilities.tools;
  let options = request.options;
  if (options.tools && options.tools.length > 0 && !callsTools) {
    if (options.toolChoice !== 'none') {
      throw invalidRequest(
        target.knowledge
          ? `The knowledge model "${shownName(target.name)}" answers from its sources and calls no tools; leave tools out or send tool_choice: "none".`
          : `The model "${shownName(target.name)}" does not call tools; leave tools out or send tool_choice: "none".`,
        'tools',
        'unsupported_parameter',
      );
    }
  }
  if (!callsTools) {
    const { tools: _tools, toolChoice, ...rest } = options;
    if (toolChoice !== undefined && toolChoice !== 'none' && toolChoice !== 'auto') {
      throw invalidRequest(
        `The model "${shownName(target.name)}" does not call tools, so tool_choice cannot require one.`,
        'tool_choice',
        'unsupported_parameter',
      );
    }
    options = { ...rest, ...(rest.messages ? { messages: toolHistoryAsText(rest.messages) } : {}) };
  }
  if (options.schema && runner.capabilities.structuredOutput.length === 0) {
    throw invalidRequest(
      `The model "${shownName(target.name)}" does not support structured output.`,
      'response_format',
      'unsupported_parameter',
    );
  }
  const cap = target.model.maxTokens;
  if (cap !== undefined) {
    if (options.maxTokens !== undefined && options.maxTokens > cap) {
      throw invalidRequest(
        `${request.maxTokensParam} is too large: ${options.maxTokens}. This model supports at most ${cap} completion tokens, whereas you provided ${options.maxTokens}.`,
        request.maxTokensParam,
      );
    }
    if (options.maxTokens === undefined) options = { ...options, maxTokens: cap };
  }
  return options;
}

/** The generation service of a gateway: its chat and knowledge models, access checks, metrics and retrieval. */
export function generations(served: {
  models: Map<string, ModelEntry>;
  knowledge: Map<string, KnowledgeEntry>;
  access: Access;
  metrics: GatewayMetrics;
  retrieveOptions: RetrieveFor;
}) {
  const { models, knowledge, metrics, retrieveOptions } = served;
  const { allow, charge, callerKey, limitsTokens } = served.access;

  /** The target and adapted options of a generation request, once the caller may use the model. */
  function prepare(state: RequestState, request: GenerationRequest): { target: Target; options: RequestedGeneration } {
    const target = targetFor(state, request.model);
    state.stream = request.stream;
    return { target, options: adapt(target, request) };
  }

  /** The model or knowledge model a generation request names, once the caller may use it. */
  function targetFor(state: RequestState, name: string): Target {
    const model = models.get(name);
    const grounded = knowledge.get(name);
    if (!model && !grounded) throw modelNotFound(name, 'chat');
    allow(state, 'generate', 'model', name);
    state.model = shownName(name);
    return grounded
      ? { name, model: grounded.model, knowledge: grounded }
      : { name, model: model as ModelEntry, knowledge: undefined };
  }

  /**
   * Runs a generation under admission control: tokens reserved, a slot of the model (fair share
   * between callers, bounded queue), the request's time limit and the client's disconnect as the
   * runner's abort signal; afterwards the slot is released and the reservation settled with the
   * real usage (a failed generation keeps its reservation: every generation is charged).
   */
  async function* admitted(
    c: Context<Env>,
    state: RequestState,
    target: Target,
    options: RequestedGeneration,
    stream: boolean,
    client: ClientSignal,
  ): AsyncGenerator<GenerationEvent> {
    const timeoutMs = timeoutOf(c, target.model);
    const reserved = limitsTokens ? estimate(target, options) : 0;
    await charge(state, reserved, 'reserve', true);
    const deadline = new AbortController();
    const timer = setTimeout(
      () =>
        deadline.abort(
          new TimeoutError({
            operation: `The request to "${shownName(target.name)}"`,
            timeoutMs,
            component: 'gateway',
          }),
        ),
      timeoutMs,
    );
    const signal = AbortSignal.any([client.signal, deadline.signal]);
    let slot: Slot | undefined;
    let usage: Usage | undefined;
    try {
      slot = await target.model.scheduler.acquire(state.principal ? callerKey(state.principal) : 'anonymous', signal);
      signal.throwIfAborted();
      const generate: GenerateOptions = { ...options, abortSignal: signal };
      const events = target.knowledge
        ? knowledgeEvents({
            ...(options.messages ? { messages: options.messages } : { question: options.prompt ?? '' }),
            runner: target.model.runner,
            retrieval: {
              ...retrieveOptions(state, target.knowledge.retrieval),
              limit: target.knowledge.config.limit ?? DEFAULT_KNOWLEDGE_LIMIT,
            },
            ...(target.knowledge.config.instructions ? { instructions: target.knowledge.config.instructions } : {}),
            ...(target.knowledge.config.noAnswer ? { noAnswer: target.knowledge.config.noAnswer } : {}),
            ...(target.knowledge.config.maxContextChars
              ? { maxContextChars: target.knowledge.config.maxContextChars }
              : {}),
            ...(target.knowledge.config.condense ? { condense: true } : {}),
            ...(target.knowledge.config.maxHistoryChars === undefined
              ? {}
              : { maxHistoryChars: target.knowledge.config.maxHistoryChars }),
            ...(target.knowledge.config.historyOverflow
              ? { historyOverflow: target.knowledge.config.historyOverflow }
              : {}),
            ...(options.maxTokens === undefined ? {} : { maxTokens: options.maxTokens }),
            ...(options.temperature === undefined ? {} : { temperature: options.temperature }),
            ...(options.topP === undefined ? {} : { topP: options.topP }),
            ...(options.seed === undefined ? {} : { seed: options.seed }),
            ...(options.stop === undefined ? {} : { stop: options.stop }),
            ...(options.schema === undefined ? {} : { schema: options.schema }),
            abortSignal: signal,
          })
        : runnerEvents(target.model.runner, generate, stream);
      for await (const event of events) {
        if (event.type === 'finish') {
          usage = event.usage;
          countTokens(metrics, state, target.name, usage);
          for (const warning of event.warnings ?? []) state.warnings.push(warning);
        }
        yield event;
      }
    } catch (error) {
      if (deadline.signal.aborted && !client.signal.aborted) throw deadline.signal.reason;
      if (client.signal.aborted) {
        throw new AbortedError({ operation: 'the request (the client went away)', cause: error, component: 'gateway' });
      }
      throw error;
    } finally {
      clearTimeout(timer);
      slot?.release();
      if (usage !== undefined && reserved > 0) {
        await charge(state, usage.promptTokens + usage.completionTokens - reserved, 'settle', false);
      } else if (usage !== undefined) {
        await charge(state, usage.promptTokens + usage.completionTokens, 'usage', false);
      }
    }
  }

  /** A whole generation, for non-streamed answers; the client's signal is released after. */
  async function collected(
    c: Context<Env>,
    state: RequestState,
    target: Target,
    options: RequestedGeneration,
  ): Promise<Collected> {
    const client = clientSignal(c);
    try {
      return await collect(admitted(c, state, target, options, false, client));
    } finally {
      client.release();
    }
  }

  return { prepare, admitted, collected };
}
