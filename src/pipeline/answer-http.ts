/**
 * Answers over HTTP: `streamAnswer` as a Web `Response` of server-sent events, in the OpenAI
 * chat-completion chunk format or the Vercel AI SDK's UI message stream (what `useChat` reads).
 * Web-standard only (ReadableStream, TextEncoder, Response): runs on Node, Deno, Bun, Workers and edge.
 */
import * as z from 'zod';
import { KumikiError } from '../core/errors.js';
import type { ChatMessage, FinishReason, Usage } from '../core/runner.js';
import { parseArgument } from '../core/validate.js';
import { type AnswerOptions, type AnswerPart, type AnswerSource, streamAnswer } from './answer.js';

export type AnswerResponseOptions = AnswerOptions & {
  /** Extra response headers (the event-stream ones are set already). */
  headers?: ConstructorParameters<typeof Headers>[0];
  /**
   * The text a client is shown when the answer fails after the response has started. Default: a
   * kumiki error's message (they name what went wrong and how to fix it), else "The answer failed.".
   */
  errorMessage?: (error: unknown) => string;
};

export type ChatCompletionResponseOptions = AnswerResponseOptions & {
  /** The `model` field of each chunk, default `kumiki`. */
  model?: string;
  /** Send a last chunk with `usage` and no choices, as OpenAI does with `stream_options.include_usage`. */
  includeUsage?: boolean;
};

export type UIMessageResponseOptions = AnswerResponseOptions & {
  /** The id of the assistant message in the `start` part (useChat makes one when absent). */
  messageId?: string;
  /**
   * Which sources become source parts: `'cited'` (default) those the answer cites, sent after its
   * text; `'all'` every numbered source given to the model, sent before the text.
   */
  sources?: 'cited' | 'all';
};

/** How one wire format writes the answer's parts; each returns the events to send (already framed). */
type Renderer = {
  start(): string;
  part(part: AnswerPart): string;
  /** The answer failed after the response started. */
  error(error: unknown): string;
  /** The caller's signal fired while the client was still reading. */
  aborted(): string;
  end(): string;
};

const sse = (data: unknown) => `data: ${typeof data === 'string' ? data : JSON.stringify(data)}\n\n`;

const EVENT_STREAM_HEADERS = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache',
  'x-accel-buffering': 'no',
};

const defaultErrorMessage = (error: unknown) => (KumikiError.isInstance(error) ? error.message : 'The answer failed.');

/**
 * Runs `streamAnswer` behind a `Response`. The first part (the sources) is awaited before the response
 * is made, so bad options and retrieval failures reject here and the caller picks the status; later
 * failures become an error event. The stream pulls parts as the client reads; when the client goes
 * away (the body is cancelled) or `abortSignal` fires, generation is aborted.
 */
async function eventStreamResponse(
  options: AnswerResponseOptions,
  render: Renderer,
  headers: Record<string, string>,
): Promise<Response> {
  const { headers: extraHeaders, errorMessage: _errorMessage, ...answerOptions } = options;
  const caller = options.abortSignal;
  const generation = new AbortController();
  const follow = () => generation.abort(caller?.reason);
  if (caller?.aborted) follow();
  else caller?.addEventListener('abort', follow, { once: true });
  const release = () => caller?.removeEventListener('abort', follow);
  const parts = streamAnswer({ ...answerOptions, abortSignal: generation.signal });
  let pending: IteratorResult<AnswerPart>;
  try {
    pending = await parts.next();
  } catch (error) {
    release();
    throw error;
  }
  let first: IteratorResult<AnswerPart> | undefined = pending;
  const encoder = new TextEncoder();
  let cancelled = false;
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(encoder.encode(render.start()));
    },
    async pull(controller) {
      try {
        // Every pull enqueues or closes: a pull that returns with nothing is not called again by
        // some runtimes (Bun), and the reader would wait for ever.
        for (;;) {
          const next = first ?? (await parts.next());
          first = undefined;
          if (next.done) {
            controller.enqueue(encoder.encode(render.end()));
            controller.close();
            release();
            return;
          }
          const text = render.part(next.value);
          if (text) {
            controller.enqueue(encoder.encode(text));
            return;
          }
        }
      } catch (error) {
        release();
        // After `cancel` nobody reads any more, and the controller refuses writes.
        if (cancelled) return;
        controller.enqueue(encoder.encode(generation.signal.aborted ? render.aborted() : render.error(error)));
        controller.close();
      }
    },
    cancel(reason) {
      cancelled = true;
      // The client went away: stop the model. The generator ends once its pending step settles.
      generation.abort(reason);
      release();
      parts.return(undefined).catch(() => undefined);
    },
  });
  return new Response(body, { status: 200, headers: mergeHeaders(headers, extraHeaders) });
}

