import { readFileSync } from 'node:fs';
import { expect, test, vi } from 'vitest';

test('the README example is examples/readme.ts, verbatim', () => {
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
  const block = /```ts\n([\s\S]*?)```/.exec(readme)?.[1];
  expect(block).toBe(readFileSync(new URL('../examples/readme.ts', import.meta.url), 'utf8'));
});

test('the README example runs and finds the English BM25 notes only', async () => {
  const log = vi.spyOn(console, 'log').mockImplementation(() => undefined);
  try {
    await import('../examples/readme.js');
    expect(log.mock.calls[0]).toEqual(['3 sources added, 3 chunks written']);
    const [lines] = log.mock.calls[1] as [string[]];
    // Only one English note shares terms with the question; the German one matches them but is filtered out.
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^\d+\.\d\d {2}notes\/bm25 {2}BM25 weighs rare terms more than common ones\.$/);
  } finally {
    log.mockRestore();
  }
});
