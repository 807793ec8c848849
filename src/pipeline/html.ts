/**
 * A small HTML → text converter for ingest (runtime-neutral, no DOM). It keeps what a reader sees:
 * block elements become line breaks, list items `- ` lines, headings Markdown-style `#` lines (so the
 * splitter can cut at them), `<pre>` verbatim; scripts, styles and `<head>` (except `<title>`) go.
 */

/** Elements whose content is never text: skipped up to their closing tag. */
const SKIPPED = new Set(['script', 'style', 'noscript', 'template', 'svg', 'math', 'iframe', 'object']);
/** Elements that stand apart as paragraphs: a blank line before and after. */
const PARAGRAPHS = new Set([
  'address',
  'article',
  'aside',
  'blockquote',
  'details',
  'dl',
  'fieldset',
  'figure',
  'footer',
  'form',
  'header',
  'main',
  'nav',
  'ol',
  'p',
  'section',
  'summary',
  'table',
  'ul',
]);
/** Elements that start and end a line. */
const LINES = new Set(['br', 'caption', 'dd', 'div', 'dt', 'figcaption', 'hr', 'li', 'option', 'tr']);
const CELLS = new Set(['td', 'th']);

const NAMED: Record<string, string> = {
  amp: '&',
  lt: '<',
  gt: '>',
  quot: '"',
  apos: "'",
  nbsp: ' ',
  ensp: ' ',
  emsp: ' ',
  thinsp: ' ',
  shy: '',
  zwj: '\u200d',
  zwnj: '\u200c',
  copy: '©',
  reg: '®',
  trade: '™',
  hellip: '…',
  mdash: '—',
  ndash: '–',
  lsquo: '‘',
  rsquo: '’',
  sbquo: '‚',
  ldquo: '“',
  rdquo: '”',
  bdquo: '„',
  laquo: '«',
  raquo: '»',
  lsaquo: '‹',
  rsaquo: '›',
  bull: '•',
  middot: '·',
  euro: '€',
  pound: '£',
  yen: '¥',
  cent: '¢',
  sect: '§',
  para: '¶',
  deg: '°',
  plusmn: '±',
  times: '×',
  divide: '÷',
  frac12: '½',
  frac14: '¼',
  frac34: '¾',
  micro: 'µ',
  larr: '←',
  rarr: '→',
  uarr: '↑',
  darr: '↓',
  harr: '↔',
  le: '≤',
  ge: '≥',
  ne: '≠',
  asymp: '≈',
  infin: '∞',
  minus: '−',
  prime: '′',
  Prime: '″',
  dagger: '†',
  Dagger: '‡',
  iexcl: '¡',
  iquest: '¿',
  auml: 'ä',
  ouml: 'ö',
  uuml: 'ü',
  Auml: 'Ä',
  Ouml: 'Ö',
  Uuml: 'Ü',
  szlig: 'ß',
  eacute: 'é',
  egrave: 'è',
  ecirc: 'ê',
  Eacute: 'É',
  aacute: 'á',
  agrave: 'à',
  acirc: 'â',
  iacute: 'í',
  oacute: 'ó',
  uacute: 'ú',
  ntilde: 'ñ',
  Ntilde: 'Ñ',
  ccedil: 'ç',
  Ccedil: 'Ç',
  aring: 'å',
  Aring: 'Å',
  aelig: 'æ',
  oslash: 'ø',
};

