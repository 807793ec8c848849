/**
 * One HTTP exchange over fetch with a deadline and the caller's abort signal, every failure translated
 * into a kumiki error (see errors.ts). Runtime-neutral: fetch, Headers and AbortController only.
 * Internal: not part of the public surface.
 */
import { type KumikiError, throwIfAborted } from '../../core/errors.js';
import {
  describeUrl,
  errorFromFailure,
  errorFromResponse,
  type HttpErrorContext,
  secretHeaderValues,
} from './errors.js';

export type FetchFunction = typeof globalThis.fetch;

export type HttpRequestOptions = {
  url: string;
  method: 'GET' | 'POST';
  headers: Headers;
  body?: string;
  /** Deadline for the whole exchange, body included; none when undefined. */
  timeoutMs: number | undefined;
  abortSignal: AbortSignal | undefined;
  fetch: FetchFunction;
  /** What is being done, for messages, e.g. `OpenAI-compatible embeddings request`. */
  operation: string;
  component: string;
  /** Secrets to redact from messages besides the credential headers (found automatically). */
  secrets?: readonly string[];
};

/** A 2xx response whose body is still to be read; the deadline and the abort signal cover the reading. */
export type HttpExchange = {
  response: Response;
  /** Reads the whole body as text and ends the exchange. */
  text(): Promise<string>;
  /** Translates an error thrown while reading `response.body` (for streaming readers). */
  translate(error: unknown): KumikiError;
  /** Ends the exchange: stops the deadline and lets go of the caller's signal. Idempotent. */
  close(): void;
};

/**
 * Sends one request. Resolves once a 2xx status and headers arrive; rejects with a kumiki error for
 * any other status (see `errorFromResponse`), a network failure (`UnavailableError`, retryable), the
 * deadline (`TimeoutError`) or the caller's abort (`AbortedError`, which also cancels the request).
 */
export async function openHttpRequest(options: HttpRequestOptions): Promise<HttpExchange> {
  const shownUrl = describeUrl(options.url);
  const context: HttpErrorContext = {
    operation: options.operation,
    method: options.method,
    url: shownUrl,
    component: options.component,
    secrets: [...secretHeaderValues(options.headers), ...(options.secrets ?? [])],
  };
  throwIfAborted(options.abortSignal, `${options.operation} (${options.method} ${shownUrl})`);

  const controller = new AbortController();
  let timedOut = false;
  const timer =
    options.timeoutMs === undefined
      ? undefined
      : setTimeout(() => {
          timedOut = true;
          controller.abort();
        }, options.timeoutMs);
  const onAbort = () => controller.abort(options.abortSignal?.reason);
  options.abortSignal?.addEventListener('abort', onAbort, { once: true });
  const close = () => {
    clearTimeout(timer);
    options.abortSignal?.removeEventListener('abort', onAbort);
  };
  const translate = (error: unknown, phase: 'request' | 'body' = 'body'): KumikiError =>
    errorFromFailure(error, {
      ...context,
      phase,
      timedOut,
      timeoutMs: options.timeoutMs,
      aborted: options.abortSignal?.aborted === true,
    });

  let response: Response;
  try {
    response = await options.fetch(options.url, {
      method: options.method,
      headers: options.headers,
      body: options.body,
      signal: controller.signal,
    });
  } catch (error) {
    close();
    throw translate(error, 'request');
  }

  if (!response.ok) {
    let body: string;
    try {
      body = await response.text();
    } catch (error) {
      throw translate(error);
    } finally {
      close();
    }
    throw errorFromResponse(response, body, context);
  }

  return {
    response,
    translate,
    close,
    async text() {
      try {
        return await response.text();
      } catch (error) {
        throw translate(error);
      } finally {
        close();
      }
    },
  };
}
