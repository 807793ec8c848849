import { describe, expect, test } from 'vitest';
import type { DenseEmbedder, EmbedOptions } from '../src/core/embedder.js';
import { InvalidArgumentError } from '../src/core/errors.js';
import type { GenerateOptions, GenerateResult, ModelDescription, ModelRunner, StreamPart } from '../src/core/runner.js';
import { wrapEmbedder, wrapRunner } from '../src/core/wrap.js';

/** An embedder written as a class: its methods live on the prototype and use private fields. */
class ClassEmbedder implements DenseEmbedder {
  readonly specificationVersion = 'kumiki.embedder.v1' as const;
  readonly provider = 'test';
  readonly kind = 'dense' as const;
  readonly maxBatchSize = 8;
  readonly supportsParallelCalls = false;
  #model = 'class-1';
  #disposed = false;
  get modelId() {
    return this.#model;
  }
  reload(model: string) {
    this.#model = model;
  }
  async space() {
    return { provider: 'test', model: this.#model, dimensions: 2 };
  }
  async embed({ values }: EmbedOptions) {
    return { vectors: values.map((text) => new Float32Array([text.length, 1])) };
  }
  async tokenizer() {
    return { id: `${this.#model}-tokens`, count: (text: string) => text.split(/\s+/).filter(Boolean).length };
  }
  async dispose() {
    this.#disposed = true;
  }
  get disposed() {
    return this.#disposed;
  }
}

describe('wrapEmbedder', () => {
  test('keeps every member it does not replace: prototype methods, getters, optional members', async () => {
    const inner = new ClassEmbedder();
    let calls = 0;
    const wrapped = wrapEmbedder(inner, {
      embed: (options: EmbedOptions) => {
        calls++;
        return inner.embed(options);
      },
      calls: () => calls,
    });
    expect((await wrapped.embed({ values: ['ab'], role: 'query' })).vectors).toEqual([new Float32Array([2, 1])]);
    expect(wrapped.calls()).toBe(1);
    expect(wrapped.specificationVersion).toBe('kumiki.embedder.v1');
    expect(wrapped.maxBatchSize).toBe(8);
    expect(wrapped.supportsParallelCalls).toBe(false);
    expect((await wrapped.tokenizer()).id).toBe('class-1-tokens');
    // Getters are read live, and methods run on the wrapped object (private fields work).
    wrapped.reload('class-2');
    expect(wrapped.modelId).toBe('class-2');
    expect((await wrapped.space()).model).toBe('class-2');
    await wrapped.dispose();
    expect(inner.disposed).toBe(true);
    expect(wrapped.disposed).toBe(true);
    expect(Object.keys(wrapped)).toEqual(expect.arrayContaining(['tokenizer', 'dispose', 'space', 'embed', 'calls']));
  });

  test('a member the inner object lacks stays absent; a wrapper of a wrapper keeps everything', async () => {
    const plain: DenseEmbedder = {
      specificationVersion: 'kumiki.embedder.v1',
      provider: 'test',
      modelId: 'plain',
      kind: 'dense',
      maxBatchSize: 4,
      supportsParallelCalls: true,
      space: async () => ({ provider: 'test', model: 'plain', dimensions: 1 }),
      embed: async ({ values }) => ({ vectors: values.map(() => new Float32Array([1])) }),
    };
    const once = wrapEmbedder(plain, { marker: 1 });
    expect('tokenizer' in once).toBe(false);
    expect('dispose' in once).toBe(false);
    const twice = wrapEmbedder(wrapEmbedder(new ClassEmbedder(), { marker: 1 }), { marker: 2 });
    expect(twice.marker).toBe(2);
    expect((await twice.tokenizer()).id).toBe('class-1-tokens');
  });

  test('refuses what is not an embedder, and members that are not an object', () => {
    expect(() => wrapEmbedder({ specificationVersion: 'kumiki.embedder.v1' } as unknown as DenseEmbedder, {})).toThrow(
      /embedder must be a kumiki Embedder/,
    );
    expect(() => wrapEmbedder(new ClassEmbedder(), null as never)).toThrow(InvalidArgumentError);
  });
});

describe('wrapRunner', () => {
  test('keeps describeModel, capabilities, dispose and adapter extras; replaced members win', async () => {
    let disposed = false;
    let model = 'm-1';
    const inner: ModelRunner & { native(): string } = {
      specificationVersion: 'kumiki.runner.v1',
      provider: 'test',
      get modelId() {
        return model;
      },
      capabilities: { streaming: true, structuredOutput: [], tools: false, seed: true },
      describeModel: async (): Promise<ModelDescription> => ({ provider: 'test', model }),
      generate: async <T>(options: GenerateOptions<T>): Promise<GenerateResult<T>> => ({
        text: options.prompt ?? '',
        finishReason: 'stop',
        usage: undefined,
      }),
      async *stream(): AsyncIterable<StreamPart> {
        yield { type: 'finish', finishReason: 'stop', usage: undefined };
      },
      native: () => 'handle',
      dispose: async () => {
        disposed = true;
      },
    };
    const wrapped = wrapRunner(inner, {
      generate: async <T>(options: GenerateOptions<T>) => ({ ...(await inner.generate<T>(options)), text: 'wrapped' }),
    });
    expect((await wrapped.generate({ prompt: 'x' })).text).toBe('wrapped');
    expect(wrapped.native()).toBe('handle');
    expect(wrapped.capabilities.seed).toBe(true);
    model = 'm-2';
    expect(wrapped.modelId).toBe('m-2');
    expect(await wrapped.describeModel()).toEqual({ provider: 'test', model: 'm-2' });
    const parts: StreamPart[] = [];
    for await (const part of wrapped.stream({ prompt: 'x' })) parts.push(part);
    expect(parts).toHaveLength(1);
    await wrapped.dispose?.();
    expect(disposed).toBe(true);
    expect(() => wrapRunner({} as unknown as ModelRunner, {})).toThrow(/runner must be a kumiki ModelRunner/);
  });
});
