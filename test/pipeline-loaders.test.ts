/**
 * textToDocuments, textToDocument, fromStrings and fromIterable (runtime-neutral loaders), with the
 * output compared exactly: content types and their spellings, Markdown titles, JSON as readable
 * lines, textFields, JSONL records, where invalid JSON breaks, and what skipping reports.
 */

import { describe, expect, test } from 'vitest';
import { InvalidArgumentError, UnreadableSourceError } from '../src/core/errors.js';
import { FrontMatterError } from '../src/pipeline/front-matter.js';
import {
  fromIterable,
  fromStrings,
  guessContentType,
  stringUri,
  type TextToDocumentOptions,
  textToDocument,
  textToDocuments,
} from '../src/pipeline/loaders.js';
import type { SkippedSource, SourceDocument } from '../src/pipeline/types.js';

async function collect(iterable: AsyncIterable<SourceDocument>): Promise<SourceDocument[]> {
  const out: SourceDocument[] = [];
  for await (const document of iterable) out.push(document);
  return out;
}

/** The error a call throws (it must throw). */
function thrown(call: () => unknown): Error {
  try {
    call();
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected the call to throw');
}

/** Runs with `onUnsupported: 'skip'` and returns the documents and what was reported. */
function skipping(uri: string, content: string, options: TextToDocumentOptions = {}) {
  const skipped: SkippedSource[] = [];
  const documents = textToDocuments(uri, content, {
    ...options,
    onUnsupported: 'skip',
    onSkip: (entry) => skipped.push(entry),
  });
  return { documents, skipped };
}

const DOCX = 'application/vnd.openxmlformats-officedocument.wordprocessingml.document';

describe('guessContentType', () => {
  test('by the last extension of the path, in any case, ignoring query and fragment', () => {
    expect(guessContentType('a.md')).toBe('text/markdown');
    expect(guessContentType('A.MARKDOWN')).toBe('text/markdown');
    expect(guessContentType('https://x.test/page.HTM?x=1.json#part.txt')).toBe('text/html');
    expect(guessContentType('https://x.test/page.html#a.json')).toBe('text/html');
    expect(guessContentType('data.JSON')).toBe('application/json');
    expect(guessContentType('rows.ndjson')).toBe('application/x-ndjson');
    expect(guessContentType('rows.jsonl')).toBe('application/x-ndjson');
    expect(guessContentType('scan.pdf')).toBe('application/pdf');
    expect(guessContentType('memo.docx')).toBe(DOCX);
    expect(guessContentType('archive.tar.md')).toBe('text/markdown');
  });

  test('no extension, a dot in a folder name, or an unknown extension: text/plain', () => {
    expect(guessContentType('README')).toBe('text/plain');
    expect(guessContentType('file:///v1.2/README')).toBe('text/plain');
    expect(guessContentType('notes.md/README')).toBe('text/plain');
    expect(guessContentType('photo.png')).toBe('text/plain');
    expect(guessContentType('x.md?')).toBe('text/markdown');
  });
});

describe('content types', () => {
  test('aliases and parameters name the canonical type', () => {
    expect(textToDocument('a', '# T', { contentType: 'text/x-markdown' })).toEqual({
      uri: 'a',
      text: '# T',
      contentType: 'text/markdown',
      title: 'T',
    });
    expect(
      textToDocument('a', '<head><title>X</title></head><p>y</p>', { contentType: ' Application/XHTML+XML ; q=1' }),
    ).toEqual({ uri: 'a', text: 'y', contentType: 'text/html', title: 'X' });
    expect(textToDocument('a', '{"k":1}', { contentType: 'text/json' })).toEqual({
      uri: 'a',
      text: 'k: 1',
      contentType: 'application/json',
    });
    for (const alias of [
      'application/jsonl',
      'application/x-jsonlines',
      'application/jsonlines',
      'application/ndjson',
    ]) {
      expect(
        textToDocuments('a', '{"k":1}\n{"k":2}', { contentType: alias }).map((d) => [d.uri, d.contentType]),
      ).toEqual([
        ['a#L1', 'application/x-ndjson'],
        ['a#L2', 'application/x-ndjson'],
      ]);
    }
    // The type given wins over the extension.
    expect(textToDocument('a.json', '{"k":1}', { contentType: 'text/plain' }).text).toBe('{"k":1}');
  });

  test('other text/* types stay as written; binary and unknown types are refused with the way to read them', () => {
    expect(textToDocument('c', 'a,b\r\nc,d', { contentType: 'text/csv; charset=utf-8' })).toStrictEqual({
      uri: 'c',
      text: 'a,b\nc,d',
      contentType: 'text/csv',
    });
    const docx = thrown(() => textToDocuments('m.docx', 'PK'));
    expect(UnreadableSourceError.isInstance(docx)).toBe(true);
    expect(docx).toMatchObject({
      reason: 'unsupported-type',
      source: 'm.docx',
      detail: `${DOCX} is a binary format: read its bytes with docxToDocument (kumiki/loaders/docx)`,
    });
    expect(docx.message).toBe(
      `m.docx: ${DOCX} is a binary format: read its bytes with docxToDocument (kumiki/loaders/docx). Pass onUnsupported: 'skip' (with onSkip) to leave such sources out and have them reported`,
    );
    expect(skipping('x', 'y', { contentType: 'Image/PNG' }).skipped).toEqual([
      { uri: 'x', reason: 'unsupported-type', message: 'unsupported content type image/png' },
    ]);
    expect(() => textToDocuments('x', 'y', { contentType: '' })).toThrow(
      /contentType must be a MIME type such as text\/markdown/,
    );
  });

  test('a byte-order mark is dropped and line endings become \\n, for every type', () => {
    expect(textToDocument('a.txt', '\ufeffone\r\ntwo\rthree\n').text).toBe('one\ntwo\nthree\n');
    expect(textToDocument('a.txt', 'x\ufeffy').text).toBe('x\ufeffy');
    expect(textToDocument('a.json', '\ufeff{"a":\r\n"b"}').text).toBe('a: b');
    expect(textToDocuments('a.jsonl', '{"a":1}\r\n\r\n{"a":2}\r\n').map((d) => d.uri)).toEqual([
      'a.jsonl#L1',
      'a.jsonl#L3',
    ]);
  });
});

describe('Markdown', () => {
  const title = (text: string) => textToDocument('t.md', text).title;

  test('the title is the first level-one ATX heading, outside fenced code', () => {
    expect(title('intro\n# First\n# Second')).toBe('First');
    expect(title('## Sub\n#NoSpace\n#\n#   \n   # Indented three  ')).toBe('Indented three');
    expect(title('    # four spaces is code\n# Real')).toBe('Real');
    expect(title('# Closed ##  ')).toBe('Closed');
    expect(title('#\tTabbed\t#')).toBe('Tabbed');
    expect(title('# C# and F#')).toBe('C# and F#');
    expect(title('no heading at all')).toBeUndefined();
    expect(textToDocument('t.md', 'plain')).toStrictEqual({ uri: 't.md', text: 'plain', contentType: 'text/markdown' });
  });

  test('a fence closes only with its own marker; ~~~ and indented fences count', () => {
    expect(title('```\n# in code\n```\n# After')).toBe('After');
    expect(title('~~~\n```\n# still code\n~~~\n# After tilde')).toBe('After tilde');
    expect(title('```js\n~~~\n# still code\n```\n# After backticks')).toBe('After backticks');
    expect(title('   ````\n# code\n````\n# Out')).toBe('Out');
    // A shorter fence does not close a longer one (CommonMark), as in the splitter.
    expect(title('````\n```\n# still code\n````\n# Out of four')).toBe('Out of four');
    expect(title('```\n# never closed')).toBeUndefined();
    expect(title('``\n# Two backticks are no fence')).toBe('Two backticks are no fence');
    expect(title('`code`\n~x\n# One marker is no fence')).toBe('One marker is no fence');
    expect(title('text ```\n# Not a fence mid-line')).toBe('Not a fence mid-line');
    expect(title('see # not a heading\n#   Spaces   ##\n')).toBe('Spaces');
  });

  test("front matter: its title wins, a non-string title does not; the caller's metadata goes over its fields", () => {
    expect(textToDocument('p.md', '---\ntitle: 42\nowner: ada\n---\n# Heading\n')).toStrictEqual({
      uri: 'p.md',
      text: '# Heading\n',
      contentType: 'text/markdown',
      title: 'Heading',
      metadata: { title: 42, owner: 'ada' },
    });
    expect(
      textToDocument('p.md', '---\nowner: ada\n---\nbody', {
        metadata: { owner: 'app' },
        modifiedAt: '2026-05-06T07:08:09Z',
      }),
    ).toEqual({
      uri: 'p.md',
      text: 'body',
      contentType: 'text/markdown',
      metadata: { owner: 'app' },
      modifiedAt: '2026-05-06T07:08:09Z',
    });
    // Turned off, the block is text and its heading-less body has no title.
    expect(textToDocument('p.md', '---\ntitle: T\n---\nbody', { frontMatter: false })).toStrictEqual({
      uri: 'p.md',
      text: '---\ntitle: T\n---\nbody',
      contentType: 'text/markdown',
    });
  });

  test('front matter that does not parse is a parse error with its line (thrown with the hint, or skipped)', () => {
    const error = thrown(() => textToDocument('p.md', '---\na: 1\nb: *alias\n---\n'));
    expect(error).toMatchObject({ name: 'UnreadableSourceError', reason: 'parse-error', line: 3, source: 'p.md' });
    expect(error.message).toMatch(/\. Pass onUnsupported: 'skip' \(with onSkip\)/);
    expect((error as UnreadableSourceError).cause).toBeInstanceOf(FrontMatterError);
  });
});

describe('HTML', () => {
  test('becomes text; its <title> is the title; no title, no field', () => {
    expect(textToDocument('p.html', '<html><head><title>T</title></head><body><p>a</p></body></html>')).toEqual({
      uri: 'p.html',
      text: 'a',
      contentType: 'text/html',
      title: 'T',
    });
    expect(textToDocument('p.htm', '<p>a</p>', { metadata: { k: 'v' } })).toStrictEqual({
      uri: 'p.htm',
      text: 'a',
      contentType: 'text/html',
      metadata: { k: 'v' },
    });
  });
});

describe('JSON as text', () => {
  test('every leaf as a path: value line; empty containers as [] and {}', () => {
    const json = JSON.stringify({
      a: { b: [{ c: 1 }, [], 'x'], e: {} },
      s: 'y',
      n: null,
      f: 1.5,
      t: false,
      q: 'say "hi"',
    });
    expect(textToDocument('d.json', json).text).toBe(
      'a.b[0].c: 1\na.b[1]: []\na.b[2]: x\na.e: {}\ns: y\nn: null\nf: 1.5\nt: false\nq: say "hi"',
    );
    expect(textToDocument('d.json', '[1, "two", [true]]').text).toBe('[0]: 1\n[1]: two\n[2][0]: true');
    expect(textToDocument('d.json', '"just text"').text).toBe('just text');
    expect(textToDocument('d.json', ' 42 ').text).toBe('42');
    expect(textToDocument('d.json', 'null').text).toBe('null');
    expect(textToDocument('d.json', '[]').text).toBe('');
    expect(textToDocument('d.json', '{}').text).toBe('');
    expect(textToDocument('d.json', '{"x":[[]],"y":[{}]}').text).toBe('x[0]: []\ny[0]: {}');
  });

  test('textFields: strings as written, other values as lines, missing and null fields left out, in the order given', () => {
    const json = JSON.stringify({ title: 'T', body: 'B', n: 5, meta: { k: [1] }, gone: null });
    expect(textToDocument('d.json', json, { textFields: ['meta', 'gone', 'n', 'body', 'missing', 'title'] })).toEqual({
      uri: 'd.json',
      text: 'meta.k[0]: 1\n\nn: 5\n\nB\n\nT',
      contentType: 'application/json',
    });
    expect(textToDocument('d.json', '{"e":""}', { textFields: ['e'] }).text).toBe('');
    expect(textToDocument('d.json', '[{"a":"1"},{"b":"2","a":"3"}]', { textFields: ['a', 'b'] }).text).toBe(
      '1\n\n3\n\n2',
    );
  });

  test('textFields on data without them names the item and what was found', () => {
    const cases: [string, string][] = [
      ['"text"', 'd.json: textFields needs JSON objects, found "text"'],
      ['[{"a":"x"}, 5]', 'd.json: item [1]: textFields needs JSON objects, found 5'],
      [
        '[{"a":"x"}, {"b":1}]',
        'd.json: item [1]: none of the textFields (a, c) is present; fix the data or textFields',
      ],
      ['{"a":null}', 'd.json: none of the textFields (a, c) is present; fix the data or textFields'],
      ['[[1]]', 'd.json: item [0]: textFields needs JSON objects, found [1]'],
      ['null', 'd.json: textFields needs JSON objects, found null'],
    ];
    for (const [json, message] of cases) {
      const error = thrown(() => textToDocument('d.json', json, { textFields: ['a', 'c'] }));
      expect(error).toMatchObject({ name: 'UnreadableSourceError', reason: 'invalid-content', line: undefined });
      expect(error.message.split('. Pass')[0]).toBe(message);
    }
    expect(textToDocument('d.json', '[]', { textFields: ['a'] }).text).toBe('');
  });

  test('options that do not fit the type are InvalidArgumentError naming the source', () => {
    const error = thrown(() => textToDocuments('notes.txt', 'x', { textFields: ['a'] }));
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect(error.message).toBe('Invalid content: notes.txt: textFields applies to JSON and JSONL only');
    expect(thrown(() => textToDocuments('d.json', '{}', { textField: 'a' })).message).toBe(
      'Invalid content: d.json: textField and idField apply to JSONL only; use textFields for JSON',
    );
    expect(thrown(() => textToDocuments('d.jsonl', '{}', { idField: 'id' })).message).toBe(
      'Invalid textToDocuments options: idField: idField needs textField (JSONL records)',
    );
    expect(thrown(() => textToDocuments('d.json', '{}', { textFields: [] })).message).toMatch(
      /textFields must name at least one field/,
    );
    expect(thrown(() => textToDocuments('d.jsonl', '{}', { textField: '' })).message).toMatch(
      /field names must not be empty/,
    );
    expect(thrown(() => textToDocuments('d.jsonl', '{}', { onUnsupported: 'maybe' as never })).message).toMatch(
      /onUnsupported must be 'error' or 'skip'/,
    );
    expect(thrown(() => textToDocuments('d.jsonl', '{}', { onSkip: 'log' as never })).message).toMatch(
      /onSkip must be a function/,
    );
    expect(thrown(() => textToDocuments('d', 5 as never)).message).toBe(
      'Invalid content: content must be a string (decode bytes as UTF-8 first)',
    );
    expect(thrown(() => textToDocuments('', 'x')).message).toBe('Invalid uri: uri must not be empty');
    expect(thrown(() => textToDocuments('d', 'x', { onUnsupported: 'skip' })).message).toBe(
      "Invalid textToDocuments options: onSkip: onUnsupported: 'skip' needs an onSkip callback, so that skipped sources are reported",
    );
    // textFields fit JSONL too.
    expect(textToDocuments('d.jsonl', '{"a":"x","b":"y"}', { textFields: ['b'] })).toEqual([
      { uri: 'd.jsonl#L1', text: 'y', contentType: 'application/x-ndjson' },
    ]);
  });
});

describe('where invalid JSON breaks', () => {
  const place = (text: string) => {
    const error = thrown(() => textToDocument('t.json', text)) as UnreadableSourceError;
    expect(UnreadableSourceError.isInstance(error)).toBe(true);
    return [error.line, error.column];
  };

  test('objects, arrays and separators', () => {
    expect(place('{"a":1,}')).toEqual([1, 8]);
    expect(place('{"a":1 "b":2}')).toEqual([1, 8]);
    expect(place('{"a" "b"}')).toEqual([1, 6]);
    expect(place('{a:1}')).toEqual([1, 2]);
    expect(place('[1 2]')).toEqual([1, 4]);
    expect(place('{"a":[1,2}')).toEqual([1, 10]);
    expect(place('{"a":{"b":1]}')).toEqual([1, 12]);
    expect(place('[\n  1,\n\n]')).toEqual([4, 1]);
    expect(place('{\t"a"\r\n :\t1 ,\n }')).toEqual([3, 2]);
    expect(place('[')).toEqual([1, 2]);
    expect(place('{"a":')).toEqual([1, 6]);
    expect(place('[[[]], {}, {"x": [ ]}, x]')).toEqual([1, 24]);
  });

  test('strings and literals', () => {
    expect(place('{"a\\x":1}')).toEqual([1, 2]);
    expect(place('"a\u0001"')).toEqual([1, 1]);
    expect(place('["\\u12G4"]')).toEqual([1, 2]);
    expect(place('["\\u12aF", "\\/\\b\\f\\n\\r\\t\\"\\\\", x]')).toEqual([1, 32]);
    expect(place('01')).toEqual([1, 2]);
    expect(place('[1.]')).toEqual([1, 3]);
    expect(place('[1e]')).toEqual([1, 3]);
    expect(place('[-0.5e+3, 2E-1, -]')).toEqual([1, 17]);
    expect(place('nul')).toEqual([1, 1]);
    expect(place('[true, false, null, nope]')).toEqual([1, 21]);
    expect(place('"x" "y"')).toEqual([1, 5]);
    expect(place('{"a":1}\n  x')).toEqual([2, 3]);
  });

  test('the message has the place and the engine reason on one line; the JSON error is the cause', () => {
    const error = thrown(() => textToDocument('t.json', '{\n"a":\n}')) as UnreadableSourceError;
    expect(error.detail).toMatch(/^invalid JSON at line 3, column 1 \(\S+ \S.*\)$/);
    expect(error.detail).not.toContain('\n');
    // Runs of white space (engines quote the input) become one space.
    const quoted = thrown(() => textToDocument('t.json', '{\n\n\t"a": x}')) as UnreadableSourceError;
    expect(quoted.detail).not.toMatch(/\s\s/);
    expect(error.cause).toBeInstanceOf(SyntaxError);
  });

  test('a JSONL line: the line of the file, the column within the line', () => {
    expect(skipping('r.jsonl', '{"a":1}\n\n  {"a": x}  \n').skipped).toEqual([
      {
        uri: 'r.jsonl#L3',
        reason: 'parse-error',
        message: expect.stringMatching(/^invalid JSON at line 3, column 7 \(/),
        line: 3,
        column: 7,
      },
    ]);
  });
});

describe('JSONL records', () => {
  test("textField: the other fields are metadata under the caller's; lines without textField keep the whole line", () => {
    const lines = '{"text":"one","lang":"en","src":"line"}\n   \n{"text":"two"}';
    expect(
      textToDocuments('r.jsonl', lines, {
        textField: 'text',
        metadata: { src: 'app' },
        modifiedAt: '2026-01-01T00:00:00Z',
      }),
    ).toEqual([
      {
        uri: 'r.jsonl#L1',
        text: 'one',
        contentType: 'application/x-ndjson',
        metadata: { lang: 'en', src: 'app' },
        modifiedAt: '2026-01-01T00:00:00Z',
      },
      {
        uri: 'r.jsonl#L3',
        text: 'two',
        contentType: 'application/x-ndjson',
        metadata: { src: 'app' },
        modifiedAt: '2026-01-01T00:00:00Z',
      },
    ]);
    expect(textToDocuments('r.jsonl', '{"text":"one"}', { textField: 'text' })).toEqual([
      { uri: 'r.jsonl#L1', text: 'one', contentType: 'application/x-ndjson', metadata: {} },
    ]);
    expect(textToDocuments('r.jsonl', '[1]\n"s"')).toEqual([
      { uri: 'r.jsonl#L1', text: '[0]: 1', contentType: 'application/x-ndjson' },
      { uri: 'r.jsonl#L2', text: 's', contentType: 'application/x-ndjson' },
    ]);
  });

  test('bad records are skipped one line at a time, each with its line and why', () => {
    const lines = [
      '[1]',
      '{"id":"a","body":"x"}',
      '{"id":true,"body":"y"}',
      '{"body":"z"}',
      '{"id":"a","body":"again"}',
      '{"id":7,"body":"seven"}',
      '{"id":"7","body":"string seven"}',
      '{"id":"q r","body":null}',
      '{"id":"q r","body":"spaced"}',
    ].join('\n');
    const { documents, skipped } = skipping('r.jsonl', lines, { textField: 'body', idField: 'id' });
    expect(documents.map((d) => [d.uri, d.text, d.metadata])).toEqual([
      ['r.jsonl#a', 'x', { id: 'a' }],
      ['r.jsonl#7', 'seven', { id: 7 }],
      ['r.jsonl#q%20r', 'spaced', { id: 'q r' }],
    ]);
    expect(skipped).toEqual([
      {
        uri: 'r.jsonl#L1',
        reason: 'invalid-content',
        message: 'line 1: textField needs each line to be a JSON object',
        line: 1,
      },
      {
        uri: 'r.jsonl#L3',
        reason: 'invalid-content',
        message: 'line 3: field "id" (idField) must be a string or number',
        line: 3,
      },
      {
        uri: 'r.jsonl#L4',
        reason: 'invalid-content',
        message: 'line 4: field "id" (idField) must be a string or number',
        line: 4,
      },
      {
        uri: 'r.jsonl#L5',
        reason: 'invalid-content',
        message: 'line 5: id "a" (idField) repeats the record on line 2',
        line: 5,
      },
      {
        uri: 'r.jsonl#L7',
        reason: 'invalid-content',
        message: 'line 7: id "7" (idField) repeats the record on line 6',
        line: 7,
      },
      {
        uri: 'r.jsonl#L8',
        reason: 'invalid-content',
        message: 'line 8: field "body" (textField) must be a string, found null',
        line: 8,
      },
    ]);
    expect(skipping('r.jsonl', '{"a":1}', { textField: 'body' }).skipped).toEqual([
      {
        uri: 'r.jsonl#L1',
        reason: 'invalid-content',
        message: 'line 1: field "body" (textField) must be a string, found undefined',
        line: 1,
      },
    ]);
    expect(skipping('r.jsonl', '{"a":1}\n[{"a":2}, 3]', { textFields: ['a'] }).skipped).toEqual([
      {
        uri: 'r.jsonl#L2',
        reason: 'invalid-content',
        message: 'line 2: item [1]: textFields needs JSON objects, found 3',
        line: 2,
      },
    ]);
  });

  test('thrown, a bad line carries its line and the hint; only unreadable content is caught', () => {
    const error = thrown(() =>
      textToDocuments('r.jsonl', '{"a":"1"}\n{"a":', { textField: 'a' }),
    ) as UnreadableSourceError;
    expect(error).toMatchObject({ source: 'r.jsonl#L2', reason: 'parse-error', line: 2, column: 6 });
    expect(error.message).toMatch(/^r\.jsonl#L2: invalid JSON at line 2, column 6 \(.*\)\. Pass onUnsupported: 'skip'/);
    expect(error.cause).toBeInstanceOf(SyntaxError);
  });
});

describe('skipping', () => {
  test('skipped sources carry line and column only where known', () => {
    expect(skipping('a.json', '{"a": x}').skipped).toEqual([
      {
        uri: 'a.json',
        reason: 'parse-error',
        message: expect.stringMatching(/^invalid JSON at line 1, column 7 /),
        line: 1,
        column: 7,
      },
    ]);
    expect(skipping('a.md', '---\na: [x\n---\n')).toEqual({
      documents: [],
      skipped: [
        { uri: 'a.md', reason: 'parse-error', message: expect.stringMatching(/^front matter line 2/), line: 2 },
      ],
    });
    expect(Object.keys(skipping('a.txt', '\u0000').skipped[0] ?? {})).toEqual(['uri', 'reason', 'message']);
    const { documents } = skipping('a.txt', 'fine');
    expect(documents).toEqual([{ uri: 'a.txt', text: 'fine', contentType: 'text/plain' }]);
  });

  test('errors other than unreadable content are not swallowed by skipping', () => {
    const calls: string[] = [];
    const error = thrown(() =>
      textToDocuments('a.jsonl', '{"a":1}', {
        textField: 'a',
        onUnsupported: 'skip',
        onSkip: (entry) => {
          calls.push(entry.uri);
          if (calls.length === 1) throw new Error('the app failed');
        },
      }),
    );
    // The bad line is reported to onSkip once; its failure propagates, never reported as a skip itself.
    expect(error.message).toBe('the app failed');
    expect(calls).toEqual(['a.jsonl#L1']);
  });

  test("textToDocument refuses JSONL and 'skip' (zero or many documents), naming the uri", () => {
    expect(thrown(() => textToDocument('r.jsonl', '{}')).message).toBe(
      "Invalid textToDocument options: r.jsonl: JSONL and onUnsupported: 'skip' can give zero or many documents; use textToDocuments",
    );
    expect(
      thrown(() => textToDocument('r.txt', 'x', { onUnsupported: 'skip', onSkip: () => undefined })),
    ).toBeInstanceOf(InvalidArgumentError);
    expect(thrown(() => textToDocument('r', 'x', { contentType: 'application/ndjson' }))).toBeInstanceOf(
      InvalidArgumentError,
    );
    expect(textToDocument('r.txt', 'x', { onUnsupported: 'error' }).text).toBe('x');
    expect(thrown(() => textToDocument('r', 'x', { extra: 1 } as never)).message).toMatch(
      /^Invalid textToDocument options: .*Unrecognized key: "extra"/,
    );
  });
});

describe('fromStrings and fromIterable', () => {
  test('stringUri is "string:" and 16 hex digits of the text hash; items keep title, modifiedAt and metadata', async () => {
    expect(stringUri('hello')).toBe('string:2cf24dba5fb0a30e');
    expect(
      await collect(
        fromStrings([{ text: 'a', title: 'A', modifiedAt: '2026-01-01T00:00:00Z', metadata: { k: 1 } }, '']),
      ),
    ).toEqual([
      {
        uri: stringUri('a'),
        text: 'a',
        contentType: 'text/plain',
        title: 'A',
        modifiedAt: '2026-01-01T00:00:00Z',
        metadata: { k: 1 },
      },
      { uri: stringUri(''), text: '', contentType: 'text/plain' },
    ]);
  });

  test('every item is checked before the first is given, naming its index', () => {
    expect(thrown(() => fromStrings({} as never)).message).toBe('Invalid fromStrings items: items must be an array');
    expect(thrown(() => fromStrings([null as never])).message).toBe(
      'Invalid fromStrings items: 0: each item must be a string, a SourceDocument or { uri?, text, … }',
    );
    expect(thrown(() => fromStrings(['a', 'b', { text: 'c', modifiedAt: 'soon' }])).message).toBe(
      'Invalid fromStrings items: 2.modifiedAt: modifiedAt must be an ISO 8601 date-time',
    );
    expect(thrown(() => fromStrings([{ text: 'x\u0000' }])).message).toMatch(/0\.text: text contains NUL bytes/);
    expect(thrown(() => fromStrings([{ text: 1 } as never])).message).toMatch(/0\.text: text must be a string/);
  });

  test('SourceDocuments (items with a contentType) pass through, checked: uri and pageStarts', async () => {
    const document = { uri: 'p', text: 'ab', contentType: 'application/pdf', pageStarts: [0, 1] };
    expect(await collect(fromIterable([document]))).toEqual([document]);
    await expect(collect(fromIterable([{ text: 'x', contentType: 'text/plain' } as never]))).rejects.toThrow(
      /fromIterable items: 0\.uri/,
    );
    await expect(
      collect(fromIterable([{ uri: 'p', text: 'x', contentType: 'text/plain', pageStarts: [-1] }])),
    ).rejects.toThrow(/fromIterable items: 0\.pageStarts/);
    await expect(collect(fromIterable([{ uri: 'p', text: 'x', contentType: '' }]))).rejects.toThrow(
      /0\.contentType: contentType must be a MIME type/,
    );
    // Without a contentType, a pageStarts field is unknown.
    await expect(collect(fromIterable([{ text: 'x', pageStarts: [0] } as never]))).rejects.toThrow(
      InvalidArgumentError,
    );
  });

  test('fromIterable is lazy: items are checked when reached, indexes count from 0', async () => {
    const reached: number[] = [];
    function* items() {
      for (let i = 0; i < 4; i++) {
        reached.push(i);
        yield i === 3 ? (42 as never) : `item ${i}`;
      }
    }
    const iterator = fromIterable(items())[Symbol.asyncIterator]();
    expect((await iterator.next()).value).toMatchObject({ text: 'item 0' });
    expect(reached).toEqual([0]);
    await iterator.next();
    await iterator.next();
    await expect(iterator.next()).rejects.toThrow(/fromIterable items: 3: each item must be a string/);
  });

  test('an iterable is anything with a callable Symbol.iterator or Symbol.asyncIterator', async () => {
    for (const bad of [null, 'text', { [Symbol.iterator]: 1 }, { [Symbol.asyncIterator]: 'x' }, {}]) {
      expect(thrown(() => fromIterable(bad as never)).message).toBe(
        'Invalid fromIterable items: items must be an Iterable or AsyncIterable (an array, a generator, a stream of documents)',
      );
    }
    const asyncOnly = {
      async *[Symbol.asyncIterator]() {
        yield 'a';
      },
    };
    expect(await collect(fromIterable(asyncOnly))).toHaveLength(1);
    // Where both exist, the async one is used.
    const both = {
      *[Symbol.iterator]() {
        yield 'sync';
      },
      async *[Symbol.asyncIterator]() {
        yield 'async';
      },
    };
    expect((await collect(fromIterable(both))).map((d) => d.text)).toEqual(['async']);
    const brokenAsync = { [Symbol.asyncIterator]: 1, *[Symbol.iterator]() {} };
    expect(() => fromIterable(brokenAsync as never)).toThrow(InvalidArgumentError);
  });
});
