import { z } from 'zod';
import { AbortedError, ConflictError, UnavailableError } from '../../core/errors.js';
import type {
  ChatMessage,
  GenerateOptions,
  GenerateResult,
  ModelDescription,
  ModelRunner,
  RunnerCapabilities,
  StreamPart,
  StructuredOutputMode,
  Usage,
} from '../../core/runner.js';
import { functionSchema, parseArgument } from '../../core/validate.js';
import { resolveToken, serverConnectionShape, type TokenProvider } from '../../internal/http/credentials.js';
import { bodyExcerpt, describeUrl } from '../../internal/http/errors.js';
import { type FetchFunction, type HttpExchange, openHttpRequest } from '../../internal/http/request.js';
import { withRetry } from '../../internal/retry.js';
import {
  parseGenerateOptions,
  type ResolvedSchema,
  repairMessages,
  resolveOutputSchema,
  resolveTools,
  schemaInstruction,
  validateAnswer,
} from '../../internal/structured-output.js';
import { createSseParser } from './sse.js';
import {
  type Conversation,
  createStreamAccumulator,
  type Flavor,
  type ParsedResponse,
  parseResponse,
  requestBody,
  type SchemaEnforcement,
  type WireContext,
} from './wire.js';

const COMPONENT = 'openai-compatible';
const DEFAULT_TIMEOUT_MS = 120_000;
const DEFAULT_RETRIES = 3;
const DEFAULT_MAX_REPAIRS = 2;

/** Returns the API key or bearer token; called before every request, so rotating tokens work. */

export type OpenAICompatibleRunnerOptions = {
  /** Base URL of the API, usually ending in `/v1` (`http://localhost:8000/v1`). */
  baseURL: string;
  /** The served model name, as the server lists it under GET /v1/models. */
  model: string;
  /** API key or bearer token, or a function returning one (called before every request). */
  apiKey?: string | TokenProvider;
  /** Extra request headers; values that look like credentials are never shown in errors. */
  headers?: Record<string, string>;
  /** Deadline per HTTP request, the whole response (or stream) included; default 120,000 ms. */
  timeoutMs?: number;
  /** Retries of 408, 429, 5xx, timeouts and network errors before any output; default 3. */
  retries?: number;
  /** The server family, which selects the structured-output parameters; default `'openai'`. */
  flavor?: Flavor;
  /** `'auto'` (default): the server's native mechanism, repaired when its answer is invalid; `'native'`: no repair; `'validate-and-repair'`: instructions only. */
  structuredOutput?: 'auto' | 'native' | 'validate-and-repair';
  /** Repair rounds after an invalid structured answer; default 2. */
  maxRepairs?: number;
  /** Where `prompt` calls go: `'completions'` (default, /v1/completions) or `'chat'` (one user message). */
  endpoint?: 'chat' | 'completions';
  /** Whether the server gives the same text for the same seed (vLLM and llama-server do); default per flavor. */
  reproducibleSeed?: boolean;
  /** Model revision or version, recorded in `describeModel()` (the server does not receive it). */
  revision?: string;
  /** The fetch implementation, default `globalThis.fetch`. */
  fetch?: FetchFunction;
};

export interface OpenAICompatibleRunner extends ModelRunner {
  readonly provider: 'openai-compatible';
  /** Later calls reject with ConflictError; there is nothing else to release. */
  dispose(): Promise<void>;
}

const optionsSchema = z
  .object({
    ...serverConnectionShape,
    model: z.string({ error: 'model must be a string' }).min(1, 'model must name the served model'),
    flavor: z
      .enum(['openai', 'vllm', 'llama-server', 'ollama'], {
        error: "flavor must be 'openai', 'vllm', 'llama-server' or 'ollama'",
      })
      .optional(),
    structuredOutput: z
      .enum(['auto', 'native', 'validate-and-repair'], {
        error: "structuredOutput must be 'auto', 'native' or 'validate-and-repair'",
      })
      .optional(),
    maxRepairs: z.number().int('maxRepairs must be an integer').min(0, 'maxRepairs must be at least 0').optional(),
    endpoint: z.enum(['chat', 'completions'], { error: "endpoint must be 'chat' or 'completions'" }).optional(),
    reproducibleSeed: z.boolean().optional(),
    revision: z.string().min(1, 'revision must not be empty').optional(),
    fetch: functionSchema<FetchFunction>('fetch must be a function').optional(),
  })
  .strict();

/** The instruction for servers without native structured output: merged into the first system message. */
function withInstruction(conversation: Conversation, schema: ResolvedSchema): Conversation {
  const instruction = schemaInstruction(schema);
  if (conversation.kind === 'prompt') {
    return { kind: 'prompt', prompt: `${conversation.prompt}\n\n${instruction.content}\n` };
  }
  const [first, ...rest] = conversation.messages;
  if (first?.role === 'system') {
    return { kind: 'chat', messages: [{ ...first, content: `${first.content}\n\n${instruction.content}` }, ...rest] };
  }
  return { kind: 'chat', messages: [instruction, ...conversation.messages] };
}

