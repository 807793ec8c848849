/**
 * The OpenAI chat/completions wire format: request bodies (with each flavor's structured-output
 * parameters), non-streaming responses and streaming chunks, read leniently with zod and reported,
 * when unreadable, as responses that are not OpenAI-compatible.
 */
import { z } from 'zod';
import { UnavailableError } from '../../core/errors.js';
import type { ChatMessage, FinishReason, GenerateOptions, StreamPart, ToolCall, Usage } from '../../core/runner.js';
import { bodyExcerpt, isRetryableStatus } from '../../internal/http/errors.js';
import { isAnyJsonObject, type ResolvedSchema } from '../../internal/structured-output.js';

export type Flavor = 'openai' | 'vllm' | 'llama-server' | 'ollama';

/** How a request enforces a schema: a server parameter, or nothing (the instruction is in the text). */
export type SchemaEnforcement = 'guided-decoding' | 'response-format' | 'none';

/** What is sent: a chat, or a plain prompt for /v1/completions. */
export type Conversation = { kind: 'chat'; messages: readonly ChatMessage[] } | { kind: 'prompt'; prompt: string };

export type WireContext = { operation: string; url: string; component: string; secrets: readonly string[] };

function wireMessage(message: ChatMessage): Record<string, unknown> {
  if (message.role === 'tool') return { role: 'tool', content: message.content, tool_call_id: message.toolCallId };
  if (message.role === 'assistant' && message.toolCalls && message.toolCalls.length > 0) {
    return {
      role: 'assistant',
      content: message.content === '' ? null : message.content,
      tool_calls: message.toolCalls.map((call) => ({
        id: call.id,
        type: 'function',
        function: { name: call.name, arguments: JSON.stringify(call.arguments ?? {}) },
      })),
    };
  }
  return { role: message.role, content: message.content };
}

/** The body of one request. */
export function requestBody(options: {
  model: string;
  conversation: Conversation;
  generate: GenerateOptions;
  schema: ResolvedSchema | undefined;
  enforcement: SchemaEnforcement;
  tools: readonly (ResolvedSchema & { description?: string })[];
  stream: boolean;
}): Record<string, unknown> {
  const { generate, schema, conversation } = options;
  const toolChoice = generate.toolChoice;
  // Any JSON object (OpenAI's JSON mode) goes as JSON mode: every flavor has it, and a schema of `{}` members would not do.
  const jsonMode = schema !== undefined && options.enforcement !== 'none' && isAnyJsonObject(schema.jsonSchema);
  return {
    model: options.model,
    ...(conversation.kind === 'chat'
      ? { messages: conversation.messages.map(wireMessage) }
      : { prompt: conversation.prompt }),
    ...(generate.maxTokens === undefined ? {} : { max_tokens: generate.maxTokens }),
    ...(generate.temperature === undefined ? {} : { temperature: generate.temperature }),
    ...(generate.topP === undefined ? {} : { top_p: generate.topP }),
    ...(generate.seed === undefined ? {} : { seed: generate.seed }),
    ...(generate.stop === undefined ? {} : { stop: [...generate.stop] }),
    ...(jsonMode ? { response_format: { type: 'json_object' } } : {}),
    ...(schema && !jsonMode && options.enforcement === 'response-format'
      ? {
          response_format: {
            type: 'json_schema',
            json_schema: { name: schema.name, schema: schema.jsonSchema, strict: true },
          },
        }
      : {}),
    // vLLM ≥ 0.10 reads `structured_outputs`; the older `guided_json` was removed in 0.12.
    ...(schema && !jsonMode && options.enforcement === 'guided-decoding'
      ? { structured_outputs: { json: schema.jsonSchema } }
      : {}),
    ...(options.tools.length > 0
      ? {
          tools: options.tools.map((tool) => ({
            type: 'function',
            function: {
              name: tool.name,
              ...(tool.description ? { description: tool.description } : {}),
              parameters: tool.jsonSchema,
            },
          })),
        }
      : {}),
    ...(toolChoice === undefined
      ? {}
      : { tool_choice: typeof toolChoice === 'string' ? toolChoice : { type: 'function', function: toolChoice } }),
    ...(options.stream ? { stream: true, stream_options: { include_usage: true } } : {}),
  };
}

