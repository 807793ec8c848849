/** Store conformance, collections: epochs, state, create/open/list/delete, embedding spaces, aliases, explain. */
import { check, deepEqual, equal, rejectsWith } from '../assert.js';
import { FILTER_CASES } from '../filter-cases.js';
import { type StoreSuite, uniqueName } from './shared.js';

export function collectionTests({ t }: StoreSuite): void {
  t('a collection keeps its epoch until it is deleted; created again, it gets another', async (store) => {
    const name = uniqueName('epoch');
    const first = await store.createCollection({ name, dimensions: 2 });
    if (first.epoch === undefined) return; // the store keeps no epoch (ingest then checks its ledger record by record)
    equal((await store.openCollection({ name })).epoch, first.epoch, 'openCollection shows the same epoch');
    equal(
      (await store.createCollection({ name, dimensions: 2, ifExists: 'open' })).epoch,
      first.epoch,
      'createCollection with ifExists: open shows the same epoch',
    );
    await store.upsert({ collection: name, records: [{ id: 1, vector: [1, 0] }] });
    equal((await store.openCollection({ name })).epoch, first.epoch, 'writes keep the epoch');
    await store.deleteCollection({ name });
    const second = await store.createCollection({ name, dimensions: 2 });
    check(second.epoch !== undefined && second.epoch !== first.epoch, 'a collection created again has another epoch');
    await store.deleteCollection({ name });
  });

  t('where a write version and collection state are kept, the state is current until the next write', async (store) => {
    const name = uniqueName('state');
    const created = await store.createCollection({ name, dimensions: 2 });
    if (!store.getCollectionState || !store.setCollectionState) return;
    check(created.version !== undefined, 'a store with collection state keeps a write version');
    equal(await store.getCollectionState({ collection: name, key: 'k' }), undefined, 'no state at first');
    await store.setCollectionState({ collection: name, key: 'k', value: { n: [1, 2] } });
    deepEqual(
      await store.getCollectionState({ collection: name, key: 'k' }),
      { value: { n: [1, 2] }, current: true },
      'a state set after the last write is current',
    );
    await store.upsert({ collection: name, records: [{ id: 1, vector: [1, 0] }] });
    const after = await store.openCollection({ name });
    check((after.version ?? 0) > (created.version ?? 0), 'an upsert raises the write version');
    equal((await store.getCollectionState({ collection: name, key: 'k' }))?.current, false, 'a write makes it stale');
    await store.setCollectionState({ collection: name, key: 'k', value: 'again' });
    equal((await store.getCollectionState({ collection: name, key: 'k' }))?.current, true, 'set again, current again');
    await store.delete({ collection: name, ids: [1] });
    equal((await store.getCollectionState({ collection: name, key: 'k' }))?.current, false, 'a delete makes it stale');
    const at = (await store.openCollection({ name })).version ?? 0;
    await store.upsert({ collection: name, records: [{ id: 2, vector: [0, 1] }] });
    await store.setCollectionState({ collection: name, key: 'k', value: 'older', version: at });
    equal(
      (await store.getCollectionState({ collection: name, key: 'k' }))?.current,
      false,
      'a state set for an earlier write version is not current',
    );
    await store.setCollectionState({ collection: name, key: 'k', value: undefined });
    equal(await store.getCollectionState({ collection: name, key: 'k' }), undefined, 'value undefined removes it');
    await store.deleteCollection({ name });
  });

  t('creates, opens, lists and deletes collections', async (store) => {
    const name = uniqueName('coll');
    const info = await store.createCollection({ name, dimensions: 4, metric: 'dot', embeddingSpace: 'kfp1:alpha' });
    equal(info.name, name, 'created name');
    equal(info.dimensions, 4, 'created dimensions');
    equal(info.metric, 'dot', 'created metric');
    equal(info.fingerprint, 'kfp1:alpha', 'created fingerprint');
    equal(info.count, 0, 'created count');
    await rejectsWith(
      () => store.createCollection({ name, dimensions: 4, metric: 'dot' }),
      'ConflictError',
      'creating twice',
    );
    const reopened = await store.createCollection({
      name,
      dimensions: 4,
      metric: 'dot',
      embeddingSpace: 'kfp1:alpha',
      ifExists: 'open',
    });
    equal(reopened.name, name, 'ifExists open');
    await rejectsWith(
      () => store.createCollection({ name, dimensions: 8, metric: 'dot', ifExists: 'open' }),
      'DimensionMismatchError',
      'ifExists open with other dimensions',
    );
    const opened = await store.openCollection({ name, embeddingSpace: 'kfp1:alpha' });
    equal(opened.dimensions, 4, 'opened dimensions');
    const listed = await store.listCollections();
    check(
      listed.some((c) => c.name === name),
      'listCollections includes the new collection',
    );
    equal(await store.deleteCollection({ name }), true, 'delete existing collection');
    equal(await store.deleteCollection({ name }), false, 'delete missing collection');
    await rejectsWith(() => store.openCollection({ name }), 'NotFoundError', 'opening a deleted collection');
  });

  t('refuses another embedding space with a typed error', async (store) => {
    const name = uniqueName('fp');
    const space = { provider: 'test', model: 'model-a', dimensions: 3 };
    await store.createCollection({ name, dimensions: 3, embeddingSpace: space });
    await store.openCollection({ name, embeddingSpace: space });
    const error = await rejectsWith(
      () => store.openCollection({ name, embeddingSpace: { ...space, model: 'model-b' } }),
      'EmbeddingSpaceMismatchError',
      'opening with another model',
    );
    check(error.message.includes(name), 'the mismatch message names the collection');
    await rejectsWith(
      () =>
        store.createCollection({ name, dimensions: 3, embeddingSpace: { ...space, revision: 'v2' }, ifExists: 'open' }),
      'EmbeddingSpaceMismatchError',
      'creating with ifExists open and another revision',
    );
  });

  t('aliases switch between collections in one step', async (store) => {
    if (!store.capabilities.aliases || !store.setAlias || !store.deleteAlias || !store.listAliases) return;
    const blue = uniqueName('blue');
    const green = uniqueName('green');
    const alias = uniqueName('live');
    await store.createCollection({ name: blue, dimensions: 2, embeddingSpace: 'kfp1:blue' });
    await store.createCollection({ name: green, dimensions: 2, embeddingSpace: 'kfp1:green' });
    await store.upsert({ collection: blue, records: [{ id: 'b', vector: [1, 0], payload: { color: 'blue' } }] });
    await store.upsert({ collection: green, records: [{ id: 'g', vector: [1, 0], payload: { color: 'green' } }] });
    await store.setAlias({ alias, collection: blue });
    deepEqual(
      (await store.search({ collection: alias, vector: [1, 0] })).map((m) => m.id),
      ['b'],
      'search through the alias',
    );
    equal((await store.openCollection({ name: alias })).fingerprint, 'kfp1:blue', 'open through the alias');
    await store.setAlias({ alias, collection: green });
    deepEqual(
      (await store.search({ collection: alias, vector: [1, 0] })).map((m) => m.id),
      ['g'],
      'search after the switch',
    );
    await store.upsert({ collection: alias, records: [{ id: 'g2', vector: [0, 1] }] });
    equal(await store.count({ collection: green }), 2, 'writes through the alias reach the target');
    check(
      (await store.listAliases()).some((a) => a.alias === alias && a.collection === green),
      'listAliases shows the alias and its target',
    );
    await rejectsWith(
      () => store.setAlias?.({ alias, collection: uniqueName('nothing') }) ?? Promise.resolve(),
      'NotFoundError',
      'alias to a missing collection',
    );
    equal(await store.deleteAlias({ alias }), true, 'deleteAlias existing');
    equal(await store.deleteAlias({ alias }), false, 'deleteAlias missing');
    await rejectsWith(() => store.count({ collection: alias }), 'NotFoundError', 'a deleted alias resolves to nothing');
  });

  t('explain shows the native form of every operator', async (store) => {
    const name = uniqueName('explain');
    await store.createCollection({ name, dimensions: 2 });
    for (const { filter } of FILTER_CASES) {
      try {
        const explained = await store.explain({ collection: name, filter });
        equal(explained.backend, store.provider, 'explain names the backend');
        check(explained.native !== undefined, 'explain returns a native form');
      } catch (error) {
        check(
          typeof error === 'object' && error !== null && (error as Error).name === 'UnsupportedFilterError',
          `explain may only fail with UnsupportedFilterError, got ${String(error)}`,
        );
      }
    }
  });
}
