import * as z from 'zod/mini';
import { startsWithAscii } from '../../core/bytes.js';
import { crc32 } from '../../core/crc32.js';
import { CorruptDataError } from '../../core/errors.js';
import { jsonObjectSchema, jsonValueSchema, recordIdSchema } from '../../core/types.js';
import { parseContext } from '../../core/validate.js';
import type { CollectionColumns, CollectionMeta, MemoryCollection, StateEntry } from './collection.js';
import type { HnswState } from './kernel/hnsw-graph.js';

/**
 * Snapshot format, version 2 (written since the columnar layout; little-endian):
 *
 *   bytes 0..7    magic "KUMIKIS2"
 *   bytes 8..15   body length in bytes (u64)
 *   bytes 16..19  CRC-32 of the body (u32)
 *   bytes 20..23  zero
 *   body          u32 header length, UTF-8 JSON header (aliases; per collection its meta, state,
 *                 declared payload indexes, ids and payloads, and where its binary sections are),
 *                 padding to 16 bytes, then the binary sections, each 16-aligned: dense rows exactly
 *                 as the kernel keeps them (float32, dimensions padded to a multiple of 4), their
 *                 norms, int8 codes and scales when quantized, and sparse lengths, indices and values.
 *
 * Sections are copied as they are (`writeSnapshot` and snapshot-stream.ts move them between the file
 * and the kernel memory a piece at a time), so saving and loading cost about the file I/O. Version 1
 * ("KUMIKIS1": u32 length and CRC, JSON records then unpadded float32 vectors) is still read; any
 * other version is refused with CorruptDataError naming it. A file whose magic, length or checksum
 * disagree is torn or foreign and is never loaded.
 */
const MAGIC_V1 = 'KUMIKIS1';
export const MAGIC_V2 = 'KUMIKIS2';
const PREFIX = 'KUMIKIS';
const PREAMBLE = 16;
export const PREAMBLE_V2 = 24;

export type SnapshotRecord = {
  id: string | number;
  payload: Record<string, unknown>;
  vector: Float32Array | undefined;
  sparse: { indices: Uint32Array; values: Float32Array } | undefined;
};

export type SnapshotCollection = {
  meta: CollectionMeta;
  version: number;
  states: Map<string, StateEntry>;
  records: SnapshotRecord[];
};

const headerSchema = z.object({
  aliases: z.optional(z.record(z.string(), z.string())),
  collections: z.array(
    z.object({
      meta: z.object({
        name: z.string(),
        dimensions: z.optional(z.number().check(z.int(), z.positive())),
        metric: z.enum(['cosine', 'dot', 'euclidean']),
        sparse: z.boolean(),
        fingerprint: z.optional(z.string()),
        sparseFingerprint: z.optional(z.string()),
        epoch: z.optional(z.string()),
        version: z.optional(z.number().check(z.int(), z.nonnegative())),
      }),
      state: z.optional(
        z.record(z.string(), z.object({ value: jsonValueSchema, version: z.number().check(z.int(), z.nonnegative()) })),
      ),
      records: z.array(
        z.object({
          id: recordIdSchema,
          payload: jsonObjectSchema,
          sparse: z.optional(z.tuple([z.array(z.number().check(z.int(), z.nonnegative())), z.array(z.number())])),
        }),
      ),
    }),
  ),
});

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

export type Section = { at: number; length: number };

const sectionSchema = z.object({
  at: z.number().check(z.int(), z.nonnegative()),
  length: z.number().check(z.int(), z.nonnegative()),
});

