/**
 * Symmetric int8 quantization, shared by the stored rows (int8 codes) and the query (the same codes
 * sign-extended to i16): codes = round(value / scale), scale = maxAbs / 127 as a float32.
 */

/**
 * Writes the codes of `values[from..from+dims)`, whose largest magnitude is `maxAbs`, to
 * `out[at..at+dims)` and zeros up to `out[at+padded)`; returns the scale (a float32 value).
 */
export function quantize(
  values: Float32Array,
  from: number,
  dims: number,
  maxAbs: number,
  out: Int8Array | Int16Array,
  at: number,
  padded: number,
): number {
  const scale = Math.fround(maxAbs > 0 ? maxAbs / 127 : 0);
  const inv = scale > 0 ? 1 / scale : 0;
  for (let i = 0; i < dims; i++) out[at + i] = clampCode(Math.round(values[from + i]! * inv));
  out.fill(0, at + dims, at + padded);
  return scale;
}

function clampCode(code: number): number {
  return Math.min(127, Math.max(-127, code));
}
