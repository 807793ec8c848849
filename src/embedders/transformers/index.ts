/**
 * `kumiki/embedders/transformers`: dense embeddings from Hugging Face ONNX models, run in-process by
 * transformers.js (`@huggingface/transformers`, a peer dependency loaded on first use).
 */
export {
  createTransformersEmbedder,
  type TransformersDevice,
  type TransformersEmbedder,
  type TransformersEmbedderOptions,
  type TransformersNative,
} from './embedder.js';
export type { TransformersDtype } from './locate.js';
export type { TransformersPooling } from './pooling.js';
