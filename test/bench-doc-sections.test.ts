// A full `npm run bench` rewrites docs/benchmarks.md: the benchmarks' sections are replaced, and the
// sections marked as hand-written are kept where they were.
import { describe, expect, test } from 'vitest';
import { KEPT, keepHandWritten } from '../bench/doc-sections.js';

const doc = (...sections: string[]) => `# Benchmarks\n\nWritten by a run.\n\n${sections.join('\n\n')}\n`;

describe('keepHandWritten', () => {
  test('replaces generated sections and keeps marked ones after the section they followed', () => {
    const previous = doc(
      `## Notes first\n${KEPT}\n\nRead this first.`,
      '## Dense\n\nold dense table',
      `## Bars of issue 14\n${KEPT}\n\n| bar | met |`,
      '## Store\n\nold store table',
      '## Unmarked analysis\n\nthis one is not kept',
    );
    const { sections, kept } = keepHandWritten(previous, [
      '## Dense\n\nnew dense table',
      '## Store\n\nnew store table',
    ]);
    expect(sections).toEqual([
      `## Notes first\n${KEPT}\n\nRead this first.`,
      '## Dense\n\nnew dense table',
      `## Bars of issue 14\n${KEPT}\n\n| bar | met |`,
      '## Store\n\nnew store table',
    ]);
    expect(kept).toEqual(['## Notes first', '## Bars of issue 14']);
  });

  test('a kept section whose generated neighbour is renamed follows the last section still printed', () => {
    const previous = doc('## A\n\na', '## B (100,000 rows)\n\nb', `## About B\n${KEPT}\n\nnote`, '## C\n\nc');
    const { sections } = keepHandWritten(previous, ['## A\n\na2', '## B (20,000 rows)\n\nb2', '## C\n\nc2']);
    expect(sections).toEqual(['## A\n\na2', `## About B\n${KEPT}\n\nnote`, '## B (20,000 rows)\n\nb2', '## C\n\nc2']);
  });

  test('the doc as it is now keeps its hand-written sections through a run', async () => {
    const { readFile } = await import('node:fs/promises');
    const text = await readFile(new URL('../docs/benchmarks.md', import.meta.url), 'utf8');
    const { kept } = keepHandWritten(text, []);
    expect(kept).toContain('## Embedded store at scale: where the bars of issue 14 stand');
    // A run printing exactly the doc's other sections gives the doc back, in the same order.
    const all = text
      .split(/^(?=## )/m)
      .filter((part) => part.startsWith('## '))
      .map((part) => part.trimEnd());
    const generated = all.filter((section) => !section.includes(KEPT));
    expect(keepHandWritten(text, generated).sections).toEqual(all);
  });
});
