import type { DenseEmbedder } from '../../src/index.js';

/** A small real embedder: hashed character trigrams, L2-normalised. Deterministic, no model files. */
export function trigramEmbedder(dimensions: number, model: string): DenseEmbedder & { calls: number };
