import { test } from 'vitest';
import { createBm25Encoder } from '../src/index.js';
import { embedderConformance } from '../src/testing/index.js';

const corpus = ['The quick brown fox', 'Retrieval grounds answers in documents', 'Unicode 日本語 works too'];

embedderConformance(test, () => createBm25Encoder({ corpus }), { name: 'BM25 encoder', tolerance: 0 });
