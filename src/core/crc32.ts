import { nodeBuiltin } from './node-builtin.js';

let table: Uint32Array | undefined;

function crcTable(): Uint32Array {
  if (table) return table;
  table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
}

type Crc = (data: Uint8Array, value?: number) => number;
let native: Crc | null | undefined;

/**
 * CRC-32 (IEEE 802.3), used to detect torn or altered snapshots: zlib's (hardware-accelerated) where
 * Node offers it, else a table-driven loop in JavaScript. `previous`, the CRC of the bytes before
 * these, continues a running checksum: `crc32(b, crc32(a))` is the CRC of `a` then `b`.
 */
export function crc32(bytes: Uint8Array, previous = 0): number {
  if (native === undefined) {
    const zlib = nodeBuiltin<{ crc32?: Crc }>('node:zlib');
    const zlibCrc = zlib?.crc32;
    native = typeof zlibCrc === 'function' ? (data, value) => zlibCrc(data, value) >>> 0 : null;
  }
  if (native !== null) return native(bytes, previous);
  return crc32Js(bytes, previous);
}

/** The JavaScript CRC-32 (exported for tests that compare it with zlib's). */
export function crc32Js(bytes: Uint8Array, previous = 0): number {
  const t = crcTable();
  let crc = ~previous;
  for (let i = 0; i < bytes.length; i++) crc = (t[(crc ^ (bytes[i] as number)) & 0xff] as number) ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}
