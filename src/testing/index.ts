export { ConformanceFailure } from './assert.js';
export { type CacheConformanceOptions, type CacheFactoryContext, cacheConformance } from './cache-conformance.js';
export {
  type CatalogConformanceOptions,
  type CatalogFactoryContext,
  catalogConformance,
} from './catalog-conformance.js';
export { type EmbedderConformanceOptions, embedderConformance } from './embedder-conformance.js';
export { FILTER_CASES, FILTER_PAYLOADS } from './filter-cases.js';
export { seededRandom } from './random.js';
export { type RunnerConformanceOptions, runnerConformance } from './runner-conformance.js';
export {
  checkRanking,
  referenceScore,
  type StoreConformanceOptions,
  storeConformance,
  type TestFunction,
} from './store-conformance.js';
