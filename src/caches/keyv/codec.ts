/**
 * The string form in which the keyv cache stores values, so that any keyv store (a Map, Redis,
 * Valkey, SQLite, …) keeps them exactly. The first character tags the form:
 *
 * - `f` + base64 of the little-endian bytes: a `Float32Array` (NaN, -0, subnormals kept bit for bit)
 * - `b` + base64: a `Uint8Array`
 * - `j` + JSON: a JSON value with no binary inside
 * - `t` + JSON: a JSON value with binary inside, where strings are tagged: `~f…`/`~b…` hold base64
 *   typed arrays and a string that itself starts with `~` gets one more `~`
 *
 * A 1,024-dimension vector takes 5,464 characters, against about 12,000 as a JSON array of numbers.
 */
import { Buffer } from 'node:buffer';
import type { CacheValue } from '../../core/cache.js';
import { type ArgumentIssue, InvalidArgumentError } from '../../core/errors.js';

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const MAX_DEPTH = 200;

/** Float32 bytes in little-endian order (a copy on big-endian hosts; the bytes themselves otherwise). */
function littleEndian(bytes: Uint8Array): Uint8Array {
  if (LITTLE_ENDIAN) return bytes;
  const out = bytes.slice();
  for (let i = 0; i + 4 <= out.length; i += 4) out.subarray(i, i + 4).reverse();
  return out;
}

function toBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}

/** Canonical padded base64, as `toBase64` writes it. Node's decoder skips anything else silently. */
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * Decodes base64 into a fresh, plain `Uint8Array` (not a `Buffer`, not a view into a pool);
 * `undefined` when `text` is not canonical base64 (a garbled entry must not read as other bytes).
 */
function fromBase64(text: string): Uint8Array | undefined {
  if (!BASE64.test(text)) return undefined;
  const decoded = Buffer.from(text, 'base64');
  const bytes = new Uint8Array(decoded.length);
  bytes.set(decoded);
  return bytes;
}

function floatsToBase64(vector: Float32Array): string {
  return toBase64(littleEndian(new Uint8Array(vector.buffer, vector.byteOffset, vector.byteLength)));
}

function floatsFromBase64(text: string): Float32Array | undefined {
  const bytes = fromBase64(text);
  if (bytes === undefined || bytes.length % 4 !== 0) return undefined;
  return new Float32Array(littleEndian(bytes).buffer);
}

function describe(value: unknown): string {
  if (value === undefined) return 'undefined';
  if (typeof value === 'object' && value !== null) return value.constructor?.name ?? 'an object without prototype';
  return typeof value;
}

/**
 * Checks that `value` is a CacheValue and tells whether binary occurs inside it. Throws
 * InvalidArgumentError naming the path of the first offending part.
 */
function inspect(value: unknown, path: string, depth: number, issues: ArgumentIssue[]): boolean {
  if (issues.length > 0) return false;
  const fail = (message: string) => {
    issues.push({ path, message });
    return false;
  };
  if (depth > MAX_DEPTH) return fail(`values nest deeper than ${MAX_DEPTH} levels (is there a cycle?)`);
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return false;
  if (typeof value === 'number') {
    return Number.isFinite(value)
      ? false
      : fail(`numbers in JSON values must be finite, got ${value}; store non-finite numbers in a Float32Array`);
  }
  if (value instanceof Float32Array || value instanceof Uint8Array) return true;
  if (ArrayBuffer.isView(value)) {
    return fail(`${describe(value)} is not a cache value; store a Float32Array or the bytes as a Uint8Array`);
  }
  const child = (key: string | number) => (path ? `${path}.${key}` : String(key));
  if (Array.isArray(value)) {
    let binary = false;
    for (let i = 0; i < value.length; i++) binary = inspect(value[i], child(i), depth + 1, issues) || binary;
    return binary;
  }
  if (typeof value === 'object') {
    const prototype = Object.getPrototypeOf(value);
    if (prototype !== Object.prototype && prototype !== null) {
      return fail(
        `${describe(value)} is not a cache value; use plain objects, arrays, strings, numbers, booleans, null`,
      );
    }
    let binary = false;
    for (const [key, inner] of Object.entries(value)) binary = inspect(inner, child(key), depth + 1, issues) || binary;
    return binary;
  }
  return fail(`${describe(value)} is not a cache value`);
}

/** Validates a value and returns its stored string form. */
export function encodeValue(value: unknown, argument: string): string {
  const issues: ArgumentIssue[] = [];
  const binary = inspect(value, '', 0, issues);
  if (issues.length > 0) throw new InvalidArgumentError({ argument, issues, component: 'keyv' });
  if (value instanceof Float32Array) return `f${floatsToBase64(value)}`;
  if (value instanceof Uint8Array) return `b${toBase64(value)}`;
  if (!binary) return `j${JSON.stringify(value)}`;
  return `t${JSON.stringify(value, function (this: Record<string, unknown>, key, inner: unknown) {
    const raw = this[key];
    if (raw instanceof Float32Array) return `~f${floatsToBase64(raw)}`;
    if (raw instanceof Uint8Array) return `~b${toBase64(raw)}`;
    if (typeof inner === 'string' && inner.startsWith('~')) return `~${inner}`;
    return inner;
  })}`;
}

class Malformed extends Error {}

function reviveTagged(_key: string, inner: unknown): unknown {
  if (typeof inner !== 'string' || !inner.startsWith('~')) return inner;
  const tag = inner[1];
  if (tag === '~') return inner.slice(1);
  const binary = tag === 'b' ? fromBase64(inner.slice(2)) : tag === 'f' ? floatsFromBase64(inner.slice(2)) : undefined;
  if (binary === undefined) throw new Malformed();
  return binary;
}

/** Reads a stored string form; `undefined` when it is not one (written by something else, or garbled). */
export function decodeValue(stored: unknown): CacheValue | undefined {
  if (typeof stored !== 'string' || stored.length === 0) return undefined;
  const body = stored.slice(1);
  try {
    switch (stored[0]) {
      case 'f':
        return floatsFromBase64(body);
      case 'b':
        return fromBase64(body);
      case 'j':
        return JSON.parse(body) as CacheValue;
      case 't':
        return JSON.parse(body, reviveTagged) as CacheValue;
      default:
        return undefined;
    }
  } catch {
    return undefined;
  }
}
