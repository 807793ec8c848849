/**
 * `kumiki/embedders/static`: dense embeddings from static token-vector tables (Model2Vec models and
 * word-vector tables such as GloVe), mean-pooled in plain JavaScript. Runs anywhere the core runs.
 */
export {
  createStaticEmbedder,
  type Model2VecFiles,
  type StaticEmbedder,
  type StaticEmbedderOptions,
  type WordVectors,
} from './embedder.js';
export { readSafetensors, type Tensor, writeSafetensors } from './safetensors.js';
export { createTokenizer, type Tokenizer } from './tokenizer.js';
