/**
 * The recursive splitter, case by case (test/splitter.test.ts checks its guarantees on random text):
 * chunk texts and offsets, overlap in characters and in tokens, which content types carry headings
 * and what counts as one, keepHeadings, pages, defaults, and the errors with their messages.
 */
import { describe, expect, test } from 'vitest';
import type { TokenCounter } from '../src/core/embedder.js';
import { InvalidArgumentError } from '../src/core/errors.js';
import { createRecursiveSplitter, type RecursiveSplitterOptions } from '../src/pipeline/splitter.js';
import type { Chunk, SourceDocument } from '../src/pipeline/types.js';

/** One token per run of non-whitespace. */
const words: TokenCounter = { id: 'words', count: (text) => text.split(/\s+/).filter(Boolean).length };

const DOCX = 'application/vnd.openxmlformats-officedocument.wordprocessingml.document';

const split = (options: RecursiveSplitterOptions, text: string, more: Partial<SourceDocument> = {}): Chunk[] =>
  createRecursiveSplitter(options).split({ uri: 'test:doc', text, contentType: 'text/markdown', ...more });

/** Each chunk as [text, start, end, heading]. */
const outline = (chunks: Chunk[]) => chunks.map((chunk) => [chunk.text, chunk.start, chunk.end, chunk.heading]);

describe('chunk boundaries and overlap', () => {
  test('offsets point into the text; overlap in tokens repeats whole trailing words up to chunkOverlap', () => {
    const chunks = split({ tokenizer: words, chunkSize: 5, chunkOverlap: 2 }, 'a b c d e f g h i j k l');
    expect(outline(chunks)).toEqual([
      ['a b c d e', 0, 9, undefined],
      ['d e f g h', 6, 15, undefined],
      ['g h i j k', 12, 21, undefined],
      ['j k l', 18, 23, undefined],
    ]);
    expect(chunks.map((chunk) => chunk.index)).toEqual([0, 1, 2, 3]);
  });

  test('a piece that fits is kept whole: overlap takes whole sentences, never part of one', () => {
    const text = 'One two. Three four. Five six.';
    // "Three four." is 2 tokens: more than an overlap of 1, so the next chunk starts fresh.
    expect(outline(split({ tokenizer: words, chunkSize: 4, chunkOverlap: 1 }, text))).toEqual([
      ['One two. Three four.', 0, 20, undefined],
      ['Five six.', 21, 30, undefined],
    ]);
    expect(outline(split({ tokenizer: words, chunkSize: 4, chunkOverlap: 2 }, text))).toEqual([
      ['One two. Three four.', 0, 20, undefined],
      ['Three four. Five six.', 9, 30, undefined],
    ]);
  });

  test('overlap shrinks, piece by piece, until the next piece fits beside it; none when it cannot', () => {
    const chunks = split({ chunkSize: 20, chunkOverlap: 10 }, 'aaaa bbbb cccc dddd eeee.\n\nffffffffffffffff.', {
      contentType: 'text/plain',
    });
    expect(outline(chunks)).toEqual([
      ['aaaa bbbb cccc dddd', 0, 19, undefined],
      ['cccc dddd eeee.', 10, 25, undefined],
      ['ffffffffffffffff.', 27, 44, undefined],
    ]);
  });

  test('tokens are what the tokenizer counts, not characters; unit characters counts characters even with one', () => {
    expect(
      split({ tokenizer: words, chunkSize: 2, chunkOverlap: 0 }, 'supercalifragilistic word').map((c) => c.text),
    ).toEqual(['supercalifragilistic word']);
    const splitter = createRecursiveSplitter({ unit: 'characters', tokenizer: words, chunkSize: 10, chunkOverlap: 0 });
    expect(splitter.settings).toMatchObject({ unit: 'characters', chunkSize: 10, tokenizer: 'words' });
    expect(
      splitter.split({ uri: 'test:doc', text: 'one two three four', contentType: 'text/plain' }).map((c) => c.text),
    ).toEqual(['one two', 'three four']);
  });

  test('overlap defaults to 12 % of chunkSize rounded down (the full defaults: test/splitter.test.ts)', () => {
    expect(createRecursiveSplitter({ chunkSize: 100 }).settings).toMatchObject({ chunkSize: 100, chunkOverlap: 12 });
    expect(createRecursiveSplitter({ chunkSize: 8 }).settings).toMatchObject({ chunkOverlap: 0 });
    expect(createRecursiveSplitter({ tokenizer: words, chunkSize: 50 }).settings).toMatchObject({
      unit: 'tokens',
      chunkOverlap: 6,
    });
    const text = Array.from({ length: 400 }, (_, i) => `w${i}`).join(' ');
    // 400 words, 1,889 characters: one chunk of tokens; in characters, chunks of up to 1,000 that
    // share up to 120.
    expect(split({ tokenizer: words }, text)).toHaveLength(1);
    expect(split({}, text).map((chunk) => [chunk.start, chunk.end])).toEqual([
      [0, 999],
      [880, 1879],
      [1760, 1889],
    ]);
  });

  test('a character that alone measures more than chunkSize is an error naming the document and the offset', () => {
    const heavyX: TokenCounter = { id: 'heavy-x', count: (text) => text.length + (text.includes('x') ? 5 : 0) };
    const call = () => split({ tokenizer: heavyX, chunkSize: 2, chunkOverlap: 0 }, 'aa x');
    expect(call).toThrow(InvalidArgumentError);
    expect(call).toThrow(
      'Invalid recursive splitter options: chunkSize: chunkSize 2 tokens is too small: one character of test:doc at offset 3 alone measures more',
    );
    // An emoji is two UTF-16 code units, never cut apart: one character does not fit in 1.
    expect(() => split({ unit: 'characters', chunkSize: 1, chunkOverlap: 0 }, '😀')).toThrow(
      'chunkSize 1 characters is too small: one character of test:doc at offset 0 alone measures more',
    );
    expect(split({ unit: 'characters', chunkSize: 3, chunkOverlap: 0 }, '😀😀😀').map((c) => c.text)).toEqual([
      '😀',
      '😀',
      '😀',
    ]);
  });
});

