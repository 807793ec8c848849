/**
 * `kumiki/embedders/llama-cpp`: dense embeddings from a local GGUF model, in-process with llama.cpp
 * (the `node-llama-cpp` peer dependency, imported on first use).
 */

export {
  describeLlamaModels,
  type LlamaGpu,
  type LlamaGpuLayers,
  type LlamaLogLevel,
  type LlamaModelInfo,
} from '../../llama/registry.js';
export type { LlamaModelSource, ModelDownloadProgress } from '../../llama/resolve.js';
export {
  createLlamaCppEmbedder,
  type LlamaCppEmbedder,
  type LlamaCppEmbedderNative,
  type LlamaCppEmbedderOptions,
} from './embedder.js';
