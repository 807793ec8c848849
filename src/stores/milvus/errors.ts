/**
 * The one place where Milvus failures become kumiki errors: gRPC transport errors (thrown by the
 * SDK), Milvus statuses (returned in responses, or thrown as plain objects by some SDK helpers),
 * and kumiki errors (passed through).
 */
import {
  ConflictError,
  ForbiddenError,
  InvalidArgumentError,
  KumikiError,
  NotFoundError,
  TimeoutError,
  UnauthorizedError,
  UnavailableError,
} from '../../core/errors.js';

/** What failed, for messages. */
export type ErrorContext = {
  /** The server address, e.g. `localhost:19530`. */
  address: string;
  /** What was being done, e.g. `search in "docs"`. */
  operation: string;
  /** The collection (or alias) name the call was about, if any. */
  collection?: string;
  /** The per-call deadline, for `TimeoutError`. */
  timeoutMs: number;
};

/** A Milvus `common.Status` as the SDK decodes it. */
export type MilvusStatus = { error_code?: string | number; code?: number; reason?: string; retriable?: boolean };

const COMPONENT = 'milvus';

/** gRPC status codes (grpc-js `status`), by name. */
const GRPC = {
  CANCELLED: 1,
  DEADLINE_EXCEEDED: 4,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  UNIMPLEMENTED: 12,
  UNAVAILABLE: 14,
  UNAUTHENTICATED: 16,
} as const;

/** Milvus status codes (`pkg/util/merr`) that say "try again later". */
const RETRYABLE_CODES = new Set([1, 2, 4, 8, 12, 103, 106, 202]);
const INVALID_CODES = new Set([105, 1100, 1101, 1102, 1700, 1701, 2000, 2001]);

function isGrpcError(error: unknown): error is { code: number; details?: string; message: string } {
  return (
    typeof error === 'object' &&
    error !== null &&
    typeof (error as { code?: unknown }).code === 'number' &&
    typeof (error as { details?: unknown }).details === 'string'
  );
}

/** Whether a value looks like a Milvus status (`error_code` and/or `code` plus `reason`). */
function isStatus(value: unknown): value is MilvusStatus {
  return typeof value === 'object' && value !== null && 'reason' in value && ('error_code' in value || 'code' in value);
}

/** True when a status reports success. */
export function isSuccess(status: MilvusStatus | undefined): boolean {
  if (!status) return true;
  const code = Number(status.code ?? 0);
  return (status.error_code === undefined || status.error_code === 'Success' || status.error_code === 0) && code === 0;
}

/** Throws the kumiki error for a failed status; returns quietly on success. */
export function checkStatus(status: MilvusStatus | undefined, context: ErrorContext): void {
  if (!isSuccess(status)) throw fromStatus(status as MilvusStatus, context);
}

function fromStatus(status: MilvusStatus, context: ErrorContext): KumikiError {
  const code = Number(status.code ?? 0);
  const name = String(status.error_code ?? '');
  const reason = status.reason || name || `status code ${code}`;
  const message = `Milvus at ${context.address} refused ${context.operation}: ${reason}`;
  if (code === 100 || name === 'CollectionNotExists') {
    return new NotFoundError({
      resource: 'Collection',
      name: context.collection ?? '',
      hint: 'Create it first with createCollection({ name, dimensions }).',
      cause: status,
      component: COMPONENT,
    });
  }
  if (code === 1600) {
    return new NotFoundError({
      resource: 'Alias',
      name: context.collection ?? '',
      cause: status,
      component: COMPONENT,
    });
  }
  if (code === 1601 || code === 1602) {
    return new ConflictError({ message, cause: status, component: COMPONENT });
  }
  if (code === 1400) return new UnauthorizedError({ message, cause: status, component: COMPONENT });
  if (code === 1401) return new ForbiddenError({ message, cause: status, component: COMPONENT });
  if (code === 10001) {
    return new TimeoutError({
      operation: context.operation,
      timeoutMs: context.timeoutMs,
      cause: status,
      component: COMPONENT,
    });
  }
  if (INVALID_CODES.has(code) || name === 'IllegalArgument') {
    return new InvalidArgumentError({
      argument: `${context.operation} request`,
      issues: [{ path: '', message: `Milvus rejected it: ${reason}` }],
      cause: status,
      component: COMPONENT,
    });
  }
  const retryable = status.retriable === true || RETRYABLE_CODES.has(code) || name === 'RateLimit';
  return new UnavailableError({
    message,
    statusCode: code === 0 ? undefined : code,
    url: context.address,
    isRetryable: retryable,
    cause: status,
    component: COMPONENT,
  });
}

function fromGrpc(error: { code: number; details?: string; message: string }, context: ErrorContext): KumikiError {
  const detail = error.details || error.message;
  switch (error.code) {
    case GRPC.DEADLINE_EXCEEDED:
      return new TimeoutError({
        operation: `${context.operation} on Milvus at ${context.address}`,
        timeoutMs: context.timeoutMs,
        cause: error,
        component: COMPONENT,
      });
    case GRPC.UNAUTHENTICATED:
      return new UnauthorizedError({
        message: `Milvus at ${context.address} did not accept the credentials for ${context.operation}: ${detail}. Check token or username/password.`,
        cause: error,
        component: COMPONENT,
      });
    case GRPC.PERMISSION_DENIED:
      return new ForbiddenError({
        message: `Milvus at ${context.address} does not permit ${context.operation}: ${detail}`,
        cause: error,
        component: COMPONENT,
      });
    case GRPC.UNAVAILABLE:
    case GRPC.RESOURCE_EXHAUSTED:
    case GRPC.CANCELLED:
      return new UnavailableError({
        message: `Milvus at ${context.address} is unreachable or busy during ${context.operation}: ${detail}`,
        statusCode: error.code,
        url: context.address,
        cause: error,
        component: COMPONENT,
      });
    case GRPC.UNIMPLEMENTED:
      return new UnavailableError({
        message: `Milvus at ${context.address} does not implement what ${context.operation} needs (${detail}); the kumiki adapter needs Milvus 2.5 or later.`,
        statusCode: error.code,
        url: context.address,
        isRetryable: false,
        cause: error,
        component: COMPONENT,
      });
    default:
      return new UnavailableError({
        message: `Milvus at ${context.address} failed ${context.operation}: ${detail}`,
        statusCode: error.code,
        url: context.address,
        isRetryable: false,
        cause: error,
        component: COMPONENT,
      });
  }
}

/**
 * Turns anything a Milvus call threw into a kumiki error. Errors that are neither kumiki errors,
 * gRPC errors nor Milvus statuses (the SDK's own argument checks) are rethrown unchanged: they
 * point at a bug in this adapter, not at the server.
 */
export function translateError(error: unknown, context: ErrorContext): unknown {
  if (KumikiError.isInstance(error)) return error;
  if (isGrpcError(error)) return fromGrpc(error, context);
  if (isStatus(error)) return fromStatus(error, context);
  // Some SDK helpers throw a whole response (e.g. a failed DescribeCollection inside upsert).
  const status = typeof error === 'object' && error !== null ? (error as { status?: unknown }).status : undefined;
  if (isStatus(status)) return fromStatus(status, context);
  return error;
}
