import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, test } from 'vitest';
import type { TokenCounter } from '../src/core/embedder.js';
import { InvalidArgumentError } from '../src/core/errors.js';
import { createTransformersEmbedder } from '../src/embedders/transformers/index.js';
import { createRecursiveSplitter, DEFAULT_SEPARATORS } from '../src/pipeline/splitter.js';
import type { Chunk, SourceDocument, Splitter } from '../src/pipeline/types.js';
import { writeTinyBert } from './helpers/tiny-bert.js';

/** Counts runs of non-whitespace: simple, exact, and not additive over a text's parts. */
const whitespaceTokens: TokenCounter = { id: 'whitespace', count: (text) => text.split(/\s+/).filter(Boolean).length };
/** One token per 3 UTF-16 code units (rounded up), plus 2 "special tokens" per call, like BERT's [CLS] and [SEP]. */
const chunkyTokens: TokenCounter = { id: 'chunky', count: (text) => Math.ceil(text.length / 3) + 2 };

const doc = (text: string, contentType = 'text/markdown'): SourceDocument => ({ uri: 'test:doc', text, contentType });
const isWhitespace = (text: string) => /^\s*$/.test(text);
const squeeze = (text: string) => text.replace(/\s+/g, '');

/**
 * The guarantees of docs/loading.md, checked exactly:
 * - text === document.text.slice(start, end), non-empty, no leading or trailing whitespace;
 * - size ≤ chunkSize in the unit; indexes 0..n-1; starts and ends strictly increase;
 * - before the first chunk, after the last, and between two chunks that do not overlap: only whitespace;
 * - two chunks that overlap share at most chunkOverlap units;
 * - so the non-overlapping parts, concatenated, equal the text without its whitespace.
 * - no chunk boundary falls inside a surrogate pair.
 */
function checkChunks(
  text: string,
  chunks: Chunk[],
  size: (text: string) => number,
  chunkSize: number,
  overlap: number,
) {
  if (isWhitespace(text)) {
    expect(chunks).toEqual([]);
    return;
  }
  expect(chunks.length).toBeGreaterThan(0);
  let covered = '';
  let previous: Chunk | undefined;
  for (const [index, chunk] of chunks.entries()) {
    expect(chunk.index).toBe(index);
    expect(chunk.text).toBe(text.slice(chunk.start, chunk.end));
    expect(chunk.text.length).toBeGreaterThan(0);
    expect(chunk.text).toBe(chunk.text.trim());
    expect(size(chunk.text)).toBeLessThanOrEqual(chunkSize);
    for (const at of [chunk.start, chunk.end]) {
      const code = text.charCodeAt(at);
      const before = text.charCodeAt(at - 1);
      expect(code >= 0xdc00 && code <= 0xdfff && before >= 0xd800 && before <= 0xdbff).toBe(false);
    }
    if (previous === undefined) {
      expect(isWhitespace(text.slice(0, chunk.start))).toBe(true);
      covered += chunk.text;
    } else {
      expect(chunk.start).toBeGreaterThan(previous.start);
      expect(chunk.end).toBeGreaterThan(previous.end);
      if (chunk.start >= previous.end) {
        expect(isWhitespace(text.slice(previous.end, chunk.start))).toBe(true);
        covered += chunk.text;
      } else {
        expect(size(text.slice(chunk.start, previous.end))).toBeLessThanOrEqual(overlap);
        covered += text.slice(previous.end, chunk.end);
      }
    }
    previous = chunk;
  }
  expect(isWhitespace(text.slice((previous as Chunk).end))).toBe(true);
  expect(squeeze(covered)).toBe(squeeze(text));
}