export const headerV2Schema = z.object({
  aliases: z.record(z.string(), z.string()),
  collections: z.array(
    z.object({
      meta: headerSchema.shape.collections.def.element.shape.meta,
      state: z.optional(
        z.record(z.string(), z.object({ value: jsonValueSchema, version: z.number().check(z.int(), z.nonnegative()) })),
      ),
      indexes: z.array(z.string()),
      count: z.number().check(z.int(), z.nonnegative()),
      rowBytes: z.number().check(z.int(), z.nonnegative()),
      // Checked element by element below, without a parser call per record.
      ids: z.custom<unknown[]>(Array.isArray, 'ids must be an array'),
      payloads: z.custom<unknown[]>(Array.isArray, 'payloads must be an array'),
      dense: z.optional(
        z.object({
          floats: sectionSchema,
          norms: sectionSchema,
          codes: z.optional(sectionSchema),
          scales: z.optional(sectionSchema),
        }),
      ),
      sparse: z.optional(z.object({ lengths: sectionSchema, indices: sectionSchema, values: sectionSchema })),
      ann: z.optional(
        z.object({
          m: z.number().check(z.int(), z.gte(2)),
          efConstruction: z.number().check(z.int(), z.gte(1)),
          entry: z.number().check(z.int()),
          maxLevel: z.number().check(z.int()),
          size: z.number().check(z.int(), z.nonnegative()),
          removed: z.number().check(z.int(), z.nonnegative()),
          levels: sectionSchema,
          links0: sectionSchema,
          upperAt: sectionSchema,
          upper: sectionSchema,
        }),
      ),
    }),
  ),
});

/** A collection read from a version 2 snapshot: columns ready for `importColumns`. */
export type SnapshotColumns = {
  meta: CollectionMeta;
  version: number;
  states: Map<string, StateEntry>;
  indexes: string[];
  rowBytes: number;
  columns: CollectionColumns;
  /** The HNSW graph saved with the data, if it was built. */
  ann: HnswState | undefined;
};

export type Snapshot = {
  collections: (SnapshotCollection | SnapshotColumns)[];
  aliases: Map<string, string>;
};

export const align16 = (n: number): number => Math.ceil(n / 16) * 16;
const bytesOf = (array: Uint32Array | Int32Array | Float32Array | Uint8Array): Uint8Array =>
  new Uint8Array(array.buffer, array.byteOffset, array.byteLength);

/**
 * A version 2 snapshot of these collections laid out: its head (preamble without the checksum, JSON
 * header, padding) and its binary sections, each at `head.length` plus the 16-aligned lengths of
 * those before it. Sections may be views into live memory: use them before anything else runs.
 */
function planSnapshot(
  collections: Iterable<MemoryCollection>,
  aliases: ReadonlyMap<string, string>,
): { head: Uint8Array; blocks: Uint8Array[]; size: number } {
  const blocks: Uint8Array[] = [];
  let binary = 0;
  const place = (bytes: Uint8Array): Section => {
    const section = { at: binary, length: bytes.length };
    blocks.push(bytes);
    binary = align16(binary + bytes.length);
    return section;
  };
  const header: z.input<typeof headerV2Schema> = { aliases: Object.fromEntries(aliases), collections: [] };
  for (const collection of collections) {
    const { ids, payloads, dense, sparse } = collection.exportColumns();
    const ann = collection.ann?.state();
    header.collections.push({
      // JSON leaves out the fields that are undefined, as the header's schema expects.
      meta: { ...collection.meta, version: collection.version } as HeaderV2['collections'][number]['meta'],
      ...(collection.states.size > 0 ? { state: Object.fromEntries(collection.states) } : {}),
      indexes: [...collection.indexes.declared],
      count: ids.length,
      rowBytes: collection.rowBytes,
      ids: ids as unknown[],
      payloads: payloads as unknown[],
      ...(dense
        ? {
            dense: {
              floats: place(dense.floats),
              norms: place(dense.norms),
              ...(dense.codes && dense.scales ? { codes: place(dense.codes), scales: place(dense.scales) } : {}),
            },
          }
        : {}),
      ...(sparse
        ? {
            sparse: {
              lengths: place(bytesOf(sparse.lengths)),
              indices: place(bytesOf(sparse.indices)),
              values: place(bytesOf(sparse.values)),
            },
          }
        : {}),
      ...(ann
        ? {
            ann: {
              m: ann.m,
              efConstruction: ann.efConstruction,
              entry: ann.entry,
              maxLevel: ann.maxLevel,
              size: ann.size,
              removed: ann.removed,
              levels: place(ann.levels),
              links0: place(bytesOf(ann.links0)),
              upperAt: place(bytesOf(ann.upperAt)),
              upper: place(bytesOf(ann.upper)),
            },
          }
        : {}),
    });
  }
  const json = encoder.encode(JSON.stringify(header));
  const binaryAt = align16(4 + json.length);
  const bodyLength = binaryAt + binary;
  const head = new Uint8Array(PREAMBLE_V2 + binaryAt);
  const view = new DataView(head.buffer);
  head.set(encoder.encode(MAGIC_V2), 0);
  view.setUint32(8, bodyLength % 2 ** 32, true);
  view.setUint32(12, Math.floor(bodyLength / 2 ** 32), true);
  view.setUint32(PREAMBLE_V2, json.length, true);
  head.set(json, PREAMBLE_V2 + 4);
  return { head, blocks, size: PREAMBLE_V2 + bodyLength };
}

