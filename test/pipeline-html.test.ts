/**
 * htmlToText and decodeEntities, output compared exactly: what a reader of the page sees, with the
 * line structure the splitter cuts at (headings, lists, paragraphs, pre), and entities decoded.
 */
import { describe, expect, test } from 'vitest';
import { decodeEntities, htmlToText } from '../src/pipeline/html.js';

describe('decodeEntities', () => {
  test('named, decimal and hex entities; with or without the semicolon; unknown names stay', () => {
    expect(decodeEntities('no ampersand')).toBe('no ampersand');
    expect(decodeEntities('&amp;&lt;&gt;&quot;&apos;')).toBe('&<>"\'');
    expect(decodeEntities('caf&eacute; &euro;5 &hellip; &mdash; &ndash; &copy; &Prime; &prime;')).toBe(
      'café €5 … — – © ″ ′',
    );
    expect(decodeEntities('&#65;&#x42;&#X43;&#x1F600;')).toBe('ABC😀');
    expect(decodeEntities('&amp without semicolon')).toBe('& without semicolon');
    expect(decodeEntities('&unknown; &AMP; & alone &#;')).toBe('&unknown; &AMP; & alone &#;');
    expect(decodeEntities('a&shy;b')).toBe('ab');
  });

  test('code points that are not characters become U+FFFD', () => {
    expect(decodeEntities('&#0;')).toBe('\ufffd');
    expect(decodeEntities('&#xD800;&#xDFFF;')).toBe('\ufffd\ufffd');
    expect(decodeEntities('&#x110000;')).toBe('\ufffd');
    expect(decodeEntities('&#x10FFFF;')).toBe(String.fromCodePoint(0x10ffff));
    expect(decodeEntities('&#xD7FF;&#xE000;')).toBe('\ud7ff\ue000');
    expect(decodeEntities('&#1;')).toBe('\u0001');
  });
});

