import { KumikiError } from '../core/errors.js';

/** Small assertions so the conformance kit runs under any test runner (vitest, node:test, jest). */
export class ConformanceFailure extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConformanceFailure';
  }
}

export function check(condition: unknown, message: string): asserts condition {
  if (!condition) throw new ConformanceFailure(message);
}

export function equal<T>(actual: T, expected: T, what: string): void {
  if (!Object.is(actual, expected)) {
    throw new ConformanceFailure(`${what}: expected ${show(expected)}, got ${show(actual)}`);
  }
}

export function deepEqual(actual: unknown, expected: unknown, what: string): void {
  if (!sameValue(actual, expected)) {
    throw new ConformanceFailure(`${what}: expected ${show(expected)}, got ${show(actual)}`);
  }
}

export function close(actual: number, expected: number, what: string, tolerance = 1e-4): void {
  const scale = Math.max(1, Math.abs(expected));
  if (!(Math.abs(actual - expected) <= tolerance * scale)) {
    throw new ConformanceFailure(`${what}: expected ≈${expected}, got ${actual}`);
  }
}

/** Awaits `action` and checks it rejects with the kumiki error `name`; returns the error. */
export async function rejectsWith(action: () => Promise<unknown>, name: string, what: string): Promise<KumikiError> {
  let caught: unknown;
  try {
    await action();
  } catch (error) {
    caught = error;
  }
  if (caught === undefined) throw new ConformanceFailure(`${what}: expected ${name}, but the call succeeded`);
  if (!KumikiError.isInstance(caught) || caught.name !== name) {
    throw new ConformanceFailure(
      `${what}: expected ${name}, got ${caught instanceof Error ? `${caught.name}: ${caught.message}` : show(caught)}`,
    );
  }
  return caught;
}

function sameValue(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (ArrayBuffer.isView(a) || ArrayBuffer.isView(b)) {
    if (!ArrayBuffer.isView(a) || !ArrayBuffer.isView(b) || a.constructor !== b.constructor) return false;
    const left = a as unknown as ArrayLike<number>;
    const right = b as unknown as ArrayLike<number>;
    if (left.length !== right.length) return false;
    for (let i = 0; i < left.length; i++) if (!Object.is(left[i], right[i])) return false;
    return true;
  }
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const keysA = Object.keys(a);
  const keysB = Object.keys(b);
  if (keysA.length !== keysB.length) return false;
  return keysA.every(
    (key) =>
      Object.hasOwn(b, key) && sameValue((a as Record<string, unknown>)[key], (b as Record<string, unknown>)[key]),
  );
}

function show(value: unknown): string {
  try {
    const text = JSON.stringify(value, (_key, inner) =>
      ArrayBuffer.isView(inner) ? Array.from(inner as unknown as ArrayLike<number>) : inner,
    );
    return text === undefined ? String(value) : text.length > 300 ? `${text.slice(0, 300)}…` : text;
  } catch {
    return String(value);
  }
}
