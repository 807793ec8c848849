/**
 * The one place where errors from `pg` and Postgres become kumiki errors. SQLSTATE classes decide
 * the type and whether a retry may help; network failures name the address that failed.
 */
import {
  ConflictError,
  ForbiddenError,
  InvalidArgumentError,
  KumikiError,
  NotFoundError,
  UnauthorizedError,
  UnavailableError,
} from '../../core/errors.js';
import { BACKEND } from './filter-sql.js';

export type ErrorContext = {
  /** What was being done, e.g. `search in "docs"`. */
  operation: string;
  /** `host:port` of the configured server, when known. */
  address: string | undefined;
  /** The collection the statement worked on; an undefined table then means it was deleted. */
  collection?: string;
};

type PgError = Error & { code?: string; address?: string; port?: number; severity?: string };

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
]);
/** SQLSTATEs after which the same statement may succeed: serialization, deadlock, lock timeout, shutdown, overload. */
const RETRYABLE_STATES = new Set(['40001', '40P01', '55P03', '57P01', '57P02', '57P03', '53300', '53400']);
/** pg's own messages when a connection breaks or cannot be made. */
const CONNECTION_MESSAGE =
  /connection terminated|timeout exceeded when trying to connect|not queryable|connection timeout/i;

export function translateError(error: unknown, context: ErrorContext): unknown {
  if (KumikiError.isInstance(error) || !(error instanceof Error)) return error;
  const failure = error as PgError;
  const code = failure.code ?? '';
  const where =
    failure.address !== undefined
      ? `${failure.address}${failure.port === undefined ? '' : `:${failure.port}`}`
      : (context.address ?? 'the configured server');
  const url = `postgres://${where}`;
  const base = { cause: error, component: BACKEND };
  const described = `${failure.message}${/^[0-9A-Z]{5}$/.test(code) ? ` (SQLSTATE ${code})` : ''}`;

  if (
    NETWORK_CODES.has(code) ||
    code === 'ENOTFOUND' ||
    code.startsWith('08') ||
    CONNECTION_MESSAGE.test(failure.message)
  ) {
    return new UnavailableError({
      ...base,
      url,
      isRetryable: code !== 'ENOTFOUND',
      message: `Cannot reach Postgres at ${where} during ${context.operation}: ${code && !code.startsWith('08') ? `${code} ` : ''}${failure.message}. Check that the server is running and the connection string or pool settings.`,
    });
  }
  if (code === '28P01' || code === '28000') {
    return new UnauthorizedError({
      ...base,
      message: `Postgres at ${where} refused the credentials during ${context.operation}: ${described}.`,
    });
  }
  if (code === '42501') {
    return new ForbiddenError({
      ...base,
      message: `Postgres at ${where} did not permit ${context.operation}: ${described}. Grant the role the privilege, or pick a schema it may use with the schema option.`,
    });
  }
  if ((code === '0A000' || code === '58P01') && /"vector"/.test(failure.message)) {
    return new UnavailableError({
      ...base,
      url,
      isRetryable: false,
      message: `The Postgres server at ${where} has no pgvector extension (${described}). Install pgvector on the server (https://github.com/pgvector/pgvector), or run an image that ships it, such as pgvector/pgvector:pg17.`,
    });
  }
  if (code === '42P01' && context.collection !== undefined) {
    return new NotFoundError({
      ...base,
      resource: 'Collection',
      name: context.collection,
      hint: 'It was deleted while this call ran.',
    });
  }
  if (code.startsWith('23')) {
    return new ConflictError({ ...base, message: `Postgres refused ${context.operation}: ${described}.` });
  }
  if (code.startsWith('22')) {
    return new InvalidArgumentError({
      ...base,
      argument: context.operation,
      issues: [{ path: '', message: `Postgres rejected a value: ${described}` }],
    });
  }
  if (/^[0-9A-Z]{5}$/.test(code)) {
    return new UnavailableError({
      ...base,
      url,
      isRetryable: RETRYABLE_STATES.has(code),
      message: `Postgres at ${where} failed ${context.operation}: ${described}.`,
    });
  }
  return error;
}
