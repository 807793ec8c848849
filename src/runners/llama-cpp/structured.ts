/**
 * What the llama.cpp runner accepts of a call (no tools; a schema becomes a grammar), and the
 * grammars compiled from JSON Schemas, cached per runner.
 */
import type { LlamaGrammar } from 'node-llama-cpp';
import { InvalidArgumentError } from '../../core/errors.js';
import type { GenerateOptions } from '../../core/runner.js';
import { parseGenerateOptions, type ResolvedSchema, resolveOutputSchema } from '../../internal/structured-output.js';
import type { State } from './context.js';
import { grammarSchema } from './grammar-schema.js';
import { COMPONENT } from './options.js';

/** Compiled grammars kept per runner, by JSON Schema. */
const GRAMMAR_CACHE_SIZE = 32;

function unsupportedTools(path: string, what: string): InvalidArgumentError {
  return new InvalidArgumentError({
    argument: 'generate options',
    issues: [
      {
        path,
        message: `${what}: the llama.cpp runner does not call tools (capabilities.tools is false); use a runner that supports tools, or ask for a structured answer with schema`,
      },
    ],
    component: COMPONENT,
  });
}

/**
 * Validated generate/stream options, or the typed error for what this runner refuses. Tools are
 * accepted only with `toolChoice: 'none'` (then they are not offered to the model).
 */
export function prepareCall(options: GenerateOptions): { call: GenerateOptions; schema: ResolvedSchema | undefined } {
  const call = parseGenerateOptions(options);
  if (call.toolChoice === 'required' || typeof call.toolChoice === 'object')
    throw unsupportedTools('toolChoice', 'a tool call was required');
  if (call.tools !== undefined && call.tools.length > 0 && call.toolChoice !== 'none')
    throw unsupportedTools('tools', 'tools were given (send toolChoice: "none" to answer without them)');
  return { call, schema: call.schema === undefined ? undefined : resolveOutputSchema(call.schema) };
}

/** A runner's grammars: each JSON Schema compiled once, the least recently added dropped past the cap. */
export function createGrammarCache() {
  const grammars = new Map<string, Promise<LlamaGrammar>>();
  return {
    /** The grammar for a JSON Schema. */
    get(state: State, schema: ResolvedSchema): Promise<LlamaGrammar> {
      const jsonSchema = grammarSchema(schema.jsonSchema);
      const key = JSON.stringify(jsonSchema);
      let pending = grammars.get(key);
      if (pending === undefined) {
        pending = (async () => {
          try {
            // node-llama-cpp types the schema precisely; kumiki accepts any JSON Schema and reports what it refuses.
            return await state.lease.llama.createGrammarForJsonSchema(jsonSchema as never);
          } catch (error) {
            throw new InvalidArgumentError({
              argument: 'schema',
              issues: [
                {
                  path: '',
                  message: `node-llama-cpp cannot turn this JSON Schema into a grammar (${error instanceof Error ? error.message : String(error)}); simplify the schema`,
                },
              ],
              cause: error,
              component: COMPONENT,
            });
          }
        })();
        pending.catch(() => grammars.delete(key));
        grammars.set(key, pending);
        const oldest = grammars.keys().next().value;
        if (grammars.size > GRAMMAR_CACHE_SIZE && oldest !== undefined) grammars.delete(oldest);
      }
      return pending;
    },
    clear(): void {
      grammars.clear();
    },
  };
}
