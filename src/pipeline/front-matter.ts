/**
 * Markdown front matter (runtime-neutral): a `---` line, YAML, a `---` (or `...`) line, at the very
 * start of the text. The YAML is read by a small parser for the part of YAML that front matter uses
 * (block mappings and sequences, flow sequences, quoted and plain scalars, block scalars, comments)
 * with YAML 1.2 core-schema types; anything else (anchors, aliases, tags, flow mappings, multi-line
 * plain scalars, non-finite numbers) is an error naming its line, never a guess. See docs/loading.md.
 */
import type { JsonObject, JsonValue } from '../core/types.js';

/** A front matter that cannot be read: `line` is 1-based in the whole text. */
export class FrontMatterError extends Error {
  readonly line: number;
  constructor(line: number, message: string) {
    super(`front matter line ${line}: ${message}`);
    this.line = line;
  }
}

export type FrontMatter = {
  /** The fields, or undefined when the text has no front matter. */
  metadata: JsonObject | undefined;
  /** The text after the closing delimiter line (the whole text when there is none). */
  body: string;
};

const OPEN = /^---[ \t]*$/;
const CLOSE = /^(?:---|\.\.\.)[ \t]*$/;

/**
 * Splits front matter from a text (line ends already `\n`). Without an opening `---` line, or
 * without a closing one, the text has no front matter. Throws FrontMatterError when it has one that
 * cannot be read or that is not a mapping.
 */
export function parseFrontMatter(text: string): FrontMatter {
  if (!text.startsWith('---')) return { metadata: undefined, body: text };
  // Only the head is read: the lines up to the closing delimiter.
  const lines: string[] = [];
  let at = 0;
  let close = -1;
  while (at <= text.length) {
    const end = text.indexOf('\n', at);
    const line = text.slice(at, end === -1 ? text.length : end);
    if (lines.length === 0 ? !OPEN.test(line) : CLOSE.test(line)) {
      if (lines.length === 0) return { metadata: undefined, body: text };
      close = end === -1 ? text.length : end + 1;
      break;
    }
    lines.push(line);
    if (end === -1) break;
    at = end + 1;
  }
  if (close === -1) return { metadata: undefined, body: text };
  const yaml = new YamlLines(lines.slice(1), 2);
  const value = yaml.document();
  if (value !== null && (typeof value !== 'object' || Array.isArray(value))) {
    throw new FrontMatterError(2, 'front matter must be a mapping of fields (key: value lines)');
  }
  return { metadata: value ?? {}, body: text.slice(close) };
}

/** A structural line: its number, indentation and content without comment; `tab` when a tab follows the indentation. */
type Line = { number: number; indent: number; content: string; tab?: boolean };

