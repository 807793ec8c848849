import { z } from 'zod';
import { startsWithAscii } from '../../core/bytes.js';
import type { DatasetInfo, IngestionRun, LineageEdge } from '../../core/catalog.js';
import { crc32 } from '../../core/crc32.js';
import { CorruptDataError } from '../../core/errors.js';
import { datasetInfoSchema, ingestionRunSchema, lineageEdgeSchema } from '../shared.js';

/**
 * Catalog file format, version 1 (little-endian):
 *
 *   bytes 0..7    magic "KUMIKIC1"
 *   bytes 8..11   body length in bytes (u32)
 *   bytes 12..15  CRC-32 of the body (u32)
 *   body          UTF-8 JSON `{ datasets, runs, edges }`
 *
 * A file whose magic, length, checksum or content disagree is torn or foreign and is never loaded.
 */
const MAGIC = 'KUMIKIC1';
const PREAMBLE = 16;

export type CatalogSnapshot = { datasets: DatasetInfo[]; runs: IngestionRun[]; edges: LineageEdge[] };

const snapshotSchema = z.object({
  datasets: z.array(datasetInfoSchema),
  runs: z.array(ingestionRunSchema),
  edges: z.array(lineageEdgeSchema),
});

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

export function encodeCatalog(snapshot: CatalogSnapshot): Uint8Array {
  const body = encoder.encode(JSON.stringify(snapshot));
  const bytes = new Uint8Array(PREAMBLE + body.length);
  bytes.set(encoder.encode(MAGIC), 0);
  const view = new DataView(bytes.buffer);
  view.setUint32(8, body.length, true);
  view.setUint32(12, crc32(body), true);
  bytes.set(body, PREAMBLE);
  return bytes;
}

export function decodeCatalog(bytes: Uint8Array, location: string): CatalogSnapshot {
  const corrupt = (reason: string, cause?: unknown) =>
    new CorruptDataError({ location, reason, component: 'catalog', ...(cause === undefined ? {} : { cause }) });
  if (bytes.length < PREAMBLE) throw corrupt(`it is ${bytes.length} bytes long, shorter than the 16-byte header`);
  if (!startsWithAscii(bytes, MAGIC)) throw corrupt('it does not start with the KUMIKIC1 marker');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const length = view.getUint32(8, true);
  if (bytes.length !== PREAMBLE + length) {
    throw corrupt(`its header announces ${length} body bytes but ${bytes.length - PREAMBLE} follow (torn write?)`);
  }
  const body = bytes.subarray(PREAMBLE);
  if (crc32(body) !== view.getUint32(12, true)) throw corrupt('its checksum does not match its content');
  let parsed: unknown;
  try {
    parsed = JSON.parse(decoder.decode(body));
  } catch (error) {
    throw corrupt('its body is not valid UTF-8 JSON', error);
  }
  const result = snapshotSchema.safeParse(parsed);
  if (!result.success) throw corrupt(`its content does not describe a catalog (${result.error.issues[0]?.message})`);
  return result.data as CatalogSnapshot;
}
