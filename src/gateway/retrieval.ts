/** How the gateway retrieves for /v1/search and knowledge models: from the caller's tenant when configured. */
import { type ScopeStoreOptions, scopeStore } from '../auth/scoped.js';
import type { RequestState } from './context.js';
import { ANONYMOUS } from './middleware/access.js';
import type { GatewayOptions, RetrieveConfig } from './options.js';

/** The options of `retrieve()` for a collection, as a request's caller may search it. */
export type RetrieveFor = ReturnType<typeof retrieveOptionsFor>;

/**
 * The store a search or knowledge model reads: scoped to the caller's tenant when `scopeByTenant`
 * is set (its options are checked now, on the first collection's store, rather than on the first search).
 */
export function retrieveOptionsFor(search: GatewayOptions['search'], collections: Map<string, RetrieveConfig>) {
  const scopeOption = search?.scopeByTenant;
  const scope: ScopeStoreOptions | undefined =
    scopeOption === true ? {} : scopeOption === false || scopeOption === undefined ? undefined : scopeOption;
  const firstStore = [...collections.values()][0]?.store;
  if (scope && firstStore) scopeStore(firstStore, { ...ANONYMOUS, tenant: 'check' }, scope);
  return (state: RequestState, config: RetrieveConfig) => {
    const { defaultMode, maxLimit: _maxLimit, ...retrieveConfig } = config;
    if (scope && state.principal) retrieveConfig.store = scopeStore(config.store, state.principal, scope);
    return { ...retrieveConfig, ...(defaultMode === undefined ? {} : { mode: defaultMode }) };
  };
}
