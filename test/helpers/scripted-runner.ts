/**
 * A model runner that streams what a script yields: for testing what is built around a runner
 * (answers, HTTP streaming) without a model. Records each prompt and whether the abort signal fired.
 */
import type { ModelRunner, StreamPart } from '../../src/index.js';

export type Script = (signal: AbortSignal | undefined) => AsyncIterable<StreamPart>;

export function scriptedRunner(script: Script) {
  const seen = { prompts: [] as { role: string; content: string }[][], aborted: false };
  const runner: ModelRunner = {
    specificationVersion: 'kumiki.runner.v1',
    provider: 'scripted',
    modelId: 'scripted',
    capabilities: {} as ModelRunner['capabilities'],
    describeModel: async () => ({ provider: 'scripted', model: 'scripted' }),
    generate: async () => {
      throw new Error('the scripted runner only streams');
    },
    async *stream(options) {
      seen.prompts.push((options.messages ?? []).map(({ role, content }) => ({ role, content })));
      options.abortSignal?.addEventListener('abort', () => {
        seen.aborted = true;
      });
      yield* script(options.abortSignal);
    },
  };
  return { runner, seen };
}

/** Streams the texts, then finishes. */
export const says = (...texts: string[]): Script =>
  async function* () {
    for (const text of texts) yield { type: 'text-delta', text };
    yield { type: 'finish', finishReason: 'stop', usage: { promptTokens: 30, completionTokens: 9 } };
  };