describe('packing', () => {
  test('every chunk is as long as chunkSize allows: hard cuts in characters and in tokens', () => {
    const lengths = (chunks: Chunk[]) => chunks.map((chunk) => chunk.text.length);
    expect(lengths(split({ chunkSize: 7, chunkOverlap: 0 }, 'x'.repeat(100)))).toEqual([...Array(14).fill(7), 2]);
    // One token per 3 characters (rounded up) plus 2: 9 characters make 5 tokens, 10 make 6.
    const chunky: TokenCounter = { id: 'chunky', count: (text) => Math.ceil(text.length / 3) + 2 };
    expect(lengths(split({ tokenizer: chunky, chunkSize: 5, chunkOverlap: 0 }, 'y'.repeat(50)))).toEqual([
      9, 9, 9, 9, 9, 5,
    ]);
  });

  test('every chunk holds as many whole words as fit, and the next one starts chunkOverlap words back', () => {
    const all = Array.from({ length: 60 }, (_, i) => `w${i}`);
    const chunks = split({ tokenizer: words, chunkSize: 7, chunkOverlap: 2 }, all.join(' '));
    const expected: string[] = [];
    for (let first = 0; first + 2 < all.length; first += 5) expected.push(all.slice(first, first + 7).join(' '));
    expect(chunks.map((chunk) => chunk.text)).toEqual(expected);
  });

  test('far into a long text, sentences stay whole pieces: overlap never takes part of one', () => {
    const text = 'One two. Three four. '.repeat(40).trim();
    const chunks = split({ tokenizer: words, chunkSize: 4, chunkOverlap: 1 }, text);
    expect(chunks).toHaveLength(40);
    expect(new Set(chunks.map((chunk) => chunk.text))).toEqual(new Set(['One two. Three four.']));
  });

  test('cuts never fall inside a surrogate pair, at either end of the surrogate ranges', () => {
    // U+10000 is \uD800\uDC00 and U+10FFFF is \uDBFF\uDFFF: the lowest and highest pair.
    for (const pair of ['\u{10000}', '\u{10FFFF}']) {
      const chunks = split({ chunkSize: 3, chunkOverlap: 0 }, `ab${pair.repeat(3)}`, { contentType: 'text/plain' });
      expect(chunks.map((chunk) => chunk.text)).toEqual(['ab', pair, pair, pair]);
    }
    // Lone surrogates, or a surrogate next to an ordinary character, are no pair: cut anywhere.
    for (const text of ['ab\uDC00c', 'a\uDC00\uDC00b', 'a\uD800\uE000b', 'a\uD800xb']) {
      const chunks = split({ chunkSize: 2, chunkOverlap: 0 }, text, { contentType: 'text/plain' });
      expect(chunks.map((chunk) => [chunk.start, chunk.end])).toEqual([
        [0, 2],
        [2, 4],
      ]);
    }
    expect(split({ chunkSize: 2, chunkOverlap: 0 }, 'a\uDC00\uD800b').map((chunk) => chunk.text)).toEqual([
      'a\uDC00',
      '\uD800b',
    ]);
  });

  test('whitespace alone gives no chunks', () => {
    expect(split({}, ' \n\t ')).toEqual([]);
    expect(split({ tokenizer: words }, '\n\n')).toEqual([]);
  });
});