export function finishReason(reason: string | null | undefined): FinishReason {
  switch (reason) {
    case 'stop':
    case 'eos':
      return 'stop';
    case 'length':
      return 'length';
    case 'tool_calls':
    case 'function_call':
      return 'tool-calls';
    case 'content_filter':
      return 'content-filter';
    default:
      return 'other';
  }
}

const usageSchema = z
  .object({ prompt_tokens: z.number().int().nonnegative(), completion_tokens: z.number().int().nonnegative() })
  .nullish()
  .catch(undefined);

const wireToolCall = z.object({
  id: z.string().nullish(),
  index: z.number().int().nonnegative().nullish(),
  function: z.object({ name: z.string().nullish(), arguments: z.string().nullish() }).nullish(),
});

const responseSchema = z.object({
  choices: z
    .array(
      z.object({
        text: z.string().nullish(),
        message: z.object({ content: z.string().nullish(), tool_calls: z.array(wireToolCall).nullish() }).nullish(),
        finish_reason: z.string().nullish(),
      }),
    )
    .min(1, 'choices is empty'),
  usage: usageSchema,
});

const chunkSchema = z.object({
  choices: z
    .array(
      z.object({
        text: z.string().nullish(),
        delta: z.object({ content: z.string().nullish(), tool_calls: z.array(wireToolCall).nullish() }).nullish(),
        finish_reason: z.string().nullish(),
      }),
    )
    .nullish(),
  usage: usageSchema,
});

/** vLLM, llama-server and OpenAI error bodies: `{ error: { message, code } }` or vLLM's older `{ object: 'error', message, code }`. */
const errorSchema = z.union([
  z.object({
    error: z.union([z.object({ message: z.string(), code: z.union([z.number(), z.string()]).nullish() }), z.string()]),
  }),
  z.object({ object: z.literal('error'), message: z.string(), code: z.union([z.number(), z.string()]).nullish() }),
]);

function notCompatible(context: WireContext, problem: string, text: string, cause?: unknown): UnavailableError {
  return new UnavailableError({
    message: `${context.operation} failed: the response from ${context.url} is not OpenAI-compatible: ${problem}. Body: ${bodyExcerpt(text, context.secrets) || '(empty)'}. Check that the base URL points at an OpenAI-compatible /v1 endpoint.`,
    cause,
    component: context.component,
    url: context.url,
    statusCode: 200,
    isRetryable: false,
  });
}

function firstIssue(error: z.ZodError): string {
  const issue = error.issues[0];
  return `${issue?.path.map(String).join('.') || 'body'}: ${issue?.message ?? 'unexpected shape'}`;
}

function toolCallFrom(
  call: { id: string; name: string; arguments: string },
  context: WireContext,
  text: string,
): ToolCall {
  let parsed: unknown;
  try {
    parsed = call.arguments.trim() === '' ? {} : JSON.parse(call.arguments);
  } catch (error) {
    throw notCompatible(context, `the arguments of tool call "${call.name}" are not JSON`, text, error);
  }
  return { id: call.id, name: call.name, arguments: parsed };
}

const usageFrom = (usage: z.infer<typeof usageSchema>): Usage | undefined =>
  usage ? { promptTokens: usage.prompt_tokens, completionTokens: usage.completion_tokens } : undefined;

export type ParsedResponse = {
  text: string;
  finishReason: FinishReason;
  usage: Usage | undefined;
  toolCalls: ToolCall[];
};

