import { createHash } from 'node:crypto';
import { crc32 as zlibCrc32 } from 'node:zlib';
import { afterEach, describe, expect, test, vi } from 'vitest';
import { randomHex, startsWithAscii } from '../src/core/bytes.js';
import { crc32, crc32Js } from '../src/core/crc32.js';
import { nodeBuiltin } from '../src/core/node-builtin.js';
import { sha256, sha256Hex, sha256HexMany, sha256HexManyWeb, sha256Js } from '../src/core/sha256.js';

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');
const utf8 = (text: string) => new TextEncoder().encode(text);

type Process = { getBuiltinModule?: (id: string) => unknown };
const processObject = globalThis.process as unknown as Process;
const realGetBuiltinModule = processObject.getBuiltinModule;

afterEach(() => {
  processObject.getBuiltinModule = realGetBuiltinModule;
  vi.restoreAllMocks();
  vi.resetModules();
});

/**
 * A fresh copy of a module whose first call runs where `process.getBuiltinModule` is `replacement`
 * (a browser or Worker has none): the module looks for `node:crypto` / `node:zlib` on first use and
 * keeps what it found.
 */
async function freshModule<T>(path: string, replacement: Process['getBuiltinModule'], first: (module: T) => unknown) {
  vi.resetModules();
  const module = (await import(/* @vite-ignore */ path)) as T;
  processObject.getBuiltinModule = replacement;
  await first(module);
  processObject.getBuiltinModule = realGetBuiltinModule;
  return module;
}

