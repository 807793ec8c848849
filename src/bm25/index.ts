export {
  type Bm25Encoder,
  type Bm25Options,
  type Bm25Stats,
  type Bm25Vector,
  createBm25Encoder,
  DEFAULT_BM25_DIMENSIONS,
} from './encoder.js';
export { BM25_STATE_FORMAT, type Bm25State, bm25StateSchema } from './state.js';
export { ENGLISH_STOPWORDS } from './stopwords.js';
export { type Bm25Stemmer, TOKENIZER_ID } from './tokenize.js';
