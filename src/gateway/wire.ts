/**
 * The OpenAI request bodies the gateway accepts (validated with zod; unknown fields are ignored as
 * OpenAI-compatible servers do) and the conversions to and from kumiki's runner types.
 */
import * as z from 'zod';
import type { ChatMessage, FinishReason, GenerateOptions, ToolCall, Usage } from '../core/runner.js';
import { invalidRequest, shownName } from './errors.js';

/** A content part: checked for its type here, for the rest in `partText` (which names what is unsupported). */
const contentPart = z.object({ type: z.string({ error: 'content parts need a type' }) }).loose();
const contentSchema = z.union(
  [z.string(), z.array(contentPart, { error: 'content must be a string or an array of content parts' }), z.null()],
  { error: 'content must be a string, an array of content parts, or null' },
);

/** What a content part type that carries no text is, for the message refusing it. */
const NON_TEXT_PARTS: Record<string, string> = {
  image_url: 'images',
  input_image: 'images',
  input_audio: 'audio',
  audio: 'audio',
  file: 'files',
  input_file: 'files',
  video_url: 'video',
};

/**
 * The text of one content part (`text`, `input_text`, `output_text`, `refusal`); a 400 naming the
 * part for anything else: images, audio and files are refused by name.
 */
export function partText(part: Record<string, unknown>, param: string): string {
  const type = String(part.type);
  const key = type === 'refusal' ? 'refusal' : 'text';
  if (['text', 'input_text', 'output_text', 'refusal'].includes(type)) {
    if (typeof part[key] !== 'string')
      throw invalidRequest(`${type} content parts need ${key} (a string)`, `${param}.${key}`);
    return part[key] as string;
  }
  const what = NON_TEXT_PARTS[type];
  if (what !== undefined) {
    throw invalidRequest(
      `${type} content parts are not supported: the models behind this gateway read text only, not ${what}. Send text parts ({ type: "text", text }) or a string.`,
      `${param}.type`,
      'unsupported_content',
    );
  }
  throw invalidRequest(
    `unknown content part type "${shownName(type)}"; send text parts ({ type: "text", text }) or a string`,
    `${param}.type`,
  );
}

const wireToolCall = z.object({
  id: z.string(),
  type: z.literal('function').optional(),
  function: z.object({ name: z.string().min(1), arguments: z.string() }),
});

const messageSchema = z.object({
  role: z.enum(['system', 'developer', 'user', 'assistant', 'tool'], {
    error: "role must be 'system', 'developer', 'user', 'assistant' or 'tool'",
  }),
  content: contentSchema.optional(),
  name: z.string().optional(),
  tool_calls: z.array(wireToolCall).optional(),
  tool_call_id: z.string().optional(),
});

export const positiveInt = (name: string) =>
  z
    .number({ error: `${name} must be a number` })
    .int(`${name} must be an integer`)
    .positive(`${name} must be at least 1`);

/** Sampling fields every generation endpoint takes. */
export const samplingShape = {
  temperature: z
    .number()
    .min(0, 'temperature must be between 0 and 2')
    .max(2, 'temperature must be between 0 and 2')
    .nullish(),
  top_p: z.number().gt(0, 'top_p must be in (0, 1]').max(1, 'top_p must be in (0, 1]').nullish(),
};

export const chatRequestSchema = z.object({
  model: z.string({ error: 'model is required' }).min(1, 'model must not be empty'),
  messages: z.array(messageSchema, { error: 'messages must be an array' }).min(1, 'messages must not be empty'),
  max_tokens: positiveInt('max_tokens').nullish(),
  max_completion_tokens: positiveInt('max_completion_tokens').nullish(),
  ...samplingShape,
  seed: z.number().int('seed must be an integer').nullish(),
  stop: z
    .union([z.string(), z.array(z.string())], { error: 'stop must be a string or an array of strings' })
    .refine((value) => typeof value === 'string' || value.length <= 16, 'stop holds at most 16 sequences')
    .nullish(),
  logprobs: z.boolean({ error: 'logprobs must be a boolean' }).nullish(),
  top_logprobs: z.number().int('top_logprobs must be an integer').nullish(),
  n: z.literal(1, { error: 'n must be 1: the gateway returns one choice' }).nullish(),
  stream: z.boolean().nullish(),
  stream_options: z.object({ include_usage: z.boolean().optional() }).nullish(),
  response_format: z
    .discriminatedUnion('type', [
      z.object({ type: z.literal('text') }),
      z.object({ type: z.literal('json_object') }),
      z.object({
        type: z.literal('json_schema'),
        json_schema: z.object({
          name: z.string().min(1),
          description: z.string().optional(),
          schema: z.record(z.string(), z.unknown()).optional(),
          strict: z.boolean().nullish(),
        }),
      }),
    ])
    .nullish(),
  tools: z
    .array(
      z.object({
        type: z.literal('function'),
        function: z.object({
          name: z.string().min(1),
          description: z.string().optional(),
          parameters: z.record(z.string(), z.unknown()).optional(),
          strict: z.boolean().nullish(),
        }),
      }),
    )
    .nullish(),
  tool_choice: z
    .union([
      z.enum(['none', 'auto', 'required']),
      z.object({ type: z.literal('function'), function: z.object({ name: z.string().min(1) }) }),
    ])
    .nullish(),
});
export type ChatRequest = z.output<typeof chatRequestSchema>;

