/**
 * Reads an OpenAI `/embeddings` response: `{ data: [{ index, embedding }], usage }`, with embeddings
 * as float arrays or base64 little-endian float32. Anything else is reported as a response that is
 * not OpenAI-compatible, with an excerpt.
 */
import { z } from 'zod';
import { UnavailableError } from '../../core/errors.js';
import { bodyExcerpt } from '../../internal/http/errors.js';

const responseSchema = z.object({
  data: z.array(
    z.object({
      index: z.number().int().nonnegative().optional(),
      // Numbers are checked while copying into the Float32Array: much faster than a schema per value.
      embedding: z.union([
        z.custom<unknown[]>((value) => Array.isArray(value), 'expected an array of numbers or a base64 string'),
        z.string(),
      ]),
    }),
  ),
  usage: z
    .object({ prompt_tokens: z.number().optional(), total_tokens: z.number().optional() })
    .nullish()
    .catch(undefined),
});

export type ParsedEmbeddings = { vectors: Float32Array[]; tokens: number | undefined };

/**
 * Decodes base64 little-endian float32 (OpenAI's `encoding_format: 'base64'`) without Buffer, so it
 * runs in any runtime. Undefined when the text is not base64 of whole float32 values.
 */
export function decodeFloat32Base64(text: string): Float32Array | undefined {
  let binary: string;
  try {
    binary = atob(text);
  } catch {
    return undefined;
  }
  if (binary.length % 4 !== 0) return undefined;
  const view = new DataView(new ArrayBuffer(binary.length));
  for (let i = 0; i < binary.length; i++) view.setUint8(i, binary.charCodeAt(i));
  const vector = new Float32Array(binary.length / 4);
  for (let i = 0; i < vector.length; i++) vector[i] = view.getFloat32(i * 4, true);
  return vector;
}

/** Copies JSON numbers into a Float32Array; undefined when any value is not a number. */
function toFloat32(values: readonly unknown[]): Float32Array | undefined {
  const vector = new Float32Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const value = values[i];
    if (typeof value !== 'number') return undefined;
    vector[i] = value;
  }
  return vector;
}

/**
 * Parses the body, orders `data` by `index` (servers may reorder it) and checks that there is exactly
 * one finite embedding per input.
 */
export function parseEmbeddingResponse(
  text: string,
  inputCount: number,
  context: { url: string; operation: string; component: string; secrets: readonly string[] },
): ParsedEmbeddings {
  const fail = (problem: string, cause?: unknown) =>
    new UnavailableError({
      message: `${context.operation} failed: the response from ${context.url} is not OpenAI-compatible: ${problem}. Body: ${bodyExcerpt(text, context.secrets) || '(empty)'}. Check that the base URL points at an OpenAI-compatible /v1 endpoint (not a proxy or web page).`,
      cause,
      component: context.component,
      url: context.url,
      statusCode: 200,
      isRetryable: false,
    });

  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw fail('it is not valid JSON', error);
  }
  const parsed = responseSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw fail(`${issue?.path.map(String).join('.') || 'body'}: ${issue?.message ?? 'unexpected shape'}`, parsed.error);
  }
  const { data, usage } = parsed.data;
  if (data.length !== inputCount) {
    throw fail(`it holds ${data.length} embeddings for ${inputCount} inputs`);
  }
  const indexed = data.filter((item) => item.index !== undefined).length;
  if (indexed !== 0 && indexed !== data.length) throw fail('some items of data have an index and others do not');
  const vectors = new Array<Float32Array | undefined>(data.length);
  data.forEach((item, position) => {
    const index = item.index ?? position;
    if (index >= data.length || vectors[index] !== undefined) {
      throw fail(`data holds index ${index} twice or out of range for ${inputCount} inputs`);
    }
    const vector = typeof item.embedding === 'string' ? decodeFloat32Base64(item.embedding) : toFloat32(item.embedding);
    if (vector === undefined)
      throw fail(`data.${position}.embedding is not a list of numbers or base64 float32 values`);
    if (vector.length === 0) throw fail(`data.${position}.embedding is empty`);
    if (!vector.every(Number.isFinite))
      throw fail(`data.${position}.embedding holds values that are not finite float32`);
    vectors[index] = vector;
  });
  const tokens = usage?.prompt_tokens ?? usage?.total_tokens;
  return { vectors: vectors as Float32Array[], tokens };
}