/** The conversation of a repair round: the failed answer and what was wrong with it. */
function withRepair(conversation: Conversation, answer: string, problem: string, schema: ResolvedSchema): Conversation {
  if (conversation.kind === 'chat') {
    return { kind: 'chat', messages: repairMessages(conversation.messages, answer, problem, schema) };
  }
  const request = repairMessages([], answer, problem, schema).at(-1) as ChatMessage;
  return { kind: 'prompt', prompt: `${conversation.prompt}${answer}\n\n${request.content}\n` };
}

const addUsage = (a: Usage | undefined, b: Usage | undefined): Usage | undefined =>
  a && b
    ? { promptTokens: a.promptTokens + b.promptTokens, completionTokens: a.completionTokens + b.completionTokens }
    : (a ?? b);

/**
 * Creates a model runner for any server speaking the OpenAI chat/completions protocol: vLLM,
 * llama.cpp's llama-server, Ollama, mlx-lm, Ray Serve LLM, OpenAI. Uses fetch; no dependency. See
 * docs/adapters/openai-compatible-runner.md.
 */
export function createOpenAICompatibleRunner(options: OpenAICompatibleRunnerOptions): OpenAICompatibleRunner {
  const parsed = parseArgument(optionsSchema, options, 'OpenAI-compatible runner options');
  const base = parsed.baseURL.replace(/\/+$/, '');
  const fetchFunction = parsed.fetch ?? globalThis.fetch;
  const timeoutMs = parsed.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const retries = parsed.retries ?? DEFAULT_RETRIES;
  const flavor = parsed.flavor ?? 'openai';
  const structured = parsed.structuredOutput ?? 'auto';
  const maxRepairs = parsed.maxRepairs ?? DEFAULT_MAX_REPAIRS;
  const promptEndpoint = parsed.endpoint ?? 'completions';
  const nativeMode: 'guided-decoding' | 'response-format' = flavor === 'vllm' ? 'guided-decoding' : 'response-format';
  const modes: StructuredOutputMode[] =
    structured === 'auto'
      ? [nativeMode, 'validate-and-repair']
      : structured === 'native'
        ? [nativeMode]
        : ['validate-and-repair'];
  const capabilities: RunnerCapabilities = {
    streaming: true,
    structuredOutput: modes,
    tools: true,
    seed: parsed.reproducibleSeed ?? (flavor === 'vllm' || flavor === 'llama-server'),
  };
  const apiKey = parsed.apiKey;
  let disposed = false;

  function urlFor(conversation: Conversation): string {
    return `${base}/${conversation.kind === 'chat' ? 'chat/completions' : 'completions'}`;
  }

  function operationFor(conversation: Conversation, stream: boolean): string {
    return `OpenAI-compatible ${conversation.kind === 'chat' ? 'chat completion' : 'completion'}${stream ? ' stream' : ''} request`;
  }

  /** Opens one request (retried while nothing has been read); the caller reads the body. */
  function open<T>(
    conversation: Conversation,
    body: Record<string, unknown>,
    stream: boolean,
    abortSignal: AbortSignal | undefined,
    read: (exchange: HttpExchange, context: WireContext) => Promise<T>,
  ): Promise<T> {
    const url = urlFor(conversation);
    const operation = operationFor(conversation, stream);
    return withRetry(
      async () => {
        const token = await resolveToken(apiKey, COMPONENT);
        const headers = new Headers(parsed.headers);
        headers.set('content-type', 'application/json');
        headers.set('accept', stream ? 'text/event-stream' : 'application/json');
        if (token !== undefined) headers.set('authorization', `Bearer ${token}`);
        const secrets = token === undefined ? [] : [token];
        const exchange = await openHttpRequest({
          url,
          method: 'POST',
          headers,
          body: JSON.stringify(body),
          timeoutMs,
          abortSignal,
          fetch: fetchFunction,
          operation,
          component: COMPONENT,
          secrets,
        });
        return read(exchange, { operation, url: describeUrl(url), component: COMPONENT, secrets });
      },
      { retries, abortSignal, operation: `${operation} (POST ${describeUrl(url)})` },
    );
  }

  function conversationOf(options: GenerateOptions): Conversation {
    if (options.messages) return { kind: 'chat', messages: options.messages };
    const prompt = options.prompt ?? '';
    return promptEndpoint === 'chat'
      ? { kind: 'chat', messages: [{ role: 'user', content: prompt }] }
      : { kind: 'prompt', prompt };
  }

  function start(raw: GenerateOptions, operation: string) {
    const options = parseGenerateOptions(raw);
    if (options.abortSignal?.aborted) throw new AbortedError({ operation, cause: options.abortSignal.reason });
    if (disposed) {
      throw new ConflictError({
        message: 'This OpenAI-compatible runner was disposed; create a new one.',
        component: COMPONENT,
      });
    }
    const schema = options.schema ? resolveOutputSchema(options.schema) : undefined;
    const enforcement: SchemaEnforcement =
      schema === undefined || structured === 'validate-and-repair' ? 'none' : nativeMode;
    let conversation = conversationOf(options);
    if (schema && enforcement === 'none') conversation = withInstruction(conversation, schema);
    return { options, schema, enforcement, conversation, tools: resolveTools(options.tools) };
  }

  async function readAll(exchange: HttpExchange, context: WireContext): Promise<ParsedResponse> {
    return parseResponse(await exchange.text(), context);
  }

  function invalidAnswer(schema: ResolvedSchema, answer: string, problem: string, rounds: number): UnavailableError {
    return new UnavailableError({
      message: `Model "${parsed.model}" at ${describeUrl(base)} did not produce an answer matching the "${schema.name}" schema${rounds > 0 ? ` after ${rounds} repair round${rounds === 1 ? '' : 's'}` : ''}: ${problem}. Answer: ${bodyExcerpt(answer, []) || '(empty)'}. Raise maxTokens, simplify the schema, use a stronger model, or raise maxRepairs.`,
      component: COMPONENT,
      isRetryable: false,
    });
  }

  async function generate<T>(raw: GenerateOptions): Promise<GenerateResult<T>> {
    const { options, schema, enforcement, conversation, tools } = start(raw, 'OpenAI-compatible generate');
    let current = conversation;
    let usage: Usage | undefined;
    const warnings: string[] = [];
    const repairs = structured === 'native' ? 0 : maxRepairs;
    for (let round = 0; ; round++) {
      const body = requestBody({
        model: parsed.model,
        conversation: current,
        generate: options,
        schema,
        enforcement,
        tools,
        stream: false,
      });
      const response = await open(current, body, false, options.abortSignal, readAll);
      usage = round === 0 ? response.usage : addUsage(usage, response.usage);
      const result: GenerateResult<T> = {
        text: response.text,
        finishReason: response.finishReason,
        usage,
        ...(response.toolCalls.length > 0 ? { toolCalls: response.toolCalls } : {}),
      };
      if (!schema) return result;
      const outcome = validateAnswer(response.text, schema as ResolvedSchema<T>);
      if (outcome.ok) {
        const mode: StructuredOutputMode = round === 0 && enforcement !== 'none' ? enforcement : 'validate-and-repair';
        return {
          ...result,
          object: outcome.value,
          structuredOutput: mode,
          ...(warnings.length > 0 ? { warnings } : {}),
        };
      }
      if (round >= repairs) throw invalidAnswer(schema, response.text, outcome.problem, round);
      warnings.push(`answer ${round + 1} did not match the schema (${outcome.problem}); asked the model to repair it`);
      current = withRepair(current, response.text, outcome.problem, schema);
    }
  }

  async function* stream(raw: GenerateOptions): AsyncGenerator<StreamPart> {
    const { options, schema, enforcement, conversation, tools } = start(raw, 'OpenAI-compatible stream');
    const body = requestBody({
      model: parsed.model,
      conversation,
      generate: options,
      schema,
      enforcement,
      tools,
      stream: true,
    });
    const { exchange, context } = await open(conversation, body, true, options.abortSignal, async (opened, wire) => ({
      exchange: opened,
      context: wire,
    }));
    const { response, translate } = exchange;
    const reader = response.body?.getReader();
    const accumulator = createStreamAccumulator(context);
    const parser = createSseParser();
    const aborted = () => new AbortedError({ operation: context.operation, cause: options.abortSignal?.reason });
    try {
      let done = false;
      while (!done && reader) {
        let chunk: Awaited<ReturnType<typeof reader.read>>;
        try {
          chunk = await reader.read();
        } catch (error) {
          throw translate(error);
        }
        const events = chunk.done ? parser.end() : parser.push(chunk.value);
        if (chunk.done) done = true;
        for (const event of events) {
          const parts = accumulator.event(event.data);
          if (parts === 'done') {
            done = true;
            break;
          }
          for (const part of parts) {
            if (options.abortSignal?.aborted) throw aborted();
            yield part;
          }
        }
      }
      if (options.abortSignal?.aborted) throw aborted();
      for (const toolCall of accumulator.toolCalls()) yield { type: 'tool-call', toolCall };
      const finish: StreamPart & { type: 'finish' } = {
        type: 'finish',
        finishReason: accumulator.finishReason ?? 'other',
        usage: accumulator.usage,
      };
      if (schema) {
        const outcome = validateAnswer(accumulator.text, schema);
        if (!outcome.ok) throw invalidAnswer(schema, accumulator.text, outcome.problem, 0);
        finish.object = outcome.value;
        finish.structuredOutput = enforcement === 'none' ? 'validate-and-repair' : enforcement;
      }
      yield finish;
    } finally {
      exchange.close();
      // Closes the connection when the stream ends early (abort, error, or the consumer stopped reading).
      await reader?.cancel().catch(() => undefined);
    }
  }

  return {
    specificationVersion: 'kumiki.runner.v1',
    provider: 'openai-compatible',
    modelId: parsed.model,
    capabilities,
    async describeModel(): Promise<ModelDescription> {
      return {
        provider: 'openai-compatible',
        model: parsed.model,
        ...(parsed.revision === undefined ? {} : { revision: parsed.revision }),
        extra: { baseURL: describeUrl(base), flavor },
      };
    },
    generate,
    stream,
    async dispose() {
      disposed = true;
    },
  };
}
