/**
 * Request-size limits: a request body is read as JSON only within the gateway's byte limit (413 past
 * it, checked on `content-length` and while reading) and nesting depth (refused before parsing).
 */
import type { Context } from 'hono';
import { AbortedError } from '../../core/errors.js';
import type { Env } from '../context.js';
import { GatewayHttpError, invalidRequest } from '../errors.js';

const DEFAULT_MAX_BODY_BYTES = 1_048_576;
/** Deepest nesting of objects and arrays a request body may have (deeper JSON overflows recursive parsers). */
const MAX_BODY_DEPTH = 256;

/** Whether JSON text nests objects and arrays deeper than `max` (strings skipped); cheap, before parsing. */
function nestsDeeperThan(text: string, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (inString) {
      if (code === 0x5c)
        i++; // backslash: skip the escaped character
      else if (code === 0x22) inString = false;
    } else if (code === 0x22) inString = true;
    else if (code === 0x7b || code === 0x5b) {
      if (++depth > max) return true;
    } else if (code === 0x7d || code === 0x5d) depth--;
  }
  return false;
}

/** Reads the request body as JSON, within the gateway's limits. */
export type ReadJson = (c: Context<Env>) => Promise<unknown>;

/** A reader of request bodies as JSON, at most `maxBodyBytes` long (default 1 MiB). */
export function jsonReader(maxBodyBytes = DEFAULT_MAX_BODY_BYTES): ReadJson {
  const tooLarge = () =>
    new GatewayHttpError({
      status: 413,
      message: `The request body is larger than the gateway's limit of ${maxBodyBytes} bytes.`,
      type: 'invalid_request_error',
      code: 'request_too_large',
    });
  return async (c) => {
    const declared = Number(c.req.header('content-length') ?? Number.NaN);
    if (Number.isFinite(declared) && declared > maxBodyBytes) throw tooLarge();
    const body = c.req.raw.body;
    if (!body) throw invalidRequest('The request has no body; send a JSON object.', null, 'missing_body');
    const reader = body.getReader();
    const parts: Uint8Array[] = [];
    let size = 0;
    for (;;) {
      let chunk: Awaited<ReturnType<typeof reader.read>>;
      try {
        chunk = await reader.read();
      } catch (error) {
        // The client went away while sending: nobody reads the answer; logged as 499.
        throw new AbortedError({ operation: 'reading the request body', cause: error, component: 'gateway' });
      }
      if (chunk.done) break;
      size += chunk.value.byteLength;
      if (size > maxBodyBytes) {
        await reader.cancel();
        throw tooLarge();
      }
      parts.push(chunk.value);
    }
    const bytes = new Uint8Array(size);
    let offset = 0;
    for (const part of parts) {
      bytes.set(part, offset);
      offset += part.byteLength;
    }
    const text = new TextDecoder().decode(bytes);
    if (nestsDeeperThan(text, MAX_BODY_DEPTH)) {
      throw invalidRequest(
        `The request body nests objects and arrays more than ${MAX_BODY_DEPTH} levels deep; flatten it (e.g. a filter's and/or/not).`,
        null,
        'too_deep',
      );
    }
    try {
      return JSON.parse(text);
    } catch {
      throw invalidRequest('The request body is not valid JSON.', null, 'invalid_json');
    }
  };
}