/** Removes a comment (`#` at the start or after whitespace, outside quotes) and trailing space. */
function stripComment(content: string): string {
  let quote: string | undefined;
  for (let i = 0; i < content.length; i++) {
    const char = content[i] as string;
    if (quote) {
      if (char === '\\' && quote === '"') i++;
      // '' inside single quotes is a quote, not the end of the string.
      else if (char === quote && quote === "'" && content[i + 1] === "'") i++;
      else if (char === quote) quote = undefined;
    } else if (char === '"' || char === "'") {
      if (i === 0 || /[\s[,:-]/.test(content[i - 1] as string)) quote = char;
    } else if (char === '#' && (i === 0 || /\s/.test(content[i - 1] as string))) {
      return content.slice(0, i).trimEnd();
    }
  }
  return content.trimEnd();
}

const INTEGER = /^[-+]?[0-9]+$/;
const FLOAT = /^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$/;
const ESCAPES: Record<string, string> = {
  '0': '\0',
  a: '\x07',
  b: '\b',
  t: '\t',
  '\t': '\t',
  n: '\n',
  v: '\v',
  f: '\f',
  r: '\r',
  e: '\x1b',
  ' ': ' ',
  '"': '"',
  '/': '/',
  '\\': '\\',
  N: '\u0085',
  _: '\u00a0',
  L: '\u2028',
  P: '\u2029',
};

class YamlLines {
  private readonly lines: Line[] = [];
  private at = 0;

  constructor(
    private readonly raw: string[],
    private readonly firstNumber: number,
  ) {
    for (const [index, text] of raw.entries()) {
      const number = firstNumber + index;
      const indent = /^ */.exec(text)?.[0].length ?? 0;
      const content = stripComment(text.slice(indent));
      // Tabs are refused only on lines read as structure (a block scalar's lines may hold them).
      if (content !== '') this.lines.push({ number, indent, content, ...(text[indent] === '\t' ? { tab: true } : {}) });
    }
  }

  document(): JsonValue {
    const first = this.lines[0];
    if (first === undefined) return null;
    if (first.indent !== 0) throw new FrontMatterError(first.number, 'the first field must not be indented');
    const value = this.block(0);
    const rest = this.peek();
    if (rest) throw new FrontMatterError(rest.number, 'unexpected line (check its indentation)');
    return value;
  }

  private peek(): Line | undefined {
    const line = this.lines[this.at];
    if (line?.tab) throw new FrontMatterError(line.number, 'tabs are not allowed in indentation; use spaces');
    return line;
  }

  private isItem(line: Line): boolean {
    return line.content === '-' || line.content.startsWith('- ');
  }

  /** A mapping or a sequence whose lines are indented exactly `indent`. */
  private block(indent: number): JsonValue {
    const line = this.peek() as Line;
    return this.isItem(line) ? this.sequence(indent) : this.mapping(indent);
  }

  private mapping(indent: number): JsonObject {
    const result: JsonObject = {};
    for (let line = this.peek(); line && line.indent === indent && !this.isItem(line); line = this.peek()) {
      this.at++;
      const { key, rest } = this.splitKey(line);
      if (Object.hasOwn(result, key)) throw new FrontMatterError(line.number, `duplicate key "${key}"`);
      result[key] = this.valueAfter(line, rest, indent, true);
    }
    return result;
  }

  private sequence(indent: number): JsonValue[] {
    const result: JsonValue[] = [];
    for (let line = this.peek(); line && line.indent === indent && this.isItem(line); line = this.peek()) {
      const rest = line.content.slice(1).trimStart();
      if (rest === '') {
        this.at++;
        result.push(this.valueAfter(line, '', indent, false));
      } else if (this.startsMapping(rest)) {
        // `- key: value` opens a mapping whose keys line up with `key`.
        const column = indent + line.content.length - rest.length;
        this.lines[this.at] = { number: line.number, indent: column, content: rest };
        result.push(this.mapping(column));
      } else {
        this.at++;
        result.push(this.valueAfter(line, rest, indent, false));
      }
    }
    return result;
  }

  /** The value of a key or item: inline, a block scalar, or a nested block on the next lines. */
  private valueAfter(line: Line, rest: string, indent: number, inMapping: boolean): JsonValue {
    const next = this.peek();
    if (rest === '') {
      if (next && next.indent > indent) return this.block(next.indent);
      // YAML allows a mapping's sequence value at the key's own indentation.
      if (inMapping && next && next.indent === indent && this.isItem(next)) return this.sequence(indent);
      return null;
    }
    if (/^[|>]/.test(rest)) return this.blockScalar(line, rest, indent);
    const value = this.scalarOrFlow(rest, line.number);
    if (next && next.indent > indent) {
      throw new FrontMatterError(
        next.number,
        'unexpected indentation (values spanning lines need quotes or a block scalar: | or >)',
      );
    }
    return value;
  }

  private startsMapping(content: string): boolean {
    if (content.startsWith('"') || content.startsWith("'")) {
      const close = this.closingQuote(content, 0);
      return close !== -1 && /^:(?:\s|$)/.test(content.slice(close + 1));
    }
    return !/^[[{&*!|>]/.test(content) && /:(?:\s|$)/.test(content);
  }

  private splitKey(line: Line): { key: string; rest: string } {
    const { content, number } = line;
    if (content.startsWith('? ')) throw new FrontMatterError(number, 'complex keys (?) are not supported');
    if (content.startsWith('"') || content.startsWith("'")) {
      const close = this.closingQuote(content, 0);
      if (close === -1) throw new FrontMatterError(number, 'unterminated quoted key');
      const after = content.slice(close + 1);
      if (!/^:(?:\s|$)/.test(after)) throw new FrontMatterError(number, 'expected ":" after the key');
      return { key: this.quoted(content.slice(0, close + 1), number), rest: after.slice(1).trim() };
    }
    const colon = /:(?:\s|$)/.exec(content);
    if (!colon) throw new FrontMatterError(number, `expected "key: value", found "${content}"`);
    const key = content.slice(0, colon.index).trim();
    if (key === '' || /^[[{&*!|>%@`]/.test(key)) throw new FrontMatterError(number, `unsupported key "${key}"`);
    return { key, rest: content.slice(colon.index + 1).trim() };
  }

  /** Index of the quote closing the one at `start`, or -1. */
  private closingQuote(text: string, start: number): number {
    const quote = text[start];
    for (let i = start + 1; i < text.length; i++) {
      if (quote === '"' && text[i] === '\\') i++;
      else if (text[i] === quote) {
        if (quote === "'" && text[i + 1] === "'") i++;
        else return i;
      }
    }
    return -1;
  }

  private scalarOrFlow(text: string, number: number): JsonValue {
    if (text.startsWith('[')) {
      if (!text.endsWith(']')) throw new FrontMatterError(number, 'a flow sequence must close on the same line');
      const inner = text.slice(1, -1).trim();
      if (inner === '') return [];
      const items: JsonValue[] = [];
      let start = 0;
      for (let i = 0; i <= inner.length; i++) {
        const char = inner[i];
        if (char === '"' || char === "'") {
          const close = this.closingQuote(inner, i);
          if (close === -1) throw new FrontMatterError(number, 'unterminated quoted string');
          i = close;
        } else if (char === '[' || char === '{') {
          throw new FrontMatterError(number, 'nested flow collections are not supported');
        } else if (char === ',' || i === inner.length) {
          const item = inner.slice(start, i).trim();
          if (item === '') throw new FrontMatterError(number, 'empty item in a flow sequence');
          items.push(this.scalar(item, number));
          start = i + 1;
        }
      }
      return items;
    }
    return this.scalar(text, number);
  }

  private scalar(text: string, number: number): JsonValue {
    if (text.startsWith('"') || text.startsWith("'")) {
      const close = this.closingQuote(text, 0);
      if (close === -1) throw new FrontMatterError(number, 'quoted strings must close on the same line');
      if (close !== text.length - 1) throw new FrontMatterError(number, 'unexpected text after a quoted string');
      return this.quoted(text, number);
    }
    if (/^[{]/.test(text)) throw new FrontMatterError(number, 'flow mappings ({ … }) are not supported');
    if (/^[&*!]/.test(text)) throw new FrontMatterError(number, 'anchors, aliases and tags are not supported');
    if (/^(?:[@`%,\]}]|[-?:](?:\s|$))/.test(text)) {
      throw new FrontMatterError(number, `a plain value cannot start with "${text[0]}"; quote it`);
    }
    if (/:(?:\s|$)/.test(text)) throw new FrontMatterError(number, `a value cannot contain ": " unquoted; quote it`);
    if (/^(?:null|Null|NULL|~)$/.test(text)) return null;
    if (/^(?:true|True|TRUE)$/.test(text)) return true;
    if (/^(?:false|False|FALSE)$/.test(text)) return false;
    if (/^[-+]?\.(?:inf|Inf|INF|nan|NaN|NAN)$/.test(text)) {
      throw new FrontMatterError(number, `${text} is not a finite number (JSON has none); quote it`);
    }
    const radix = /^0o([0-7]+)$/.exec(text) ?? /^0x([0-9a-fA-F]+)$/.exec(text);
    if (radix || INTEGER.test(text)) {
      const value = radix ? Number.parseInt(radix[1] as string, text[1] === 'o' ? 8 : 16) : Number(text);
      if (!Number.isSafeInteger(value)) {
        throw new FrontMatterError(number, `${text} is too large to keep exactly; quote it to keep it as text`);
      }
      return value;
    }
    if (FLOAT.test(text)) {
      const value = Number(text);
      if (!Number.isFinite(value)) throw new FrontMatterError(number, `${text} is out of range; quote it`);
      return value;
    }
    return text;
  }

  private quoted(text: string, number: number): string {
    const body = text.slice(1, -1);
    if (text[0] === "'") return body.replaceAll("''", "'");
    let out = '';
    for (let i = 0; i < body.length; i++) {
      const char = body[i] as string;
      if (char !== '\\') {
        out += char;
        continue;
      }
      const code = body[++i] as string;
      const hex = { x: 2, u: 4, U: 8 }[code];
      if (hex !== undefined) {
        const digits = body.slice(i + 1, i + 1 + hex);
        if (!new RegExp(`^[0-9a-fA-F]{${hex}}$`).test(digits)) {
          throw new FrontMatterError(number, `invalid escape \\${code}${digits}`);
        }
        const point = Number.parseInt(digits, 16);
        if (point > 0x10ffff) throw new FrontMatterError(number, `invalid escape \\${code}${digits}`);
        out += String.fromCodePoint(point);
        i += hex;
      } else if (ESCAPES[code] !== undefined) {
        out += ESCAPES[code];
      } else {
        throw new FrontMatterError(number, `invalid escape \\${code ?? ''}`);
      }
    }
    return out;
  }

  /** `|` (literal) or `>` (folded), with optional chomping `-`/`+`; the content is more indented. */
  private blockScalar(line: Line, header: string, indent: number): string {
    const match = /^([|>])([-+]?)$/.exec(header);
    if (!match) {
      throw new FrontMatterError(
        line.number,
        `unsupported block scalar header "${header}" (use |, |-, |+, >, >- or >+)`,
      );
    }
    // The raw lines after this one, up to the first non-blank line indented `indent` or less.
    const rawStart = line.number - this.firstNumber + 1;
    const body: string[] = [];
    let contentIndent: number | undefined;
    let end = rawStart;
    for (; end < this.raw.length; end++) {
      const text = this.raw[end] as string;
      if (text.trim() === '') {
        body.push('');
        continue;
      }
      const own = /^ */.exec(text)?.[0].length ?? 0;
      if (own <= indent) break;
      contentIndent ??= own;
      if (own < contentIndent) {
        throw new FrontMatterError(this.firstNumber + end, 'a block scalar line is less indented than its first line');
      }
      body.push(text.slice(contentIndent));
    }
    // Skip the structural lines the block scalar consumed.
    while ((this.lines[this.at]?.number ?? Number.POSITIVE_INFINITY) < this.firstNumber + end) this.at++;
    let trailing = 0;
    while (body.length > 0 && body[body.length - 1] === '') {
      body.pop();
      trailing++;
    }
    let text: string;
    if (match[1] === '|') {
      text = body.join('\n');
    } else {
      // Folded: line breaks become spaces; a blank line stands for one break; more-indented lines keep theirs.
      text = '';
      for (const [index, part] of body.entries()) {
        const previous = body[index - 1];
        if (index === 0) text = part;
        else if (part === '') text += '\n';
        else if (previous === '') text += part;
        else if (/^\s/.test(part) || /^\s/.test(previous as string)) text += `\n${part}`;
        else text += ` ${part}`;
      }
    }
    if (body.length === 0) return '';
    if (match[2] === '-') return text;
    if (match[2] === '+') return `${text}\n${'\n'.repeat(trailing)}`;
    return `${text}\n`;
  }
}
