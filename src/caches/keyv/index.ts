export {
  createKeyvCache,
  type KeyvCache,
  type KeyvCacheErrorContext,
  type KeyvCacheOperation,
  type KeyvCacheOptions,
} from './keyv-cache.js';
