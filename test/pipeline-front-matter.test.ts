/**
 * parseFrontMatter: the YAML subset front matter uses, values compared exactly (types of the YAML
 * 1.2 core schema), and every refusal with its line number, never a guess.
 */
import { describe, expect, test } from 'vitest';
import { FrontMatterError, parseFrontMatter } from '../src/pipeline/front-matter.js';

const fields = (yaml: string) => parseFrontMatter(`---\n${yaml}\n---\nbody`).metadata;
/** The error for a front matter: its line and message. */
const refusal = (yaml: string) => {
  try {
    parseFrontMatter(`---\n${yaml}\n---\n`);
  } catch (error: unknown) {
    expect(error).toBeInstanceOf(FrontMatterError);
    const refused = error as FrontMatterError;
    return [refused.line, refused.message];
  }
  throw new Error(`no error for ${JSON.stringify(yaml)}`);
};

describe('where front matter is', () => {
  test('opening and closing delimiter lines; the body is what follows the closing line', () => {
    expect(parseFrontMatter('---\na: 1\n---\n# Body\n')).toEqual({ metadata: { a: 1 }, body: '# Body\n' });
    expect(parseFrontMatter('---  \na: 1\n...\t\nrest')).toEqual({ metadata: { a: 1 }, body: 'rest' });
    // The closing line may be the last, without a line end.
    expect(parseFrontMatter('---\na: 1\n---')).toEqual({ metadata: { a: 1 }, body: '' });
    // Empty front matter is an empty mapping.
    expect(parseFrontMatter('---\n---\nx')).toEqual({ metadata: {}, body: 'x' });
    expect(parseFrontMatter('---\n# only a comment\n\n---\nx')).toEqual({ metadata: {}, body: 'x' });
  });

  test('no opening line, text before it, or no closing line: no front matter, the whole text is the body', () => {
    for (const text of [
      'plain',
      '----\na: 1\n---\n',
      ' ---\na: 1\n---\n',
      '--- x\na: 1\n---\n',
      '---\na: 1\n',
      '---',
      'x\n---\na: 1\n---\n',
    ]) {
      expect(parseFrontMatter(text)).toEqual({ metadata: undefined, body: text });
    }
    // "---" must be a whole line to close.
    expect(parseFrontMatter('---\na: 1\n--- no\n')).toEqual({ metadata: undefined, body: '---\na: 1\n--- no\n' });
  });

  test('front matter that is not a mapping is refused', () => {
    expect(refusal('- a\n- b')).toEqual([
      2,
      'front matter line 2: front matter must be a mapping of fields (key: value lines)',
    ]);
    expect(refusal('just text')[1]).toMatch(/expected "key: value", found "just text"/);
  });
});

