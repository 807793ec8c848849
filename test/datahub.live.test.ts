/**
 * The DataHub catalog against a real DataHub GMS:
 *
 *   pip install acryl-datahub && datahub docker quickstart
 *   DATAHUB_GMS_URL=http://localhost:8080 npx vitest run test/datahub.live.test.ts
 *
 * Set DATAHUB_TOKEN too when metadata service authentication is on. Without DATAHUB_GMS_URL every
 * test is skipped (the reason is in the suite's name). Entities are written under the data platform
 * `kumiki_test` in the TEST environment, with names unique to each run; they are not deleted.
 * Search results come from DataHub's search index, which refreshes asynchronously: the search test
 * waits up to 30 s for them.
 */
import { describe, test } from 'vitest';
import { createDataHubCatalog } from '../src/catalogs/datahub/index.js';
import { catalogConformance } from '../src/testing/catalog-conformance.js';

const url = process.env.DATAHUB_GMS_URL;
const token = process.env.DATAHUB_TOKEN;
const open = () =>
  createDataHubCatalog({ url: url ?? '', platform: 'kumiki_test', env: 'TEST', ...(token ? { token } : {}) });

describe.skipIf(!url)(`DataHub catalog against a real GMS${url ? '' : ' (skipped: set DATAHUB_GMS_URL)'}`, () => {
  catalogConformance(test, open, {
    name: 'datahub live',
    reopen: open,
    searchSettleMs: 30_000,
    concurrency: 10,
    timeoutMs: 120_000,
  });
});