/** Reads a non-streaming chat or completion response. */
export function parseResponse(text: string, context: WireContext): ParsedResponse {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw notCompatible(context, 'it is not valid JSON', text, error);
  }
  const parsed = responseSchema.safeParse(json);
  if (!parsed.success) throw notCompatible(context, firstIssue(parsed.error), text, parsed.error);
  const choice = parsed.data.choices[0]!;
  const toolCalls = (choice.message?.tool_calls ?? []).map((call, index) =>
    toolCallFrom(
      { id: call.id ?? `call_${index}`, name: call.function?.name ?? '', arguments: call.function?.arguments ?? '' },
      context,
      text,
    ),
  );
  return {
    text: choice.message?.content ?? choice.text ?? '',
    finishReason: finishReason(choice.finish_reason),
    usage: usageFrom(parsed.data.usage),
    toolCalls,
  };
}

/** Accumulates a stream's chunks: text deltas out as they come; tool calls, finish reason and usage at the end. */
export type StreamAccumulator = {
  /** Reads one event's data; returns the parts to emit, or `done` on `[DONE]`. */
  event(data: string): StreamPart[] | 'done';
  /** The tool-call parts, once the stream has ended. */
  toolCalls(): ToolCall[];
  text: string;
  finishReason: FinishReason | undefined;
  usage: Usage | undefined;
};

export function createStreamAccumulator(context: WireContext): StreamAccumulator {
  const calls = new Map<number, { id: string; name: string; arguments: string }>();
  const state: StreamAccumulator = {
    text: '',
    finishReason: undefined,
    usage: undefined,
    event(data) {
      if (data.trim() === '[DONE]') return 'done';
      let json: unknown;
      try {
        json = JSON.parse(data);
      } catch (error) {
        throw notCompatible(context, 'a stream event is not valid JSON', data, error);
      }
      const failure = errorSchema.safeParse(json);
      if (failure.success) {
        const body = failure.data;
        const detail = 'error' in body ? body.error : body;
        const message = typeof detail === 'string' ? detail : detail.message;
        const code = typeof detail === 'string' ? undefined : Number(detail.code);
        const status = code !== undefined && Number.isInteger(code) && code >= 400 && code < 600 ? code : undefined;
        throw new UnavailableError({
          message: `${context.operation} failed: ${context.url} sent an error in the middle of the stream${status === undefined ? '' : ` (code ${status})`}: ${bodyExcerpt(message, context.secrets)}. The partial answer was discarded; retry the request.`,
          component: context.component,
          url: context.url,
          ...(status === undefined ? {} : { statusCode: status }),
          isRetryable: status === undefined || isRetryableStatus(status),
        });
      }
      const parsed = chunkSchema.safeParse(json);
      if (!parsed.success) throw notCompatible(context, firstIssue(parsed.error), data, parsed.error);
      if (parsed.data.usage) state.usage = usageFrom(parsed.data.usage);
      const parts: StreamPart[] = [];
      const choice = parsed.data.choices?.[0];
      if (!choice) return parts;
      const delta = choice.delta?.content ?? choice.text ?? '';
      if (delta !== '') {
        state.text += delta;
        parts.push({ type: 'text-delta', text: delta });
      }
      for (const [position, call] of (choice.delta?.tool_calls ?? []).entries()) {
        const index = call.index ?? position;
        const current = calls.get(index) ?? { id: '', name: '', arguments: '' };
        if (call.id) current.id = call.id;
        if (call.function?.name) current.name += call.function.name;
        if (call.function?.arguments) current.arguments += call.function.arguments;
        calls.set(index, current);
      }
      if (choice.finish_reason) state.finishReason = finishReason(choice.finish_reason);
      return parts;
    },
    toolCalls() {
      return [...calls.entries()]
        .sort(([a], [b]) => a - b)
        .map(([index, call]) =>
          toolCallFrom({ ...call, id: call.id || `call_${index}` }, context, JSON.stringify(call)),
        );
    },
  };
  return state;
}