function mergeHeaders(base: Record<string, string>, extra: ConstructorParameters<typeof Headers>[0]): Headers {
  const headers = new Headers(base);
  new Headers(extra).forEach((value, name) => {
    headers.set(name, value);
  });
  return headers;
}

/** OpenAI's finish reasons. */
function openAIFinishReason(reason: FinishReason): 'stop' | 'length' | 'tool_calls' | 'content_filter' {
  if (reason === 'length') return 'length';
  if (reason === 'tool-calls') return 'tool_calls';
  if (reason === 'content-filter') return 'content_filter';
  return 'stop';
}

const openAIUsage = (usage: Usage) => ({
  prompt_tokens: usage.promptTokens,
  completion_tokens: usage.completionTokens,
  total_tokens: usage.promptTokens + usage.completionTokens,
});

/**
 * `streamAnswer` as server-sent events in OpenAI's `chat.completion.chunk` format, ending with
 * `data: [DONE]`: what OpenAI clients read with `stream: true`. The last chunk (with `finish_reason`)
 * also carries `sources` (every numbered source), `citations` (those the text cites) and `grounded`,
 * as the gateway's knowledge models do. A failure after the response started is sent as
 * `data: {"error": {message, type, code}}` (which OpenAI clients raise) with no `[DONE]`.
 */
export function chatCompletionStreamResponse(options: ChatCompletionResponseOptions): Promise<Response> {
  const { model = 'kumiki', includeUsage = false, ...rest } = options;
  const errorMessage = options.errorMessage ?? defaultErrorMessage;
  const id = `chatcmpl-${crypto.randomUUID().replaceAll('-', '')}`;
  const created = Math.floor(Date.now() / 1000);
  let sources: AnswerSource[] = [];
  const chunk = (choice: Record<string, unknown> | undefined, extra: Record<string, unknown> = {}) =>
    sse({
      id,
      object: 'chat.completion.chunk',
      created,
      model,
      choices: choice ? [{ index: 0, logprobs: null, finish_reason: null, ...choice }] : [],
      ...extra,
    });
  const failure = (message: string, code: string | null, type: string) => sse({ error: { message, type, code } });
  return eventStreamResponse(
    rest,
    {
      start: () => chunk({ delta: { role: 'assistant', content: '' } }),
      part: (part) => {
        if (part.type === 'sources') {
          sources = part.sources;
          return '';
        }
        if (part.type === 'text-delta') return part.text ? chunk({ delta: { content: part.text } }) : '';
        const last = chunk(
          { delta: {}, finish_reason: openAIFinishReason(part.finishReason) },
          { sources, citations: part.citations, grounded: part.grounded },
        );
        return includeUsage ? last + chunk(undefined, { usage: part.usage ? openAIUsage(part.usage) : null }) : last;
      },
      error: (error) =>
        failure(errorMessage(error), KumikiError.isInstance(error) ? error.code : 'internal_error', 'server_error'),
      aborted: () => failure('The answer was aborted before it was complete.', 'KUMIKI_ABORTED', 'server_error'),
      end: () => sse('[DONE]'),
    },
    EVENT_STREAM_HEADERS,
  );
}

/** The AI SDK's finish reasons. */
function uiFinishReason(reason: FinishReason): 'stop' | 'length' | 'content-filter' | 'tool-calls' | 'error' | 'other' {
  return reason === 'aborted' ? 'other' : reason;
}

