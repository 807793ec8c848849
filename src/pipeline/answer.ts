import { z } from 'zod';
import type { ChatMessage, FinishReason, ModelRunner, Usage } from '../core/runner.js';
import { abortSignalSchema, runnerSchema } from '../core/schemas.js';
import { parseArgument } from '../core/validate.js';
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
      usage: Usage | undefined;
    };

export type AnswerResult = Omit<Extract<AnswerPart, { type: 'finish' }>, 'type'> & { sources: AnswerSource[] };

export type AnswerOptions = {
  question: string;
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
  seed?: number;
  abortSignal?: AbortSignal;
};

export const DEFAULT_INSTRUCTIONS =
  'Answer the question using only the numbered sources. After each sentence, cite the sources it relies on ' +
  'as [1], [2]. If the sources do not contain the answer, say that you do not know. Be concise.';

export const DEFAULT_NO_ANSWER = "I don't know: no passage relevant to the question was found.";

const optionsSchema = z
  .object({
    question: z.string().refine((value) => value.trim().length > 0, 'question must contain text'),
    runner: runnerSchema,
    retrieval: z.record(z.string(), z.unknown()).optional(),
    chunks: z.array(z.record(z.string(), z.unknown())).optional(),
    maxContextChars: z.number().int().min(100).optional(),
    instructions: z.string().min(1).optional(),
    noAnswer: z.string().min(1).optional(),
    maxTokens: z.number().int().min(1).optional(),
    temperature: z.number().min(0).optional(),
    seed: z.number().int().optional(),
    abortSignal: abortSignalSchema.optional(),
  })
  .strict()
  .refine((options) => (options.retrieval === undefined) !== (options.chunks === undefined), {
    message: 'give either retrieval (to search) or chunks (already found), not both',
    path: ['retrieval'],
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

/** The grounded prompt: instructions, numbered sources with where they come from, then the question. */
export function groundedMessages(
  question: string,
  sources: readonly AnswerSource[],
  instructions: string,
): ChatMessage[] {
  const blocks = sources.map((source) => {
    const where = [source.title, source.heading].filter(Boolean).join(' — ');
    return `[${source.n}] ${where ? `${where} (${source.source})` : source.source}\n${source.text.trim()}`;
  });
  return [
    { role: 'system', content: instructions },
    { role: 'user', content: `Sources:\n\n${blocks.join('\n\n')}\n\nQuestion: ${question.trim()}` },
  ];
}

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
  const chunks =
    options.chunks ??
    (await retrieve({
      ...(options.retrieval as Omit<RetrieveOptions, 'query'>),
      query: parsed.question,
      ...(parsed.abortSignal ? { abortSignal: parsed.abortSignal } : {}),
    }));
  const sources = numberSources(chunks, parsed.maxContextChars ?? 6000);
  yield { type: 'sources', sources };
  if (sources.length === 0) {
    const text = parsed.noAnswer ?? DEFAULT_NO_ANSWER;
    yield { type: 'text-delta', text };
    yield { type: 'finish', text, citations: [], grounded: false, finishReason: 'stop', usage: undefined };
    return;
  }
  const runner = parsed.runner;
  const parts: string[] = [];
  let finishReason: FinishReason = 'other';
  let usage: Usage | undefined;
  // A span around a generator cannot stay active across yields; it is opened per model stream instead.
  const stream = runner.stream({
    messages: groundedMessages(parsed.question, sources, parsed.instructions ?? DEFAULT_INSTRUCTIONS),
    ...(parsed.maxTokens !== undefined ? { maxTokens: parsed.maxTokens } : {}),
    ...(parsed.temperature !== undefined ? { temperature: parsed.temperature } : {}),
    ...(parsed.seed !== undefined ? { seed: parsed.seed } : {}),
    ...(parsed.abortSignal ? { abortSignal: parsed.abortSignal } : {}),
  });
  for await (const part of stream) {
    if (part.type === 'text-delta') {
      parts.push(part.text);
      yield part;
    } else if (part.type === 'finish') {
      finishReason = part.finishReason;
      usage = part.usage;
    }
  }
  const text = parts.join('');
  yield { type: 'finish', text, citations: citedSources(text, sources), grounded: true, finishReason, usage };
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