const ENTITY = /&(?:#(\d{1,7})|#[xX]([0-9a-fA-F]{1,6})|([A-Za-z][A-Za-z0-9]{1,31}));?/g;

function codePoint(value: number): string {
  const valid = value > 0 && value <= 0x10ffff && !(value >= 0xd800 && value <= 0xdfff);
  return valid ? String.fromCodePoint(value) : '\ufffd';
}

/** Decodes numeric entities and the common named ones; unknown names stay as written. */
export function decodeEntities(text: string): string {
  if (!text.includes('&')) return text;
  return text.replace(ENTITY, (whole, decimal?: string, hex?: string, name?: string) => {
    if (decimal !== undefined) return codePoint(Number.parseInt(decimal, 10));
    if (hex !== undefined) return codePoint(Number.parseInt(hex, 16));
    const named = name === undefined ? undefined : NAMED[name];
    return named ?? whole;
  });
}

export type HtmlText = { text: string; title?: string };

/** Where the opening tag at `start` (`<`) ends: the index after its `>`, honouring quoted attributes. */
function tagEnd(html: string, start: number): number {
  let quote = '';
  for (let i = start + 1; i < html.length; i++) {
    const char = html[i];
    if (quote) {
      if (char === quote) quote = '';
    } else if (char === '"' || char === "'") {
      quote = char;
    } else if (char === '>') {
      return i + 1;
    }
  }
  return html.length;
}

/** Converts an HTML document or fragment to plain text, with its `<title>` (or first `<h1>`). */
export function htmlToText(html: string): HtmlText {
  let out = '';
  let title: string | undefined;
  let firstH1: string | undefined;
  let capture: string | undefined;
  let capturing: 'title' | 'h1' | undefined;
  let inHead = false;
  /** A `<title>` is never page text, also where it is misplaced in the body. */
  let inTitle = false;
  let pre = 0;
  let listDepth = 0;

  const atLineStart = () => out.length === 0 || out.endsWith('\n');
  const trimLineEnd = () => {
    let end = out.length;
    while (end > 0 && (out[end - 1] === ' ' || out[end - 1] === '\t')) end--;
    if (end < out.length) out = out.slice(0, end);
  };
  const lineBreak = () => {
    trimLineEnd();
    if (!atLineStart()) out += '\n';
  };
  const paragraphBreak = () => {
    lineBreak();
    if (out.length > 0 && !out.endsWith('\n\n')) out += '\n';
  };
  const emit = (raw: string) => {
    const decoded = decodeEntities(raw);
    if (capturing !== undefined) capture = (capture ?? '') + decoded;
    if (inHead || inTitle) return;
    if (pre > 0) {
      out += decoded;
      return;
    }
    let text = decoded.replace(/\s+/g, ' ');
    if (atLineStart() || out.endsWith(' ')) text = text.replace(/^ /, '');
    out += text;
  };
  const finishCapture = (kind: 'title' | 'h1') => {
    if (capturing !== kind) return;
    const value = (capture ?? '').replace(/\s+/g, ' ').trim();
    if (kind === 'title' && value) title ??= value;
    if (kind === 'h1' && value) firstH1 ??= value;
    capturing = undefined;
    capture = undefined;
  };

  let i = 0;
  while (i < html.length) {
    const lt = html.indexOf('<', i);
    if (lt === -1) {
      emit(html.slice(i));
      break;
    }
    if (lt > i) emit(html.slice(i, lt));
    const next = html[lt + 1] ?? '';
    if (html.startsWith('<!--', lt)) {
      const close = html.indexOf('-->', lt + 4);
      i = close === -1 ? html.length : close + 3;
      continue;
    }
    if (html.startsWith('<![CDATA[', lt)) {
      const close = html.indexOf(']]>', lt + 9);
      emit(html.slice(lt + 9, close === -1 ? html.length : close).replace(/&/g, '&amp;'));
      i = close === -1 ? html.length : close + 3;
      continue;
    }
    if (next === '!' || next === '?') {
      i = tagEnd(html, lt);
      continue;
    }
    const match = /^<(\/?)([A-Za-z][A-Za-z0-9-]*)/.exec(html.slice(lt, lt + 64));
    if (match === null) {
      emit('<');
      i = lt + 1;
      continue;
    }
    const closing = match[1] === '/';
    const name = (match[2] as string).toLowerCase();
    i = tagEnd(html, lt);
    const selfClosing = html[i - 2] === '/';

    if (!closing && SKIPPED.has(name) && !selfClosing) {
      const close = html.toLowerCase().indexOf(`</${name}`, i);
      i = close === -1 ? html.length : tagEnd(html, close);
      continue;
    }
    if (name === 'head') {
      inHead = !closing && !selfClosing;
      continue;
    }
    if (name === 'body' || name === 'html') {
      inHead = false;
      continue;
    }
    if (name === 'title') {
      inTitle = !closing && !selfClosing;
      if (closing) finishCapture('title');
      else if (capturing === undefined) capturing = 'title';
      continue;
    }
    if (inHead) continue;

    const heading = /^h([1-6])$/.exec(name);
    if (heading) {
      paragraphBreak();
      if (closing) {
        finishCapture('h1');
      } else {
        out += `${'#'.repeat(Number(heading[1]))} `;
        if (heading[1] === '1' && firstH1 === undefined && capturing === undefined) capturing = 'h1';
      }
      continue;
    }
    if (name === 'pre') {
      paragraphBreak();
      pre = closing ? Math.max(0, pre - 1) : pre + 1;
      continue;
    }
    if (name === 'ul' || name === 'ol') {
      if (listDepth > 0) lineBreak();
      else paragraphBreak();
      listDepth = closing ? Math.max(0, listDepth - 1) : listDepth + 1;
      continue;
    }
    if (name === 'li') {
      lineBreak();
      if (!closing) out += `${'  '.repeat(Math.max(0, listDepth - 1))}- `;
      continue;
    }
    if (PARAGRAPHS.has(name)) {
      paragraphBreak();
      continue;
    }
    if (LINES.has(name)) {
      lineBreak();
      continue;
    }
    if (CELLS.has(name) && !closing && !atLineStart() && !out.endsWith(' ')) {
      out += ' ';
      continue;
    }
    if (name === 'img' && !closing) {
      const alt = /\balt\s*=\s*("([^"]*)"|'([^']*)')/i.exec(html.slice(lt, i));
      const text = alt?.[2] ?? alt?.[3];
      if (text) emit(` ${text} `);
    }
  }
  trimLineEnd();
  const text = out
    .split('\n')
    .map((line) => line.replace(/[ \t]+$/, ''))
    .join('\n')
    .replace(/\n{3,}/g, '\n\n')
    .trim();
  const found = title ?? firstH1;
  return found === undefined ? { text } : { text, title: found };
}