/** Markdown-ish text: headings, paragraphs, sentences, long words, emoji, CJK, odd whitespace. */
const word = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom('the', 'cat', 'sat', 'on', 'a', 'mat', 'über', '猫', 'naïve', 'x') },
  { weight: 1, arbitrary: fc.constantFrom('😀', '👩‍👩‍👧', '𝔘𝔫𝔦𝔠𝔬𝔡𝔢', 'supercalifragilisticexpialidocious'.repeat(3)) },
  { weight: 1, arbitrary: fc.string({ minLength: 1, maxLength: 12, unit: 'grapheme' }) },
);
const line = fc.oneof(
  { weight: 5, arbitrary: fc.array(word, { minLength: 1, maxLength: 25 }).map((words) => `${words.join(' ')}.`) },
  {
    weight: 1,
    arbitrary: fc.tuple(fc.integer({ min: 1, max: 3 }), word).map(([level, w]) => `${'#'.repeat(level)} ${w}`),
  },
  { weight: 1, arbitrary: fc.constantFrom('', '   ', '\t', '```', '- item', '') },
);
const markdown = fc.array(line, { maxLength: 40 }).map((lines) => lines.join('\n'));
const anyText = fc.oneof(markdown, fc.string({ maxLength: 300, unit: 'binary' }), fc.constantFrom('', ' \n\t '));

const configs = fc.oneof(
  fc.record({ unit: fc.constant('characters' as const), chunkSize: fc.integer({ min: 2, max: 200 }) }),
  fc.record({
    unit: fc.constant('tokens' as const),
    chunkSize: fc.integer({ min: 1, max: 40 }),
    tokenizer: fc.constant(whitespaceTokens),
  }),
  fc.record({
    unit: fc.constant('tokens' as const),
    chunkSize: fc.integer({ min: 3, max: 60 }),
    tokenizer: fc.constant(chunkyTokens),
  }),
);

function sizer(splitter: Splitter): (text: string) => number {
  const tokenizer = splitter.settings.tokenizer;
  if (tokenizer === 'whitespace') return whitespaceTokens.count;
  if (tokenizer === 'chunky') return chunkyTokens.count;
  return (text) => text.length;
}

