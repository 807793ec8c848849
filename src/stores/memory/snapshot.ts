import { z } from 'zod';
import { startsWithAscii } from '../../core/bytes.js';
import { crc32 } from '../../core/crc32.js';
import { CorruptDataError } from '../../core/errors.js';
import { jsonObjectSchema, jsonValueSchema, recordIdSchema } from '../../core/types.js';
import type { CollectionMeta, MemoryCollection, StateEntry } from './collection.js';

/**
 * Snapshot format, version 1 (little-endian):
 *
 *   bytes 0..7    magic "KUMIKIS1"
 *   bytes 8..11   body length in bytes (u32)
 *   bytes 12..15  CRC-32 of the body (u32)
 *   body          u32 header length, UTF-8 JSON header, padding to 4 bytes, then float32 vectors
 *
 * A file whose magic, length or checksum disagree is torn or foreign and is never loaded.
 */
const MAGIC = 'KUMIKIS1';
const PREAMBLE = 16;

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
  aliases: z.record(z.string(), z.string()).optional(),
  collections: z.array(
    z.object({
      meta: z.object({
        name: z.string(),
        dimensions: z.number().int().positive().optional(),
        metric: z.enum(['cosine', 'dot', 'euclidean']),
        sparse: z.boolean(),
        fingerprint: z.string().optional(),
        sparseFingerprint: z.string().optional(),
        epoch: z.string().optional(),
        version: z.number().int().nonnegative().optional(),
      }),
      state: z
        .record(z.string(), z.object({ value: jsonValueSchema, version: z.number().int().nonnegative() }))
        .optional(),
      records: z.array(
        z.object({
          id: recordIdSchema,
          payload: jsonObjectSchema,
          sparse: z.tuple([z.array(z.number().int().nonnegative()), z.array(z.number())]).optional(),
        }),
      ),
    }),
  ),
});

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

export type Snapshot = { collections: SnapshotCollection[]; aliases: Map<string, string> };

export function encodeSnapshot(
  collections: Iterable<MemoryCollection>,
  aliases: ReadonlyMap<string, string>,
): Uint8Array {
  const header: z.input<typeof headerSchema> = { aliases: Object.fromEntries(aliases), collections: [] };
  const vectorBlocks: Float32Array[] = [];
  let floatCount = 0;
  for (const collection of collections) {
    const records: z.input<typeof headerSchema>['collections'][number]['records'] = [];
    for (const row of collection.rows()) {
      records.push({
        id: row.id,
        payload: row.payload,
        ...(row.sparse ? { sparse: [Array.from(row.sparse.indices), Array.from(row.sparse.values)] } : {}),
      });
      if (row.vector) {
        vectorBlocks.push(row.vector);
        floatCount += row.vector.length;
      }
    }
    const { dimensions, fingerprint, sparseFingerprint, epoch, ...rest } = collection.meta;
    header.collections.push({
      meta: {
        ...rest,
        ...(dimensions === undefined ? {} : { dimensions }),
        ...(fingerprint === undefined ? {} : { fingerprint }),
        ...(sparseFingerprint === undefined ? {} : { sparseFingerprint }),
        ...(epoch === undefined ? {} : { epoch }),
        version: collection.version,
      },
      ...(collection.states.size > 0 ? { state: Object.fromEntries(collection.states) } : {}),
      records,
    });
  }
  const json = encoder.encode(JSON.stringify(header));
  const vectorsAt = align4(4 + json.length);
  const bodyLength = vectorsAt + floatCount * 4;
  const bytes = new Uint8Array(PREAMBLE + bodyLength);
  const view = new DataView(bytes.buffer);
  bytes.set(encoder.encode(MAGIC), 0);
  view.setUint32(8, bodyLength, true);
  view.setUint32(PREAMBLE, json.length, true);
  bytes.set(json, PREAMBLE + 4);
  let offset = PREAMBLE + vectorsAt;
  for (const block of vectorBlocks) {
    for (let i = 0; i < block.length; i++, offset += 4) view.setFloat32(offset, block[i] as number, true);
  }
  view.setUint32(12, crc32(bytes.subarray(PREAMBLE)), true);
  return bytes;
}

export function decodeSnapshot(bytes: Uint8Array, location: string): Snapshot {
  const fail = (reason: string): never => {
    throw new CorruptDataError({ location, reason, component: 'memory' });
  };
  if (bytes.length < PREAMBLE) fail(`it is ${bytes.length} bytes long, shorter than the header`);
  if (!startsWithAscii(bytes, MAGIC)) fail('it does not start with the kumiki snapshot marker');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const bodyLength = view.getUint32(8, true);
  if (bytes.length !== PREAMBLE + bodyLength) {
    fail(`the header announces ${PREAMBLE + bodyLength} bytes but the file has ${bytes.length} (torn write?)`);
  }
  if (crc32(bytes.subarray(PREAMBLE)) !== view.getUint32(12, true)) fail('its checksum does not match its contents');
  const jsonLength = view.getUint32(PREAMBLE, true);
  let header: z.output<typeof headerSchema>;
  try {
    header = headerSchema.parse(JSON.parse(decoder.decode(bytes.subarray(PREAMBLE + 4, PREAMBLE + 4 + jsonLength))));
  } catch (error) {
    return fail(`its header is malformed (${error instanceof Error ? error.message.slice(0, 200) : String(error)})`);
  }
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
      meta: {
        name: entry.meta.name,
        dimensions: dims,
        metric: entry.meta.metric,
        sparse: entry.meta.sparse,
        fingerprint: entry.meta.fingerprint,
        sparseFingerprint: entry.meta.sparseFingerprint,
        ...(entry.meta.epoch === undefined ? {} : { epoch: entry.meta.epoch }),
      },
      version: entry.meta.version ?? 0,
      states: new Map(Object.entries(entry.state ?? {}) as [string, StateEntry][]),
      records,
    });
  }
  if (offset !== bytes.length) fail('it has trailing bytes after its last vector');
  return { collections, aliases: new Map(Object.entries(header.aliases ?? {})) };
}

function align4(n: number): number {
  return (n + 3) & ~3;
}
