/**
 * Order-preserving encodings for the Milvus adapter.
 *
 * Milvus compares VarChar values byte by byte (UTF-8), while kumiki orders ids "integers ascending,
 * then strings by UTF-16 code unit". The primary key therefore encodes a kumiki id so that Milvus's
 * byte order equals kumiki's order, which makes `pk > cursor` pages come back in kumiki order:
 *
 * - integer `n` → `i` + 14 hex digits of `n + 2^53` (fixed width, so hex order is numeric order);
 * - string `s` → `s` + `orderKey(s)`.
 *
 * `i` < `s`, so every integer sorts before every string; `1` and `"1"` get different keys.
 */

import { ConflictError } from '../../core/errors.js';

const OFFSET = 2n ** 53n;
const ESCAPE = 0xe000;

/**
 * The largest primary key Milvus accepts for a VarChar field (`max_length`), in UTF-8 bytes. Never
 * reached: ids are at most `MAX_ID_BYTES` (1,024) UTF-8 bytes, and `encodeId` at most triples that.
 */
export const MAX_KEY_BYTES = 65_535;

/**
 * Re-encodes a string so that comparing the results as UTF-8 bytes orders them like comparing the
 * originals by UTF-16 code unit. Code units below U+D800 stay as they are (UTF-8 byte order equals
 * code point order there); every unit from U+D800 up (surrogate halves and U+E000–U+FFFF, whose
 * UTF-8 order differs from their UTF-16 order) becomes two private-use characters
 * U+E000 + high byte, U+E000 + low byte, which sort above everything below U+D800 and among
 * themselves by the unit's value. The result is valid UTF-8 even for lone surrogates.
 */
export function orderKey(text: string): string {
  let out = '';
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    out += unit < 0xd800 ? text[i] : String.fromCharCode(ESCAPE + (unit >> 8), ESCAPE + (unit & 0xff));
  }
  return out;
}

/** Inverse of `orderKey`. */
export function fromOrderKey(key: string): string {
  let out = '';
  for (let i = 0; i < key.length; i++) {
    const unit = key.charCodeAt(i);
    if (unit < ESCAPE) {
      out += key[i];
    } else {
      const low = key.charCodeAt(++i) - ESCAPE;
      out += String.fromCharCode(((unit - ESCAPE) << 8) | low);
    }
  }
  return out;
}

/** The primary key of a kumiki id. */
export function encodeId(id: string | number): string {
  if (typeof id === 'number') return `i${(BigInt(id) + OFFSET).toString(16).padStart(14, '0')}`;
  return `s${orderKey(id)}`;
}

/** The kumiki id of a primary key written by `encodeId`. */
export function decodeId(key: string): string | number {
  if (key.startsWith('i')) return Number(BigInt(`0x${key.slice(1)}`) - OFFSET);
  if (key.startsWith('s')) return fromOrderKey(key.slice(1));
  throw new ConflictError({
    message: `The Milvus row with primary key ${JSON.stringify(key)} was not written by kumiki; keep other writers out of kumiki collections.`,
    component: 'milvus',
  });
}
