/**
 * The recursive splitter (runtime-neutral). It cuts a document's text at the coarsest separator that
 * makes pieces fit (headings, blank lines, lines, sentences, spaces, then a hard cut), packs the
 * pieces greedily into chunks of at most `chunkSize` (characters or tokens), and starts each next
 * chunk with whole trailing pieces of the previous one, up to `chunkOverlap`. See docs/loading.md.
 */
import * as z from 'zod';
import type { TokenCounter } from '../core/embedder.js';
import { InvalidArgumentError } from '../core/errors.js';
import { parseArgument } from '../core/validate.js';
import { HEADING_LINE, markdownHeadings } from './markdown.js';
import type { Chunk, SourceDocument, Splitter } from './types.js';

/** Bump on any change to what a chunk holds (its boundaries or its heading): the ledger then re-ingests everything. */
const VERSION = 2;
const DEFAULT_TOKENS = 512;
const DEFAULT_CHARACTERS = 1000;
const DEFAULT_OVERLAP_RATIO = 0.12;
/** Longer pieces are taken not to fit in tokens without being counted (saves counting whole documents). */
const MAX_CHARACTERS_PER_TOKEN = 64;

/**
 * Regular expressions (flags `gu`) tried in order; a cut goes right after each match. Headings: before
 * a Markdown heading line; then blank lines, line breaks, sentence ends, whitespace.
 */
export const DEFAULT_SEPARATORS: readonly string[] = [
  '\\n(?=[ ]{0,3}#{1,6}[ \\t])',
  '\\n[ \\t]*\\n\\s*',
  '\\n',
  '[.!?\u3002\uff01\uff1f]+["\'\u201d\u2019)\\]]*[ \\t]+',
  '\\s+',
];

export type SplitUnit = 'tokens' | 'characters';

export type RecursiveSplitterOptions = {
  /** Most units per chunk; default 512 tokens with a tokenizer, else 1,000 characters. */
  chunkSize?: number;
  /** Most units two consecutive chunks share; default 12 % of chunkSize (rounded down); less than chunkSize. */
  chunkOverlap?: number;
  /** `tokens` (default with a tokenizer; needs one) or `characters` (UTF-16 code units). */
  unit?: SplitUnit;
  /** Counts tokens as the embedding model does (`await embedder.tokenizer()`). */
  tokenizer?: TokenCounter;
  /** Regular expression sources (flags `gu`), coarsest first; default DEFAULT_SEPARATORS. */
  separators?: string[];
  /** Never end a chunk with a heading line when the heading can open the next one; default true. */
  keepHeadings?: boolean;
};

const validRegExp = (source: string) => {
  try {
    new RegExp(source, 'gu');
    return true;
  } catch {
    return false;
  }
};

const optionsSchema = z
  .object({
    chunkSize: z.number().int('chunkSize must be an integer').min(1, 'chunkSize must be at least 1').optional(),
    chunkOverlap: z
      .number()
      .int('chunkOverlap must be an integer')
      .min(0, 'chunkOverlap must not be negative')
      .optional(),
    unit: z.enum(['tokens', 'characters'], { error: "unit must be 'tokens' or 'characters'" }).optional(),
    tokenizer: z
      .custom<TokenCounter>(
        (value) =>
          typeof value === 'object' &&
          value !== null &&
          typeof (value as TokenCounter).id === 'string' &&
          typeof (value as TokenCounter).count === 'function',
        'tokenizer must be a TokenCounter { id, count(text) } (e.g. await embedder.tokenizer())',
      )
      .optional(),
    separators: z
      .array(z.string().min(1, 'a separator must not be empty').refine(validRegExp, 'not a valid regular expression'))
      .optional(),
    keepHeadings: z.boolean().optional(),
  })
  .strict()
  .superRefine((value, context) => {
    if (value.unit === 'tokens' && value.tokenizer === undefined) {
      context.addIssue({
        code: 'custom',
        path: ['tokenizer'],
        message: "unit 'tokens' needs a tokenizer (await embedder.tokenizer()); or use unit: 'characters'",
      });
    }
  });

const documentSchema = z
  .object({
    uri: z.string(),
    text: z.string({ error: 'text must be a string' }),
    contentType: z.string(),
    pageStarts: z.array(z.number().int('page starts must be integers')).optional(),
  })
  .superRefine((document, context) => {
    const starts = document.pageStarts;
    if (starts === undefined) return;
    const bad = starts.findIndex(
      (start, i) => start > document.text.length || (i === 0 ? start !== 0 : start < (starts[i - 1] as number)),
    );
    if (starts.length === 0 || bad !== -1) {
      context.addIssue({
        code: 'custom',
        path: ['pageStarts'],
        message: `pageStarts must start at 0, never decrease and stay within the text (${document.text.length} characters)${bad === -1 ? '' : `; entry ${bad} is ${starts[bad]}`}`,
      });
    }
  });

/** Content types whose text marks headings as Markdown `#` lines (HTML and DOCX are converted to them). */
const HEADED_TYPES = new Set([
  'text/markdown',
  'text/html',
  'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
]);

