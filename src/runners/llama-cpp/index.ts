/**
 * `kumiki/runners/llama-cpp`: text generation with a local GGUF model, in-process with llama.cpp (the
 * `node-llama-cpp` peer dependency, imported on first use). Models are shared per process with the
 * llama.cpp embedders.
 */

export {
  describeLlamaModels,
  type LlamaGpu,
  type LlamaGpuLayers,
  type LlamaLogLevel,
  type LlamaModelInfo,
} from '../../llama/registry.js';
export type { LlamaModelSource, ModelDownloadProgress } from '../../llama/resolve.js';
export type { LlamaCppRunner, LlamaCppRunnerNative, LlamaCppRunnerOptions } from './options.js';
export { createLlamaCppRunner } from './runner.js';
