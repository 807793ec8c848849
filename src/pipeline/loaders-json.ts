/** JSON content as text (runtime-neutral): parse errors with line and column, readable `path: value` lines, `textFields`. */
import { UnreadableSourceError } from '../core/errors.js';
import type { JsonObject, JsonValue } from '../core/types.js';
import type { SkippedSource } from './types.js';

/** Content that cannot be read; caught where its source ends (a whole text, or one JSONL line). */
export function unreadable(skipped: SkippedSource, cause?: unknown): UnreadableSourceError {
  const { uri, message, ...place } = skipped;
  return new UnreadableSourceError({ source: uri, detail: message, ...place, ...(cause ? { cause } : {}) });
}

/** Line and column (1-based) of a character offset. */
function lineColumn(text: string, offset: number): { line: number; column: number } {
  const before = text.slice(0, offset);
  return { line: before.split('\n').length, column: offset - before.lastIndexOf('\n') };
}

const JSON_LITERAL = /true|false|null|-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
// biome-ignore lint/suspicious/noControlCharactersInRegex: JSON strings must not hold raw control characters.
const JSON_STRING = /"(?:[^"\\\u0000-\u001f]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*"/y;

/**
 * The offset of the first syntax error in invalid JSON (engines do not always say). Only runs after
 * JSON.parse failed, so it needs no values, just the grammar.
 */
function jsonErrorOffset(text: string): number {
  let at = 0;
  const space = () => {
    while (at < text.length && ' \t\n\r'.includes(text[at] as string)) at++;
  };
  const token = (pattern: RegExp) => {
    pattern.lastIndex = at;
    if (!pattern.test(text)) throw at;
    at = pattern.lastIndex;
  };
  const expect = (char: string) => {
    if (text[at] !== char) throw at;
    at++;
  };
  const value = (): void => {
    space();
    const char = text[at];
    if (char === '{' || char === '[') {
      const close = char === '{' ? '}' : ']';
      at++;
      space();
      if (text[at] === close) {
        at++;
        return;
      }
      for (;;) {
        if (close === '}') {
          space();
          token(JSON_STRING);
          space();
          expect(':');
        }
        value();
        space();
        if (text[at] === close) {
          at++;
          return;
        }
        expect(',');
      }
    }
    token(char === '"' ? JSON_STRING : JSON_LITERAL);
  };
  try {
    value();
    space();
    return at;
  } catch (offset) {
    return offset as number;
  }
}

/** Parses JSON; on failure an UnreadableSourceError names the uri, the line and the column (`line`: a JSONL line's number). */
export function parseJson(text: string, uri: string, line = 0): JsonValue {
  try {
    return JSON.parse(text) as JsonValue;
  } catch (error) {
    const offset = jsonErrorOffset(text);
    const place = line > 0 ? { line, column: offset + 1 } : lineColumn(text, offset);
    // One line (engines quote the input in their messages), for logs and terminals.
    const reason = (error instanceof Error ? error.message : String(error)).replace(/\s+/g, ' ');
    const message = `invalid JSON at line ${place.line}, column ${place.column} (${reason})`;
    throw unreadable({ uri, reason: 'parse-error', message, ...place }, error);
  }
}

export const isObject = (value: JsonValue): value is JsonObject =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

function scalar(value: JsonValue): string {
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/** `path: value` lines for every leaf (`a.b`, `list[0]`); empty containers as `[]` / `{}`. */
function jsonLines(value: JsonValue, path: string, lines: string[]): void {
  if (Array.isArray(value)) {
    if (value.length === 0 && path) lines.push(`${path}: []`);
    for (const [index, item] of value.entries()) jsonLines(item, `${path}[${index}]`, lines);
  } else if (isObject(value)) {
    const entries = Object.entries(value);
    if (entries.length === 0 && path) lines.push(`${path}: {}`);
    for (const [key, item] of entries) jsonLines(item, path ? `${path}.${key}` : key, lines);
  } else {
    lines.push(path ? `${path}: ${scalar(value)}` : scalar(value));
  }
}

function readableJson(value: JsonValue): string {
  const lines: string[] = [];
  jsonLines(value, '', lines);
  return lines.join('\n');
}

/** Content that parses but does not have what the options ask for. */
export function invalidContent(where: Where, message: string): UnreadableSourceError {
  return unreadable({
    uri: where.uri,
    reason: 'invalid-content',
    message: where.line === undefined ? message : `line ${where.line}: ${message}`,
    ...(where.line === undefined ? {} : { line: where.line }),
  });
}

export type Where = { uri: string; line?: number; item?: number };
const describe = (where: Where) => (where.item === undefined ? '' : `item [${where.item}]: `);

/** The chosen fields of one object, as text: strings as written, other values as `path: value` lines. */
function pickFields(value: JsonValue, fields: readonly string[], where: Where): string {
  if (!isObject(value)) {
    throw invalidContent(where, `${describe(where)}textFields needs JSON objects, found ${JSON.stringify(value)}`);
  }
  const parts: string[] = [];
  for (const field of fields) {
    const item = value[field];
    if (item === undefined || item === null) continue;
    parts.push(typeof item === 'string' ? item : readableJson({ [field]: item }));
  }
  if (parts.length === 0) {
    throw invalidContent(
      where,
      `${describe(where)}none of the textFields (${fields.join(', ')}) is present; fix the data or textFields`,
    );
  }
  return parts.join('\n\n');
}

/** The text of a JSON value: readable `path: value` lines, or the chosen `textFields`. */
export function jsonText(value: JsonValue, fields: readonly string[] | undefined, where: Where): string {
  if (fields === undefined) return readableJson(value);
  if (Array.isArray(value)) {
    return value.map((item, index) => pickFields(item, fields, { ...where, item: index })).join('\n\n');
  }
  return pickFields(value, fields, where);
}