describe('scalars', () => {
  test('core-schema types: null, booleans, integers (decimal, octal, hex), floats, strings', () => {
    expect(
      fields(
        [
          'n1: null',
          'n2: ~',
          'n3: NULL',
          'n4:',
          't1: true',
          't2: True',
          'f1: FALSE',
          'i1: 42',
          'i2: -7',
          'i3: +3',
          'o: 0o17',
          'h: 0xFf',
          'x1: 1.5',
          'x2: .5',
          'x3: -2.',
          'x4: 1e3',
          'x5: 2.5E-1',
          's1: yes',
          's2: 0x',
          's3: 1.2.3',
          's4: hello world',
          's5: 0o8',
        ].join('\n'),
      ),
    ).toEqual({
      n1: null,
      n2: null,
      n3: null,
      n4: null,
      t1: true,
      t2: true,
      f1: false,
      i1: 42,
      i2: -7,
      i3: 3,
      o: 15,
      h: 255,
      x1: 1.5,
      x2: 0.5,
      x3: -2,
      x4: 1000,
      x5: 0.25,
      s1: 'yes',
      s2: '0x',
      s3: '1.2.3',
      s4: 'hello world',
      s5: '0o8',
    });
  });

  test('numbers JSON cannot keep exactly are refused, quoted they are text', () => {
    expect(refusal('big: 9007199254740993')).toEqual([
      2,
      'front matter line 2: 9007199254740993 is too large to keep exactly; quote it to keep it as text',
    ]);
    expect(refusal('a: 1\nbig: 0x20000000000001')[0]).toBe(3);
    expect(refusal('f: 1e999')[1]).toMatch(/1e999 is out of range; quote it/);
    expect(refusal('f: .inf')[1]).toMatch(/\.inf is not a finite number \(JSON has none\); quote it/);
    expect(refusal('f: -.NaN')[1]).toMatch(/not a finite number/);
    expect(fields('big: "9007199254740993"\nmax: 9007199254740991')).toEqual({
      big: '9007199254740993',
      max: 9007199254740991,
    });
  });

  test('quoted strings: single quotes double themselves, double quotes take escapes', () => {
    expect(fields(`a: 'it''s: here'`)).toEqual({ a: "it's: here" });
    expect(fields(String.raw`b: "tab\tnl\nq\"bs\\sl\/nul\0bell\aesc\e sp\ nel\N nb\_ ls\L ps\P"`)).toEqual({
      b: 'tab\tnl\nq"bs\\sl/nul\0bell\x07esc\x1b sp nel\u0085 nb\u00a0 ls\u2028 ps\u2029',
    });
    expect(fields(String.raw`c: "\x41\u00e9\U0001F600 \b\f\v\r"`)).toEqual({ c: 'Aé😀 \b\f\v\r' });
    expect(fields(`d: ""\ne: ''`)).toEqual({ d: '', e: '' });
    expect(fields(`"quoted key": 1\n'single key': 2`)).toEqual({ 'quoted key': 1, 'single key': 2 });
    expect(fields(`"a: b": 1`)).toEqual({ 'a: b': 1 });
  });

  test('bad escapes and unterminated quotes are refused', () => {
    expect(refusal(String.raw`a: "\q"`)[1]).toBe(String.raw`front matter line 2: invalid escape \q`);
    expect(refusal(String.raw`a: "\x4"`)[1]).toBe(String.raw`front matter line 2: invalid escape \x4"`.slice(0, -1));
    expect(refusal(String.raw`a: "\xZZ"`)[1]).toMatch(/invalid escape \\xZZ/);
    expect(refusal(String.raw`a: "\U00110000"`)[1]).toMatch(/invalid escape \\U00110000/);
    expect(refusal('a: "open')[1]).toMatch(/quoted strings must close on the same line/);
    expect(refusal(`a: 'x' y`)[1]).toMatch(/unexpected text after a quoted string/);
    expect(refusal('"key: 1')[1]).toMatch(/unterminated quoted key/);
    expect(refusal('"key" 1')[1]).toMatch(/expected ":" after the key/);
  });

  test('comments: a # at the start or after a space, outside quotes', () => {
    expect(fields('a: x # comment\nb: x#y\n# whole line\nc: "#" # c\nd: url#frag')).toEqual({
      a: 'x',
      b: 'x#y',
      c: '#',
      d: 'url#frag',
    });
    expect(fields(String.raw`e: "say \"hi\" # still text"`)).toEqual({ e: 'say "hi" # still text' });
    expect(fields(`f: don't # comment`)).toEqual({ f: "don't" });
  });

  test("a doubled quote inside single quotes does not end the string for comments (it was cut at ' #')", () => {
    expect(fields(`a: 'it''s # not a comment'`)).toEqual({ a: "it's # not a comment" });
    expect(fields(`b: 'x''' # comment`)).toEqual({ b: "x'" });
    expect(fields(`'k''s # key': 1`)).toEqual({ "k's # key": 1 });
    expect(fields(`c: ['a''b # c', d] # comment`)).toEqual({ c: ["a'b # c", 'd'] });
  });

  test('what plain values cannot be, each refused with its reason', () => {
    const cases: [string, RegExp][] = [
      ['a: {x: 1}', /flow mappings \(\{ … \}\) are not supported/],
      ['a: &anchor x', /anchors, aliases and tags are not supported/],
      ['a: *alias', /anchors, aliases and tags are not supported/],
      ['a: !tag x', /anchors, aliases and tags are not supported/],
      ['a: @at', /a plain value cannot start with "@"; quote it/],
      ['a: `tick', /cannot start with "`"/],
      ['a: %pct', /cannot start with "%"/],
      ['a: ,x', /cannot start with ","/],
      ['a: ]x', /cannot start with "\]"/],
      ['a: ? x', /cannot start with "\?"/],
      ['a: : x', /cannot start with ":"/],
      ['a: b: c', /a value cannot contain ": " unquoted; quote it/],
      ['a: b:', /a value cannot contain ": " unquoted/],
      ['a: |x', /unsupported block scalar header "\|x" \(use \|, \|-, \|\+, >, >- or >\+\)/],
      ['? complex', /complex keys \(\?\) are not supported/],
      ['&k: 1', /unsupported key "&k"/],
      [': 1', /unsupported key ""/],
      ['[a]: 1', /unsupported key "\[a\]"/],
      ['a: 1\na: 2', /line 3: duplicate key "a"/],
    ];
    for (const [yaml, message] of cases) expect(refusal(yaml)[1], yaml).toMatch(message);
    // These are fine as plain values.
    expect(fields('a: -1\nb: x:y\nc: ?x\nd: -x\ne: a,b')).toEqual({ a: -1, b: 'x:y', c: '?x', d: '-x', e: 'a,b' });
  });
});

