import { describe, expect, test } from 'vitest';
import { answer, InvalidArgumentError } from '../src/index.js';
import type { RetrievedChunk } from '../src/pipeline/retrieve.js';
import { says, scriptedRunner } from './helpers/scripted-runner.js';

const chunks: RetrievedChunk[] = [
  {
    id: 'c1',
    text: 'The X-200 costs 1,200 euros and has a two-year warranty.',
    score: 1,
    payload: {},
    citation: { source: 'notes/x200.md', chunk: 0, start: 0, end: 56 },
  },
];

/** A conversation of `turns` earlier user/assistant turns of `size` characters each, then the question. */
const conversation = (turns: number, size: number) => [
  { role: 'system' as const, content: 'Answer in English.' },
  ...Array.from({ length: turns }, (_, i) => ({
    role: i % 2 === 0 ? ('user' as const) : ('assistant' as const),
    content: `${i}`.padEnd(size, '.'),
  })),
  { role: 'user' as const, content: 'And its warranty?' },
];

describe('conversations within the history budget', () => {
  test('earlier turns that fit go to the model in order, between the instructions and the grounded question', async () => {
    const { runner, seen } = scriptedRunner(says('Two years [1].'));
    const result = await answer({ messages: conversation(4, 100), runner, chunks, maxHistoryChars: 400 });
    expect(result.warnings).toBeUndefined();
    const prompt = seen.prompts[0] ?? [];
    expect(prompt.map((m) => m.role)).toEqual(['system', 'user', 'assistant', 'user', 'assistant', 'user']);
    expect(prompt[0]?.content).toMatch(/Answer in English\.$/);
    expect(prompt.slice(1, 5).map((m) => m.content[0])).toEqual(['0', '1', '2', '3']);
    expect(prompt[5]?.content).toMatch(/Question: And its warranty\?$/);
  });

  test('a conversation over the budget is refused with a typed error naming the fix; the model is not called', async () => {
    const { runner, seen } = scriptedRunner(says('never'));
    const refused = answer({ messages: conversation(4, 100), runner, chunks, maxHistoryChars: 399 });
    await expect(refused).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(refused).rejects.toThrow(
      /earlier turns of the conversation are 400 characters, more than maxHistoryChars \(399\).*historyOverflow: 'drop-oldest'/,
    );
    expect(seen.prompts).toEqual([]);
  });

  test("historyOverflow 'drop-oldest' leaves out the oldest turns (never the system message) and says so", async () => {
    const { runner, seen } = scriptedRunner(says('Two years [1].'));
    const result = await answer({
      messages: conversation(4, 100),
      runner,
      chunks,
      maxHistoryChars: 250,
      historyOverflow: 'drop-oldest',
    });
    const prompt = seen.prompts[0] ?? [];
    expect(prompt[0]?.content).toMatch(/Answer in English\.$/);
    expect(prompt.slice(1, -1).map((m) => m.content[0])).toEqual(['2', '3']);
    expect(result.warnings).toEqual(['the 2 oldest of 4 earlier turns were left out to fit maxHistoryChars (250)']);
  });

  test('tool calls count as the model sees them, written out', async () => {
    const { runner } = scriptedRunner(says('ok'));
    const messages = [
      {
        role: 'assistant' as const,
        content: '',
        toolCalls: [{ id: 'call-1', name: 'price', arguments: { sku: 'X-200' } }],
      },
      { role: 'user' as const, content: 'And its warranty?' },
    ];
    // 'Called the tool price (call call-1) with {"sku":"X-200"}' is 56 characters.
    await expect(answer({ messages, runner, chunks, maxHistoryChars: 55 })).rejects.toThrow(/are 56 characters/);
    await expect(answer({ messages, runner, chunks, maxHistoryChars: 56 })).resolves.toMatchObject({ text: 'ok' });
  });
});
