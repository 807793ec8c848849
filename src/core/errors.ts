/**
 * One error hierarchy for every kumiki package and adapter.
 *
 * `instanceof` breaks when two copies of kumiki end up in one bundle, so every error carries a
 * `Symbol.for` marker and each class offers a static `isInstance` that checks the marker and the
 * stable `name`.
 */

const MARKER = Symbol.for('kumiki.error');

export type KumikiErrorOptions = {
  /** Human-readable explanation that names what was wrong and how to fix it. */
  message: string;
  /** The lower-level error this one translates, if any. */
  cause?: unknown;
  /** Whether the same call may succeed when retried unchanged. */
  isRetryable?: boolean;
  /** The adapter or component that raised the error (e.g. `memory`, `qdrant`). */
  component?: string;
};

/** Base class of every error kumiki throws on purpose. */
export class KumikiError extends Error {
  readonly [MARKER] = true;
  /** Stable machine-readable code, e.g. `KUMIKI_NOT_FOUND`. */
  readonly code: string;
  readonly isRetryable: boolean;
  readonly component: string | undefined;

  constructor(code: string, options: KumikiErrorOptions) {
    super(options.message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'KumikiError';
    this.code = code;
    this.isRetryable = options.isRetryable ?? false;
    this.component = options.component;
  }

  /** True for any kumiki error, from this copy of the library or another. */
  static isInstance(error: unknown): error is KumikiError {
    return typeof error === 'object' && error !== null && (error as Record<symbol, unknown>)[MARKER] === true;
  }
}

/** `isInstance` for a subclass: marker plus stable name. Calls are marked pure so bundlers drop unused classes. */
function isNamed<T extends KumikiError>(name: string) {
  return (error: unknown): error is T => KumikiError.isInstance(error) && error.name === name;
}

export type ArgumentIssue = {
  /** Dotted path inside the argument, e.g. `records.3.vector`; empty for the argument itself. */
  path: string;
  message: string;
};

/** A caller passed a value that cannot be used. Fix the call; retrying it unchanged will fail again. */
export class InvalidArgumentError extends KumikiError {
  readonly argument: string;
  readonly issues: readonly ArgumentIssue[];
  constructor(
    options: Omit<KumikiErrorOptions, 'message' | 'isRetryable'> & {
      argument: string;
      issues: readonly ArgumentIssue[];
      message?: string;
    },
  ) {
    const detail = options.issues
      .map((issue) => (issue.path ? `${issue.path}: ${issue.message}` : issue.message))
      .join('; ');
    super('KUMIKI_INVALID_ARGUMENT', {
      ...options,
      message: options.message ?? `Invalid ${options.argument}: ${detail}`,
      isRetryable: false,
    });
    this.name = 'InvalidArgumentError';
    this.argument = options.argument;
    this.issues = options.issues;
  }
  static override isInstance = /* @__PURE__ */ isNamed<InvalidArgumentError>('InvalidArgumentError');
}

/** A vector's length differs from the collection's or model's dimensions. */
export class DimensionMismatchError extends KumikiError {
  readonly expected: number;
  readonly actual: number;
  constructor(options: Omit<KumikiErrorOptions, 'message'> & { expected: number; actual: number; context: string }) {
    super('KUMIKI_DIMENSION_MISMATCH', {
      ...options,
      message: `${options.context}: expected a vector of ${options.expected} dimensions, got ${options.actual}. Use the embedder the collection was created with, or create a new collection with dimensions: ${options.actual}.`,
    });
    this.name = 'DimensionMismatchError';
    this.expected = options.expected;
    this.actual = options.actual;
  }
  static override isInstance = /* @__PURE__ */ isNamed<DimensionMismatchError>('DimensionMismatchError');
}

/**
 * A collection was opened or written with an embedding space (model, revision, pooling, …) other
 * than the one it was built with. Mixing spaces returns silent garbage, so kumiki refuses.
 */
export class EmbeddingSpaceMismatchError extends KumikiError {
  readonly expected: string;
  readonly actual: string;
  readonly differences: readonly string[];
  constructor(
    options: Omit<KumikiErrorOptions, 'message'> & {
      collection: string;
      expected: string;
      actual: string;
      differences?: readonly string[];
      /** Set when the collection recorded no space of this kind at all (e.g. a BM25 query on a dense-only collection). */
      missing?: 'dense' | 'sparse';
    },
  ) {
    const differences = options.differences ?? [];
    const detail = differences.length > 0 ? ` (differs in: ${differences.join(', ')})` : '';
    super('KUMIKI_EMBEDDING_SPACE_MISMATCH', {
      ...options,
      message: options.missing
        ? `Collection "${options.collection}" records no ${options.missing} embedding space (it was created without ${options.missing === 'dense' ? 'embeddingSpace' : 'sparseEmbeddingSpace'}, or ingested without a ${options.missing} embedder), so ${options.missing} vectors from ${options.actual} cannot be compared with it. Search it in a mode it was built for, or create it with that embedder's space and ingest again.`
        : `Collection "${options.collection}" was built with embedding space ${options.expected}, not ${options.actual}${detail}. Open it with the same embedder settings, or re-embed into a new collection.`,
    });
    this.name = 'EmbeddingSpaceMismatchError';
    this.expected = options.expected;
    this.actual = options.actual;
    this.differences = differences;
  }
  static override isInstance = /* @__PURE__ */ isNamed<EmbeddingSpaceMismatchError>('EmbeddingSpaceMismatchError');
}

/** A filter clause that a backend cannot express. Kumiki never drops a clause silently. */
export class UnsupportedFilterError extends KumikiError {
  readonly clause: unknown;
  readonly backend: string;
  constructor(options: Omit<KumikiErrorOptions, 'message'> & { clause: unknown; backend: string; reason: string }) {
    super('KUMIKI_UNSUPPORTED_FILTER', {
      ...options,
      message: `The ${options.backend} backend cannot express the filter clause ${safeJson(options.clause)}: ${options.reason}`,
    });
    this.name = 'UnsupportedFilterError';
    this.clause = options.clause;
    this.backend = options.backend;
  }
  static override isInstance = /* @__PURE__ */ isNamed<UnsupportedFilterError>('UnsupportedFilterError');
}

/** A named resource (collection, record, model) does not exist. */
export class NotFoundError extends KumikiError {
  readonly resource: string;
  readonly resourceName: string;
  constructor(options: Omit<KumikiErrorOptions, 'message'> & { resource: string; name: string; hint?: string }) {
    super('KUMIKI_NOT_FOUND', {
      ...options,
      message: `${options.resource} "${options.name}" does not exist.${options.hint ? ` ${options.hint}` : ''}`,
    });
    this.name = 'NotFoundError';
    this.resource = options.resource;
    this.resourceName = options.name;
  }
  static override isInstance = /* @__PURE__ */ isNamed<NotFoundError>('NotFoundError');
}

/** The operation clashes with existing state (e.g. a collection exists with other settings). */
export class ConflictError extends KumikiError {
  constructor(options: KumikiErrorOptions) {
    super('KUMIKI_CONFLICT', options);
    this.name = 'ConflictError';
  }
  static override isInstance = /* @__PURE__ */ isNamed<ConflictError>('ConflictError');
}

/** A backend or server could not be reached or refused service for now. Usually retryable. */
export class UnavailableError extends KumikiError {
  readonly statusCode: number | undefined;
  readonly retryAfterMs: number | undefined;
  readonly url: string | undefined;
  constructor(options: KumikiErrorOptions & { statusCode?: number; retryAfterMs?: number; url?: string }) {
    super('KUMIKI_UNAVAILABLE', { ...options, isRetryable: options.isRetryable ?? true });
    this.name = 'UnavailableError';
    this.statusCode = options.statusCode;
    this.retryAfterMs = options.retryAfterMs;
    this.url = options.url;
  }
  static override isInstance = /* @__PURE__ */ isNamed<UnavailableError>('UnavailableError');
}

/** An operation did not finish within its deadline. */
export class TimeoutError extends KumikiError {
  readonly timeoutMs: number;
  constructor(options: Omit<KumikiErrorOptions, 'message'> & { operation: string; timeoutMs: number }) {
    super('KUMIKI_TIMEOUT', {
      ...options,
      isRetryable: options.isRetryable ?? true,
      message: `${options.operation} did not finish within ${options.timeoutMs} ms. Raise the timeout or check the backend's health.`,
    });
    this.name = 'TimeoutError';
    this.timeoutMs = options.timeoutMs;
  }
  static override isInstance = /* @__PURE__ */ isNamed<TimeoutError>('TimeoutError');
}

/** The caller aborted the operation through its `AbortSignal`. */
export class AbortedError extends KumikiError {
  constructor(options: Omit<KumikiErrorOptions, 'message'> & { operation: string }) {
    super('KUMIKI_ABORTED', { ...options, isRetryable: false, message: `${options.operation} was aborted.` });
    this.name = 'AbortedError';
  }
  static override isInstance = /* @__PURE__ */ isNamed<AbortedError>('AbortedError');
}

/** No valid credentials were presented. */
export class UnauthorizedError extends KumikiError {
  constructor(options: KumikiErrorOptions) {
    super('KUMIKI_UNAUTHORIZED', { ...options, isRetryable: false });
    this.name = 'UnauthorizedError';
  }
  static override isInstance = /* @__PURE__ */ isNamed<UnauthorizedError>('UnauthorizedError');
}

/** Valid credentials, but not permitted to do this. */
export class ForbiddenError extends KumikiError {
  constructor(options: KumikiErrorOptions) {
    super('KUMIKI_FORBIDDEN', { ...options, isRetryable: false });
    this.name = 'ForbiddenError';
  }
  static override isInstance = /* @__PURE__ */ isNamed<ForbiddenError>('ForbiddenError');
}

const CORRUPT_WHAT: Record<string, string> = { ledger: 'ledger journal', catalog: 'catalog file', memory: 'snapshot' };

/** Stored data failed its integrity check (torn write, wrong format, checksum mismatch). */
export class CorruptDataError extends KumikiError {
  readonly location: string;
  constructor(
    options: Omit<KumikiErrorOptions, 'message'> & {
      location: string;
      reason: string;
      /** What the file should have been, for the message; default from `component` (`ledger` → `ledger journal`). */
      what?: string;
    },
  ) {
    const what = options.what ?? CORRUPT_WHAT[options.component ?? ''] ?? 'snapshot';
    super('KUMIKI_CORRUPT_DATA', {
      ...options,
      isRetryable: false,
      message: `${options.location} is not a valid kumiki ${what}: ${options.reason}. It was not loaded or changed; restore it from a backup, or move it away to start empty.`,
    });
    this.name = 'CorruptDataError';
    this.location = options.location;
  }
  static override isInstance = /* @__PURE__ */ isNamed<CorruptDataError>('CorruptDataError');
}

/**
 * Part of a batch write failed after other parts landed (backends without multi-batch transactions).
 * `failedIds` lists exactly the records that were not written; retrying with just those is safe
 * because upserts are idempotent.
 */
export class PartialWriteError extends KumikiError {
  readonly failedIds: readonly (string | number)[];
  readonly written: number;
  constructor(
    options: Omit<KumikiErrorOptions, 'message'> & {
      collection: string;
      failedIds: readonly (string | number)[];
      written: number;
    },
  ) {
    super('KUMIKI_PARTIAL_WRITE', {
      ...options,
      message: `Upsert into "${options.collection}" wrote ${options.written} records but ${options.failedIds.length} failed (first: ${options.failedIds
        .slice(0, 5)
        .map((id) => JSON.stringify(id))
        .join(', ')}). Retry the failed records; upserts are idempotent.`,
    });
    this.name = 'PartialWriteError';
    this.failedIds = options.failedIds;
    this.written = options.written;
  }
  static override isInstance = /* @__PURE__ */ isNamed<PartialWriteError>('PartialWriteError');
}

/** A caller used up its allowance (requests or tokens per window). Retry after `retryAfterMs`. */
export class RateLimitedError extends KumikiError {
  readonly retryAfterMs: number;
  readonly limit: number;
  constructor(
    options: Omit<KumikiErrorOptions, 'message' | 'isRetryable'> & {
      limit: number;
      retryAfterMs: number;
      scope: string;
    },
  ) {
    super('KUMIKI_RATE_LIMITED', {
      ...options,
      isRetryable: true,
      message: `Rate limit of ${options.limit} ${options.scope} reached. Retry in ${Math.ceil(options.retryAfterMs / 1000)} s.`,
    });
    this.name = 'RateLimitedError';
    this.retryAfterMs = options.retryAfterMs;
    this.limit = options.limit;
  }
  static override isInstance = /* @__PURE__ */ isNamed<RateLimitedError>('RateLimitedError');
}

/**
 * A server is older than the oldest version its adapter supports (or does not say which version it
 * is in a form the adapter can read). Upgrade the server; retrying will fail again.
 */
export class UnsupportedServerError extends KumikiError {
  /** The version the server reported, as it reported it. */
  readonly serverVersion: string;
  /** The oldest version the adapter supports. */
  readonly minimumVersion: string;
  constructor(
    options: Omit<KumikiErrorOptions, 'message' | 'isRetryable'> & {
      server: string;
      url: string;
      serverVersion: string;
      minimumVersion: string;
      needs: string;
    },
  ) {
    super('KUMIKI_UNSUPPORTED_SERVER', {
      ...options,
      isRetryable: false,
      message: `${options.server} at ${options.url} is version ${options.serverVersion}; kumiki needs ${options.server} ${options.minimumVersion} or later (${options.needs}). Upgrade the server.`,
    });
    this.name = 'UnsupportedServerError';
    this.serverVersion = options.serverVersion;
    this.minimumVersion = options.minimumVersion;
  }
  static override isInstance = /* @__PURE__ */ isNamed<UnsupportedServerError>('UnsupportedServerError');
}

/**
 * A prompt, with the tokens reserved for its answer, does not fit the model's context window. The
 * message follows OpenAI's wording, which clients recognise; `promptTokens` is a lower bound when
 * `exact` is false (the prompt was refused before all of it was tokenized).
 */
export class ContextLengthExceededError extends KumikiError {
  readonly contextSize: number;
  readonly promptTokens: number;
  readonly maxTokens: number;
  readonly exact: boolean;
  constructor(
    options: Omit<KumikiErrorOptions, 'message' | 'isRetryable'> & {
      contextSize: number;
      promptTokens: number;
      maxTokens: number;
      exact?: boolean;
    },
  ) {
    const exact = options.exact ?? true;
    const requested = options.promptTokens + options.maxTokens;
    const atLeast = exact ? '' : 'at least ';
    super('KUMIKI_CONTEXT_LENGTH_EXCEEDED', {
      ...options,
      isRetryable: false,
      message: `This model's maximum context length is ${options.contextSize} tokens. However, you requested ${atLeast}${requested} tokens (${atLeast}${options.promptTokens} in the messages, ${options.maxTokens} in the completion). Please reduce the length of the messages or the completion (maxTokens).`,
    });
    this.name = 'ContextLengthExceededError';
    this.contextSize = options.contextSize;
    this.promptTokens = options.promptTokens;
    this.maxTokens = options.maxTokens;
    this.exact = exact;
  }
  static override isInstance = /* @__PURE__ */ isNamed<ContextLengthExceededError>('ContextLengthExceededError');
}

/** An optional library an adapter needs is not installed. */
export class MissingDependencyError extends KumikiError {
  readonly packageName: string;
  constructor(options: Omit<KumikiErrorOptions, 'message' | 'isRetryable'> & { packageName: string; adapter: string }) {
    super('KUMIKI_MISSING_DEPENDENCY', {
      ...options,
      isRetryable: false,
      message: `Cannot import \`${options.packageName}\`, which the ${options.adapter} adapter needs. Install it with \`npm install ${options.packageName}\`.`,
    });
    this.name = 'MissingDependencyError';
    this.packageName = options.packageName;
  }
  static override isInstance = /* @__PURE__ */ isNamed<MissingDependencyError>('MissingDependencyError');
}

/** Throws `AbortedError` when the signal has fired. */
export function throwIfAborted(signal: AbortSignal | undefined, operation: string): void {
  if (signal?.aborted) throw new AbortedError({ operation, cause: signal.reason });
}

function safeJson(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

/** Who holds a writer lock: enough to find the process. */
export type LockHolder = { pid: number; host: string; since: string };

/**
 * Another writer holds the lock on a data file (a ledger journal, a snapshot, a catalog file), so this
 * one may not write now. Retryable: the holder releases it when it finishes, and a lock whose holder
 * died is taken over.
 */
export class LockedError extends KumikiError {
  readonly location: string;
  readonly holder: LockHolder | undefined;
  constructor(
    options: Omit<KumikiErrorOptions, 'message'> & {
      location: string;
      holder: LockHolder | undefined;
      waitedMs: number;
      /** Who holds it, when that is not another process (e.g. `another ingest in this process`). */
      heldBy?: string;
    },
  ) {
    const who = options.holder
      ? `process ${options.holder.pid} on ${options.holder.host} (since ${options.holder.since})`
      : (options.heldBy ?? 'another writer');
    super('KUMIKI_LOCKED', {
      ...options,
      isRetryable: options.isRetryable ?? true,
      message: `${options.location} is locked by ${who}${options.waitedMs > 0 ? `; waited ${options.waitedMs} ms` : ''}. Only one writer at a time: wait for it to finish (or pass a lock timeout to wait), or stop it.`,
    });
    this.name = 'LockedError';
    this.location = options.location;
    this.holder = options.holder;
  }
  static override isInstance = /* @__PURE__ */ isNamed<LockedError>('LockedError');
}

/** Why a loader did not read a source (see docs/loading.md). */
export type SkipReason =
  /** No loader for this file type or content type. */
  | 'unsupported-type'
  /** Larger than `maxFileBytes`. */
  | 'too-big'
  /** A text format holding binary content (NUL bytes). */
  | 'binary'
  /** A text format that is not valid UTF-8. */
  | 'encoding'
  /** The content does not parse (invalid JSON, a corrupt PDF or DOCX, bad front matter or sidecar). */
  | 'parse-error'
  /** The content parses but cannot be used as asked (a missing `textFields` field, a repeated id). */
  | 'invalid-content'
  /** Password-protected (a PDF that needs a password, an encrypted Word file). */
  | 'encrypted'
  /** No text to index (a scanned, image-only PDF; an empty DOCX). */
  | 'no-text'
  /** The optional library that reads this format is not installed. */
  | 'missing-dependency'
  /** A symbolic link not followed, or a broken one. */
  | 'link'
  /** The file could not be read (permission denied, vanished while walking). */
  | 'unreadable';

/**
 * A loader could not read a source: unsupported, too big, binary, unparsable, encrypted, without text.
 * Thrown where skipping was not asked for (`strict: true` in `loadPath`, or a single-source loader);
 * otherwise the same facts are reported as a skipped entry. Retrying unchanged fails again.
 */
export class UnreadableSourceError extends KumikiError {
  /** The source's uri. */
  readonly source: string;
  readonly reason: SkipReason;
  /** What was wrong, without the source and the hint. */
  readonly detail: string;
  readonly line: number | undefined;
  readonly column: number | undefined;
  readonly page: number | undefined;
  constructor(
    options: Omit<KumikiErrorOptions, 'message' | 'isRetryable'> & {
      source: string;
      reason: SkipReason;
      /** What was wrong (e.g. `invalid JSON at line 3, column 8`); the error's message is `<source>: <detail>`. */
      detail: string;
      /** How to fix it or get past it, appended to the message. */
      hint?: string;
      line?: number;
      column?: number;
      page?: number;
    },
  ) {
    super('KUMIKI_UNREADABLE_SOURCE', {
      ...options,
      isRetryable: false,
      message: `${options.source}: ${options.detail}${options.hint ? `. ${options.hint}` : ''}`,
    });
    this.name = 'UnreadableSourceError';
    this.source = options.source;
    this.reason = options.reason;
    this.detail = options.detail;
    this.line = options.line;
    this.column = options.column;
    this.page = options.page;
  }
  static override isInstance = /* @__PURE__ */ isNamed<UnreadableSourceError>('UnreadableSourceError');
}
