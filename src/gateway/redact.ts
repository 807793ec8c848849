/**
 * Redaction for logs and error messages: credential-bearing headers are replaced, query parameters
 * with secret-sounding names are masked, and every credential value seen in the request is scrubbed
 * from any text that leaves the gateway (log entries and error messages alike).
 */

export const REDACTED = '[REDACTED]';

const SECRET_NAME = /authorization|cookie|token|secret|password|passwd|api[-_]?key|session|credential|signature/i;

/** An authentication scheme named without credentials ("Bearer"): no secret, and a word messages use. */
const BARE_SCHEME = /^\s*(bearer|basic|digest|token|apikey|negotiate)\s*$/i;

/** The credential values a request carries: the Authorization value (and its token), api-key headers, cookies. */
export function requestSecrets(request: Request): string[] {
  const secrets: string[] = [];
  request.headers.forEach((value, name) => {
    if (!SECRET_NAME.test(name) || value.length < 4 || BARE_SCHEME.test(value)) return;
    secrets.push(value);
    const space = value.indexOf(' ');
    if (space > 0 && value.length - space > 4) secrets.push(value.slice(space + 1).trim());
  });
  const url = new URL(request.url);
  url.searchParams.forEach((value, name) => {
    if (SECRET_NAME.test(name) && value.length >= 4) secrets.push(value);
  });
  // Longest first, so that a header value is replaced whole before the token inside it.
  return secrets.sort((a, b) => b.length - a.length);
}

export function scrub(text: string, secrets: readonly string[]): string {
  let result = text;
  for (const secret of secrets) result = result.split(secret).join(REDACTED);
  return result;
}

/** Request headers fit for a log: secret-named ones replaced. */
export function loggableHeaders(request: Request): Record<string, string> {
  const headers: Record<string, string> = {};
  request.headers.forEach((value, name) => {
    headers[name] = SECRET_NAME.test(name) ? REDACTED : value;
  });
  return headers;
}

/** Path and query, with the values of secret-named query parameters masked. */
export function loggablePath(request: Request): string {
  const url = new URL(request.url);
  for (const name of [...url.searchParams.keys()]) {
    if (SECRET_NAME.test(name)) url.searchParams.set(name, REDACTED);
  }
  return `${url.pathname}${url.search}`;
}

/** Deep-scrubs every string of a JSON-like value. */
export function scrubValue<T>(value: T, secrets: readonly string[]): T {
  if (secrets.length === 0) return value;
  if (typeof value === 'string') return scrub(value, secrets) as T;
  if (Array.isArray(value)) return value.map((item) => scrubValue(item, secrets)) as T;
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, scrubValue(v, secrets)])) as T;
  }
  return value;
}
