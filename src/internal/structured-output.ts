import { z } from 'zod';
import { InvalidArgumentError } from '../core/errors.js';
import type { ChatMessage, GenerateOptions, OutputSchema, ToolDefinition } from '../core/runner.js';
import { parseArgument } from '../core/validate.js';

/** A schema ready for use: JSON Schema for grammars and servers, zod for validation. */
export type ResolvedSchema<T = unknown> = {
  name: string;
  jsonSchema: Record<string, unknown>;
  validator: z.ZodType<T>;
};

/** Turns a zod schema or a JSON Schema into both forms; `InvalidArgumentError` when it cannot be converted. */
export function resolveOutputSchema<T>(schema: OutputSchema<T>, name = 'answer'): ResolvedSchema<T> {
  try {
    if (schema instanceof z.ZodType) {
      const { $schema: _ignored, ...jsonSchema } = z.toJSONSchema(schema, {
        target: 'draft-7',
        io: 'output',
      }) as Record<string, unknown>;
      return { name, jsonSchema, validator: schema };
    }
    return {
      name: schema.name ?? name,
      jsonSchema: schema.jsonSchema,
      validator: z.fromJSONSchema(schema.jsonSchema) as z.ZodType<T>,
    };
  } catch (error) {
    throw new InvalidArgumentError({
      argument: 'schema',
      issues: [
        {
          path: '',
          message: `cannot be used for structured output: ${error instanceof Error ? error.message : String(error)}`,
        },
      ],
      cause: error,
    });
  }
}

/**
 * Finds the JSON value in a model's answer: the whole text, else the first fenced code block, else
 * the span from the first `{` or `[` to the matching last `}` or `]`.
 */
