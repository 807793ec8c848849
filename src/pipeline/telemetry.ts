import { type Attributes, type Span, SpanStatusCode, trace } from '@opentelemetry/api';

/**
 * Spans through `@opentelemetry/api`: a no-op unless the app registers an SDK. Each span becomes the
 * active one while `fn` runs, so spans opened inside (adapter calls) nest under it, and it nests under
 * whatever span the caller has active.
 */
export function withSpan<T>(name: string, attributes: Attributes, fn: (span: Span) => Promise<T>): Promise<T> {
  return trace.getTracer('kumiki').startActiveSpan(name, { attributes }, async (span) => {
    try {
      return await fn(span);
    } catch (error) {
      span.recordException(error instanceof Error ? error : String(error));
      span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) });
      throw error;
    } finally {
      span.end();
    }
  });
}
