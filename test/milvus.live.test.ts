/**
 * The full store conformance suite against a real Milvus server (2.5 or later):
 *
 *   MILVUS_ADDRESS=localhost:19530 npx vitest run test/milvus.live.test.ts
 *
 * `MILVUS_TOKEN` (an API key or `user:password`) is passed when set. Without MILVUS_ADDRESS the
 * suite is skipped and says so. Collections the run creates (`kc_…`) are dropped afterwards.
 */
import { logger, type MilvusClient } from '@zilliz/milvus2-sdk-node';
import { afterAll, test } from 'vitest';
import { createMilvusStore } from '../src/stores/milvus/index.js';
import { storeConformance } from '../src/testing/index.js';

const address = process.env.MILVUS_ADDRESS;
const token = process.env.MILVUS_TOKEN;

if (!address) {
  test.skip('Milvus live suite: set MILVUS_ADDRESS=host:port (and MILVUS_TOKEN if auth is on) to run it', () => {});
} else {
  logger.level = 'warn';
  const options = { address, ...(token ? { token } : {}) };
  const client: MilvusClient = await createMilvusStore(options).client();
  const before = new Set((await client.showCollections()).data.map((collection) => collection.name));
  afterAll(async () => {
    const after = (await client.showCollections()).data.map((collection) => collection.name);
    const cleanup = createMilvusStore({ ...options, client });
    for (const name of after) {
      if (!before.has(name) && name.startsWith('kc_')) await cleanup.deleteCollection({ name });
    }
    await client.closeConnection();
  });
  storeConformance(test, () => createMilvusStore({ ...options, client }), {
    name: `milvus live (${address})`,
    timeoutMs: 300_000,
  });
}
