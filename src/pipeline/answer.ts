import { z } from 'zod';
import type {
  ChatMessage,
  FinishReason,
  ModelRunner,
  OutputSchema,
  StreamPart,
  StructuredOutputMode,
  Usage,
} from '../core/runner.js';
import { abortSignalSchema, runnerSchema } from '../core/schemas.js';
import { parseArgument } from '../core/validate.js';
import { toolHistoryAsText } from '../internal/structured-output.js';
import { type Citation, type RetrievedChunk, type RetrieveOptions, retrieve } from './retrieve.js';
import { withSpan } from './telemetry.js';

/** A numbered source given to the model: `[n]` in the answer refers to it. */
export type AnswerSource = Citation & { n: number; id: RetrievedChunk['id']; text: string; score: number };

export type AnswerPart =
  | { type: 'sources'; sources: AnswerSource[] }
  | { type: 'text-delta'; text: string }
  | {
      type: 'finish';
      text: string;
      /** The sources the answer cites with `[n]`, in order of first citation. */
      citations: AnswerSource[];
      /** False when nothing relevant was retrieved and the model was not asked. */
      grounded: boolean;
      finishReason: FinishReason;
      /** The model's tokens, the condensing call's included. */
      usage: Usage | undefined;
      /** With `schema`: the parsed answer, and how it was enforced. */
      object?: unknown;
      structuredOutput?: StructuredOutputMode;
      warnings?: string[];
    };

export type AnswerResult = Omit<Extract<AnswerPart, { type: 'finish' }>, 'type'> & { sources: AnswerSource[] };

export type AnswerOptions = {
  /** The question; or give `messages`. */
  question?: string;
  /**
   * A conversation instead of `question`: earlier turns (system messages become part of the
   * instructions; tool calls and results are written out as text) and, last, the user's question,
   * which retrieval searches for (or its standalone form, with `condense`).
   */
  messages?: readonly ChatMessage[];
  /**
   * With `messages` holding earlier turns: first ask the runner to rewrite the last question into one
   * that stands on its own ("and its price?" → "What is the price of the X-200?"), and retrieve with
   * that. Default false (retrieve with the last question as it is).
   */
  condense?: boolean;
  runner: ModelRunner;
  /** How to find the passages: everything `retrieve()` takes except the query. */
  retrieval?: Omit<RetrieveOptions, 'query' | 'abortSignal'>;
  /** Passages found already (instead of `retrieval`). */
  chunks?: RetrievedChunk[];
  /** Characters of passage text given to the model, default 6000; lower-ranked passages are left out. */
  maxContextChars?: number;
  /** Replaces the default instructions (the sources and the question are appended as usual). */
  instructions?: string;
  /** What is said when retrieval finds nothing relevant; the model is not called. */
  noAnswer?: string;
  maxTokens?: number;
  temperature?: number;
  topP?: number;
  seed?: number;
  stop?: readonly string[];
  /** Ask for a structured answer (passed to the runner); `[n]` citations are read from its text. */
  schema?: OutputSchema;
  abortSignal?: AbortSignal;
};

export const DEFAULT_INSTRUCTIONS =
  'Answer the question using only the numbered sources. After each sentence, cite the sources it relies on ' +
  'as [1], [2]. If the sources do not contain the answer, say that you do not know. Be concise.';

export const DEFAULT_NO_ANSWER = "I don't know: no passage relevant to the question was found.";

const messageSchema = z
  .object({
    role: z.enum(['system', 'user', 'assistant', 'tool']),
    content: z.string(),
    toolCallId: z.string().optional(),
    toolCalls: z.array(z.object({ id: z.string(), name: z.string(), arguments: z.unknown() })).optional(),
  })
  .strict();

