/**
 * Type tests, checked by `npm run typecheck` (tsc, strict) and never run: wrapped embedders and runners
 * are assignable to the interfaces they wrap, keep the wrapped object's members in their types, and
 * a generate with a schema keeps its result type through every wrapper.
 */
import { z } from 'zod';
import { withEmbeddingCache } from '../src/compose/embedding-cache.js';
import { withResponseCache } from '../src/compose/response-cache.js';
import { withSemanticCache } from '../src/compose/semantic-cache.js';
import type { Cache } from '../src/core/cache.js';
import type { DenseEmbedder, Embedder, TokenCounter } from '../src/core/embedder.js';
import type { GenerateOptions, GenerateResult, ModelRunner } from '../src/core/runner.js';
import type { Store } from '../src/core/store.js';
import { wrapEmbedder, wrapRunner } from '../src/core/wrap.js';

declare const runner: ModelRunner;
declare const cache: Cache;
declare const store: Store;
declare const embedder: DenseEmbedder;

// The caches' runners are ModelRunners (they were not under strict: T of generate was inferred as unknown).
export const responseCached: ModelRunner = withResponseCache(runner, cache);
export const semanticCached: ModelRunner = withSemanticCache(runner, { embedder, store, collection: 'c', scope: 's' });
export const stacked: ModelRunner = withResponseCache(
  withSemanticCache(responseCached, { embedder, store, collection: 'c', scope: 's' }),
  cache,
);

// The wrapped runner's extras stay in the type, through both caches.
declare const llama: ModelRunner & { native(): Promise<{ contexts: number }> };
export const handle: Promise<{ contexts: number }> = withResponseCache(
  withSemanticCache(llama, { embedder, store, collection: 'c', scope: 's' }),
  cache,
).native();

// A hand-written generate with the contract's own signature is a ModelRunner's generate.
export const handWritten: ModelRunner = {
  ...runner,
  generate: <T>(options: GenerateOptions<T>): Promise<GenerateResult<T>> => runner.generate<T>(options),
};

// The structured answer's type survives the wrappers; the cache fields are there too.
export async function typedAnswers(): Promise<void> {
  const schema = z.object({ city: z.string() });
  const answer = await withResponseCache(runner, cache).generate({ prompt: 'Capital of France?', schema });
  const city: string | undefined = answer.object?.city;
  const hit: boolean = answer.cacheHit;
  const semantic = await withSemanticCache(runner, { embedder, store, collection: 'c', scope: 's' }).generate({
    prompt: 'x',
    schema,
  });
  const similarity: number | undefined = semantic.similarity;
  void [city, hit, similarity];
}

// A cached embedder is an Embedder and has the optional members of the contract.
export const cachedEmbedder: DenseEmbedder = withEmbeddingCache(embedder, cache);
export const tokenizer: (() => Promise<TokenCounter>) | undefined = withEmbeddingCache(embedder, cache).tokenizer;

// wrapEmbedder / wrapRunner keep the wrapped object's own extras in the type and replace what they give.
declare const extended: DenseEmbedder & { native(): Promise<{ pool: number }>; readonly loads: number };
const wrappedEmbedder = wrapEmbedder(extended, { embed: extended.embed, calls: () => 1 });
export const native: Promise<{ pool: number }> = wrappedEmbedder.native();
export const loads: number = wrappedEmbedder.loads;
export const calls: number = wrappedEmbedder.calls();
export const stillAnEmbedder: Embedder<Float32Array> = wrappedEmbedder;
const wrappedRunner = wrapRunner(runner, { generate: runner.generate, extra: true as const });
export const stillARunner: ModelRunner = wrappedRunner;
export const extra: true = wrappedRunner.extra;
// @ts-expect-error a replacement must have the member's type
wrapRunner(runner, { describeModel: () => 'not a description' });
