/**
 * How kumiki ids live in Qdrant, which accepts only unsigned integers and UUIDs as point ids.
 *
 * - The point id is a UUID derived from SHA-256 of the *typed* id, so `1` and `"1"` map to different
 *   points and the mapping needs no lookup table.
 * - The original id is kept in the point's payload (`kumiki.id`, a JSON number or string, so its type
 *   survives).
 * - Scroll order (integers ascending, then strings by UTF-16 code unit) cannot come from Qdrant's own
 *   point-id order, so every point also carries numeric sort keys that Qdrant can `order_by` and
 *   range-filter: `kumiki.n` (the integer id itself) for integer ids, and `kumiki.s0` … `kumiki.s7`
 *   for string ids: the string encoded with an order-preserving prefix code, cut into 52-bit levels.
 */
import { sha256 } from '../../core/sha256.js';
import type { RecordId } from '../../core/types.js';

/** Number of string sort-key levels (`kumiki.s0` … `kumiki.s7`). */
export const ORDER_LEVELS = 8;
/** Bits per level: every level value is an integer below 2^52, exact in JSON, f64 and i64. */
const LEVEL_BITS = 52;

/** Identifies the bytes hashed into point ids; changing it would orphan existing points. */
const ID_NAMESPACE = 'kumiki.qdrant.id.v1';

/** The Qdrant point id (a UUID) of a kumiki id. Deterministic; `1` and `"1"` differ. */
export function pointIdOf(id: RecordId): string {
  // Hashed as UTF-16 code units (not UTF-8), so even ids with lone surrogates stay distinct.
  const text = `${ID_NAMESPACE}\u0000${typeof id === 'number' ? `i${id}` : `s${id}`}`;
  const bytes = new Uint8Array(text.length * 2);
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    bytes[2 * i] = unit >> 8;
    bytes[2 * i + 1] = unit & 0xff;
  }
  const digest = sha256(bytes).slice(0, 16);
  digest[6] = ((digest[6] as number) & 0x0f) | 0x80; // version 8: application-defined
  digest[8] = ((digest[8] as number) & 0x3f) | 0x80; // RFC 9562 variant
  const hex = Array.from(digest, (byte) => byte.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** kumiki's id order: integers ascending, then strings by UTF-16 code unit. */
export function compareIds(a: RecordId, b: RecordId): number {
  if (typeof a === 'number') return typeof b === 'number' ? a - b : -1;
  if (typeof b === 'number') return 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

export type StringOrderKey = {
  /** `ORDER_LEVELS` integers in [0, 2^52); tuples compare like the strings they encode. */
  levels: number[];
  /**
   * Whether the string's code did not fit the levels. Only such strings can share a key with
   * another string, so only they need the tie-breaking fallback.
   */
  saturated: boolean;
};

/**
 * Order-preserving key of a string id. Each UTF-16 code unit `u` becomes a prefix-free code whose
 * codewords sort like the units: `u < 0x7f` → 8 bits `u + 1` (leading 0); otherwise 17 bits
 * `0x10000 + u` (leading 1). The end of the string pads with zeros, which sort before any codeword,
 * so a prefix sorts first. The bit string is cut into 52-bit levels.
 */
export function stringOrderKey(id: string): StringOrderKey {
  const levels: number[] = [];
  let current = 0;
  let used = 0;
  let saturated = false;
  const push = (code: number, width: number) => {
    while (width > 0) {
      if (levels.length === ORDER_LEVELS) {
        saturated = true;
        return;
      }
      const take = Math.min(width, LEVEL_BITS - used);
      const scale = 2 ** (width - take);
      const top = Math.floor(code / scale);
      current = current * 2 ** take + top;
      code -= top * scale;
      width -= take;
      used += take;
      if (used === LEVEL_BITS) {
        levels.push(current);
        current = 0;
        used = 0;
      }
    }
  };
  for (let i = 0; i < id.length && !saturated; i++) {
    const unit = id.charCodeAt(i);
    if (unit < 0x7f) push(unit + 1, 8);
    else push(0x10000 + unit, 17);
  }
  // A string that exactly fills the levels can share its key with longer strings it prefixes.
  if (levels.length === ORDER_LEVELS) saturated = true;
  else {
    levels.push(current * 2 ** (LEVEL_BITS - used));
    while (levels.length < ORDER_LEVELS) levels.push(0);
  }
  return { levels, saturated };
}

/** The sort keys stored in the `kumiki` payload object of a point. */
export function orderFields(id: RecordId): Record<string, number> {
  if (typeof id === 'number') return { n: id };
  const fields: Record<string, number> = {};
  stringOrderKey(id).levels.forEach((level, i) => {
    fields[`s${i}`] = level;
  });
  return fields;
}