describe('createRecursiveSplitter properties', () => {
  test('size, exact offsets, coverage, bounded overlap, no broken surrogate pairs, determinism', () => {
    fc.assert(
      fc.property(
        anyText,
        configs,
        fc.double({ min: 0, max: 0.9, noNaN: true }),
        fc.boolean(),
        (text, config, ratio, keepHeadings) => {
          const chunkOverlap = Math.floor(config.chunkSize * ratio);
          const splitter = createRecursiveSplitter({ ...config, chunkOverlap, keepHeadings });
          const chunks = splitter.split(doc(text));
          checkChunks(text, chunks, sizer(splitter), config.chunkSize, chunkOverlap);
          expect(createRecursiveSplitter({ ...config, chunkOverlap, keepHeadings }).split(doc(text))).toEqual(chunks);
        },
      ),
      { numRuns: 300 },
    );
  });

  test('heading is the nearest Markdown heading at or above the chunk start (code fences ignored)', () => {
    fc.assert(
      fc.property(markdown, fc.integer({ min: 10, max: 120 }), (text, chunkSize) => {
        const chunks = createRecursiveSplitter({ chunkSize, chunkOverlap: 0 }).split(doc(text));
        for (const chunk of chunks) {
          let fence = false;
          let expected: string | undefined;
          let at = 0;
          for (const textLine of text.split('\n')) {
            if (at > chunk.start) break;
            if (textLine.startsWith('```')) fence = !fence;
            else if (!fence && /^#{1,3} \S/.test(textLine)) expected = textLine.replace(/^#+ /, '').trim();
            at += textLine.length + 1;
          }
          expect(chunk.heading).toBe(expected);
        }
      }),
      { numRuns: 150 },
    );
  });
});

describe('createRecursiveSplitter behaviour', () => {
  const text = [
    '# Guide',
    '',
    'Kumiki loads sources. It splits them into chunks! Does it keep sentences? Yes.',
    '',
    '## Install',
    '',
    'Run the installer and wait for it to finish before you continue with the next step.',
  ].join('\n');

  test('cuts at the coarsest separator that fits and keeps a heading with its section', () => {
    const chunks = createRecursiveSplitter({ chunkSize: 100, chunkOverlap: 0 }).split(doc(text));
    expect(chunks.map((chunk) => [chunk.text, chunk.heading])).toEqual([
      ['# Guide\n\nKumiki loads sources. It splits them into chunks! Does it keep sentences? Yes.', 'Guide'],
      ['## Install\n\nRun the installer and wait for it to finish before you continue with the next step.', 'Install'],
    ]);
  });

  test('overlap repeats whole trailing pieces of the previous chunk', () => {
    const prose = 'One two three four five six seven eight nine ten eleven twelve.';
    const chunks = createRecursiveSplitter({ chunkSize: 30, chunkOverlap: 10 }).split(doc(prose, 'text/plain'));
    expect(chunks.map((chunk) => chunk.text)).toEqual([
      'One two three four five six',
      'five six seven eight nine ten',
      'nine ten eleven twelve.',
    ]);
    expect(chunks.every((chunk) => chunk.heading === undefined)).toBe(true);
  });

  test('a word longer than chunkSize is hard-cut, never inside a surrogate pair', () => {
    const long = `${'😀'.repeat(7)}abc`;
    const chunks = createRecursiveSplitter({ chunkSize: 5, chunkOverlap: 0 }).split(doc(long, 'text/plain'));
    expect(chunks.map((chunk) => chunk.text)).toEqual(['😀😀', '😀😀', '😀😀', '😀abc']);
  });

  test('empty and whitespace-only text give no chunks', () => {
    const splitter = createRecursiveSplitter();
    expect(splitter.split(doc(''))).toEqual([]);
    expect(splitter.split(doc(' \n\n\t '))).toEqual([]);
  });

  test('settings record everything that shapes the chunks', () => {
    expect(createRecursiveSplitter().settings).toEqual({
      kind: 'recursive',
      version: 2,
      unit: 'characters',
      chunkSize: 1000,
      chunkOverlap: 120,
      separators: [...DEFAULT_SEPARATORS],
      keepHeadings: true,
      tokenizer: null,
    });
    expect(createRecursiveSplitter({ tokenizer: whitespaceTokens }).settings).toMatchObject({
      unit: 'tokens',
      chunkSize: 512,
      chunkOverlap: 61,
      tokenizer: 'whitespace',
    });
    expect(JSON.parse(JSON.stringify(createRecursiveSplitter().settings))).toEqual(createRecursiveSplitter().settings);
  });

  test('custom separators are regular expressions, cut after each match', () => {
    const splitter = createRecursiveSplitter({ chunkSize: 8, chunkOverlap: 0, separators: [';'] });
    expect(splitter.split(doc('aaa;bbb;ccc;dddd', 'text/plain')).map((chunk) => chunk.text)).toEqual([
      'aaa;bbb;',
      'ccc;dddd',
    ]);
  });

  test('bad options and documents throw InvalidArgumentError naming the problem', () => {
    const bad: [unknown, RegExp][] = [
      [{ chunkSize: 10, chunkOverlap: 10 }, /chunkOverlap \(10\) must be less than chunkSize \(10\)/],
      [{ chunkSize: 0 }, /chunkSize must be at least 1/],
      [{ chunkSize: 1.5 }, /chunkSize must be an integer/],
      [{ unit: 'tokens' }, /unit 'tokens' needs a tokenizer/],
      [{ tokenizer: { count: () => 1 } }, /tokenizer must be a TokenCounter/],
      [{ separators: ['('] }, /not a valid regular expression/],
      [{ chunkSze: 10 }, /chunkSze/],
    ];
    for (const [options, message] of bad) {
      const call = () => createRecursiveSplitter(options as never);
      expect(call).toThrow(InvalidArgumentError);
      expect(call).toThrow(message);
    }
    expect(() => createRecursiveSplitter().split({ uri: 'x', text: 3 } as never)).toThrow(InvalidArgumentError);
    // With 2 "special tokens" per count, a chunk of 2 tokens cannot hold even one character.
    expect(() =>
      createRecursiveSplitter({ tokenizer: chunkyTokens, chunkSize: 2, chunkOverlap: 0 }).split(doc('abc')),
    ).toThrow(/chunkSize 2 tokens is too small/);
  });
});

/** About 1 MB of Markdown: sections, paragraphs, sentences. */
function bigMarkdown(): string {
  const parts: string[] = [];
  let length = 0;
  for (let section = 0; length < 1_000_000; section++) {
    const part = `## Section ${section}\n\nLorem ipsum dolor sit amet, consectetur adipiscing elit ${section}. Sed do eiusmod tempor incididunt ut labore et dolore magna aliqua! Ut enim ad minim veniam?\nQuis nostrud exercitation ullamco laboris nisi ut aliquip ex ea commodo consequat.\n\n`;
    parts.push(part);
    length += part.length;
  }
  return parts.join('');
}

describe('large documents', () => {
  const big = bigMarkdown();

  test('1 MB of Markdown: characters, a whitespace tokenizer and a chunky tokenizer (times logged)', () => {
    for (const [name, options] of [
      ['characters (1000)', {}],
      ['whitespace tokens (512)', { tokenizer: whitespaceTokens }],
      ['chunky tokens (512)', { tokenizer: chunkyTokens }],
      ['characters, one 1 MB word (1000)', {}],
      ['chunky tokens, one 1 MB word (512)', { tokenizer: chunkyTokens }],
    ] as const) {
      const splitter = createRecursiveSplitter(options);
      const text = name.includes('word') ? 'x'.repeat(1_000_000) : big;
      const started = performance.now();
      const chunks = splitter.split(doc(text));
      const elapsed = performance.now() - started;
      console.log(`splitting ${text.length} chars, ${name}: ${chunks.length} chunks in ${elapsed.toFixed(0)} ms`);
      checkChunks(
        text,
        chunks,
        sizer(splitter),
        splitter.settings.chunkSize as number,
        splitter.settings.chunkOverlap as number,
      );
    }
  });
});

describe('with the real transformers.js tokenizer', () => {
  let root = '';
  afterAll(async () => {
    if (root) await rm(root, { recursive: true, force: true });
  });

  test('chunks fit chunkSize in the model tokens, counted by the embedder itself', async () => {
    root = await mkdtemp(join(tmpdir(), 'kumiki-splitter-'));
    const { folder } = await writeTinyBert(join(root, 'tiny-bert'));
    const embedder = createTransformersEmbedder({ model: folder, offline: true });
    const tokenizer = await embedder.tokenizer();
    const { tokenizer: native } = await embedder.native();
    const splitter = createRecursiveSplitter({ tokenizer, chunkSize: 64 });
    expect(splitter.settings).toMatchObject({
      unit: 'tokens',
      chunkSize: 64,
      chunkOverlap: 7,
      tokenizer: tokenizer.id,
    });
    const text = `${bigMarkdown().slice(0, 20_000)}\n\n${'unbrokenwordwithoutanyspaces'.repeat(40)} 😀 über 猫.`;
    const chunks = splitter.split(doc(text));
    checkChunks(text, chunks, (part) => native.encode(part).length, 64, 7);

    const big = bigMarkdown();
    const started = performance.now();
    const bigChunks = createRecursiveSplitter({ tokenizer }).split(doc(big));
    const elapsed = performance.now() - started;
    console.log(
      `splitting ${big.length} chars, transformers.js tokens (512): ${bigChunks.length} chunks in ${elapsed.toFixed(0)} ms`,
    );
    expect(bigChunks.every((chunk) => native.encode(chunk.text).length <= 512)).toBe(true);
    await embedder.dispose();
  }, 120_000);
});
