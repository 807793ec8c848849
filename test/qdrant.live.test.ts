/**
 * The Qdrant adapter against a real Qdrant server (≥ 1.16; built against 1.18):
 *
 *   docker run -p 6333:6333 qdrant/qdrant:v1.18.0
 *   QDRANT_URL=http://localhost:6333 npx vitest run test/qdrant.live.test.ts
 *
 * Set QDRANT_API_KEY too for a server that needs one. Without QDRANT_URL every test is skipped
 * (the reason is in the suite's name). The collections the run creates are deleted at the end.
 */
import { afterAll, describe, test } from 'vitest';
import type { Store } from '../src/core/store.js';
import { createQdrantStore } from '../src/stores/qdrant/index.js';
import { qdrantStoreChecks } from './helpers/qdrant-suite.js';

const url = process.env.QDRANT_URL;
const apiKey = process.env.QDRANT_API_KEY;
const created = new Set<string>();

/** A store for one test, remembering the collections it creates so the run can remove them. */
function liveStore(): Store {
  const store = createQdrantStore({ ...(url ? { url } : {}), ...(apiKey ? { apiKey } : {}) });
  return {
    ...store,
    createCollection: (options) => {
      created.add(options.name);
      return store.createCollection(options);
    },
  };
}

describe.skipIf(!url)(
  url
    ? `Qdrant live suite against ${url}`
    : 'Qdrant live suite (skipped: set QDRANT_URL, e.g. QDRANT_URL=http://localhost:6333)',
  () => {
    afterAll(async () => {
      const store = liveStore();
      for (const name of created) await store.deleteCollection({ name }).catch(() => false);
      await store.dispose();
    }, 120_000);

    qdrantStoreChecks(test, liveStore, { name: 'qdrant (live)', numRuns: 25 });
  },
);