/** The legacy `/v1/completions` request (one prompt, one choice). */
export const completionRequestSchema = z.object({
  model: z.string({ error: 'model is required' }).min(1, 'model must not be empty'),
  prompt: z.union(
    [
      z.string(),
      z
        .array(z.string())
        .length(1, 'prompt must be a string or an array of exactly one string (the gateway returns one choice)'),
    ],
    { error: 'prompt must be a string (token arrays are not supported)' },
  ),
  max_tokens: positiveInt('max_tokens').nullish(),
  ...samplingShape,
  seed: z.number().int('seed must be an integer').nullish(),
  stop: chatRequestSchema.shape.stop,
  n: z.literal(1, { error: 'n must be 1: the gateway returns one choice' }).nullish(),
  best_of: z.literal(1, { error: 'best_of must be 1' }).nullish(),
  echo: z.boolean().nullish(),
  suffix: z
    .string()
    .nullish()
    .refine((value) => !value, 'suffix (insertion) is not supported; leave it out'),
  logprobs: z.number().int().nullish(),
  stream: z.boolean().nullish(),
  stream_options: z.object({ include_usage: z.boolean().optional() }).nullish(),
});
export type CompletionRequest = z.output<typeof completionRequestSchema>;

/** The runner options of a legacy completion request; OpenAI's default of 16 tokens applies. */
export function completionOptions(request: CompletionRequest): RequestedGeneration {
  if ((request.logprobs ?? 0) > 0) refuseLogprobs(true, undefined);
  const stop = request.stop == null ? undefined : typeof request.stop === 'string' ? [request.stop] : request.stop;
  return {
    prompt: typeof request.prompt === 'string' ? request.prompt : (request.prompt[0] as string),
    maxTokens: request.max_tokens ?? 16,
    ...(request.temperature == null ? {} : { temperature: request.temperature }),
    ...(request.top_p == null ? {} : { topP: request.top_p }),
    ...(request.seed == null ? {} : { seed: request.seed }),
    ...(stop === undefined || stop.length === 0 ? {} : { stop }),
  };
}

export const embeddingsRequestSchema = z.object({
  model: z.string({ error: 'model is required' }).min(1, 'model must not be empty'),
  input: z.union(
    [
      z.string(),
      z.array(z.string(), { error: 'input must be a string or an array of strings' }).min(1, 'input must not be empty'),
    ],
    { error: 'input must be a string or an array of strings (token arrays are not supported)' },
  ),
  encoding_format: z.enum(['float', 'base64'], { error: "encoding_format must be 'float' or 'base64'" }).optional(),
  dimensions: positiveInt('dimensions').optional(),
  /** kumiki extension: how to embed (e5/bge-style prefixes); default `document`. */
  input_type: z.enum(['query', 'document'], { error: "input_type must be 'query' or 'document'" }).optional(),
  user: z.string().optional(),
});

export const searchRequestSchema = z.object({
  collection: z.string({ error: 'collection is required' }).min(1, 'collection must not be empty'),
  query: z.string({ error: 'query is required' }).min(1, 'query must not be empty'),
  limit: positiveInt('limit').optional(),
  filter: z.record(z.string(), z.unknown()).optional(),
  mode: z.enum(['dense', 'sparse', 'hybrid'], { error: "mode must be 'dense', 'sparse' or 'hybrid'" }).optional(),
});

const contentText = (content: z.output<typeof contentSchema> | undefined, param: string) =>
  typeof content === 'string'
    ? content
    : (content ?? []).map((part, index) => partText(part, `${param}.${index}`)).join('');

