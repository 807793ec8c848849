/**
 * OpenAI's Responses API (`POST /v1/responses`): the request (text or message input, instructions,
 * `text.format`, function tools) as kumiki runner options, and the answer as a response object or as
 * the documented stream of events (`response.created` … `response.completed`). Nothing is stored:
 * `previous_response_id` is refused, the conversation travels in `input`.
 */
import * as z from 'zod';
import type { ChatMessage, FinishReason, ToolCall, Usage } from '../core/runner.js';
import type { AnswerSource } from '../pipeline/answer.js';
import { invalidRequest, shownName } from './errors.js';
import { formatSchema, partText, positiveInt, type RequestedGeneration, samplingShape } from './wire.js';

const item = z.object({ type: z.string().optional(), role: z.string().optional() }).loose();

const format = z.discriminatedUnion(
  'type',
  [
    z.object({ type: z.literal('text') }),
    z.object({ type: z.literal('json_object') }),
    z.object({
      type: z.literal('json_schema'),
      name: z.string().min(1, 'text.format.name must not be empty'),
      schema: z.record(z.string(), z.unknown()),
      description: z.string().optional(),
      strict: z.boolean().nullish(),
    }),
  ],
  { error: "text.format.type must be 'text', 'json_object' or 'json_schema'" },
);

const tool = z
  .object({ type: z.string() })
  .loose()
  .superRefine((value, context) => {
    if (value.type !== 'function') {
      context.addIssue({
        code: 'custom',
        message: `${shownName(value.type)} tools are not supported; only function tools ({ type: "function", name, parameters })`,
      });
    } else if (typeof value.name !== 'string' || value.name.length === 0) {
      context.addIssue({ code: 'custom', path: ['name'], message: 'function tools need a name' });
    }
  });

export const responsesRequestSchema = z.object({
  model: z.string({ error: 'model is required' }).min(1, 'model must not be empty'),
  input: z.union([z.string(), z.array(item).min(1, 'input must not be empty')], {
    error: 'input must be a string or an array of input items',
  }),
  instructions: z.string().nullish(),
  max_output_tokens: positiveInt('max_output_tokens').nullish(),
  ...samplingShape,
  stream: z.boolean().nullish(),
  text: z.object({ format: format.optional() }).loose().nullish(),
  tools: z.array(tool).nullish(),
  tool_choice: z
    .union([z.enum(['none', 'auto', 'required']), z.object({ type: z.literal('function'), name: z.string().min(1) })])
    .nullish(),
  previous_response_id: z
    .string()
    .nullish()
    .refine(
      (value) => !value,
      'previous_response_id is not supported: this gateway stores no responses; send the whole conversation in input',
    ),
  top_logprobs: z.number().int().nullish(),
  truncation: z.enum(['auto', 'disabled']).nullish(),
  metadata: z.record(z.string(), z.unknown()).nullish(),
});
export type ResponsesRequest = z.output<typeof responsesRequestSchema>;

function parseArguments(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** The content of a message item: a string, or text parts (input_text, output_text, refusal). */
function itemText(content: unknown, param: string): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) throw invalidRequest('content must be a string or an array of content parts', param);
  return content
    .map((part, index) => {
      if (typeof part !== 'object' || part === null)
        throw invalidRequest('content parts must be objects', `${param}.${index}`);
      return partText(part as Record<string, unknown>, `${param}.${index}`);
    })
    .join('');
}

/** Input items as chat messages: instructions first, consecutive function calls as one assistant message. */
export function responsesMessages(request: ResponsesRequest): ChatMessage[] {
  const messages: ChatMessage[] = [];
  if (request.instructions) messages.push({ role: 'system', content: request.instructions });
  if (typeof request.input === 'string') {
    messages.push({ role: 'user', content: request.input });
    return messages;
  }
  request.input.forEach((entry, index) => {
    const param = `input.${index}`;
    const type = entry.type ?? 'message';
    if (type === 'message') {
      const role = entry.role;
      if (role !== 'user' && role !== 'assistant' && role !== 'system' && role !== 'developer') {
        throw invalidRequest("role must be 'user', 'assistant', 'system' or 'developer'", `${param}.role`);
      }
      const content = itemText(entry.content, `${param}.content`);
      messages.push({ role: role === 'developer' ? 'system' : role, content });
    } else if (type === 'function_call') {
      if (typeof entry.call_id !== 'string' || typeof entry.name !== 'string') {
        throw invalidRequest('function_call items need call_id and name', param, 'missing_required_parameter');
      }
      const call: ToolCall = {
        id: entry.call_id,
        name: entry.name,
        arguments: parseArguments(typeof entry.arguments === 'string' ? entry.arguments : '{}'),
      };
      const last = messages.at(-1);
      if (last?.role === 'assistant' && last.toolCalls !== undefined) last.toolCalls.push(call);
      else messages.push({ role: 'assistant', content: '', toolCalls: [call] });
    } else if (type === 'function_call_output') {
      if (typeof entry.call_id !== 'string') {
        throw invalidRequest(
          'function_call_output items need call_id',
          `${param}.call_id`,
          'missing_required_parameter',
        );
      }
      const output = typeof entry.output === 'string' ? entry.output : itemText(entry.output, `${param}.output`);
      messages.push({ role: 'tool', content: output, toolCallId: entry.call_id });
    } else if (type === 'reasoning') {
      // Reasoning items of an earlier answer carry nothing these models read: left out.
    } else {
      throw invalidRequest(
        `${shownName(type)} input items are not supported: send messages, function_call and function_call_output items${type === 'item_reference' ? ' (this gateway stores no items to refer to)' : ''}`,
        `${param}.type`,
        'unsupported_parameter',
      );
    }
  });
  return messages;
}

