/**
 * Token counting that never holds the event loop for long. node-llama-cpp's `tokenize` is
 * synchronous (about half a second per megabyte on a small CPU), so a long prompt is first judged by
 * a lower bound (its UTF-8 size over the vocabulary's longest token), then tokenized in chunks with a
 * turn of the event loop between them, and tokenized whole only once it is known to be short.
 */
import type { LlamaModel, LlamaText, Token, Tokenizer } from 'node-llama-cpp';

/** Characters tokenized between two turns of the event loop (a few milliseconds of work). */
const CHUNK_CHARS = 16_384;

/** Tokens a chunk boundary may add or remove from the count (merges across it, a leading space). */
const SLACK_PER_CHUNK = 2;

/** The longest token of a model's vocabulary in UTF-8 bytes, per model. */
const longestTokens = new WeakMap<LlamaModel, number | undefined>();

const utf8 = new TextEncoder();

/** UTF-8 length without encoding the whole text at once. */
function utf8Length(text: string): number {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x80) bytes += 1;
    else if (code < 0x800) bytes += 2;
    else if (code >= 0xd800 && code <= 0xdbff && i + 1 < text.length) {
      bytes += 4;
      i++;
    } else bytes += 3;
  }
  return bytes;
}

/**
 * The vocabulary's longest token in UTF-8 bytes, read from the GGUF metadata (tokens as stored: `▁`
 * for a space, `<0x0A>` for a byte, so never less than what the token decodes to); undefined when the
 * file does not list its tokens.
 */
export function longestTokenBytes(model: LlamaModel): number | undefined {
  if (longestTokens.has(model)) return longestTokens.get(model);
  const metadata = model.fileInfo.metadata as { tokenizer?: { ggml?: { tokens?: unknown } } };
  const tokens = metadata.tokenizer?.ggml?.tokens;
  let longest: number | undefined;
  if (Array.isArray(tokens) && tokens.length > 0) {
    longest = 1;
    for (const token of tokens) if (typeof token === 'string') longest = Math.max(longest, utf8.encode(token).length);
  }
  longestTokens.set(model, longest);
  return longest;
}

type TokenizeCall = { text: string; special: boolean | 'builtin'; options: 'trimLeadingSpace' | undefined };

/**
 * The tokenizer calls `LlamaText.tokenize` makes for `text`, recorded rather than run (a non-empty
 * text answers one placeholder token, so that the calls and their options are those of a real run).
 */
function tokenizerCalls(text: LlamaText): TokenizeCall[] {
  const calls: TokenizeCall[] = [];
  const record = ((value: string, special?: boolean | 'builtin', options?: 'trimLeadingSpace') => {
    calls.push({ text: value, special: special ?? false, options });
    return value.length > 0 ? [0 as Token] : [];
  }) as Tokenizer;
  text.tokenize(record);
  return calls;
}

/** `text` cut at whitespace (each later piece starts with its whitespace) into pieces of about CHUNK_CHARS. */
function chunks(text: string): string[] {
  const pieces: string[] = [];
  let start = 0;
  while (text.length - start > CHUNK_CHARS) {
    let end = start + CHUNK_CHARS;
    const space = Math.max(text.lastIndexOf(' ', end), text.lastIndexOf('\n', end));
    if (space > start + CHUNK_CHARS / 2) end = space;
    else if (/[\uD800-\uDBFF]/.test(text.charAt(end - 1))) end--;
    pieces.push(text.slice(start, end));
    start = end;
  }
  pieces.push(text.slice(start));
  return pieces;
}

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

export type TokenCount = {
  /** The prompt's tokens; a lower bound when `exact` is false. */
  tokens: number;
  /** False when counting stopped early because the prompt is longer than the limit. */
  exact: boolean;
};

/**
 * Counts the tokens of a prompt (a plain string tokenized with `options`, or a rendered chat) the way
 * node-llama-cpp will evaluate it. Stops early, with a lower bound, once it is clear that the prompt
 * has more than `limit` tokens; otherwise the count is exact. Between chunks of a long prompt the
 * event loop turns, and `signal` is checked.
 */
export async function countPromptTokens(
  model: LlamaModel,
  prompt: { text: string; options?: 'trimLeadingSpace'; prependBos?: boolean } | { chat: LlamaText },
  limit: number,
  signal?: AbortSignal,
): Promise<TokenCount> {
  const extra = 'text' in prompt && prompt.prependBos ? 1 : 0;
  const calls: TokenizeCall[] =
    'text' in prompt ? [{ text: prompt.text, special: false, options: prompt.options }] : tokenizerCalls(prompt.chat);
  const tokenize = (call: TokenizeCall) => model.tokenize(call.text, call.special as false, call.options).length;
  const characters = calls.reduce((sum, call) => sum + call.text.length, 0);
  // Short: counted exactly in one go (a few milliseconds at most).
  if (characters <= CHUNK_CHARS) {
    return { tokens: calls.reduce((sum, call) => sum + tokenize(call), extra), exact: true };
  }
  const longest = longestTokenBytes(model);
  if (longest !== undefined) {
    // Built-in special tokens ("BOS", …) are named, not spelled: left out of the bound.
    const bytes = calls.reduce((sum, call) => sum + (call.special === 'builtin' ? 0 : utf8Length(call.text)), 0);
    const lowerBound = Math.ceil(bytes / longest) + extra;
    if (lowerBound > limit) return { tokens: lowerBound, exact: false };
  }
  // Long: count chunk by chunk, giving the event loop a turn after each CHUNK_CHARS of work.
  let counted = extra;
  let boundaries = 0;
  let sinceTurn = 0;
  for (const call of calls) {
    const pieces = call.special === false ? chunks(call.text) : [call.text];
    for (const [index, piece] of pieces.entries()) {
      counted += tokenize({ ...call, text: piece, options: index === 0 ? call.options : 'trimLeadingSpace' });
      boundaries += index === 0 ? 0 : 1;
      if (counted - boundaries * SLACK_PER_CHUNK > limit) {
        return { tokens: counted - boundaries * SLACK_PER_CHUNK, exact: false };
      }
      sinceTurn += piece.length;
      if (sinceTurn >= CHUNK_CHARS) {
        sinceTurn = 0;
        await nextTurn();
        signal?.throwIfAborted();
      }
    }
  }
  if (boundaries === 0) return { tokens: counted, exact: true };
  // Within the limit (give or take the boundaries): short enough now to count exactly in one go.
  return { tokens: calls.reduce((sum, call) => sum + tokenize(call), extra), exact: true };
}
