import { createHash } from 'node:crypto';
import { crc32 as zlibCrc32 } from 'node:zlib';
import fc from 'fast-check';
import { expect, test } from 'vitest';
import { crc32, crc32Js } from '../src/core/crc32.js';
import { sha256, sha256Hex, sha256HexMany, sha256HexManyWeb, sha256Js } from '../src/core/sha256.js';

const text = fc.string({ unit: 'binary', maxLength: 300 });

test('SHA-256: node:crypto, Web Crypto and the JavaScript fallback agree on any text', async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(text, { maxLength: 5 }), async (texts) => {
      // Node hashes strings as UTF-8 with lone surrogates as U+FFFD, as TextEncoder does.
      const expected = texts.map((t) => createHash('sha256').update(new TextEncoder().encode(t)).digest('hex'));
      expect(texts.map((t) => sha256Hex(t))).toEqual(expected);
      expect(texts.map((t) => Buffer.from(sha256Js(t)).toString('hex'))).toEqual(expected);
      expect(texts.map((t) => Buffer.from(sha256(t)).toString('hex'))).toEqual(expected);
      expect(await sha256HexMany(texts)).toEqual(expected);
      expect(await sha256HexManyWeb(texts, globalThis.crypto.subtle)).toEqual(expected);
      expect(await sha256HexManyWeb(texts, undefined)).toEqual(expected);
    }),
    { numRuns: 200 },
  );
  expect(sha256Hex('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  expect(sha256Hex(new Uint8Array([1, 2, 3]))).toBe(
    createHash('sha256')
      .update(new Uint8Array([1, 2, 3]))
      .digest('hex'),
  );
});

test('a Web Crypto that refuses falls back to JavaScript', async () => {
  const refusing = { digest: () => Promise.reject(new Error('insecure context')) };
  expect(await sha256HexManyWeb(['abc'], refusing)).toEqual([sha256Hex('abc')]);
});

test('CRC-32: zlib and the JavaScript loop agree', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 2000 }), (bytes) => {
      expect(crc32(bytes)).toBe(zlibCrc32(bytes) >>> 0);
      expect(crc32Js(bytes)).toBe(zlibCrc32(bytes) >>> 0);
    }),
    { numRuns: 300 },
  );
  expect(crc32Js(new TextEncoder().encode('123456789'))).toBe(0xcbf43926);
});