describe('headings', () => {
  test('what counts as a heading: up to 3 spaces of indent, 1 to 6 #, a space or tab, some text; closing #s dropped', () => {
    const text = [
      '# A',
      'line one',
      '    # indented code',
      'line two',
      '#tag',
      'line three',
      '####### seven',
      '#',
      'line four',
      '   ### Three ###   ',
      'line five',
      '## Tab\there',
      'line six',
    ].join('\n');
    expect(outline(split({ chunkSize: 20, chunkOverlap: 0 }, text))).toEqual([
      ['# A\nline one', 0, 12, 'A'],
      ['# indented code', 17, 32, 'A'],
      ['line two\n#tag', 33, 46, 'A'],
      ['line three', 47, 57, 'A'],
      ['####### seven\n#', 58, 73, 'A'],
      ['line four', 74, 83, 'A'],
      ['### Three ###', 87, 100, 'Three'],
      ['line five', 104, 113, 'Three'],
      ['## Tab\there\nline six', 114, 134, 'Tab\there'],
    ]);
  });

  test('Markdown, HTML and DOCX text carry headings; other content types do not', () => {
    const text = '# Intro\nfirst part of text.\n\n## Next ##\nsecond part here.';
    for (const contentType of ['text/markdown', 'text/html', DOCX]) {
      expect(split({ chunkSize: 30, chunkOverlap: 0 }, text, { contentType }).map((c) => c.heading)).toEqual([
        'Intro',
        'Next',
      ]);
    }
    const plain = split({ chunkSize: 30, chunkOverlap: 0 }, text, { contentType: 'text/plain' });
    expect(plain.map((chunk) => chunk.text)).toEqual(['# Intro\nfirst part of text.', '## Next ##\nsecond part here.']);
    expect(plain.every((chunk) => !('heading' in chunk))).toBe(true);
  });

  test('no heading inside a code fence: a fence closes only with the same character, at least as long', () => {
    const text = [
      '# A',
      'xx',
      'use ``` inline',
      '~ tilde',
      '# A2',
      '~~~',
      '# in tilde',
      '```',
      '# still in',
      '~~~',
      '# B',
      'yy',
      '````',
      '# in four',
      '```',
      '# still in four',
      '`````',
      '# C',
      'zz',
    ].join('\n');
    expect(split({ chunkSize: 8, chunkOverlap: 0 }, text).map((chunk) => [chunk.text, chunk.heading])).toEqual([
      ['# A\nxx', 'A'],
      ['use ```', 'A'],
      ['inline', 'A'],
      ['~ tilde', 'A'],
      ['# A2\n~~~', 'A2'],
      ['# in', 'A2'],
      ['tilde', 'A2'],
      ['```\n#', 'A2'],
      ['still in', 'A2'],
      ['~~~', 'A2'],
      ['# B\nyy', 'B'],
      ['````\n#', 'B'],
      ['in four', 'B'],
      ['```\n#', 'B'],
      ['still in', 'B'],
      ['four', 'B'],
      ['`````', 'B'],
      ['# C\nzz', 'C'],
    ]);
  });

  test('keepHeadings: a heading opens its chunk, with no overlap; turned off, a chunk may end with one', () => {
    const text = 'aa.\n\nbb.\n\n# Two\n\npara two is longer text.\n\npara three.';
    expect(outline(split({ chunkSize: 40, chunkOverlap: 20 }, text))).toEqual([
      ['aa.\n\nbb.', 0, 8, undefined],
      ['# Two\n\npara two is longer text.', 10, 41, 'Two'],
      ['para three.', 43, 54, 'Two'],
    ]);
    expect(outline(split({ chunkSize: 40, chunkOverlap: 20, keepHeadings: false }, text))).toEqual([
      ['aa.\n\nbb.\n\n# Two', 0, 15, undefined],
      ['# Two\n\npara two is longer text.', 10, 41, 'Two'],
      ['para three.', 43, 54, 'Two'],
    ]);
  });
  test('the chunk that opens a section repeats nothing of the one before; a heading that ends the text stays in the last chunk', () => {
    const text =
      'one one one one.\n\ntwo two.\n\nthree three three.\n\n# Two\n\npara two is longer text.\n\npara three.';
    expect(outline(split({ chunkSize: 40, chunkOverlap: 20 }, text))).toEqual([
      ['one one one one.\n\ntwo two.', 0, 26, undefined],
      ['two two.\n\nthree three three.', 18, 46, undefined],
      ['# Two\n\npara two is longer text.', 48, 79, 'Two'],
      ['para three.', 81, 92, 'Two'],
    ]);
    expect(outline(split({ chunkSize: 20, chunkOverlap: 0 }, 'long first paragraph here.\n\nbb.\n\n# End'))).toEqual([
      ['long first paragraph', 0, 20, undefined],
      ['here.\n\nbb.\n\n# End', 21, 38, undefined],
    ]);
  });

  test('only a heading that opens a section stops overlap: not a # line in plain text, nor with keepHeadings off', () => {
    const text = 'aaaa aaaa aaaa aaaa aaaa.\n\nbb.\n\ncc.\n\n# Two two two two two two\n\npara.';
    const options = { chunkSize: 30, chunkOverlap: 10 };
    const first = [
      ['aaaa aaaa aaaa aaaa aaaa.\n\nbb.', 0, 30, undefined],
      ['bb.\n\ncc.', 27, 35, undefined],
    ];
    expect(outline(split(options, text))).toEqual([
      ...first,
      ['# Two two two two two two', 37, 62, 'Two two two two two two'],
      ['para.', 64, 69, 'Two two two two two two'],
    ]);
    expect(outline(split(options, text, { contentType: 'text/plain' }))).toEqual([
      ...first,
      ['cc.\n\n# Two two two two two two', 32, 62, undefined],
      ['para.', 64, 69, undefined],
    ]);
    expect(outline(split({ ...options, keepHeadings: false }, text))).toEqual([
      ...first,
      ['cc.\n\n# Two two two two two two', 32, 62, undefined],
      ['para.', 64, 69, 'Two two two two two two'],
    ]);
  });
});

