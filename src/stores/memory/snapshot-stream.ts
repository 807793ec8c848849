/**
 * Reading a snapshot in pieces (`SnapshotPersistence.open`): the dense rows of a version 2 snapshot
 * go straight from the file into the kernel memory that keeps them, and the checksum is computed on
 * each piece just after it is read, while the next one is being read. Anything unusual (another
 * format version, a short file, a wrong checksum, a bad header, sections out of order) is left to
 * the whole-file `decodeSnapshot`, so every refusal names the same reason.
 */
import { startsWithAscii } from '../../core/bytes.js';
import { crc32 } from '../../core/crc32.js';
import { CorruptDataError } from '../../core/errors.js';
import type { SnapshotReader } from '../../core/persistence.js';
import type { CollectionMeta } from './collection.js';
import type { RowViews } from './kernel/arena-memory.js';
import {
  align16,
  collectionMeta,
  headerV2Schema,
  MAGIC_V2,
  PREAMBLE_V2,
  parseHeader,
  type Section,
  type Snapshot,
  snapshotFromHeader,
} from './snapshot.js';

/** Bytes per read: small enough that a piece is still in the CPU cache when its checksum is computed. */
const CHUNK = 1 << 20;

/**
 * Where the dense rows of the `index`-th collection (`count` rows of `rowBytes`) may be read to, or
 * undefined to read them into memory of their own.
 */
export type RowsTarget = (
  index: number,
  saved: { meta: CollectionMeta; version: number },
  count: number,
  rowBytes: number,
) => RowViews | undefined;

/** The snapshot read piece by piece, or undefined where it must be read whole (see the top). */
export async function readInPieces(
  reader: SnapshotReader,
  location: string,
  target: RowsTarget,
): Promise<Snapshot | undefined> {
  const size = reader.size;
  const head = new Uint8Array(PREAMBLE_V2 + 4);
  if (size < head.length || (await reader.read(head, 0)) !== head.length || !startsWithAscii(head, MAGIC_V2)) {
    return undefined;
  }
  const view = new DataView(head.buffer);
  const bodyLength = view.getUint32(8, true) + view.getUint32(12, true) * 2 ** 32;
  const jsonLength = view.getUint32(PREAMBLE_V2, true);
  if (size !== PREAMBLE_V2 + bodyLength || head.length + jsonLength > size) return undefined;
  const json = new Uint8Array(jsonLength);
  if ((await reader.read(json, head.length)) !== jsonLength) return undefined;
  const fail = (reason: string): never => {
    throw new CorruptDataError({ location, reason, component: 'memory' });
  };
  try {
    const header = parseHeader(headerV2Schema, json, fail);
    // Where each section goes: dense rows into the kernel memory when it takes them as they are.
    const binaryAt = PREAMBLE_V2 + align16(4 + jsonLength);
    const places = new Map<Section, Uint8Array>();
    const pieces: { position: number; bytes: Uint8Array }[] = [];
    for (const [index, entry] of header.collections.entries()) {
      const floats = entry.dense?.floats;
      const fits =
        floats && floats.length === entry.count * entry.rowBytes && binaryAt + floats.at + floats.length <= size;
      const saved = { meta: collectionMeta(entry.meta), version: entry.meta.version ?? 0 };
      const rows = fits ? target(index, saved, entry.count, entry.rowBytes) : undefined;
      for (const group of [entry.dense, entry.sparse, entry.ann]) {
        for (const [key, value] of Object.entries(group ?? {})) {
          if (typeof value !== 'object') continue;
          const where = value as Section;
          const into = group === entry.dense ? rows?.[key as keyof RowViews] : undefined;
          const bytes = into?.length === where.length ? into : new Uint8Array(where.length);
          places.set(where, bytes);
          pieces.push({ position: binaryAt + where.at, bytes });
        }
      }
    }
    pieces.sort((a, b) => a.position - b.position);
    const checksum = await readPieces(
      reader,
      pieces,
      head.length + jsonLength,
      crc32(json, crc32(head.subarray(PREAMBLE_V2))),
    );
    if (checksum !== view.getUint32(16, true)) return undefined;
    return snapshotFromHeader(header, (where) => places.get(where) as Uint8Array, fail);
  } catch (error) {
    if (CorruptDataError.isInstance(error)) return undefined;
    throw error;
  }
}

/**
 * Reads the file from `from` to its end, each piece's bytes into the piece and the gaps between them
 * into scratch memory, and returns the running CRC-32 (from `crc`) of all of it; undefined when the
 * pieces overlap or run past the end. The next read runs while the checksum of the last one is computed.
 */
async function readPieces(
  reader: SnapshotReader,
  pieces: { position: number; bytes: Uint8Array }[],
  from: number,
  crc: number,
): Promise<number | undefined> {
  const chunks: { position: number; bytes: Uint8Array }[] = [];
  const add = (position: number, bytes: Uint8Array) => {
    for (let at = 0; at < bytes.length; at += CHUNK) {
      chunks.push({ position: position + at, bytes: bytes.subarray(at, at + CHUNK) });
    }
  };
  let position = from;
  for (const piece of [...pieces, { position: reader.size, bytes: new Uint8Array(0) }]) {
    if (piece.position < position) return undefined;
    add(position, new Uint8Array(piece.position - position));
    add(piece.position, piece.bytes);
    position = piece.position + piece.bytes.length;
  }
  const readChunk = (index: number) => {
    const chunk = chunks[index];
    return chunk ? reader.read(chunk.bytes, chunk.position) : Promise.resolve(0);
  };
  let pending = readChunk(0);
  for (let index = 0; index < chunks.length; index++) {
    const chunk = chunks[index] as { bytes: Uint8Array };
    const read = await pending;
    if (read !== chunk.bytes.length) return undefined;
    pending = readChunk(index + 1);
    crc = crc32(chunk.bytes, crc);
  }
  return crc;
}
