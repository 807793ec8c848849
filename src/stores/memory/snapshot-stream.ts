/**
 * Reading a snapshot in pieces (`SnapshotPersistence.open`): the dense rows of a version 2 snapshot
 * go straight from the file into the kernel memory that keeps them, and the checksum is computed on
 * each piece just after it is read, while the next one is being read. Anything unusual (another
 * format version, a short file, a wrong checksum, a bad header, sections out of order) is left to
 * the whole-file `decodeSnapshot`, so every refusal names the same reason.
 */
import { startsWithAscii } from '../../core/bytes.js';
import { crc32 } from '../../core/crc32.js';
import type { SnapshotReader } from '../../core/persistence.js';
import type { CollectionMeta } from './collection.js';
import type { RowViews } from './kernel/arena-memory.js';
import {
  align16,
  bodyLengthV2,
  collectionMeta,
  headerV2Schema,
  MAGIC_V2,
  PIECE,
  PREAMBLE_V2,
  parseHeader,
  type Section,
  type Snapshot,
  snapshotFromHeader,
} from './snapshot.js';

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
export async function readInPieces(reader: SnapshotReader, target: RowsTarget): Promise<Snapshot | undefined> {
  const size = reader.size;
  const head = new Uint8Array(PREAMBLE_V2 + 4);
  if (size < head.length || (await reader.read(head, 0)) !== head.length || !startsWithAscii(head, MAGIC_V2)) {
    return undefined;
  }
  const view = new DataView(head.buffer);
  const bodyLength = bodyLengthV2(view);
  const jsonLength = view.getUint32(PREAMBLE_V2, true);
  if (size !== PREAMBLE_V2 + bodyLength || head.length + jsonLength > size) return undefined;
  const json = new Uint8Array(jsonLength);
  if ((await reader.read(json, head.length)) !== jsonLength) return undefined;
  // A refusal here only means reading the whole file, where it is named: `fail` throws itself.
  const fail = (): never => {
    throw fail;
  };
  try {
    const header = parseHeader(headerV2Schema, json, fail);
    // Where each section goes: dense rows into the kernel memory when it takes them as they are.
    const binaryAt = PREAMBLE_V2 + align16(4 + jsonLength);
    const places = new Map<Section, Uint8Array>();
    const pieces: { position: number; bytes: Uint8Array }[] = [];
    for (const [index, entry] of header.collections.entries()) {
      let rows: RowViews | undefined;
      for (const group of [entry.dense, entry.sparse, entry.ann]) {
        for (const [key, value] of Object.entries(group ?? {})) {
          if (typeof value !== 'object') continue;
          const where = value as Section;
          const position = binaryAt + where.at;
          // Nothing is allocated for a section past the end; the dense rows once their size is right.
          if (position + where.length > size) return undefined;
          if (key === 'floats' && where.length === entry.count * entry.rowBytes) {
            const saved = { meta: collectionMeta(entry.meta), version: entry.meta.version ?? 0 };
            rows = target(index, saved, entry.count, entry.rowBytes);
          }
          const into = group === entry.dense ? rows?.[key as keyof RowViews] : undefined;
          const bytes = into?.length === where.length ? into : new Uint8Array(where.length);
          places.set(where, bytes);
          pieces.push({ position, bytes });
        }
      }
    }
    pieces.sort((a, b) => a.position - b.position);
    // The file from the header's end on in reads of at most PIECE bytes: sections into their places,
    // the gaps between them into scratch memory. Each is checksummed while the next is read.
    const reads: { position: number; bytes: Uint8Array }[] = [];
    const add = (position: number, bytes: Uint8Array) => {
      for (let at = 0; at < bytes.length; at += PIECE) {
        reads.push({ position: position + at, bytes: bytes.subarray(at, at + PIECE) });
      }
    };
    let position = head.length + jsonLength;
    for (const piece of [...pieces, { position: size, bytes: new Uint8Array(0) }]) {
      if (piece.position < position) return undefined; // overlapping
      add(position, new Uint8Array(piece.position - position));
      add(piece.position, piece.bytes);
      position = piece.position + piece.bytes.length;
    }
    const start = (index: number) => {
      const next = reads[index];
      return next ? reader.read(next.bytes, next.position) : Promise.resolve(0);
    };
    let crc = crc32(json, crc32(head.subarray(PREAMBLE_V2)));
    let pending = start(0);
    for (const [index, { bytes }] of reads.entries()) {
      if ((await pending) !== bytes.length) return undefined;
      pending = start(index + 1);
      crc = crc32(bytes, crc);
    }
    if (crc !== view.getUint32(16, true)) return undefined;
    return snapshotFromHeader(header, (where) => places.get(where) as Uint8Array, fail);
  } catch (error) {
    if (error !== fail) throw error;
    return undefined;
  }
}
