/** What a wrapped Embedder or ModelRunner looks like as an object (behaviour: test/wrap.test.ts). */
import { describe, expect, test, vi } from 'vitest';
import type { DenseEmbedder, EmbedOptions } from '../src/core/embedder.js';
import { InvalidArgumentError } from '../src/core/errors.js';
import type { ModelRunner } from '../src/core/runner.js';
import { wrapEmbedder, wrapRunner } from '../src/core/wrap.js';

class Embedder implements DenseEmbedder {
  readonly specificationVersion = 'kumiki.embedder.v1' as const;
  readonly provider = 'test';
  readonly kind = 'dense' as const;
  readonly maxBatchSize = 8;
  readonly supportsParallelCalls = false;
  get modelId() {
    return 'class-1';
  }
  async space() {
    return { provider: 'test', model: 'class-1', dimensions: 1 };
  }
  async embed({ values }: EmbedOptions) {
    return { vectors: values.map(() => new Float32Array([1])) };
  }
}

const message = (run: () => unknown) => {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidArgumentError);
    return (error as Error).message;
  }
  throw new Error('expected InvalidArgumentError');
};

describe('the wrapped object', () => {
  test('has the members of the class and its instance, not those of Object.prototype or the constructor', () => {
    const wrapped = wrapEmbedder(new Embedder(), { extra: 1 });
    expect(Object.keys(wrapped).sort()).toEqual(
      [
        'specificationVersion',
        'provider',
        'kind',
        'maxBatchSize',
        'supportsParallelCalls',
        'modelId',
        'space',
        'embed',
        'extra',
      ].sort(),
    );
    expect(Object.hasOwn(wrapped, 'constructor')).toBe(false);
    expect(Object.hasOwn(wrapped, 'toString')).toBe(false);
    expect(Object.hasOwn(wrapped, 'hasOwnProperty')).toBe(false);
    // A spread copy keeps the data members, read at the time of the spread.
    expect({ ...wrapped }).toMatchObject({ provider: 'test', modelId: 'class-1', maxBatchSize: 8, extra: 1 });
  });

  test('wraps an object without a prototype', async () => {
    const bare = Object.assign(Object.create(null) as object, {
      specificationVersion: 'kumiki.embedder.v1',
      kind: 'dense',
      embed: async () => ({ vectors: [new Float32Array([2])] }),
    }) as unknown as DenseEmbedder;
    const wrapped = wrapEmbedder(bare, {});
    expect((await wrapped.embed({ values: ['a'], role: 'query' })).vectors).toEqual([new Float32Array([2])]);
    expect(Object.keys(wrapped).sort()).toEqual(['embed', 'kind', 'specificationVersion']);
  });

  test('forwarded members can be replaced or spied on like ordinary properties', async () => {
    const inner = new Embedder();
    const wrapped = wrapEmbedder(inner, {});
    const space = vi.spyOn(wrapped, 'space');
    await wrapped.space();
    expect(space).toHaveBeenCalledTimes(1);
    vi.spyOn(wrapped, 'modelId', 'get').mockReturnValue('spied');
    expect(wrapped.modelId).toBe('spied');
    wrapped.embed = async () => ({ vectors: [] });
    expect((await wrapped.embed({ values: ['a'], role: 'query' })).vectors).toEqual([]);
    expect((await inner.embed({ values: ['a'], role: 'query' })).vectors).toHaveLength(1);
    expect(delete (wrapped as { provider?: string }).provider).toBe(true);
  });

  test('refusals name the argument', () => {
    expect(message(() => wrapEmbedder({} as DenseEmbedder, {}))).toBe(
      'Invalid embedder: embedder must be a kumiki Embedder (specificationVersion kumiki.embedder.v1)',
    );
    const membersMessage = 'Invalid members: members must be an object of the members the wrapper replaces or adds';
    for (const members of ['embed', () => {}, null, 1]) {
      expect(message(() => wrapEmbedder(new Embedder(), members as never))).toBe(membersMessage);
    }
    expect(message(() => wrapRunner({} as ModelRunner, {}))).toBe(
      'Invalid runner: runner must be a kumiki ModelRunner (specificationVersion kumiki.runner.v1)',
    );
    const runner = { specificationVersion: 'kumiki.runner.v1', generate: async () => ({}) } as unknown as ModelRunner;
    expect(message(() => wrapRunner(runner, 'generate' as never))).toBe(membersMessage);
    expect(Object.keys(wrapRunner(runner, {})).sort()).toEqual(['generate', 'specificationVersion']);
  });
});