const isWebUrl = (value: string) => /^https?:\/\/[^\s]+$/i.test(value);

/** A source as the AI SDK's `source-url` (web pages) or `source-document` part; `sourceId` is its `[n]`. */
function sourcePart(source: AnswerSource): Record<string, unknown> {
  const title = [source.title, source.heading].filter(Boolean).join(' — ') || source.source;
  const providerMetadata = {
    kumiki: {
      n: source.n,
      source: source.source,
      chunk: source.chunk,
      score: source.score,
      ...(source.page === undefined ? {} : { page: source.page }),
    },
  };
  return isWebUrl(source.source)
    ? { type: 'source-url', sourceId: String(source.n), url: source.source, title, providerMetadata }
    : {
        type: 'source-document',
        sourceId: String(source.n),
        mediaType: 'text/plain',
        title,
        filename: source.source,
        providerMetadata,
      };
}

/**
 * `streamAnswer` as the Vercel AI SDK's UI message stream (protocol v1 of AI SDK 5 and 6: server-sent
 * events with the `x-vercel-ai-ui-message-stream: v1` header), which `useChat` renders: `start`,
 * the text as `text-start`/`text-delta`/`text-end`, the sources as `source-url` (web addresses) or
 * `source-document` parts whose `sourceId` is the `[n]` the text cites, `finish`, then `[DONE]`. A
 * failure after the response started is sent as an `error` part; an abort by `abortSignal` as `abort`.
 */
export function uiMessageStreamResponse(options: UIMessageResponseOptions): Promise<Response> {
  const { messageId, sources: which = 'cited', ...rest } = options;
  const errorMessage = options.errorMessage ?? defaultErrorMessage;
  const textId = 'text-1';
  let textOpen = false;
  const frames = (...chunks: Record<string, unknown>[]) => chunks.map(sse).join('');
  const closeText = () => {
    if (!textOpen) return '';
    textOpen = false;
    return frames({ type: 'text-end', id: textId });
  };
  return eventStreamResponse(
    rest,
    {
      start: () => frames({ type: 'start', ...(messageId === undefined ? {} : { messageId }) }),
      part: (part) => {
        if (part.type === 'sources') return which === 'all' ? frames(...part.sources.map(sourcePart)) : '';
        if (part.type === 'text-delta') {
          if (!part.text) return '';
          const open = textOpen ? '' : frames({ type: 'text-start', id: textId });
          textOpen = true;
          return open + frames({ type: 'text-delta', id: textId, delta: part.text });
        }
        return (
          closeText() +
          (which === 'cited' ? frames(...part.citations.map(sourcePart)) : '') +
          frames({ type: 'finish', finishReason: uiFinishReason(part.finishReason) })
        );
      },
      error: (error) => closeText() + frames({ type: 'error', errorText: errorMessage(error) }) + sse('[DONE]'),
      aborted: () => closeText() + frames({ type: 'abort' }) + sse('[DONE]'),
      end: () => sse('[DONE]'),
    },
    { ...EVENT_STREAM_HEADERS, 'x-vercel-ai-ui-message-stream': 'v1' },
  );
}

const uiMessagesSchema = z
  .array(
    z.looseObject({
      role: z.enum(['system', 'user', 'assistant']),
      parts: z.array(z.looseObject({ type: z.string() })),
    }),
  )
  .min(1, 'messages must not be empty');

/**
 * The conversation `useChat` posts (AI SDK UI messages, `{ role, parts }`) as kumiki chat messages
 * for `answer`'s `messages`: each message's text parts joined; other parts (sources, files, tools) are
 * left out, and so are messages left without text.
 */
export function conversationFromUIMessages(messages: unknown): ChatMessage[] {
  const parsed = parseArgument(uiMessagesSchema, messages, 'UI messages');
  return parsed.flatMap((message) => {
    const content = message.parts
      .flatMap((part) => (part.type === 'text' && typeof part.text === 'string' ? [part.text] : []))
      .join('');
    return content.trim().length > 0 ? [{ role: message.role, content }] : [];
  });
}