describe('collections', () => {
  test('flow sequences of scalars', () => {
    expect(fields(`a: [1, two, "three, 3", 'four', true, null]\nb: []\nc: [ ]\nd: [x]`)).toEqual({
      a: [1, 'two', 'three, 3', 'four', true, null],
      b: [],
      c: [],
      d: ['x'],
    });
    expect(refusal('a: [1, 2')[1]).toMatch(/a flow sequence must close on the same line/);
    expect(refusal('a: [1, , 2]')[1]).toMatch(/empty item in a flow sequence/);
    expect(refusal('a: [1, ]')[1]).toMatch(/empty item in a flow sequence/);
    expect(refusal('a: [[1]]')[1]).toMatch(/nested flow collections are not supported/);
    expect(refusal('a: [{b: 1}]')[1]).toMatch(/nested flow collections are not supported/);
    expect(refusal(`a: ["x]`)[1]).toMatch(/unterminated quoted string/);
  });

  test("block sequences and mappings, nested; a sequence may sit at its key's indentation", () => {
    expect(
      fields(
        [
          'list:',
          '  - a',
          '  - 2',
          'same:',
          '- x',
          '- y',
          'map:',
          '  inner: 1',
          '  deeper:',
          '    leaf: true',
          'items:',
          '  - name: one',
          '    size: 1',
          '  - name: two',
          '  -',
          '    - nested',
          '  - "q": 1',
          'empty:',
          'last: 1',
        ].join('\n'),
      ),
    ).toEqual({
      list: ['a', 2],
      same: ['x', 'y'],
      map: { inner: 1, deeper: { leaf: true } },
      items: [{ name: 'one', size: 1 }, { name: 'two' }, ['nested'], { q: 1 }],
      empty: null,
      last: 1,
    });
    expect(fields('a:\n  -\n  - b')).toEqual({ a: [null, 'b'] });
  });

  test('indentation that does not fit is refused, naming the line', () => {
    expect(refusal('  a: 1')).toEqual([2, 'front matter line 2: the first field must not be indented']);
    expect(refusal('a: 1\n  b: 2')).toEqual([
      3,
      'front matter line 3: unexpected indentation (values spanning lines need quotes or a block scalar: | or >)',
    ]);
    expect(refusal('a:\n    b: 1\n  c: 2')).toEqual([
      4,
      'front matter line 4: unexpected line (check its indentation)',
    ]);
    expect(refusal('a:\n\tb: 1')).toEqual([3, 'front matter line 3: tabs are not allowed in indentation; use spaces']);
    expect(refusal('a: 1\n- b')[0]).toBe(3);
  });
});

describe('block scalars', () => {
  test('literal keeps line breaks; the chomping indicator decides the final ones', () => {
    expect(fields('a: |\n  one\n   two\n\n  three\n\n\nb: 1')).toEqual({ a: 'one\n two\n\nthree\n', b: 1 });
    expect(fields('a: |-\n  one\n  two\n\nb: 1')).toEqual({ a: 'one\ntwo', b: 1 });
    expect(fields('a: |+\n  one\n\n\nb: 1')).toEqual({ a: 'one\n\n\n', b: 1 });
    expect(fields('a: |\nb: 1')).toEqual({ a: '', b: 1 });
    expect(fields('a: |+\n\nb: 1')).toEqual({ a: '', b: 1 });
    // A block scalar may hold tabs and "#" and ": ".
    expect(fields('a: |\n  x:\ty # not a comment\nb: 2')).toEqual({ a: 'x:\ty # not a comment\n', b: 2 });
  });

  test('folded joins lines with spaces; blank lines and more-indented lines keep their breaks', () => {
    expect(fields('a: >\n  one\n  two\n\n  three\n    code\n  four\nb: 1')).toEqual({
      a: 'one two\nthree\n  code\nfour\n',
      b: 1,
    });
    expect(fields('a: >-\n  x\n  y')).toEqual({ a: 'x y' });
    // Keep: the final break and both blank lines after it.
    expect(fields('a: >+\n  x\n\n')).toEqual({ a: 'x\n\n\n' });
  });

  test('in a sequence, and a line less indented than the first is refused', () => {
    expect(fields('a:\n  - |\n    text\n  - b')).toEqual({ a: ['text\n', 'b'] });
    expect(refusal('a: |\n    one\n  two')).toEqual([
      4,
      'front matter line 4: a block scalar line is less indented than its first line',
    ]);
  });
});
