import * as z from 'zod';
import { sha256Hex } from './sha256.js';
import { parseArgument } from './validate.js';

export type ChatRole = 'system' | 'user' | 'assistant' | 'tool';
export type ChatMessage = {
  role: ChatRole;
  content: string;
  /** For `tool` messages: the id of the call this answers. */
  toolCallId?: string;
  /** For `assistant` messages that called tools. */
  toolCalls?: ToolCall[];
};

/**
 * The shape of a structured answer: a zod schema (validated with zod, converted to JSON Schema for
 * grammars and servers), or a JSON Schema (converted to zod for validation).
 */
export type OutputSchema<T = unknown> = z.ZodType<T> | { jsonSchema: Record<string, unknown>; name?: string };

export type ToolDefinition = {
  name: string;
  description?: string;
  /** The arguments' shape, as for `schema`. */
  parameters: OutputSchema;
};

export type ToolCall = { id: string; name: string; arguments: unknown };

/** One generate or stream call. `T` is the type of the structured answer `schema` describes. */
export type GenerateOptions<T = unknown> = {
  /** Chat messages, rendered with the model's own template; or use `prompt` for plain completion. */
  messages?: readonly ChatMessage[];
  prompt?: string;
  maxTokens?: number;
  temperature?: number;
  topP?: number;
  seed?: number;
  stop?: readonly string[];
  /** Ask for a structured answer; the result carries the parsed, validated `object`. */
  schema?: OutputSchema<T>;
  tools?: readonly ToolDefinition[];
  toolChoice?: 'auto' | 'none' | 'required' | { name: string };
  abortSignal?: AbortSignal;
};

export type FinishReason = 'stop' | 'length' | 'tool-calls' | 'content-filter' | 'aborted' | 'error' | 'other';

export type Usage = { promptTokens: number; completionTokens: number };

/** How a structured answer was enforced, strongest first. */
export type StructuredOutputMode = 'grammar' | 'guided-decoding' | 'response-format' | 'validate-and-repair';

export type GenerateResult<T = unknown> = {
  text: string;
  finishReason: FinishReason;
  usage: Usage | undefined;
  /** With `schema`: the parsed answer, validated against it. */
  object?: T;
  /** With `schema`: which mechanism produced `object`. */
  structuredOutput?: StructuredOutputMode;
  toolCalls?: ToolCall[];
  warnings?: string[];
};

export type StreamPart =
  | { type: 'text-delta'; text: string }
  | { type: 'tool-call'; toolCall: ToolCall }
  | {
      type: 'finish';
      finishReason: FinishReason;
      usage: Usage | undefined;
      object?: unknown;
      structuredOutput?: StructuredOutputMode;
      /** What the runner changed or could not honour (e.g. messages dropped to fit the context). */
      warnings?: string[];
    };

export type RunnerCapabilities = {
  streaming: boolean;
  /** How structured output is enforced, best first; empty when unsupported. */
  structuredOutput: readonly StructuredOutputMode[];
  tools: boolean;
  /** Whether the same seed and parameters give the same text. */
  seed: boolean;
};

/** Everything that identifies the model behind a runner, for cache keys. */
export type ModelDescription = {
  provider: string;
  model: string;
  revision?: string;
  quantization?: string;
  extra?: Record<string, string | number | boolean | null>;
};

/**
 * Runs a language model, in-process or remote. Version 1 of the contract; every runner passes
 * `runnerConformance` from `kumiki/testing`.
 */
export type ModelRunner = {
  readonly specificationVersion: 'kumiki.runner.v1';
  readonly provider: string;
  readonly modelId: string;
  readonly capabilities: RunnerCapabilities;
  describeModel(): Promise<ModelDescription>;
  generate<T = unknown>(options: GenerateOptions<T>): Promise<GenerateResult<T>>;
  stream(options: GenerateOptions): AsyncIterable<StreamPart>;
  dispose?(): Promise<void>;
};

const descriptionSchema = z
  .object({
    provider: z.string().min(1),
    model: z.string().min(1),
    revision: z.string().optional(),
    quantization: z.string().optional(),
    extra: z.record(z.string(), z.union([z.string(), z.number(), z.boolean(), z.null()])).optional(),
  })
  .strict();

/** A stable id for a model description: `kmf1:` + 32 hex digits of SHA-256 over its canonical form. */
export function modelFingerprint(description: ModelDescription): string {
  const parsed = parseArgument(descriptionSchema, description, 'model description');
  const extra = parsed.extra ?? {};
  return `kmf1:${sha256Hex(
    JSON.stringify([
      parsed.provider,
      parsed.model,
      parsed.revision ?? 'main',
      parsed.quantization ?? null,
      Object.keys(extra)
        .sort()
        .map((key) => [key, extra[key]]),
    ]),
  ).slice(0, 32)}`;
}