function parseArguments(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

export function toChatMessages(request: ChatRequest): ChatMessage[] {
  return request.messages.map((message, index) => {
    const content = contentText(message.content, `messages.${index}.content`);
    if (message.role === 'tool') {
      if (!message.tool_call_id) {
        throw invalidRequest(
          'tool messages need tool_call_id',
          `messages.${index}.tool_call_id`,
          'missing_required_parameter',
        );
      }
      return { role: 'tool', content, toolCallId: message.tool_call_id };
    }
    if (message.role === 'assistant' && message.tool_calls && message.tool_calls.length > 0) {
      return {
        role: 'assistant',
        content,
        toolCalls: message.tool_calls.map((call) => ({
          id: call.id,
          name: call.function.name,
          arguments: parseArguments(call.function.arguments),
        })),
      };
    }
    return { role: message.role === 'developer' ? 'system' : message.role, content };
  });
}

/** Runner options without the signal, which the gateway adds when the request runs. */
export type RequestedGeneration = Omit<GenerateOptions, 'abortSignal'>;

/** The runner schema for a `json_schema` or `json_object` format (`json_object`: any JSON object). */
export function formatSchema(
  format:
    | { type: 'text' }
    | { type: 'json_object' }
    | { type: 'json_schema'; name: string; schema?: Record<string, unknown> },
): GenerateOptions['schema'] {
  if (format.type === 'json_schema') return { jsonSchema: format.schema ?? { type: 'object' }, name: format.name };
  if (format.type === 'json_object') return { jsonSchema: { type: 'object' } };
  return undefined;
}

/** Refuses what the gateway does not do (rather than ignoring it): token log probabilities. */
export function refuseLogprobs(logprobs: boolean | null | undefined, topLogprobs: number | null | undefined) {
  if (logprobs === true || (topLogprobs ?? 0) > 0) {
    throw invalidRequest(
      'logprobs are not supported by this gateway; leave logprobs and top_logprobs out',
      logprobs === true ? 'logprobs' : 'top_logprobs',
      'unsupported_parameter',
    );
  }
}

/** The runner options a chat request asks for (messages, sampling, schema, tools). */
export function toGenerateOptions(request: ChatRequest): RequestedGeneration {
  refuseLogprobs(request.logprobs, request.top_logprobs);
  const maxTokens = request.max_completion_tokens ?? request.max_tokens ?? undefined;
  const stop = request.stop == null ? undefined : typeof request.stop === 'string' ? [request.stop] : request.stop;
  const format = request.response_format;
  const schema =
    format == null
      ? undefined
      : formatSchema(format.type === 'json_schema' ? { type: 'json_schema', ...format.json_schema } : format);
  const tools = request.tools?.map((tool) => ({
    name: tool.function.name,
    ...(tool.function.description === undefined ? {} : { description: tool.function.description }),
    parameters: { jsonSchema: tool.function.parameters ?? { type: 'object', properties: {} } },
  }));
  const choice = request.tool_choice;
  return {
    messages: toChatMessages(request),
    ...(maxTokens === undefined ? {} : { maxTokens }),
    ...(request.temperature == null ? {} : { temperature: request.temperature }),
    ...(request.top_p == null ? {} : { topP: request.top_p }),
    ...(request.seed == null ? {} : { seed: request.seed }),
    ...(stop === undefined || stop.length === 0 ? {} : { stop }),
    ...(schema ? { schema } : {}),
    ...(tools && tools.length > 0 ? { tools } : {}),
    ...(choice == null ? {} : { toolChoice: typeof choice === 'string' ? choice : { name: choice.function.name } }),
  };
}

export function wireFinishReason(reason: FinishReason): 'stop' | 'length' | 'tool_calls' | 'content_filter' {
  switch (reason) {
    case 'length':
      return 'length';
    case 'tool-calls':
      return 'tool_calls';
    case 'content-filter':
      return 'content_filter';
    default:
      return 'stop';
  }
}

export const wireUsage = (usage: Usage) => ({
  prompt_tokens: usage.promptTokens,
  completion_tokens: usage.completionTokens,
  total_tokens: usage.promptTokens + usage.completionTokens,
});

export const wireToolCalls = (calls: readonly ToolCall[]) =>
  calls.map((call, index) => ({
    index,
    id: call.id,
    type: 'function' as const,
    function: {
      name: call.name,
      arguments: typeof call.arguments === 'string' ? call.arguments : JSON.stringify(call.arguments ?? {}),
    },
  }));

/** Little-endian float32 bytes as base64, the `encoding_format: 'base64'` form; no Buffer needed. */
export function float32Base64(vector: Float32Array): string {
  const bytes = new Uint8Array(vector.length * 4);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < vector.length; i++) view.setFloat32(i * 4, vector[i] as number, true);
  let binary = '';
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}

/** Unix time in seconds, as the `created` fields carry it. */
export const nowSeconds = () => Math.floor(Date.now() / 1000);
/** The random part of response and item ids (`chatcmpl-…`, `resp_…`). */
export const randomId = () => crypto.randomUUID().replace(/-/g, '');
