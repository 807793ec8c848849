/**
 * Reads tensors from a safetensors file (an 8-byte little-endian header length, a JSON header naming
 * each tensor's dtype, shape and byte range, then the data). Runtime-neutral: bytes in, typed arrays out.
 */
import { InvalidArgumentError } from '../../core/errors.js';

export type Tensor = { dtype: string; shape: number[]; data: Float32Array | Int32Array };

const invalid = (message: string) =>
  new InvalidArgumentError({ argument: 'model weights', component: 'static', issues: [{ path: '', message }] });

const FLOAT_BYTES: Record<string, number> = { F64: 8, F32: 4, F16: 2, BF16: 2, I8: 1, U8: 1 };
const INT_BYTES: Record<string, number> = { I64: 8, I32: 4, U32: 4, I16: 2, U16: 2 };

/** IEEE half precision → number. */
function halfToFloat(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const fraction = bits & 0x3ff;
  if (exponent === 0) return sign * 2 ** -14 * (fraction / 1024);
  if (exponent === 0x1f) return fraction ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  return sign * 2 ** (exponent - 15) * (1 + fraction / 1024);
}

/** The bytes of a safetensors file as a Uint8Array view (ArrayBuffer, any typed array or DataView). */
export function asBytes(input: unknown): Uint8Array | undefined {
  if (input instanceof Uint8Array) return input;
  if (input instanceof ArrayBuffer) return new Uint8Array(input);
  if (ArrayBuffer.isView(input)) return new Uint8Array(input.buffer, input.byteOffset, input.byteLength);
  // From another realm (a Worker's fetch, a vm context): recognised by tag.
  const tag = Object.prototype.toString.call(input);
  if (tag === '[object ArrayBuffer]') return new Uint8Array(input as ArrayBuffer);
  return undefined;
}

/**
 * The tensors named in `names` (those present), decoded: floating and 8-bit types to Float32Array,
 * wider integers to Int32Array. Throws InvalidArgumentError when the file is not safetensors, a
 * tensor's byte range does not fit its shape and dtype or lies outside the file, or a dtype is unknown.
 */
export function readSafetensors(bytes: Uint8Array, names: readonly string[]): Map<string, Tensor> {
  if (bytes.byteLength < 8) throw invalid('not a safetensors file: shorter than its 8-byte header length');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = Number(view.getBigUint64(0, true));
  if (headerLength <= 0 || 8 + headerLength > bytes.byteLength) {
    throw invalid(`not a safetensors file: header length ${headerLength} does not fit in ${bytes.byteLength} bytes`);
  }
  let header: Record<string, { dtype?: unknown; shape?: unknown; data_offsets?: unknown }>;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLength)));
  } catch (error) {
    throw invalid(`not a safetensors file: its header is not JSON (${(error as Error).message})`);
  }
  const dataStart = 8 + headerLength;
  const tensors = new Map<string, Tensor>();
  for (const name of names) {
    const entry = header[name];
    if (!entry) continue;
    const { dtype, shape, data_offsets: offsets } = entry;
    if (
      typeof dtype !== 'string' ||
      !Array.isArray(shape) ||
      !shape.every((n) => Number.isInteger(n) && n >= 0) ||
      !Array.isArray(offsets) ||
      offsets.length !== 2 ||
      !offsets.every((n) => Number.isInteger(n) && n >= 0)
    ) {
      throw invalid(`tensor "${name}": malformed header entry`);
    }
    const width = FLOAT_BYTES[dtype] ?? INT_BYTES[dtype];
    if (width === undefined) {
      throw invalid(
        `tensor "${name}": dtype ${dtype} is not supported (F64, F32, F16, BF16, I8, U8, I64, I32, U32, I16, U16)`,
      );
    }
    const count = (shape as number[]).reduce((product, n) => product * n, 1);
    const [begin, end] = offsets as [number, number];
    if (end - begin !== count * width || dataStart + end > bytes.byteLength) {
      throw invalid(
        `tensor "${name}": ${end - begin} bytes at ${begin}–${end} for shape [${shape.join(', ')}] × ${width} bytes (${dtype}) in a file of ${bytes.byteLength} bytes`,
      );
    }
    const data = new DataView(bytes.buffer, bytes.byteOffset + dataStart + begin, end - begin);
    tensors.set(name, { dtype, shape: shape as number[], data: decode(data, dtype, count) });
  }
  return tensors;
}

function decode(data: DataView, dtype: string, count: number): Float32Array | Int32Array {
  if (dtype in INT_BYTES) {
    const out = new Int32Array(count);
    for (let i = 0; i < count; i++) {
      out[i] =
        dtype === 'I64'
          ? Number(data.getBigInt64(i * 8, true))
          : dtype === 'I32'
            ? data.getInt32(i * 4, true)
            : dtype === 'U32'
              ? data.getUint32(i * 4, true)
              : dtype === 'I16'
                ? data.getInt16(i * 2, true)
                : data.getUint16(i * 2, true);
    }
    return out;
  }
  if (dtype === 'F32' && (data.byteOffset & 3) === 0) {
    // Aligned little-endian float32 (every platform JavaScript runs on): one copy.
    return new Float32Array(data.buffer.slice(data.byteOffset, data.byteOffset + count * 4));
  }
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) {
    switch (dtype) {
      case 'F32':
        out[i] = data.getFloat32(i * 4, true);
        break;
      case 'F64':
        out[i] = data.getFloat64(i * 8, true);
        break;
      case 'F16':
        out[i] = halfToFloat(data.getUint16(i * 2, true));
        break;
      case 'BF16':
        out[i] = new Float32Array(new Uint32Array([data.getUint16(i * 2, true) << 16]).buffer)[0] as number;
        break;
      case 'I8':
        out[i] = data.getInt8(i);
        break;
      default:
        out[i] = data.getUint8(i);
    }
  }
  return out;
}

/** A safetensors file holding `tensors` (F32 or I32), for tests and converters. */
export function writeSafetensors(
  tensors: Record<string, { shape: number[]; data: Float32Array | Int32Array }>,
  metadata?: Record<string, string>,
): Uint8Array {
  const header: Record<string, unknown> = metadata ? { __metadata__: metadata } : {};
  let offset = 0;
  for (const [name, tensor] of Object.entries(tensors)) {
    const size = tensor.data.byteLength;
    header[name] = {
      dtype: tensor.data instanceof Float32Array ? 'F32' : 'I32',
      shape: tensor.shape,
      data_offsets: [offset, offset + size],
    };
    offset += size;
  }
  let json = JSON.stringify(header);
  // Pad the header with spaces so the data starts 8-byte aligned, as the reference writer does.
  json += ' '.repeat((8 - ((8 + new TextEncoder().encode(json).byteLength) % 8)) % 8);
  const headerBytes = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + headerBytes.byteLength + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerBytes.byteLength), true);
  out.set(headerBytes, 8);
  let position = 8 + headerBytes.byteLength;
  for (const tensor of Object.values(tensors)) {
    const view = new Uint8Array(tensor.data.buffer, tensor.data.byteOffset, tensor.data.byteLength);
    out.set(view, position);
    position += view.byteLength;
  }
  return out;
}