/** Encodes a version 2 snapshot of these collections. */
export function encodeSnapshot(
  collections: Iterable<MemoryCollection>,
  aliases: ReadonlyMap<string, string>,
): Uint8Array {
  const { head, blocks, size } = planSnapshot(collections, aliases);
  const bytes = new Uint8Array(size);
  bytes.set(head, 0);
  let at = head.length;
  for (const block of blocks) {
    bytes.set(block, at);
    at += align16(block.length);
  }
  new DataView(bytes.buffer).setUint32(16, crc32(bytes.subarray(PREAMBLE_V2)), true);
  return bytes;
}

/** Thrown by `writeSnapshot` when the kernel memory it was copying from grew meanwhile (save again). */
export class MemoryMovedError extends Error {}

/** Bytes per piece written or read: small enough to be still in the CPU cache when checksummed. */
export const PIECE = 1 << 20;

/**
 * Writes a version 2 snapshot of these collections through `put` (the same bytes as `encodeSnapshot`)
 * without assembling it in one buffer: sections are copied a piece at a time into one of two small
 * buffers and checksummed there (still in the CPU cache) while the other is written; the head goes
 * last, at position 0.
 * `put` may keep its bytes until its promise settles. Throws `MemoryMovedError` when a section's memory
 * grew (an HNSW graph built by a search) while earlier pieces were written.
 */
export async function writeSnapshot(
  collections: Iterable<MemoryCollection>,
  aliases: ReadonlyMap<string, string>,
  put: (bytes: Uint8Array, position: number) => Promise<void>,
): Promise<void> {
  const { head, blocks } = planSnapshot(collections, aliases);
  // Lengths as planned: a view over memory that grew since is detached, zero bytes long.
  const lengths = blocks.map((block) => block.length);
  const buffers = [new Uint8Array(PIECE), new Uint8Array(PIECE)];
  let pending: Promise<void> | undefined;
  let crc = crc32(head.subarray(PREAMBLE_V2));
  let at = head.length;
  let turn = 0;
  for (const [index, block] of blocks.entries()) {
    const length = lengths[index] as number;
    const end = at + align16(length);
    for (let from = 0; at < end; from += PIECE) {
      // This piece is copied and checksummed while the last one is written.
      turn ^= 1;
      const bytes = (buffers[turn] as Uint8Array).subarray(0, Math.min(PIECE, end - at));
      const moved = block.length !== length;
      if (!moved) {
        bytes.fill(0).set(block.subarray(from, from + bytes.length));
        crc = crc32(bytes, crc);
      }
      await pending;
      if (moved) throw new MemoryMovedError();
      pending = put(bytes, at);
      at += bytes.length;
    }
  }
  await pending;
  new DataView(head.buffer).setUint32(16, crc, true);
  await put(head, 0);
}