export function extractJson(text: string): unknown {
  const attempts = [text.trim()];
  const fenced = /```(?:json)?\s*([\s\S]*?)```/i.exec(text);
  if (fenced?.[1]) attempts.push(fenced[1].trim());
  const start = text.search(/[[{]/);
  const end = Math.max(text.lastIndexOf('}'), text.lastIndexOf(']'));
  if (start >= 0 && end > start) attempts.push(text.slice(start, end + 1));
  for (const attempt of attempts) {
    try {
      return JSON.parse(attempt);
    } catch {
      // try the next candidate
    }
  }
  return undefined;
}

export type ValidationOutcome<T> = { ok: true; value: T } | { ok: false; problem: string };

/** Parses and validates a model's answer against a resolved schema. */
export function validateAnswer<T>(text: string, schema: ResolvedSchema<T>): ValidationOutcome<T> {
  const value = extractJson(text);
  if (value === undefined) return { ok: false, problem: 'the answer is not JSON' };
  const result = schema.validator.safeParse(value);
  if (result.success) return { ok: true, value: result.data };
  return {
    ok: false,
    problem: result.error.issues.map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`).join('; '),
  };
}

/** The messages of a repair round: the failed answer and what was wrong with it. */
export function repairMessages(
  messages: readonly ChatMessage[],
  answer: string,
  problem: string,
  schema: ResolvedSchema,
): ChatMessage[] {
  return [
    ...messages,
    { role: 'assistant', content: answer },
    {
      role: 'user',
      content: `That answer does not match the required JSON Schema (${problem}). Reply with only a JSON value matching this schema:\n${JSON.stringify(schema.jsonSchema)}`,
    },
  ];
}

/**
 * Whether a JSON Schema admits any JSON object: `{ type: 'object' }` with no properties and no other
 * constraint — OpenAI's `json_object` mode. Servers get `response_format: { type: 'json_object' }`
 * for it, grammars a generic JSON object.
 */
export function isAnyJsonObject(jsonSchema: Record<string, unknown>): boolean {
  const { type, $schema: _schema, title: _title, description: _description, ...rest } = jsonSchema;
  if (type !== 'object') return false;
  const extra = rest.additionalProperties;
  const empty = (value: unknown) =>
    value === undefined || (typeof value === 'object' && value !== null && Object.keys(value as object).length === 0);
  return (
    empty(rest.properties) &&
    (extra === undefined || extra === true || empty(extra)) &&
    Object.keys(rest).every((key) => key === 'properties' || key === 'additionalProperties')
  );
}

/**
 * Tool calls and tool results as plain chat text, for models without a tool-calling template: a tool
 * result becomes a user message naming its call, an assistant's calls are written out after its text.
 */
export function toolHistoryAsText(messages: readonly ChatMessage[]): ChatMessage[] {
  return messages.map((message) => {
    if (message.role === 'tool') {
      return { role: 'user', content: `Result of tool call ${message.toolCallId ?? ''}:\n${message.content}` };
    }
    if (message.toolCalls !== undefined && message.toolCalls.length > 0) {
      const calls = message.toolCalls.map(
        (call) => `Called the tool ${call.name} (call ${call.id}) with ${JSON.stringify(call.arguments ?? {})}`,
      );
      return { role: message.role, content: [message.content, ...calls].filter(Boolean).join('\n') };
    }
    return message;
  });
}

/** The instruction added for servers or models without native structured output. */
export function schemaInstruction(schema: ResolvedSchema): ChatMessage {
  return {
    role: 'system',
    content: `Answer with only a JSON value that matches this JSON Schema, and nothing else:\n${JSON.stringify(schema.jsonSchema)}`,
  };
}

const signal = z.custom<AbortSignal>((value) => value instanceof AbortSignal, 'abortSignal must be an AbortSignal');
const outputSchema = z.custom<OutputSchema>(
  (value) =>
    value instanceof z.ZodType ||
    (typeof value === 'object' &&
      value !== null &&
      typeof (value as { jsonSchema?: unknown }).jsonSchema === 'object' &&
      (value as { jsonSchema?: unknown }).jsonSchema !== null),
  'schema must be a zod schema or { jsonSchema: {...} }',
);
const toolCall = z.object({ id: z.string(), name: z.string(), arguments: z.unknown() });
const message = z
  .object({
    role: z.enum(['system', 'user', 'assistant', 'tool']),
    content: z.string(),
    toolCallId: z.string().optional(),
    toolCalls: z.array(toolCall).optional(),
  })
  .strict();
const tool = z
  .object({
    name: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'tool names use 1-64 letters, digits, "_" or "-"'),
    description: z.string().optional(),
    parameters: outputSchema,
  })
  .strict();

export const generateOptionsSchema = z
  .object({
    messages: z.array(message).min(1, 'messages must not be empty').optional(),
    prompt: z.string().optional(),
    maxTokens: z.number().int().min(1, 'maxTokens must be at least 1').optional(),
    temperature: z.number().min(0).max(2).optional(),
    topP: z.number().gt(0).max(1).optional(),
    seed: z.number().int().optional(),
    stop: z.array(z.string().min(1, 'stop sequences must not be empty')).max(16).optional(),
    schema: outputSchema.optional(),
    tools: z.array(tool).optional(),
    toolChoice: z.union([z.enum(['auto', 'none', 'required']), z.object({ name: z.string() }).strict()]).optional(),
    abortSignal: signal.optional(),
  })
  .strict()
  .refine((value) => (value.messages === undefined) !== (value.prompt === undefined), {
    message: 'pass either messages or prompt (exactly one)',
  })
  .refine((value) => value.schema === undefined || value.tools === undefined, {
    message: 'schema and tools cannot be combined in one call',
  });

/** Validates generate/stream options for any runner. */
export function parseGenerateOptions(options: unknown): GenerateOptions {
  return parseArgument(generateOptionsSchema, options, 'generate options') as GenerateOptions;
}

/** Resolves tool parameter schemas once per call. */
export function resolveTools(
  tools: readonly ToolDefinition[] | undefined,
): (ResolvedSchema & { description?: string })[] {
  return (tools ?? []).map((definition) => ({
    ...resolveOutputSchema(definition.parameters, definition.name),
    ...(definition.description ? { description: definition.description } : {}),
  }));
}