describe('htmlToText', () => {
  test('paragraphs, line elements and cells', () => {
    expect(htmlToText('<p>One</p><p>Two</p>').text).toBe('One\n\nTwo');
    expect(htmlToText('a<br>b<br/>c').text).toBe('a\nb\nc');
    expect(htmlToText('<div>a</div><div>b</div>').text).toBe('a\nb');
    expect(htmlToText('<table><tr><td>a</td><td>b</td></tr><tr><th>c</th><td>d</td></tr></table>').text).toBe(
      'a b\nc d',
    );
    expect(htmlToText('<section>x</section>after').text).toBe('x\n\nafter');
  });

  test('whitespace collapses outside pre; lines lose trailing spaces; runs of blank lines shrink', () => {
    expect(htmlToText('  a \n\t b  ').text).toBe('a b');
    expect(htmlToText('<p>a   </p>   <p>  b</p>').text).toBe('a\n\nb');
    expect(htmlToText('<pre>  x  = 1\n    y</pre>').text).toBe('x  = 1\n    y');
    expect(htmlToText('<p>a</p><pre>  keep   this\n  too</pre><p>b</p>').text).toBe('a\n\n  keep   this\n  too\n\nb');
    expect(htmlToText('<pre><pre>a  b</pre>  c  d</pre> e   f').text).toBe('a  b\n\n  c  d\n\ne f');
    expect(htmlToText('a<br><br><br><br>b').text).toBe('a\nb');
    expect(htmlToText('<p>a</p><p></p><p></p><div></div><p>b</p>').text).toBe('a\n\nb');
    expect(htmlToText('a \t<br>b').text).toBe('a\nb');
  });

  test('headings become Markdown lines; the title is <title>, else the first h1', () => {
    const page = htmlToText('<h1>Main  title</h1><p>x</p><h2>Sub</h2><h3>Deep</h3><h6>Six</h6><h1>Second</h1>');
    expect(page).toEqual({
      text: '# Main title\n\nx\n\n## Sub\n\n### Deep\n\n###### Six\n\n# Second',
      title: 'Main title',
    });
    expect(
      htmlToText('<html><head><title> The  page </title><meta x="1"></head><body><h1>H</h1></body></html>'),
    ).toEqual({
      text: '# H',
      title: 'The page',
    });
    // An empty title or h1 is no title; the first non-empty one counts.
    expect(htmlToText('<title> </title><h1></h1><h1>Later</h1>')).toEqual({ text: '#\n\n# Later', title: 'Later' });
    expect(htmlToText('<p>no heading</p>')).toEqual({ text: 'no heading' });
    expect('title' in htmlToText('<p>no heading</p>')).toBe(false);
    // Only the first <title> counts.
    expect(htmlToText('<title>A</title><title>B</title>').title).toBe('A');
    // A title misplaced in the body is the title, not page text (as a browser renders it).
    expect(htmlToText('<body><p>before</p><title>Misplaced</title><p>after</p></body>')).toEqual({
      text: 'before\n\nafter',
      title: 'Misplaced',
    });
    // Text of an h2 is never the title.
    expect(htmlToText('<h2>Sub</h2>').title).toBeUndefined();
    // An h1 inside a title capture does not start a second capture.
    expect(htmlToText('<h1>First <b>bold</b></h1><p>x</p>').title).toBe('First bold');
  });

  test('lists: items are "- " lines, nested lists indent by two spaces', () => {
    expect(
      htmlToText('<p>before</p><ul><li>a</li><li>b<ul><li>c</li><li>d</li></ul></li><li>e</li></ul><p>after</p>').text,
    ).toBe('before\n\n- a\n- b\n  - c\n  - d\n- e\n\nafter');
    expect(htmlToText('<ol><li>one<ol><li>two<ol><li>three</li></ol></li></ol></li></ol>').text).toBe(
      '- one\n  - two\n    - three',
    );
    // A stray closing list tag does not make the depth negative.
    expect(htmlToText('</ul><ul><li>a</li></ul>').text).toBe('- a');
  });

  test('scripts, styles, comments, doctype and head content are dropped; CDATA is text', () => {
    const html =
      '<!DOCTYPE html><?xml version="1.0"?><head><style>p{}</style><meta name="a"></head><body>' +
      '<script type="x">if (a < b) {}</script>visible<!-- hidden --> <SCRIPT>x</SCRIPT>text' +
      '<noscript>n</noscript><template>t</template><svg><text>s</text></svg> <![CDATA[a & b < c]]></body>';
    expect(htmlToText(html).text).toBe('visible text a & b < c');
    // A self-closing skipped element skips nothing.
    expect(htmlToText('a<script/>b').text).toBe('ab');
    // Unclosed: everything after it is dropped.
    expect(htmlToText('a<script>b').text).toBe('a');
    expect(htmlToText('a<!-- b').text).toBe('a');
    expect(htmlToText('a<![CDATA[b').text).toBe('ab');
    // A head that closes itself is not a head.
    expect(htmlToText('<head/>x').text).toBe('x');
    // Text in the head (but outside title) is dropped; body ends the head even without </head>.
    expect(htmlToText('<head>junk<body>kept').text).toBe('kept');
  });

  test('attributes may hold ">" in quotes; a "<" that starts no tag is text; images give their alt', () => {
    expect(htmlToText('<a title="x > y" href=\'a>b\'>link</a>').text).toBe('link');
    expect(htmlToText('1 < 2 and 3 <4').text).toBe('1 < 2 and 3 <4');
    expect(htmlToText('see<img src="a.png" alt="a cat">here').text).toBe('see a cat here');
    expect(htmlToText("<img alt='single'>").text).toBe('single');
    expect(htmlToText('<img src="a.png">x<img alt="">').text).toBe('x');
    expect(htmlToText('<p>a</p><img ALT = "b">').text).toBe('a\n\nb');
    // An unterminated tag runs to the end of the input.
    expect(htmlToText('text<a href="x').text).toBe('text');
  });

  test('entities are decoded in text and in the title', () => {
    expect(htmlToText('<head><title>Fish &amp; Chips</title></head><p>&lt;b&gt; is bold&nbsp;text</p>')).toEqual({
      title: 'Fish & Chips',
      text: '<b> is bold text',
    });
  });
});