describe('options', () => {
  test('bad options are refused with the option and the reason', () => {
    const bad: [unknown, string][] = [
      [{ chunkSize: 10, chunkOverlap: 10 }, 'chunkOverlap: chunkOverlap (10) must be less than chunkSize (10)'],
      [{ chunkOverlap: 2000 }, 'chunkOverlap: chunkOverlap (2000) must be less than chunkSize (1000)'],
      [{ chunkOverlap: -1 }, 'chunkOverlap: chunkOverlap must not be negative'],
      [{ unit: 'words' }, "unit: unit must be 'tokens' or 'characters'"],
      [
        { unit: 'tokens' },
        "tokenizer: unit 'tokens' needs a tokenizer (await embedder.tokenizer()); or use unit: 'characters'",
      ],
      [{ separators: ['('] }, 'separators.0: not a valid regular expression'],
      // Valid without the u flag, not with it (separators are compiled with flags gu).
      [{ separators: ['{'] }, 'separators.0: not a valid regular expression'],
      [{ separators: ['x', ''] }, 'separators.1: a separator must not be empty'],
    ];
    const notCounter =
      'tokenizer: tokenizer must be a TokenCounter { id, count(text) } (e.g. await embedder.tokenizer())';
    const callable = Object.assign(() => 1, { id: 'f', count: () => 1 });
    for (const tokenizer of [{ id: 'x' }, { count: () => 1 }, { id: 1, count: () => 1 }, null, 'words', callable])
      bad.push([{ tokenizer }, notCounter]);
    for (const [options, message] of bad) {
      const call = () => createRecursiveSplitter(options as never);
      expect(call).toThrow(InvalidArgumentError);
      expect(call).toThrow(`Invalid recursive splitter options: ${message}`);
    }
    // Accepted: a valid separator, a tokenizer with unit tokens, chunkOverlap just below chunkSize.
    expect(createRecursiveSplitter({ separators: ['\\|'], tokenizer: words, unit: 'tokens' }).settings).toMatchObject({
      separators: ['\\|'],
      unit: 'tokens',
    });
    expect(createRecursiveSplitter({ chunkSize: 10, chunkOverlap: 9 }).settings).toMatchObject({ chunkOverlap: 9 });
  });
});

