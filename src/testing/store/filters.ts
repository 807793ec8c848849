/** Store conformance, filters: nesting depth, wide filters, abort, delete and count, scroll, every operator against the reference. */
import { type Filter, MAX_FILTER_DEPTH } from '../../core/filter.js';
import type { JsonObject, RecordId, StoredRecord } from '../../core/types.js';
import { matchesFilter } from '../../filter/evaluate.js';
import { check, deepEqual, equal, rejectsWith } from '../assert.js';
import { FILTER_CASES, FILTER_PAYLOADS } from '../filter-cases.js';
import { expectRefusal, type StoreSuite, sortIds, supports, uniqueName } from './shared.js';

export function filterTests({ t }: StoreSuite): void {
  t(`filters nest at most ${MAX_FILTER_DEPTH} levels; deeper ones are refused, never overflow`, async (store) => {
    const name = uniqueName('depth');
    await store.createCollection({ name, dimensions: 2 });
    const payloads: JsonObject[] = [{ k: 1 }, { k: 2 }, {}, { k: [1, 2] }];
    await store.upsert({
      collection: name,
      records: payloads.map((payload, i) => ({ id: i, vector: [1, i], payload })),
    });
    // A filter exactly MAX_FILTER_DEPTH deep: and-rooted, with not-not, or and and levels below.
    let filter: Filter = { op: 'eq', field: 'k', value: 1 };
    let depth = 1;
    for (let step = 0; depth < MAX_FILTER_DEPTH - 1; step++) {
      if (step % 3 === 0 && depth + 2 < MAX_FILTER_DEPTH) {
        filter = { op: 'not', filter: { op: 'not', filter } };
        depth += 2;
      } else if (step % 3 === 1) {
        filter = { op: 'or', filters: [filter, { op: 'eq', field: 'k', value: 5 }] };
        depth += 1;
      } else {
        filter = { op: 'and', filters: [{ op: 'exists', field: 'k' }, filter] };
        depth += 1;
      }
    }
    filter = { op: 'and', filters: [filter] };
    const expected = payloads.flatMap((payload, i) => (matchesFilter(filter, payload) ? [i] : []));
    deepEqual(expected, [0, 3], 'the reference selects k = 1');
    if (await supports(store, name, filter)) {
      deepEqual(
        (await store.scroll({ collection: name, filter })).records.map((record) => record.id),
        expected,
        `a filter ${MAX_FILTER_DEPTH} deep via scroll`,
      );
      equal(
        await store.count({ collection: name, filter }),
        expected.length,
        `a filter ${MAX_FILTER_DEPTH} deep via count`,
      );
    } else {
      await expectRefusal(store, name, filter, `a filter ${MAX_FILTER_DEPTH} deep`);
    }
    const tooDeep = (depth: number): Filter => {
      let node: Filter = { op: 'exists', field: 'k' };
      for (let i = 1; i < depth; i++) node = i % 2 === 0 ? { op: 'not', filter: node } : { op: 'or', filters: [node] };
      return node;
    };
    for (const deeper of [{ op: 'and', filters: [filter] } as Filter, tooDeep(1_500)]) {
      const what = deeper === filter ? 'one level too deep' : 'nested 1,500 deep';
      const error = await rejectsWith(
        () => store.count({ collection: name, filter: deeper }),
        'InvalidArgumentError',
        `count: ${what}`,
      );
      check(error.message.includes(String(MAX_FILTER_DEPTH)), `the message names the limit: ${error.message}`);
      await rejectsWith(
        () => store.scroll({ collection: name, filter: deeper }),
        'InvalidArgumentError',
        `scroll: ${what}`,
      );
      await rejectsWith(
        () => store.search({ collection: name, vector: [1, 0], filter: deeper }),
        'InvalidArgumentError',
        `search: ${what}`,
      );
      await rejectsWith(
        () => store.delete({ collection: name, filter: deeper }),
        'InvalidArgumentError',
        `delete: ${what}`,
      );
      await rejectsWith(
        () => store.explain({ collection: name, filter: deeper }),
        'InvalidArgumentError',
        `explain: ${what}`,
      );
    }
    const cyclic: { op: 'not'; filter?: unknown } = { op: 'not' };
    cyclic.filter = cyclic;
    await rejectsWith(
      () => store.count({ collection: name, filter: cyclic as Filter }),
      'InvalidArgumentError',
      'a cyclic filter',
    );
    equal(await store.count({ collection: name }), payloads.length, 'refused deletes wrote nothing');
  });

  t('a wide or (40,000 clauses) is answered exactly or refused with UnsupportedFilterError at once', async (store) => {
    const name = uniqueName('wide');
    await store.createCollection({ name, dimensions: 2 });
    await store.upsert({
      collection: name,
      records: [0, 1, 2].map((i) => ({ id: i, vector: [1, i], payload: { n: i * 30_000 } })),
    });
    const filter: Filter = {
      op: 'or',
      filters: Array.from({ length: 40_000 }, (_, i) => ({ op: 'eq', field: 'n', value: i + 1 }) as Filter),
    };
    if (await supports(store, name, filter)) {
      deepEqual(
        (await store.scroll({ collection: name, filter })).records.map((record) => record.id),
        [1],
        'a wide or via scroll',
      );
      equal(await store.count({ collection: name, filter }), 1, 'a wide or via count');
    } else {
      await expectRefusal(store, name, filter, 'a wide or');
    }
  });

  t('honours an aborted signal', async (store) => {
    const name = uniqueName('abort');
    await store.createCollection({ name, dimensions: 2 });
    const controller = new AbortController();
    controller.abort();
    await rejectsWith(
      () => store.upsert({ collection: name, records: [{ id: 1, vector: [1, 0] }], abortSignal: controller.signal }),
      'AbortedError',
      'upsert with an aborted signal',
    );
    await rejectsWith(
      () => store.search({ collection: name, vector: [1, 0], abortSignal: controller.signal }),
      'AbortedError',
      'search with an aborted signal',
    );
    equal(await store.count({ collection: name }), 0, 'aborted upsert wrote nothing');
  });

  t('deletes by ids and by filter, and counts with filters', async (store) => {
    const name = uniqueName('del');
    await store.createCollection({ name, dimensions: 2 });
    const records = Array.from({ length: 20 }, (_, i) => ({
      id: i,
      vector: [1, i],
      payload: { even: i % 2 === 0, group: i % 3 },
    }));
    await store.upsert({ collection: name, records });
    equal(
      await store.count({ collection: name, filter: { op: 'eq', field: 'even', value: true } }),
      10,
      'count with filter',
    );
    equal(
      (await store.delete({ collection: name, ids: [0, 1, 999] })).deleted,
      2,
      'delete by ids counts only existing',
    );
    equal(
      (await store.delete({ collection: name, filter: { op: 'eq', field: 'group', value: 2 } })).deleted,
      6,
      'delete by filter',
    );
    equal(await store.count({ collection: name }), 12, 'count after deletes');
    const left = await store.scroll({ collection: name, limit: 100 });
    deepEqual(
      left.records.map((r) => r.id),
      [3, 4, 6, 7, 9, 10, 12, 13, 15, 16, 18, 19],
      'the right records remain',
    );
    const results = await store.search({ collection: name, vector: [1, 19], limit: 50 });
    equal(results.length, 12, 'deleted records are not searchable');
  });

  t('scroll returns every record exactly once, in id order', async (store) => {
    const name = uniqueName('scroll');
    await store.createCollection({ name, dimensions: 2 });
    const ids: RecordId[] = [
      ...Array.from({ length: 60 }, (_, i) => i * 7 - 100),
      ...Array.from({ length: 43 }, (_, i) => `s${i}`),
    ];
    await store.upsert({ collection: name, records: ids.map((id, i) => ({ id, vector: [1, i], payload: { i } })) });
    const seen: RecordId[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page: { records: StoredRecord[]; nextCursor: string | undefined } = await store.scroll({
        collection: name,
        limit: 7,
        ...(cursor ? { cursor } : {}),
      });
      check(page.records.length <= 7, 'a page holds at most limit records');
      seen.push(...page.records.map((r) => r.id));
      cursor = page.nextCursor;
      pages++;
      check(pages < 100, 'scroll terminates');
    } while (cursor);
    deepEqual(seen, sortIds(ids), 'scroll visits all ids once, integers ascending then strings');
    const filtered = await store.scroll({ collection: name, limit: 1000, filter: { op: 'lt', field: 'i', value: 10 } });
    deepEqual(
      filtered.records.map((r) => r.id),
      sortIds(ids.slice(0, 10)),
      'scroll with a filter',
    );
    equal(filtered.nextCursor, undefined, 'no cursor after the last page');
  });

  t('every filter operator follows the reference semantics', async (store) => {
    const name = uniqueName('filters');
    await store.createCollection({ name, dimensions: 2 });
    await store.upsert({
      collection: name,
      records: Object.entries(FILTER_PAYLOADS).map(([id, payload]) => ({
        id: Number(id),
        vector: [1, Number(id)],
        payload,
      })),
    });
    for (const { name: caseName, filter, ids } of FILTER_CASES) {
      if (!(await supports(store, name, filter))) {
        await expectRefusal(store, name, filter, `filter "${caseName}"`);
        continue;
      }
      const page = await store.scroll({ collection: name, filter, limit: 100 });
      deepEqual(
        page.records.map((r) => r.id),
        ids,
        `filter "${caseName}" via scroll`,
      );
      equal(await store.count({ collection: name, filter }), ids.length, `filter "${caseName}" via count`);
      const hits = await store.search({ collection: name, vector: [1, 0], filter, limit: 100 });
      deepEqual(sortIds(hits.map((h) => h.id)), ids, `filter "${caseName}" via search`);
    }
    check(
      (await Promise.all(FILTER_CASES.map(({ filter }) => supports(store, name, filter)))).filter(Boolean).length >=
        FILTER_CASES.length - 4,
      'a store refuses at most a few edge cases of the filter table',
    );
    equal(
      await store.count({ collection: name }),
      Object.keys(FILTER_PAYLOADS).length,
      'refused deletes wrote nothing',
    );
  });
}