const WHITESPACE = /\s/;

type Span = { start: number; end: number };

/** Creates the recursive splitter; its `settings` identify its behaviour completely for the ledger. */
export function createRecursiveSplitter(options: RecursiveSplitterOptions = {}): Splitter {
  const parsed = parseArgument(optionsSchema, options, 'recursive splitter options');
  const tokenizer = parsed.tokenizer;
  const unit: SplitUnit = parsed.unit ?? (tokenizer ? 'tokens' : 'characters');
  const chunkSize = parsed.chunkSize ?? (unit === 'tokens' ? DEFAULT_TOKENS : DEFAULT_CHARACTERS);
  const chunkOverlap = parsed.chunkOverlap ?? Math.floor(chunkSize * DEFAULT_OVERLAP_RATIO);
  if (chunkOverlap >= chunkSize) {
    throw new InvalidArgumentError({
      argument: 'recursive splitter options',
      issues: [
        {
          path: 'chunkOverlap',
          message: `chunkOverlap (${chunkOverlap}) must be less than chunkSize (${chunkSize})`,
        },
      ],
    });
  }
  const separators = parsed.separators ?? [...DEFAULT_SEPARATORS];
  const patterns = separators.map((source) => new RegExp(source, 'gu'));
  const keepHeadings = parsed.keepHeadings ?? true;
  const counter = unit === 'tokens' ? (tokenizer as TokenCounter) : undefined;

  const settings = {
    kind: 'recursive',
    version: VERSION,
    unit,
    chunkSize,
    chunkOverlap,
    separators,
    keepHeadings,
    tokenizer: tokenizer?.id ?? null,
  };

  function split(document: SourceDocument): Chunk[] {
    const { text, contentType, pageStarts } = parseArgument(documentSchema, document, 'document');

    /** [start, end) without surrounding whitespace (start === end when all whitespace). */
    const trim = (start: number, end: number): Span => {
      let s = start;
      let e = end;
      while (s < e && WHITESPACE.test(text[s] as string)) s++;
      while (e > s && WHITESPACE.test(text[e - 1] as string)) e--;
      return { start: s, end: e };
    };
    const measure = (start: number, end: number): number => {
      const span = trim(start, end);
      if (span.end <= span.start) return 0;
      return counter ? counter.count(text.slice(span.start, span.end)) : span.end - span.start;
    };
    const fits = (start: number, end: number) => measure(start, end) <= chunkSize;
    /** Moves a cut off the middle of a surrogate pair. */
    const safe = (at: number, floor: number) => {
      const code = text.charCodeAt(at);
      const before = text.charCodeAt(at - 1);
      const splitsPair = code >= 0xdc00 && code <= 0xdfff && before >= 0xd800 && before <= 0xdbff;
      return splitsPair && at - 1 > floor ? at - 1 : splitsPair ? at + 1 : at;
    };

    /** Largest end in (start, limit] whose prefix fits: galloping, then binary search. */
    const longestFit = (start: number, limit: number): number => {
      let good = start;
      let step = Math.max(1, Math.min(chunkSize, limit - start));
      let bad = limit + 1;
      while (good < limit) {
        const probe = safe(Math.min(limit, good + step), start);
        if (probe > limit || probe <= good) break;
        if (fits(start, probe)) {
          good = probe;
          step *= 2;
        } else {
          bad = probe;
          break;
        }
      }
      while (bad - good > 1) {
        const probe = safe(good + Math.floor((bad - good) / 2), start);
        if (probe <= good || probe >= bad) break;
        if (fits(start, probe)) good = probe;
        else bad = probe;
      }
      return good;
    };

    const hardCut = (start: number, end: number, out: Span[]) => {
      let at = start;
      while (at < end) {
        const cut = longestFit(at, end);
        if (cut <= at) {
          throw new InvalidArgumentError({
            argument: 'recursive splitter options',
            issues: [
              {
                path: 'chunkSize',
                message: `chunkSize ${chunkSize} ${unit} is too small: one character of ${document.uri} at offset ${at} alone measures more`,
              },
            ],
          });
        }
        out.push({ start: at, end: cut });
        at = cut;
      }
    };

    /** Cuts [start, end) into pieces that each fit, using separator `level` onwards. */
    const pieces = (start: number, end: number, level: number, out: Span[]) => {
      // A piece of more than MAX_CHARACTERS_PER_TOKEN characters per token of chunkSize is cut without
      // counting it (cutting is always safe: chunks are packed and checked afterwards).
      const huge = counter !== undefined && end - start > chunkSize * MAX_CHARACTERS_PER_TOKEN;
      if (!huge && fits(start, end)) {
        out.push({ start, end });
        return;
      }
      const pattern = patterns[level];
      if (pattern === undefined) {
        hardCut(start, end, out);
        return;
      }
      const cuts: number[] = [];
      pattern.lastIndex = 0;
      const slice = text.slice(start, end);
      for (const match of slice.matchAll(pattern)) {
        const cut = start + match.index + match[0].length;
        if (cut > start && cut < end && cut !== cuts[cuts.length - 1]) cuts.push(cut);
      }
      if (cuts.length === 0) {
        pieces(start, end, level + 1, out);
        return;
      }
      let from = start;
      for (const cut of [...cuts, end]) {
        pieces(from, cut, level + 1, out);
        from = cut;
      }
    };

    const whole = trim(0, text.length);
    if (whole.end <= whole.start) return [];
    const raw: Span[] = [];
    pieces(0, text.length, 0, raw);
    // Whitespace-only pieces join their neighbour, so that every piece holds some text.
    const atoms: Span[] = [];
    for (const piece of raw) {
      const last = atoms[atoms.length - 1];
      const blank = trim(piece.start, piece.end).end <= trim(piece.start, piece.end).start;
      if (last && (blank || trim(last.start, last.end).end <= trim(last.start, last.end).start)) last.end = piece.end;
      else atoms.push({ ...piece });
    }

    const isHeading = (atom: Span) => {
      const { start, end } = trim(atom.start, atom.end);
      return !text.slice(start, end).includes('\n') && HEADING_LINE.test(text.slice(start, end));
    };
    /** Atoms in the previous chunk: neighbouring chunks are usually alike, so the search starts there. */
    let hint = 1;
    /** Last atom index j ≥ i such that atoms i..j fit together. */
    const lastFitting = (i: number): number => {
      const from = (atoms[i] as Span).start;
      const fitsTo = (j: number) => fits(from, (atoms[j] as Span).end);
      const last = atoms.length - 1;
      let good = i;
      let bad = atoms.length;
      const guess = Math.min(last, i + hint);
      if (guess > i) {
        if (fitsTo(guess)) good = guess;
        else {
          bad = guess;
          if (guess - 1 > i && fitsTo(guess - 1)) good = guess - 1;
        }
      }
      for (let step = 1; bad === atoms.length && good + step <= last; step *= 2) {
        if (fitsTo(good + step)) good += step;
        else bad = good + step;
      }
      while (bad - good > 1) {
        const probe = good + Math.floor((bad - good) / 2);
        if (fitsTo(probe)) good = probe;
        else bad = probe;
      }
      hint = Math.max(1, good - i);
      return good;
    };

    const markdown = HEADED_TYPES.has(contentType);
    const headings = markdown ? [...markdownHeadings(text)] : [];
    const headingAt = (offset: number): string | undefined => {
      let low = 0;
      let high = headings.length - 1;
      let found: string | undefined;
      while (low <= high) {
        const middle = (low + high) >> 1;
        const heading = headings[middle] as { at: number; text: string };
        if (heading.at <= offset) {
          found = heading.text;
          low = middle + 1;
        } else {
          high = middle - 1;
        }
      }
      return found;
    };

    /** The page (1-based) holding the character at `offset`: the last page starting at or before it. */
    const pageAt = (offset: number): number => {
      const starts = pageStarts as number[];
      let low = 0;
      let high = starts.length - 1;
      while (low < high) {
        const middle = (low + high + 1) >> 1;
        if ((starts[middle] as number) <= offset) low = middle;
        else high = middle - 1;
      }
      return low + 1;
    };

    const chunks: Chunk[] = [];
    let i = 0;
    /** The first atom the next chunk must include (the one after the previous chunk). */
    let fresh = 0;
    while (i < atoms.length) {
      const fitted = lastFitting(i);
      let j = fitted;
      const floor = Math.max(i, fresh);
      if (keepHeadings && markdown) while (j > floor && j + 1 < atoms.length && isHeading(atoms[j] as Span)) j--;
      // Token counts need not shrink with the text; never emit a shortened chunk that does not fit.
      while (j < fitted && j > floor && !fits((atoms[i] as Span).start, (atoms[j] as Span).end)) j--;
      const span = trim((atoms[i] as Span).start, (atoms[j] as Span).end);
      const heading = markdown ? headingAt(span.start) : undefined;
      chunks.push({
        index: chunks.length,
        text: text.slice(span.start, span.end),
        start: span.start,
        end: span.end,
        ...(heading === undefined ? {} : { heading }),
        ...(pageStarts === undefined ? {} : { page: pageAt(span.start), pageEnd: pageAt(span.end - 1) }),
      });
      if (j + 1 >= atoms.length) break;
      // The next chunk starts with whole atoms from this one's end, as many as fit the overlap; none
      // when it starts a new section (keepHeadings).
      let next = j + 1;
      fresh = next;
      const following = (atoms[j + 1] as Span).end;
      const section = keepHeadings && markdown && isHeading(atoms[j + 1] as Span);
      while (!section && next - 1 > i && measure((atoms[next - 1] as Span).start, span.end) <= chunkOverlap) next--;
      while (next <= j && !fits((atoms[next] as Span).start, following)) next++;
      i = next;
    }
    return chunks;
  }

  return { settings, split };
}