describe('pages', () => {
  test('each chunk has the page of its first and of its last character; an empty page is skipped', () => {
    const text = 'aaa bbb ccc ddd eee fff ggg hhh iii jjj kkk lll mmm';
    // Page 4 is empty (pages 4 and 5 both start at 12).
    const chunks = split({ chunkSize: 20, chunkOverlap: 0 }, text, {
      contentType: 'text/plain',
      pageStarts: [0, 4, 8, 12, 12, 20, 30, 40, 41],
    });
    expect(chunks.map((chunk) => [chunk.text, chunk.page, chunk.pageEnd])).toEqual([
      ['aaa bbb ccc ddd eee', 1, 5],
      ['fff ggg hhh iii jjj', 6, 7],
      ['kkk lll mmm', 8, 9],
    ]);
    const single = split({}, 'xyz', { contentType: 'text/plain', pageStarts: [0, 3] });
    expect(single.map((chunk) => [chunk.page, chunk.pageEnd])).toEqual([[1, 1]]);
    expect(split({}, 'xyz').every((chunk) => !('page' in chunk) && !('pageEnd' in chunk))).toBe(true);
  });

  test('page starts that cannot be right are refused with the entry at fault', () => {
    const message = (text: string, extra: string) =>
      `pageStarts must start at 0, never decrease and stay within the text (${text.length} characters)${extra}`;
    const cases: [number[], string][] = [
      [[], message('xyz', '')],
      [[1], message('xyz', '; entry 0 is 1')],
      [[0, 2, 1], message('xyz', '; entry 2 is 1')],
      [[0, 4], message('xyz', '; entry 1 is 4')],
      [[0, 1.5], 'page starts must be integers'],
    ];
    for (const [pageStarts, expected] of cases) {
      const error = (() => {
        try {
          split({}, 'xyz', { pageStarts });
        } catch (caught) {
          return caught;
        }
      })();
      expect(error).toBeInstanceOf(InvalidArgumentError);
      const path = expected.startsWith('page starts') ? 'pageStarts.1' : 'pageStarts';
      expect((error as Error).message).toBe(`Invalid document: ${path}: ${expected}`);
    }
    expect(() => split({}, 3 as unknown as string)).toThrow('text must be a string');
  });
});
