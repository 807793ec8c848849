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
    const [lines] = log.mock.calls[0] as [string[]];
    // Only note b shares terms with the question in English; note c matches the terms but is German.
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^\d+\.\d\d {2}BM25 weighs rare terms more than common ones\.$/);
  } finally {
    log.mockRestore();
  }
});
