export { createKeyvCache } from './keyv-cache.js';
export type {
  KeyvCache,
  KeyvCacheErrorContext,
  KeyvCacheOperation,
  KeyvCacheOptions,
} from './options.js';