export function decodeSnapshot(bytes: Uint8Array, location: string): Snapshot {
  const fail = (reason: string): never => {
    throw new CorruptDataError({ location, reason, component: 'memory' });
  };
  if (bytes.length < PREAMBLE) fail(`it is ${bytes.length} bytes long, shorter than the header`);
  if (startsWithAscii(bytes, MAGIC_V2)) return decodeV2(bytes, fail);
  if (!startsWithAscii(bytes, MAGIC_V1)) {
    if (startsWithAscii(bytes, PREFIX)) {
      fail(
        `it is snapshot format version "${String.fromCharCode(bytes[7] as number)}", which this kumiki cannot read (it reads versions 1 and 2); open it with the kumiki version that wrote it`,
      );
    }
    fail('it does not start with the kumiki snapshot marker');
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  checkBody(bytes, PREAMBLE, view.getUint32(8, true), view.getUint32(12, true), fail);
  const jsonLength = view.getUint32(PREAMBLE, true);
  const header = parseHeader(headerSchema, bytes.subarray(PREAMBLE + 4, PREAMBLE + 4 + jsonLength), fail);
  let offset = PREAMBLE + align4(4 + jsonLength);
  const collections: SnapshotCollection[] = [];
  for (const entry of header.collections) {
    const dims = entry.meta.dimensions;
    const records: SnapshotRecord[] = entry.records.map((record) => {
      let vector: Float32Array | undefined;
      if (dims !== undefined) {
        if (offset + dims * 4 > bytes.length) fail('its vector section is shorter than its header says');
        vector = new Float32Array(dims);
        for (let i = 0; i < dims; i++, offset += 4) vector[i] = view.getFloat32(offset, true);
      }
      return {
        id: record.id,
        payload: record.payload,
        vector,
        sparse: record.sparse
          ? { indices: Uint32Array.from(record.sparse[0]), values: Float32Array.from(record.sparse[1]) }
          : undefined,
      };
    });
    collections.push({
      meta: collectionMeta(entry.meta),
      version: entry.meta.version ?? 0,
      states: new Map(Object.entries(entry.state ?? {}) as [string, StateEntry][]),
      records,
    });
  }
  if (offset !== bytes.length) fail('it has trailing bytes after its last vector');
  return { collections, aliases: new Map(Object.entries(header.aliases ?? {})) };
}

function decodeV2(bytes: Uint8Array, fail: (reason: string) => never): Snapshot {
  if (bytes.length < PREAMBLE_V2 + 4) fail(`it is ${bytes.length} bytes long, shorter than the header`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const bodyLength = bodyLengthV2(view);
  checkBody(bytes, PREAMBLE_V2, bodyLength, view.getUint32(16, true), fail);
  const jsonLength = view.getUint32(PREAMBLE_V2, true);
  if (PREAMBLE_V2 + 4 + jsonLength > bytes.length) fail('its header is longer than the file');
  const header = parseHeader(headerV2Schema, bytes.subarray(PREAMBLE_V2 + 4, PREAMBLE_V2 + 4 + jsonLength), fail);
  const binaryAt = PREAMBLE_V2 + align16(4 + jsonLength);
  return snapshotFromHeader(
    header,
    (where, name, copy) => {
      const start = binaryAt + where.at;
      if (start + where.length > bytes.length) fail(`its ${name} section runs past the end of the file`);
      return copy ? bytes.slice(start, start + where.length) : bytes.subarray(start, start + where.length);
    },
    fail,
  );
}

/** The JSON header of a version 2 snapshot: what it holds and where its binary sections are. */
export type HeaderV2 = z.output<typeof headerV2Schema>;

/** The body length a version 2 preamble announces (u64). */
export const bodyLengthV2 = (view: DataView): number => view.getUint32(8, true) + view.getUint32(12, true) * 2 ** 32;

/** A collection's meta as a snapshot header holds it. */
export function collectionMeta(meta: HeaderV2['collections'][number]['meta']): CollectionMeta {
  return {
    name: meta.name,
    dimensions: meta.dimensions,
    metric: meta.metric,
    sparse: meta.sparse,
    fingerprint: meta.fingerprint,
    sparseFingerprint: meta.sparseFingerprint,
    ...(meta.epoch === undefined ? {} : { epoch: meta.epoch }),
  };
}

/** Refuses a snapshot whose length or checksum (of the body, after `preamble` bytes) is not announced. */
function checkBody(
  bytes: Uint8Array,
  preamble: number,
  bodyLength: number,
  crc: number,
  fail: (reason: string) => never,
) {
  if (bytes.length !== preamble + bodyLength) {
    fail(`the header announces ${preamble + bodyLength} bytes but the file has ${bytes.length} (torn write?)`);
  }
  if (crc32(bytes.subarray(preamble)) !== crc) fail('its checksum does not match its contents');
}

/** Parses and checks a snapshot's UTF-8 JSON header. */
export function parseHeader<T extends z.ZodMiniType>(
  schema: T,
  json: Uint8Array,
  fail: (reason: string) => never,
): z.output<T> {
  try {
    return z.parse(schema, JSON.parse(decoder.decode(json)), parseContext);
  } catch (error) {
    return fail(`its header is malformed (${error instanceof Error ? error.message.slice(0, 200) : String(error)})`);
  }
}

/**
 * The collections of a version 2 snapshot from its header and its sections. `section` gives a
 * section's bytes: a view when the kernel copies it anyway (`copy` false), else bytes in an
 * ArrayBuffer of their own (aligned for typed arrays).
 */
export function snapshotFromHeader(
  header: HeaderV2,
  section: (where: Section, name: string, copy: boolean) => Uint8Array,
  fail: (reason: string) => never,
): Snapshot {
  const collections: SnapshotColumns[] = header.collections.map((entry) => {
    const name = entry.meta.name;
    const n = entry.count;
    if (entry.ids.length !== n || entry.payloads.length !== n)
      fail(`collection "${name}" lists ${entry.ids.length} ids and ${entry.payloads.length} payloads for ${n} records`);
    for (const id of entry.ids) {
      const ok = typeof id === 'string' ? id.length > 0 : typeof id === 'number' && Number.isSafeInteger(id);
      if (!ok) fail(`collection "${name}" holds an id that is not a non-empty string or safe integer`);
    }
    for (const payload of entry.payloads) {
      if (typeof payload !== 'object' || payload === null || Array.isArray(payload))
        fail(`collection "${name}" holds a payload that is not an object`);
    }
    const dense = entry.dense
      ? {
          floats: section(entry.dense.floats, 'dense rows', false),
          norms: section(entry.dense.norms, 'norms', false),
          ...(entry.dense.codes && entry.dense.scales
            ? {
                codes: section(entry.dense.codes, 'int8 codes', false),
                scales: section(entry.dense.scales, 'int8 scales', false),
              }
            : {}),
        }
      : undefined;
    if ((entry.meta.dimensions === undefined) !== (dense === undefined))
      fail(`collection "${name}" has dense rows that do not match its dimensions`);
    if (dense && (dense.floats.length !== n * entry.rowBytes || dense.norms.length !== n * 4)) {
      fail(`collection "${name}" has dense sections of the wrong size`);
    }
    let sparse: CollectionColumns['sparse'];
    if (entry.sparse) {
      const lengths = new Uint32Array(section(entry.sparse.lengths, 'sparse lengths', true).buffer);
      const indices = new Uint32Array(section(entry.sparse.indices, 'sparse indices', true).buffer);
      const values = new Float32Array(section(entry.sparse.values, 'sparse values', true).buffer);
      let total = 0;
      for (const length of lengths) total += length;
      if (lengths.length !== n || indices.length !== total || values.length !== total)
        fail(`collection "${name}" has sparse sections of the wrong size`);
      sparse = { lengths, indices, values };
    }
    const ann: HnswState | undefined = entry.ann && {
      m: entry.ann.m,
      efConstruction: entry.ann.efConstruction,
      entry: entry.ann.entry,
      maxLevel: entry.ann.maxLevel,
      size: entry.ann.size,
      removed: entry.ann.removed,
      levels: section(entry.ann.levels, 'graph levels', true),
      links0: new Uint32Array(section(entry.ann.links0, 'graph links', true).buffer),
      upperAt: new Int32Array(section(entry.ann.upperAt, 'graph offsets', true).buffer),
      upper: new Uint32Array(section(entry.ann.upper, 'graph upper links', true).buffer),
    };
    return {
      meta: collectionMeta(entry.meta),
      version: entry.meta.version ?? 0,
      states: new Map(Object.entries(entry.state ?? {}) as [string, StateEntry][]),
      indexes: entry.indexes,
      rowBytes: entry.rowBytes,
      ann,
      columns: {
        ids: entry.ids as (string | number)[],
        payloads: entry.payloads as SnapshotColumns['columns']['payloads'],
        dense,
        sparse,
      },
    };
  });
  return { collections, aliases: new Map(Object.entries(header.aliases)) };
}

function align4(n: number): number {
  return (n + 3) & ~3;
}
