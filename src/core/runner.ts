export type ChatRole = 'system' | 'user' | 'assistant' | 'tool';
export type ChatMessage = { role: ChatRole; content: string; name?: string; toolCallId?: string };

export type GenerateOptions = {
  /** Chat messages, rendered with the model's own template; or use `prompt` for plain completion. */
  messages?: readonly ChatMessage[];
  prompt?: string;
  maxTokens?: number;
  temperature?: number;
  topP?: number;
  seed?: number;
  stop?: readonly string[];
  abortSignal?: AbortSignal;
};

export type FinishReason = 'stop' | 'length' | 'tool-calls' | 'content-filter' | 'aborted' | 'error' | 'other';

export type Usage = { promptTokens: number; completionTokens: number };

export type GenerateResult = {
  text: string;
  finishReason: FinishReason;
  usage: Usage | undefined;
  warnings?: string[];
};

export type StreamPart =
  | { type: 'text-delta'; text: string }
  | { type: 'finish'; finishReason: FinishReason; usage: Usage | undefined };

export type RunnerCapabilities = {
  streaming: boolean;
  /** How structured output is enforced, best first; empty when unsupported. */
  structuredOutput: readonly ('grammar' | 'guided-decoding' | 'response-format' | 'validate-and-repair')[];
  tools: boolean;
  seed: boolean;
};

/**
 * Runs a language model, in-process or remote. Version 1 of the contract; the model-runner issue
 * refines structured output and tool calls on top of it.
 */
export type ModelRunner = {
  readonly specificationVersion: 'kumiki.runner.v1';
  readonly provider: string;
  readonly modelId: string;
  readonly capabilities: RunnerCapabilities;
  generate(options: GenerateOptions): Promise<GenerateResult>;
  stream(options: GenerateOptions): AsyncIterable<StreamPart>;
  dispose?(): Promise<void>;
};
