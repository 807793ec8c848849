/**
 * `kumiki/runners/openai-compatible`: a model runner for any server speaking the OpenAI
 * chat/completions protocol (vLLM, llama-server, Ollama, mlx-lm, Ray Serve LLM, OpenAI). Needs only fetch.
 */

export type { TokenProvider } from '../../internal/http/credentials.js';
export { HttpResponseError, httpDetails } from '../../internal/http/errors.js';
export {
  createOpenAICompatibleRunner,
  type OpenAICompatibleRunner,
  type OpenAICompatibleRunnerOptions,
} from './runner.js';
export { createSseParser, type SseEvent, type SseParser } from './sse.js';
export type { Flavor } from './wire.js';