// FIPS 180-2 and NIST CSHS example vectors.
const SHA256_VECTORS: [string, string][] = [
  ['', 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'],
  ['abc', 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad'],
  [
    'abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq',
    '248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1',
  ],
  [
    'abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu',
    'cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1',
  ],
];

describe('SHA-256', () => {
  test('the JavaScript implementation gives the published digests', () => {
    for (const [input, digest] of SHA256_VECTORS) {
      expect(hex(sha256Js(input))).toBe(digest);
      expect(hex(sha256Js(utf8(input)))).toBe(digest);
      expect(sha256Hex(input)).toBe(digest);
      expect(hex(sha256(input))).toBe(digest);
    }
    expect(hex(sha256Js('a'.repeat(1_000_000)))).toBe(
      'cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0',
    );
  });

  test('every length around the 64-byte block and padding boundaries agrees with node:crypto', () => {
    for (let length = 0; length <= 200; length++) {
      const bytes = Uint8Array.from({ length }, (_, i) => (i * 131 + length) & 0xff);
      const expected = createHash('sha256').update(bytes).digest('hex');
      expect(hex(sha256Js(bytes)), `length ${length}`).toBe(expected);
      expect(sha256Hex(bytes), `length ${length}`).toBe(expected);
    }
  });

  test('strings are hashed as UTF-8', () => {
    const text = 'Grüße, 世界 🙂';
    expect(sha256Hex(text)).toBe(createHash('sha256').update(utf8(text)).digest('hex'));
    expect(hex(sha256Js(text))).toBe(sha256Hex(text));
    expect(sha256(text)).toBeInstanceOf(Uint8Array);
    expect(sha256(text)).toHaveLength(32);
  });

  test('sha256HexMany keeps the order of its inputs', async () => {
    const texts = ['b', 'a', '', 'abc'];
    expect(await sha256HexMany(texts)).toEqual(texts.map((text) => sha256Hex(text)));
    expect(await sha256HexMany([])).toEqual([]);
  });

  test('Web Crypto: used when given, and the JavaScript one when it is missing or refuses', async () => {
    const subtle = globalThis.crypto.subtle;
    const digest = vi.fn((algorithm: 'SHA-256', data: Uint8Array) => subtle.digest(algorithm, data));
    const texts = ['x', 'abc', 'é'];
    const expected = texts.map((text) => sha256Hex(text));
    expect(await sha256HexManyWeb(texts, { digest })).toEqual(expected);
    expect(digest).toHaveBeenCalledTimes(3);
    expect(digest.mock.calls[1]?.[0]).toBe('SHA-256');
    expect(Array.from(digest.mock.calls[1]?.[1] ?? [])).toEqual([97, 98, 99]);
    expect(await sha256HexManyWeb(texts, undefined)).toEqual(expected);
    expect(await sha256HexManyWeb(texts, { digest: 'SHA-256' } as never)).toEqual(expected);
    const refusing = { digest: () => Promise.reject(new Error('insecure context')) };
    expect(await sha256HexManyWeb(texts, refusing)).toEqual(expected);
  });

  test('without node:crypto (browsers, Workers) the digests are the same, and many texts go to Web Crypto', async () => {
    type Sha = typeof import('../src/core/sha256.js');
    const path = '../src/core/sha256.js';
    const expected = SHA256_VECTORS.map(([, digest]) => digest);
    for (const replacement of [
      undefined,
      () => undefined,
      () => ({}),
      () => {
        throw new Error('no such module');
      },
    ]) {
      const module = await freshModule<Sha>(path, replacement, (m) => m.sha256Hex(''));
      expect(SHA256_VECTORS.map(([input]) => module.sha256Hex(input))).toEqual(expected);
      expect(SHA256_VECTORS.map(([input]) => hex(module.sha256(input)))).toEqual(expected);
      const digest = vi.spyOn(globalThis.crypto.subtle, 'digest');
      expect(await module.sha256HexMany(SHA256_VECTORS.map(([input]) => input))).toEqual(expected);
      expect(digest).toHaveBeenCalledTimes(SHA256_VECTORS.length);
      digest.mockRestore();
    }
  });

  test('where the runtime offers node:crypto, every function uses it', async () => {
    type Sha = typeof import('../src/core/sha256.js');
    const real = realGetBuiltinModule as (id: string) => { createHash: typeof createHash };
    const createHashSpy = vi.fn((algorithm: string) => real('node:crypto').createHash(algorithm));
    const offering = (id: string) => (id === 'node:crypto' ? { createHash: createHashSpy } : real(id));
    const module = await freshModule<Sha>('../src/core/sha256.js', offering, (m) => m.sha256Hex(''));
    const digest = vi.spyOn(globalThis.crypto.subtle, 'digest');
    expect(module.sha256Hex('abc')).toBe(SHA256_VECTORS[1]?.[1]);
    expect(hex(module.sha256('abc'))).toBe(SHA256_VECTORS[1]?.[1]);
    expect(await module.sha256HexMany(['abc'])).toEqual([SHA256_VECTORS[1]?.[1]]);
    expect(createHashSpy).toHaveBeenCalledTimes(4);
    expect(createHashSpy).toHaveBeenCalledWith('sha256');
    expect(digest).not.toHaveBeenCalled();
  });

  test('without node:crypto and Web Crypto the JavaScript one answers', async () => {
    type Sha = typeof import('../src/core/sha256.js');
    const module = await freshModule<Sha>('../src/core/sha256.js', undefined, (m) => m.sha256Hex(''));
    vi.stubGlobal('crypto', undefined);
    try {
      expect(await module.sha256HexMany(['abc'])).toEqual([SHA256_VECTORS[1]?.[1]]);
    } finally {
      vi.unstubAllGlobals();
    }
  });

  test('with node:crypto, sha256HexMany does not need Web Crypto', async () => {
    const digest = vi.spyOn(globalThis.crypto.subtle, 'digest');
    expect(await sha256HexMany(['abc'])).toEqual([SHA256_VECTORS[1]?.[1]]);
    expect(digest).not.toHaveBeenCalled();
  });
});

describe('CRC-32', () => {
  const vectors: [string, number][] = [
    ['', 0],
    ['a', 0xe8b7be43],
    ['123456789', 0xcbf43926],
    ['The quick brown fox jumps over the lazy dog', 0x414fa339],
  ];

  test('the published check values, from zlib and from the JavaScript loop, as unsigned numbers', () => {
    for (const [input, value] of vectors) {
      expect(crc32(utf8(input))).toBe(value);
      expect(crc32Js(utf8(input))).toBe(value);
    }
    const bytes = Uint8Array.from({ length: 256 }, (_, i) => i);
    expect(crc32Js(bytes)).toBe(zlibCrc32(bytes) >>> 0);
    expect(crc32Js(new Uint8Array(1000).fill(0xff))).toBe(zlibCrc32(new Uint8Array(1000).fill(0xff)) >>> 0);
  });

  test('a running CRC over pieces equals the CRC of the whole, from zlib and from the JavaScript loop', () => {
    const bytes = Uint8Array.from({ length: 1000 }, (_, i) => (i * 37) % 251);
    for (const crc of [crc32, crc32Js]) {
      const whole = crc(bytes);
      expect(whole).toBe(zlibCrc32(bytes) >>> 0);
      for (const cut of [0, 1, 500, 999, 1000]) {
        expect(crc(bytes.subarray(cut), crc(bytes.subarray(0, cut)))).toBe(whole);
      }
    }
  });

  test('where the runtime offers node:zlib, its crc32 is used', async () => {
    type Crc = typeof import('../src/core/crc32.js');
    const real = realGetBuiltinModule as (id: string) => unknown;
    const zlibCrc = vi.fn((data: Uint8Array) => zlibCrc32(data));
    const offering = (id: string) => (id === 'node:zlib' ? { crc32: zlibCrc } : real(id));
    const module = await freshModule<Crc>('../src/core/crc32.js', offering, (m) => m.crc32(new Uint8Array()));
    expect(module.crc32(utf8('123456789'))).toBe(0xcbf43926);
    expect(zlibCrc).toHaveBeenCalledTimes(2);
  });

  test('without node:zlib the JavaScript loop gives the same values', async () => {
    type Crc = typeof import('../src/core/crc32.js');
    for (const replacement of [undefined, () => ({})]) {
      const module = await freshModule<Crc>('../src/core/crc32.js', replacement, (m) => m.crc32(new Uint8Array()));
      for (const [input, value] of vectors) expect(module.crc32(utf8(input))).toBe(value);
    }
  });
});

describe('nodeBuiltin', () => {
  test('returns the module where the runtime offers it, and undefined otherwise', () => {
    expect(typeof nodeBuiltin<{ createHash: unknown }>('node:crypto')?.createHash).toBe('function');
    expect(nodeBuiltin('node:no-such-module')).toBeUndefined();
    processObject.getBuiltinModule = () => undefined;
    expect(nodeBuiltin('node:crypto')).toBeUndefined();
    processObject.getBuiltinModule = () => null;
    expect(nodeBuiltin('node:crypto')).toBeUndefined();
    processObject.getBuiltinModule = undefined;
    expect(nodeBuiltin('node:crypto')).toBeUndefined();
    processObject.getBuiltinModule = 'yes' as never;
    expect(nodeBuiltin('node:crypto')).toBeUndefined();
    // A browser or Worker: no process at all.
    vi.stubGlobal('process', undefined);
    try {
      expect(nodeBuiltin('node:crypto')).toBeUndefined();
    } finally {
      vi.unstubAllGlobals();
    }
  });
});

describe('bytes', () => {
  test('startsWithAscii compares the first bytes with the marker', () => {
    const bytes = utf8('KMKSNAP1\n{"a":1}');
    expect(startsWithAscii(bytes, 'KMKSNAP1')).toBe(true);
    expect(startsWithAscii(bytes, 'KMKSNAP1\n{')).toBe(true);
    expect(startsWithAscii(bytes, '')).toBe(true);
    expect(startsWithAscii(bytes, 'KMKSNAP2')).toBe(false);
    expect(startsWithAscii(bytes, 'XMKSNAP1')).toBe(false);
    expect(startsWithAscii(utf8('KMK'), 'KMKSNAP1')).toBe(false);
    expect(startsWithAscii(utf8('KMKSNAP1'), 'KMKSNAP1')).toBe(true);
    expect(startsWithAscii(new Uint8Array(0), 'K')).toBe(false);
    // A shorter input never reads past its end.
    expect(startsWithAscii(new Uint8Array([75]), 'K\0')).toBe(false);
  });

  test('randomHex gives two lower-case hex digits per random byte', () => {
    expect(randomHex(16)).toMatch(/^[0-9a-f]{32}$/);
    expect(randomHex(0)).toBe('');
    expect(randomHex(16)).not.toBe(randomHex(16));
    const fill = (array: Uint8Array) => {
      array.set([0, 1, 15, 16, 171, 255]);
      return array;
    };
    vi.spyOn(globalThis.crypto, 'getRandomValues').mockImplementation(fill as never);
    expect(randomHex(6)).toBe('00010f10abff');
  });
});
