/**
 * `kumiki/embedders/openai-compatible`: a dense embedder for any server speaking the OpenAI
 * `/v1/embeddings` protocol (OpenAI, vLLM, TEI, llama-server, Ollama). Needs only fetch.
 */

export type { TokenProvider } from '../../internal/http/credentials.js';
export { HttpResponseError, httpDetails } from '../../internal/http/errors.js';
export {
  createOpenAICompatibleEmbedder,
  type OpenAICompatibleEmbedder,
  type OpenAICompatibleEmbedderOptions,
} from './embedder.js';
