/**
 * What the llama.cpp runner evaluates: chat messages as node-llama-cpp history, and the prompt's size
 * in tokens against the context, which decides the answer's budget (or drops older messages).
 */
import type { ChatHistoryItem } from 'node-llama-cpp';
import { ContextLengthExceededError } from '../../core/errors.js';
import type { ChatMessage, GenerateOptions } from '../../core/runner.js';
import { toolHistoryAsText } from '../../internal/structured-output.js';
import { countPromptTokens, type TokenCount } from '../../llama/tokens.js';
import { contextSizeOf, type State } from './context.js';
import { COMPONENT, DEFAULT_MAX_TOKENS, type ParsedOptions } from './options.js';

/** What is evaluated: the chat or prompt that fits the context, its size, and the answer's budget. */
export type Prepared = {
  history: ChatHistoryItem[] | undefined;
  prompt: string | undefined;
  promptTokens: number;
  maxTokens: number;
  warnings: string[];
};

/**
 * Chat messages as node-llama-cpp history; the last one is the model's (possibly empty) answer to
 * continue. Tool calls and results in the history are written out as text (the runner has no
 * tool-calling template).
 */
function toHistory(messages: readonly ChatMessage[]): ChatHistoryItem[] {
  const history: ChatHistoryItem[] = toolHistoryAsText(messages).map((message) => {
    if (message.role === 'system') return { type: 'system', text: message.content };
    if (message.role === 'user') return { type: 'user', text: message.content };
    return { type: 'model', response: [message.content] };
  });
  if (history.at(-1)?.type !== 'model') history.push({ type: 'model', response: [] });
  return history;
}

function tooLong(state: State, count: TokenCount, maxTokens: number): ContextLengthExceededError {
  return new ContextLengthExceededError({
    contextSize: contextSizeOf(state),
    promptTokens: count.tokens,
    maxTokens,
    exact: count.exact,
    component: COMPONENT,
  });
}

/**
 * Counts the prompt's tokens (without holding the event loop: see llama/tokens.ts) and decides the
 * answer's budget: the caller's `maxTokens` must fit next to the prompt (else
 * `ContextLengthExceededError`, or older messages are dropped with `contextOverflow`); without one,
 * the default is lowered to what fits.
 */
export async function preparePrompt(
  state: State,
  parsed: ParsedOptions,
  call: GenerateOptions,
  signal: AbortSignal,
): Promise<Prepared> {
  const contextSize = contextSizeOf(state);
  const asked = call.maxTokens;
  const budget = asked ?? 1;
  const limit = contextSize - budget;
  const warnings: string[] = [];
  const fitting = (count: TokenCount): Prepared | undefined => {
    if (count.tokens + budget > contextSize) return undefined;
    const maxTokens = asked ?? Math.min(parsed.maxTokens ?? DEFAULT_MAX_TOKENS, contextSize - count.tokens);
    return { history: undefined, prompt: undefined, promptTokens: count.tokens, maxTokens, warnings };
  };
  if (call.prompt !== undefined) {
    const text = { text: call.prompt, prependBos: state.prependsBos } as const;
    const count = await countPromptTokens(
      state.lease.model,
      state.prependsBos ? { ...text, options: 'trimLeadingSpace' } : text,
      limit,
      signal,
    );
    const prepared = fitting(count);
    if (prepared === undefined) throw tooLong(state, count, budget);
    return { ...prepared, prompt: call.prompt };
  }
  const messages = call.messages ?? [];
  const countChat = async (kept: readonly ChatMessage[]) => {
    const history = toHistory(kept);
    const chat = state.chatWrapper.generateContextState({ chatHistory: history }).contextText;
    return { history, count: await countPromptTokens(state.lease.model, { chat }, limit, signal) };
  };
  const whole = await countChat(messages);
  const prepared = fitting(whole.count);
  if (prepared !== undefined) return { ...prepared, history: whole.history };
  if ((parsed.contextOverflow ?? 'error') === 'error') throw tooLong(state, whole.count, budget);
  // Drop the oldest messages that are neither system messages nor the last one: the fewest that make it fit.
  const droppable = messages.flatMap((message, index) =>
    message.role !== 'system' && index < messages.length - 1 ? [index] : [],
  );
  const keeping = (dropped: number) => {
    const gone = new Set(droppable.slice(0, dropped));
    return messages.filter((_, index) => !gone.has(index));
  };
  let low = 1;
  let high = droppable.length;
  let best: { dropped: number; history: ChatHistoryItem[]; prepared: Prepared } | undefined;
  while (low <= high) {
    const middle = Math.floor((low + high) / 2);
    const attempt = await countChat(keeping(middle));
    const fits = fitting(attempt.count);
    if (fits === undefined) low = middle + 1;
    else {
      best = { dropped: middle, history: attempt.history, prepared: fits };
      high = middle - 1;
    }
  }
  if (best === undefined) throw tooLong(state, (await countChat(keeping(droppable.length))).count, budget);
  warnings.push(
    `dropped the ${best.dropped} oldest of ${messages.length} messages so that the chat fits the context of ${contextSize} tokens with ${best.prepared.maxTokens} for the answer`,
  );
  return { ...best.prepared, history: best.history };
}
