/** One llama.cpp generation on one sequence: sampling settings, stop sequences, streamed text and usage. */
import type { LlamaContextSequence, LlamaGrammar } from 'node-llama-cpp';
import type { FinishReason, GenerateOptions, Usage } from '../../core/runner.js';
import type { State } from './context.js';
import { DEFAULT_TEMPERATURE, type ParsedOptions } from './options.js';
import type { Prepared } from './prompt.js';
import { StopScanner } from './stop-scanner.js';

/** One evaluation's outcome, before structured-output handling. */
export type Evaluation = { text: string; finishReason: FinishReason; usage: Usage };

const FINISH_REASONS: Record<string, FinishReason> = {
  maxTokens: 'length',
  eogToken: 'stop',
  stopGenerationTrigger: 'stop',
  customStopTrigger: 'stop',
  functionCalls: 'tool-calls',
  abort: 'aborted',
};

/** What one evaluation generates from, and where its text goes as it comes. */
export type EvaluationRequest = {
  call: GenerateOptions;
  prepared: Prepared;
  signal: AbortSignal;
  grammar: LlamaGrammar | undefined;
  seed: number | undefined;
  onText: ((text: string) => void) | undefined;
};

/** One generation on one sequence. */
export async function evaluate(
  state: State,
  parsed: ParsedOptions,
  sequence: LlamaContextSequence,
  request: EvaluationRequest,
): Promise<Evaluation> {
  const { call, prepared, signal, grammar, seed, onText } = request;
  const { lib } = state;
  const scanner = new StopScanner(call.stop ?? []);
  const stopped = new AbortController();
  const settings = {
    // Stop sequences end generation through this signal; a caller's abort is told apart afterwards.
    signal: AbortSignal.any([signal, stopped.signal]),
    stopOnAbortSignal: true,
    maxTokens: prepared.maxTokens,
    temperature: call.temperature ?? parsed.temperature ?? DEFAULT_TEMPERATURE,
    ...((call.topP ?? parsed.topP) === undefined ? {} : { topP: call.topP ?? parsed.topP }),
    ...(parsed.topK === undefined ? {} : { topK: parsed.topK }),
    ...(seed === undefined ? {} : { seed }),
    ...(grammar === undefined ? {} : { grammar }),
    onTextChunk: (chunk: string) => {
      const text = scanner.push(chunk);
      if (text.length > 0) onText?.(text);
      if (scanner.stopped) stopped.abort();
    },
  };
  // Every request starts from an empty sequence, so that its text never depends on what the
  // sequence served before (reusing another request's cached tokens changes sampled text).
  await sequence.clearHistory();
  const before = sequence.tokenMeter.getState();
  let stopReason: string;
  if (prepared.prompt !== undefined) {
    const completion = new lib.LlamaCompletion({ contextSequence: sequence });
    try {
      stopReason = (await completion.generateCompletionWithMeta(prepared.prompt, settings)).metadata.stopReason;
    } finally {
      completion.dispose();
    }
  } else {
    const chat = new lib.LlamaChat({ contextSequence: sequence, chatWrapper: state.chatWrapper });
    try {
      stopReason = (await chat.generateResponse(prepared.history ?? [], settings)).metadata.stopReason;
    } finally {
      chat.dispose();
    }
  }
  if (signal.aborted) throw signal.reason;
  const rest = scanner.flush();
  if (rest.length > 0) onText?.(rest);
  return {
    text: scanner.text,
    finishReason: scanner.stopped ? 'stop' : (FINISH_REASONS[stopReason] ?? 'other'),
    usage: {
      promptTokens: prepared.promptTokens,
      completionTokens: sequence.tokenMeter.diff(before).usedOutputTokens,
    },
  };
}
