/**
 * Streamed answers as server-sent events: the endpoint renders each generation event as SSE text;
 * the stream ends with the generation, the client's disconnect or a failure sent as an error event.
 */
import type { RequestState } from './context.js';
import { type OpenAIErrorBody, toGatewayError } from './errors.js';
import type { GenerationEvent } from './generation.js';
import { type ClientSignal, errorBody } from './middleware/request.js';

const encoder = new TextEncoder();
export const sseData = (data: unknown) => `data: ${typeof data === 'string' ? data : JSON.stringify(data)}\n\n`;
export const sseEvent = (data: { type: string; [key: string]: unknown }) =>
  `event: ${data.type}\ndata: ${JSON.stringify(data)}\n\n`;

function closeQuietly(controller: ReadableStreamDefaultController<Uint8Array>): void {
  try {
    controller.close();
  } catch {
    // Already closed or cancelled by the server after the client left: nothing to deliver.
  }
}

/**
 * Answers a streamed generation: the first event is awaited before the response starts (so
 * admission refusals and early failures get their status), then `render` turns events into SSE
 * text; a later failure is sent as `render.error`'s event and ends the stream.
 */
export async function streamResponse(
  state: RequestState,
  events: AsyncGenerator<GenerationEvent>,
  client: ClientSignal,
  render: {
    start(first: GenerationEvent | undefined): string;
    event(event: GenerationEvent): string;
    end(): string;
    error(body: OpenAIErrorBody): string;
  },
): Promise<Response> {
  let first: IteratorResult<GenerationEvent>;
  try {
    first = await events.next();
  } catch (error) {
    client.release();
    throw error;
  }
  let finished: (status: number) => void = () => {};
  state.streamDone = new Promise<number>((resolve) => {
    finished = resolve;
  });
  let pending: IteratorResult<GenerationEvent> | undefined = first;
  let ended = false;
  const end = (status: number) => {
    if (ended) return;
    ended = true;
    client.release();
    finished(status);
  };
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      const opening = render.start(first.done ? undefined : first.value);
      if (opening) controller.enqueue(encoder.encode(opening));
    },
    async pull(controller) {
      try {
        const next = pending ?? (await events.next());
        pending = undefined;
        if (ended) {
          // The client went away while the runner was producing this event.
          closeQuietly(controller);
          return;
        }
        if (next.done) {
          const closing = render.end();
          if (closing) controller.enqueue(encoder.encode(closing));
          controller.close();
          end(200);
          return;
        }
        const text = render.event(next.value);
        if (text) controller.enqueue(encoder.encode(text));
      } catch (error) {
        if (ended) {
          closeQuietly(controller);
          return;
        }
        // Headers are sent: the failure travels as an error event, which clients raise.
        const translated = toGatewayError(error, state.requestId);
        state.error = translated;
        controller.enqueue(encoder.encode(render.error(errorBody(state, translated))));
        controller.close();
        end(translated.status);
      }
    },
    async cancel() {
      client.abort();
      end(499);
      await events.return(undefined);
    },
  });
  client.signal.addEventListener('abort', () => end(499), { once: true });
  return new Response(body, {
    status: 200,
    headers: {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      'x-accel-buffering': 'no',
    },
  });
}