const optionsSchema = z
  .object({
    question: z
      .string()
      .refine((value) => value.trim().length > 0, 'question must contain text')
      .optional(),
    messages: z
      .array(messageSchema)
      .min(1, 'messages must not be empty')
      .refine(
        (messages) => messages.at(-1)?.role === 'user' && (messages.at(-1)?.content.trim().length ?? 0) > 0,
        'the last message must be the user’s question (role "user", with text)',
      )
      .optional(),
    condense: z.boolean().optional(),
    runner: runnerSchema,
    retrieval: z.record(z.string(), z.unknown()).optional(),
    chunks: z.array(z.record(z.string(), z.unknown())).optional(),
    maxContextChars: z.number().int().min(100).optional(),
    instructions: z.string().min(1).optional(),
    noAnswer: z.string().min(1).optional(),
    maxTokens: z.number().int().min(1).optional(),
    temperature: z.number().min(0).optional(),
    topP: z.number().gt(0).max(1).optional(),
    seed: z.number().int().optional(),
    stop: z.array(z.string().min(1)).max(16).optional(),
    schema: z.custom<OutputSchema>((value) => typeof value === 'object' && value !== null).optional(),
    abortSignal: abortSignalSchema.optional(),
  })
  .strict()
  .refine((options) => (options.retrieval === undefined) !== (options.chunks === undefined), {
    message: 'give either retrieval (to search) or chunks (already found), not both',
    path: ['retrieval'],
  })
  .refine((options) => (options.question === undefined) !== (options.messages === undefined), {
    message: 'give either question or messages (a conversation ending with the question), not both',
    path: ['question'],
  });

/** Numbers the passages that fit the context budget, best first. */
export function numberSources(chunks: readonly RetrievedChunk[], maxContextChars: number): AnswerSource[] {
  const sources: AnswerSource[] = [];
  let used = 0;
  for (const chunk of chunks) {
    if (sources.length > 0 && used + chunk.text.length > maxContextChars) break;
    used += chunk.text.length;
    sources.push({ ...chunk.citation, n: sources.length + 1, id: chunk.id, text: chunk.text, score: chunk.score });
  }
  return sources;
}

/**
 * The grounded prompt: instructions, the earlier turns of a conversation (if any), then the numbered
 * sources with where they come from and the question. System messages of the conversation follow the
 * instructions in the system message; tool calls and results are written out as text.
 */
export function groundedMessages(
  question: string,
  sources: readonly AnswerSource[],
  instructions: string,
  earlier: readonly ChatMessage[] = [],
): ChatMessage[] {
  const blocks = sources.map((source) => {
    const where = [source.title, source.heading].filter(Boolean).join(' — ');
    return `[${source.n}] ${where ? `${where} (${source.source})` : source.source}\n${source.text.trim()}`;
  });
  const system = [instructions, ...earlier.filter((m) => m.role === 'system').map((m) => m.content)];
  const turns = toolHistoryAsText(earlier.filter((message) => message.role !== 'system'));
  const found = blocks.length > 0 ? blocks.join('\n\n') : '(no relevant source was found)';
  return [
    { role: 'system', content: system.join('\n\n') },
    ...turns,
    { role: 'user', content: `Sources:\n\n${found}\n\nQuestion: ${question.trim()}` },
  ];
}

const CONDENSE_INSTRUCTIONS =
  'Rewrite the last question of the conversation so that it can be understood without the conversation. ' +
  'Reply with the rewritten question only.';

/** The last question rewritten to stand on its own, by the runner; the question itself when the runner gives no text. */
async function condensed(
  runner: ModelRunner,
  earlier: readonly ChatMessage[],
  question: string,
  abortSignal: AbortSignal | undefined,
): Promise<{ query: string; usage: Usage | undefined }> {
  const conversation = toolHistoryAsText(earlier.filter((message) => message.role !== 'system'))
    .map((message) => `${message.role}: ${message.content}`)
    .join('\n');
  const result = await runner.generate({
    messages: [
      { role: 'system', content: CONDENSE_INSTRUCTIONS },
      { role: 'user', content: `Conversation:\n${conversation}\n\nLast question: ${question}\n\nStandalone question:` },
    ],
    maxTokens: 64,
    temperature: 0,
    ...(abortSignal ? { abortSignal } : {}),
  });
  const query = result.text.trim().split('\n')[0]?.trim() ?? '';
  return { query: query.length > 0 ? query : question, usage: result.usage };
}

const addUsage = (a: Usage | undefined, b: Usage | undefined): Usage | undefined =>
  a && b
    ? { promptTokens: a.promptTokens + b.promptTokens, completionTokens: a.completionTokens + b.completionTokens }
    : (a ?? b);

/** The sources an answer cites with `[n]` (also `[1, 3]` and `[1][2]`), in order of first citation. */
export function citedSources(text: string, sources: readonly AnswerSource[]): AnswerSource[] {
  const cited: AnswerSource[] = [];
  for (const match of text.matchAll(/\[(\d+(?:\s*,\s*\d+)*)\]/g)) {
    for (const n of (match[1] as string).split(',').map((value) => Number(value.trim()))) {
      const source = sources.find((candidate) => candidate.n === n);
      if (source && !cited.includes(source)) cited.push(source);
    }
  }
  return cited;
}

