import type { DenseEmbedder, Splitter } from 'kumiki';
import type { SourceDocument } from '../../src/pipeline/types.js';

export function chaosCorpus(version: number): SourceDocument[];
export const chaosSplitter: Splitter;
export function chaosEmbedder(): DenseEmbedder;
