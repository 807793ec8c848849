/**
 * One stream of events per generation, whatever the endpoint (chat completions, responses, legacy
 * completions) and whatever answers (a runner, or a knowledge model's grounded answer): the endpoint
 * renders the same events as its own JSON or SSE.
 */
import type { FinishReason, GenerateOptions, ModelRunner, ToolCall, Usage } from '../core/runner.js';
import { type AnswerOptions, type AnswerSource, streamAnswer } from '../pipeline/answer.js';

export type FinishEvent = {
  type: 'finish';
  finishReason: FinishReason;
  usage: Usage | undefined;
  object?: unknown;
  warnings?: string[];
  /** Knowledge models: the sources the answer cites, and whether it was grounded at all. */
  citations?: AnswerSource[];
  grounded?: boolean;
};

export type GenerationEvent =
  | { type: 'sources'; sources: AnswerSource[] }
  | { type: 'text-delta'; text: string }
  | { type: 'tool-call'; toolCall: ToolCall }
  | FinishEvent;

/** The finish event of a runner's result or finish part. */
const finishOf = (end: Pick<FinishEvent, 'finishReason' | 'usage' | 'object' | 'warnings'>): FinishEvent => ({
  type: 'finish',
  finishReason: end.finishReason,
  usage: end.usage,
  ...(end.object === undefined ? {} : { object: end.object }),
  ...(end.warnings === undefined ? {} : { warnings: end.warnings }),
});

/**
 * A runner's events. Streamed when asked and the runner streams; otherwise one `generate` call
 * (structured output then gets the runner's full treatment: retries, repair rounds), as one delta.
 */
export async function* runnerEvents(
  runner: ModelRunner,
  options: GenerateOptions,
  stream: boolean,
): AsyncGenerator<GenerationEvent> {
  if (stream && runner.capabilities.streaming) {
    for await (const part of runner.stream(options)) yield part.type === 'finish' ? finishOf(part) : part;
    return;
  }
  const result = await runner.generate(options);
  if (result.text) yield { type: 'text-delta', text: result.text };
  for (const toolCall of result.toolCalls ?? []) yield { type: 'tool-call', toolCall };
  yield finishOf(result);
}

/** A knowledge model's events: its sources first, then the grounded answer's text, then the finish with citations. */
export async function* knowledgeEvents(options: AnswerOptions): AsyncGenerator<GenerationEvent> {
  for await (const part of streamAnswer(options)) {
    if (part.type === 'sources') yield part;
    else if (part.type === 'text-delta') yield part;
    else {
      yield {
        // No usage: the model was not called (nothing relevant was found), so no tokens were used.
        ...finishOf({ ...part, usage: part.usage ?? { promptTokens: 0, completionTokens: 0 } }),
        citations: part.citations,
        grounded: part.grounded,
      };
    }
  }
}

/** A whole generation, collected for a non-streamed answer. */
export type Collected = {
  text: string;
  toolCalls: ToolCall[];
  finish: FinishEvent;
  sources: AnswerSource[] | undefined;
};

export async function collect(events: AsyncIterable<GenerationEvent>): Promise<Collected> {
  let text = '';
  const toolCalls: ToolCall[] = [];
  let sources: AnswerSource[] | undefined;
  let finish: FinishEvent = { type: 'finish', finishReason: 'other', usage: undefined };
  for await (const event of events) {
    if (event.type === 'text-delta') text += event.text;
    else if (event.type === 'tool-call') toolCalls.push(event.toolCall);
    else if (event.type === 'sources') sources = event.sources;
    else finish = event;
  }
  return { text, toolCalls, finish, sources };
}

/** The message content of a whole generation: the structured answer as JSON, null for tool calls alone. */
export const contentOf = (result: Collected) =>
  result.finish.object !== undefined
    ? JSON.stringify(result.finish.object)
    : result.toolCalls.length > 0 && !result.text
      ? null
      : result.text;

/** Knowledge models' extra fields: every numbered source, those the answer cites, and whether it was grounded. */
export const groundedFields = (sources: Collected['sources'], finish: Collected['finish']) =>
  sources === undefined
    ? {}
    : { sources, citations: finish.citations ?? [], grounded: finish.grounded ?? sources.length > 0 };