/**
 * Answers a question from retrieved passages, streamed: first the numbered sources, then the model's
 * text as it arrives, then the answer with the sources it cites. When retrieval finds nothing
 * (see `retrieval.minScore`), the answer says it does not know and the model is not called.
 */
export async function* streamAnswer(options: AnswerOptions): AsyncGenerator<AnswerPart> {
  const parsed = parseArgument(optionsSchema, options, 'answer options');
  const messages = (options.messages ?? []) as readonly ChatMessage[];
  const question = parsed.question ?? (messages.at(-1) as ChatMessage).content;
  const earlier = messages.slice(0, -1);
  const runner = parsed.runner;
  let usage: Usage | undefined;
  let query = question;
  if (parsed.condense === true && earlier.some((message) => message.role !== 'system') && !options.chunks) {
    const rewritten = await condensed(runner, earlier, question, parsed.abortSignal);
    query = rewritten.query;
    usage = rewritten.usage;
  }
  const chunks =
    options.chunks ??
    (await retrieve({
      ...(options.retrieval as Omit<RetrieveOptions, 'query'>),
      query,
      ...(parsed.abortSignal ? { abortSignal: parsed.abortSignal } : {}),
    }));
  const sources = numberSources(chunks, parsed.maxContextChars ?? 6000);
  yield { type: 'sources', sources };
  // Nothing relevant: say so without the model — unless a structured answer was asked for, which only the model can give.
  if (sources.length === 0 && options.schema === undefined) {
    const text = parsed.noAnswer ?? DEFAULT_NO_ANSWER;
    yield { type: 'text-delta', text };
    yield { type: 'finish', text, citations: [], grounded: false, finishReason: 'stop', usage };
    return;
  }
  const parts: string[] = [];
  let finish: (StreamPart & { type: 'finish' }) | undefined;
  // A span around a generator cannot stay active across yields; it is opened per model stream instead.
  const stream = runner.stream({
    messages: groundedMessages(question, sources, parsed.instructions ?? DEFAULT_INSTRUCTIONS, earlier),
    ...(parsed.maxTokens !== undefined ? { maxTokens: parsed.maxTokens } : {}),
    ...(parsed.temperature !== undefined ? { temperature: parsed.temperature } : {}),
    ...(parsed.topP !== undefined ? { topP: parsed.topP } : {}),
    ...(parsed.seed !== undefined ? { seed: parsed.seed } : {}),
    ...(parsed.stop !== undefined ? { stop: parsed.stop } : {}),
    ...(options.schema !== undefined ? { schema: options.schema } : {}),
    ...(parsed.abortSignal ? { abortSignal: parsed.abortSignal } : {}),
  });
  for await (const part of stream) {
    if (part.type === 'text-delta') {
      parts.push(part.text);
      yield part;
    } else if (part.type === 'finish') {
      finish = part;
    }
  }
  const text = parts.join('');
  yield {
    type: 'finish',
    text,
    citations: citedSources(text, sources),
    grounded: sources.length > 0,
    finishReason: finish?.finishReason ?? 'other',
    usage: addUsage(usage, finish?.usage),
    ...(finish?.object === undefined ? {} : { object: finish.object }),
    ...(finish?.structuredOutput === undefined ? {} : { structuredOutput: finish.structuredOutput }),
    ...(finish?.warnings === undefined ? {} : { warnings: finish.warnings }),
  };
}

/** `streamAnswer` collected: the answer, the numbered sources and the ones it cites. */
export async function answer(options: AnswerOptions & { onText?: (text: string) => void }): Promise<AnswerResult> {
  const { onText, ...rest } = options;
  return withSpan(
    'kumiki.answer',
    { 'kumiki.runner.provider': options.runner?.provider ?? 'unknown' },
    async (span) => {
      let sources: AnswerSource[] = [];
      for await (const part of streamAnswer(rest)) {
        if (part.type === 'sources') sources = part.sources;
        else if (part.type === 'text-delta') onText?.(part.text);
        else {
          const { type: _type, ...result } = part;
          span.setAttribute('kumiki.answer.sources', sources.length);
          span.setAttribute('kumiki.answer.grounded', result.grounded);
          return { ...result, sources };
        }
      }
      throw new Error('unreachable: streamAnswer always ends with a finish part');
    },
  );
}