/** The runner options a Responses request asks for. */
export function responsesOptions(request: ResponsesRequest): RequestedGeneration {
  if ((request.top_logprobs ?? 0) > 0) {
    throw invalidRequest('logprobs are not supported by this gateway', 'top_logprobs', 'unsupported_parameter');
  }
  const schema = request.text?.format ? formatSchema(request.text.format) : undefined;
  const tools = (request.tools ?? []).map((entry) => ({
    name: String(entry.name),
    ...(typeof entry.description === 'string' ? { description: entry.description } : {}),
    parameters: {
      jsonSchema:
        typeof entry.parameters === 'object' && entry.parameters !== null
          ? (entry.parameters as Record<string, unknown>)
          : { type: 'object', properties: {} },
    },
  }));
  const choice = request.tool_choice;
  return {
    messages: responsesMessages(request),
    ...(request.max_output_tokens == null ? {} : { maxTokens: request.max_output_tokens }),
    ...(request.temperature == null ? {} : { temperature: request.temperature }),
    ...(request.top_p == null ? {} : { topP: request.top_p }),
    ...(schema ? { schema } : {}),
    ...(tools.length > 0 ? { tools } : {}),
    ...(choice == null ? {} : { toolChoice: typeof choice === 'string' ? choice : { name: choice.name } }),
  };
}

/** A url_citation annotation per `[n]` marker of a cited source in the text. */
export function citationAnnotations(text: string, sources: readonly AnswerSource[]) {
  const annotations: { type: 'url_citation'; start_index: number; end_index: number; url: string; title: string }[] =
    [];
  for (const match of text.matchAll(/\[(\d+(?:\s*,\s*\d+)*)\]/g)) {
    for (const n of (match[1] as string).split(',').map((value) => Number(value.trim()))) {
      const source = sources.find((candidate) => candidate.n === n);
      if (!source) continue;
      annotations.push({
        type: 'url_citation',
        start_index: match.index,
        end_index: match.index + match[0].length,
        url: source.source,
        title: [source.title, source.heading].filter(Boolean).join(' — ') || source.source,
      });
    }
  }
  return annotations;
}

export type ResponseState = {
  id: string;
  createdAt: number;
  model: string;
  request: ResponsesRequest;
  messageId: string;
  text: string;
  toolCalls: { id: string; callId: string; name: string; arguments: string }[];
  finishReason: FinishReason | undefined;
  usage: Usage | undefined;
  sources: AnswerSource[] | undefined;
  citations: AnswerSource[] | undefined;
};

const usageOf = (usage: Usage | undefined) =>
  usage === undefined
    ? null
    : {
        input_tokens: usage.promptTokens,
        input_tokens_details: { cached_tokens: 0 },
        output_tokens: usage.completionTokens,
        output_tokens_details: { reasoning_tokens: 0 },
        total_tokens: usage.promptTokens + usage.completionTokens,
      };

export function messageItem(state: ResponseState, status: 'in_progress' | 'completed' | 'incomplete') {
  return {
    id: state.messageId,
    type: 'message',
    status,
    role: 'assistant',
    content: status === 'in_progress' ? [] : [outputText(state)],
  };
}

export function outputText(state: ResponseState) {
  return {
    type: 'output_text',
    text: state.text,
    annotations: state.sources ? citationAnnotations(state.text, state.sources) : [],
    logprobs: [],
  };
}

export function functionCallItem(call: ResponseState['toolCalls'][number], status: 'in_progress' | 'completed') {
  return {
    id: call.id,
    type: 'function_call',
    status,
    call_id: call.callId,
    name: call.name,
    arguments: status === 'in_progress' ? '' : call.arguments,
  };
}

/** The response object; `status` follows the finish reason (`length` → incomplete, max_output_tokens). */
export function responseObject(state: ResponseState, phase: 'in_progress' | 'done') {
  const incomplete = phase === 'done' && state.finishReason === 'length';
  const status = phase === 'in_progress' ? 'in_progress' : incomplete ? 'incomplete' : 'completed';
  const output =
    phase === 'in_progress'
      ? []
      : [
          ...(state.text.length > 0 || state.toolCalls.length === 0
            ? [messageItem(state, incomplete ? 'incomplete' : 'completed')]
            : []),
          ...state.toolCalls.map((call) => functionCallItem(call, 'completed')),
        ];
  const request = state.request;
  return {
    id: state.id,
    object: 'response',
    created_at: state.createdAt,
    status,
    error: null,
    incomplete_details: incomplete ? { reason: 'max_output_tokens' } : null,
    instructions: request.instructions ?? null,
    max_output_tokens: request.max_output_tokens ?? null,
    model: state.model,
    output,
    parallel_tool_calls: true,
    previous_response_id: null,
    reasoning: { effort: null, summary: null },
    store: false,
    temperature: request.temperature ?? null,
    text: { format: request.text?.format ?? { type: 'text' } },
    tool_choice: request.tool_choice ?? 'auto',
    tools: request.tools ?? [],
    top_p: request.top_p ?? null,
    truncation: request.truncation ?? 'disabled',
    usage: phase === 'done' ? usageOf(state.usage) : null,
    metadata: request.metadata ?? {},
    ...(phase === 'done' && state.sources ? { sources: state.sources, citations: state.citations ?? [] } : {}),
  };
}
