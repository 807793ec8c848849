/** Store conformance, records: round trips, idempotent upserts, bad input, payloads and vectors no store can keep, id length. */
import type { Filter } from '../../core/filter.js';
import { FLOAT32_MAX, MAX_PAYLOAD_DEPTH } from '../../core/json.js';
import type { JsonObject, JsonValue, VectorRecord } from '../../core/types.js';
import { check, deepEqual, equal, rejectsWith } from '../assert.js';
import { seededRandom } from '../random.js';
import { type StoreSuite, sortIds, uniqueName } from './shared.js';

export function recordTests({ t, maxIdBytes }: StoreSuite): void {
  t('upserts and gets records with string and integer ids', async (store) => {
    const name = uniqueName('rt');
    await store.createCollection({ name, dimensions: 3, metric: 'cosine' });
    const records: VectorRecord[] = [
      { id: 1, vector: [1, 0, 0], payload: { kind: 'int', nested: { a: [1, 'x', null, { b: true }] } } },
      { id: '1', vector: new Float32Array([0, 1, 0]), payload: { kind: 'string' } },
      { id: 'doc-é-🙂', vector: new Float64Array([0, 0, 1]), sparseVector: { indices: [7, 3], values: [0.5, 2] } },
      { id: 9007199254740991, vector: [0.25, 0.5, 0.75] },
    ];
    equal((await store.upsert({ collection: name, records })).upserted, 4, 'upserted count');
    equal(await store.count({ collection: name }), 4, 'count after upsert');
    const got = await store.get({
      collection: name,
      ids: ['doc-é-🙂', 1, 'missing', '1', 9007199254740991],
      includeVectors: true,
    });
    deepEqual(
      got.map((r) => r.id),
      ['doc-é-🙂', 1, '1', 9007199254740991],
      'get returns existing ids in the order asked',
    );
    deepEqual(got[1]?.payload, records[0]?.payload, 'nested payload round trip');
    deepEqual(got[2]?.payload, { kind: 'string' }, 'string id 1 is distinct from integer id 1');
    deepEqual(got[0]?.payload, {}, 'a record without payload has an empty payload');
    deepEqual(Array.from(got[3]?.vector ?? []), [0.25, 0.5, 0.75], 'dense vector round trip');
    const sparse = got[0]?.sparseVector;
    check(sparse !== undefined, 'sparse vector returned with includeVectors');
    const pairs = Array.from(sparse.indices, (index, i) => [index, sparse.values[i]]).sort(
      (a, b) => (a[0] as number) - (b[0] as number),
    );
    deepEqual(
      pairs,
      [
        [3, 2],
        [7, 0.5],
      ],
      'sparse vector round trip',
    );
    const withoutVectors = await store.get({ collection: name, ids: [1] });
    equal(withoutVectors[0]?.vector, undefined, 'vectors are left out unless asked for');
  });

  t('upsert by id is idempotent and replaces the whole record', async (store) => {
    const name = uniqueName('idem');
    await store.createCollection({ name, dimensions: 2 });
    const record = { id: 'a', vector: [1, 2], payload: { x: 1, y: 2 } };
    await store.upsert({ collection: name, records: [record] });
    await store.upsert({ collection: name, records: [record] });
    equal(await store.count({ collection: name }), 1, 'same record twice counts once');
    await store.upsert({ collection: name, records: [{ id: 'a', vector: [3, 4], payload: { x: 5 } }] });
    const [stored] = await store.get({ collection: name, ids: ['a'], includeVectors: true });
    deepEqual(stored?.payload, { x: 5 }, 'payload replaced whole (y removed)');
    deepEqual(Array.from(stored?.vector ?? []), [3, 4], 'vector replaced');
    await store.upsert({
      collection: name,
      records: [
        { id: 'b', vector: [0, 1], payload: { v: 1 } },
        { id: 'b', vector: [1, 0], payload: { v: 2 } },
      ],
    });
    const [last] = await store.get({ collection: name, ids: ['b'] });
    deepEqual(last?.payload, { v: 2 }, 'within one batch the last duplicate wins');
  });

  t('rejects bad input with typed errors and writes nothing', async (store) => {
    const name = uniqueName('bad');
    await store.createCollection({ name, dimensions: 3 });
    await store.upsert({ collection: name, records: [{ id: 'keep', vector: [1, 1, 1] }] });
    const dims = await rejectsWith(
      () =>
        store.upsert({
          collection: name,
          records: [
            { id: 'ok', vector: [1, 0, 0] },
            { id: 'short', vector: [1, 0] },
          ],
        }),
      'DimensionMismatchError',
      'a batch with one short vector',
    );
    check(dims.message.includes('3') && dims.message.includes('2'), 'dimension message names expected and actual');
    equal(await store.count({ collection: name }), 1, 'a rejected batch writes nothing');
    const nan = await rejectsWith(
      () => store.upsert({ collection: name, records: [{ id: 'nan', vector: [1, Number.NaN, 0] }] }),
      'InvalidArgumentError',
      'NaN in a vector',
    );
    check(nan.message.includes('finite'), `NaN message says values must be finite: ${nan.message}`);
    await rejectsWith(
      () => store.upsert({ collection: name, records: [{ id: '', vector: [1, 0, 0] }] }),
      'InvalidArgumentError',
      'empty string id',
    );
    await rejectsWith(
      () => store.upsert({ collection: name, records: [{ id: 1.5, vector: [1, 0, 0] }] }),
      'InvalidArgumentError',
      'fractional id',
    );
    const badFilter = await rejectsWith(
      () => store.count({ collection: name, filter: { op: 'like', field: 'x', value: 'y' } as unknown as Filter }),
      'InvalidArgumentError',
      'unknown filter operator',
    );
    check(badFilter.message.includes('op'), `filter message names the operator field: ${badFilter.message}`);
    await rejectsWith(
      () => store.search({ collection: name, vector: [1, 0] }),
      'DimensionMismatchError',
      'short query',
    );
    await rejectsWith(
      () => store.search({ collection: uniqueName('missing'), vector: [1, 0, 0] }),
      'NotFoundError',
      'missing collection',
    );
    const missing = uniqueName('missing');
    await rejectsWith(
      () => store.upsert({ collection: missing, records: [{ id: 'a', vector: [1, 0, 0] }] }),
      'NotFoundError',
      'upsert into a missing collection',
    );
    await rejectsWith(
      () => store.delete({ collection: missing, ids: ['a'] }),
      'NotFoundError',
      'delete from a missing collection',
    );
    await rejectsWith(
      () => store.scroll({ collection: name, cursor: '{not a cursor' }),
      'InvalidArgumentError',
      'forged cursor',
    );
    await rejectsWith(
      () => store.createCollection({ name: uniqueName('x'), dimensions: -1 }),
      'InvalidArgumentError',
      'negative dimensions',
    );
    equal(await store.count({ collection: name }), 1, 'nothing was written by rejected calls');
  });

  t('refuses payloads no store can keep, the same way everywhere, and writes nothing', async (store) => {
    const name = uniqueName('json');
    await store.createCollection({ name, dimensions: 2 });
    const cyclic: Record<string, unknown> = { a: { b: 1 } };
    (cyclic.a as Record<string, unknown>).back = cyclic;
    const shared = { tag: 'x' };
    let deep: Record<string, unknown> = {};
    for (let i = 0; i < 10_000; i++) deep = { d: deep };
    class Point {
      x = 1;
    }
    const refused: [string, unknown, string][] = [
      ['a cyclic payload', cyclic, 'payload.a.back'],
      ['an object appearing twice', { a: shared, b: [shared] }, 'payload.b.0'],
      ['a payload nested 10,000 deep', deep, `payload${'.d'.repeat(MAX_PAYLOAD_DEPTH)}`],
      ['an own "__proto__" key', JSON.parse('{"ok": 1, "__proto__": {"admin": true}}'), 'payload.__proto__'],
      ['undefined', { a: undefined }, 'payload.a'],
      ['a hole in an array', { a: Array(2) }, 'payload.a.0'],
      ['a function', { a: () => 1 }, 'payload.a'],
      ['a symbol', { a: Symbol('s') }, 'payload.a'],
      ['a symbol key', { [Symbol('s')]: 1 }, 'payload'],
      ['a bigint', { a: 1n }, 'payload.a'],
      ['NaN', { a: [Number.NaN] }, 'payload.a.0'],
      ['Infinity', { a: { b: Number.POSITIVE_INFINITY } }, 'payload.a.b'],
      ['a Date', { a: new Date(0) }, 'payload.a'],
      ['a Map', { a: new Map() }, 'payload.a'],
      ['a typed array', { a: new Float32Array(2) }, 'payload.a'],
      ['a class instance', { a: new Point() }, 'payload.a'],
      ['a boxed string', { a: new String('s') }, 'payload.a'],
      ['U+0000 in a string', { a: 'x\u0000y' }, 'payload.a'],
      ['an unpaired surrogate in a key', { '\uD800': 1 }, 'payload.\uD800'],
      ['an array as the payload', [1], 'payload'],
    ];
    for (const [what, payload, path] of refused) {
      const error = await rejectsWith(
        () =>
          store.upsert({
            collection: name,
            records: [
              { id: 'ok', vector: [1, 0] },
              { id: 'bad', vector: [1, 0], payload: payload as JsonObject },
            ],
          }),
        'InvalidArgumentError',
        what,
      );
      check(
        error.message.includes(`records.1.${path}`),
        `${what}: the message names the path records.1.${path}: ${error.message}`,
      );
    }
    equal(await store.count({ collection: name }), 0, 'refused batches write nothing');
    // -0 is 0 (JSON has no negative zero), in payloads and vectors; the deepest allowed payload round-trips.
    let deepest: JsonValue = 'bottom';
    for (let level = 1; level < MAX_PAYLOAD_DEPTH; level++)
      deepest = level % 2 === 0 ? [deepest] : { [`k${level}`]: deepest };
    const payload = { zero: -0, list: [-0, 1], deepest };
    await store.upsert({ collection: name, records: [{ id: 'z', vector: [-0, 1], payload }] });
    const [stored] = await store.get({ collection: name, ids: ['z'], includeVectors: true });
    deepEqual(stored?.payload, { zero: 0, list: [0, 1], deepest }, 'payload with -0 and the deepest allowed nesting');
    check(Object.is(stored?.payload.zero, 0), 'a payload -0 comes back as 0');
    check(Object.is(stored?.vector?.[0], 0), 'a vector -0 comes back as 0');
    equal(await store.count({ collection: name, filter: { op: 'eq', field: 'zero', value: 0 } }), 1, 'filter on 0');
    await rejectsWith(
      () => store.upsert({ collection: name, records: [{ id: 'd', vector: [1, 0], payload: { deepest: [deepest] } }] }),
      'InvalidArgumentError',
      `a payload one level deeper than ${MAX_PAYLOAD_DEPTH}`,
    );
  });

  t('refuses vector components beyond float32 range', async (store) => {
    const name = uniqueName('f32');
    const sparse = store.capabilities.sparse;
    await store.createCollection({ name, dimensions: 2, ...(sparse ? { sparse: true } : {}) });
    for (const value of [1e39, -1e39, Number.MAX_VALUE, Number.POSITIVE_INFINITY]) {
      await rejectsWith(
        () => store.upsert({ collection: name, records: [{ id: 1, vector: [value, 0] }] }),
        'InvalidArgumentError',
        `dense component ${value}`,
      );
      await rejectsWith(
        () => store.search({ collection: name, vector: [value, 1] }),
        'InvalidArgumentError',
        `query component ${value}`,
      );
      if (sparse) {
        await rejectsWith(
          () =>
            store.upsert({
              collection: name,
              records: [{ id: 1, vector: [1, 0], sparseVector: { indices: [3], values: [value] } }],
            }),
          'InvalidArgumentError',
          `sparse value ${value}`,
        );
      }
    }
    await rejectsWith(
      () => store.upsert({ collection: name, records: [{ id: 1, vector: new Float64Array([1e39, 0]) }] }),
      'InvalidArgumentError',
      'a Float64Array component beyond float32 range',
    );
    equal(await store.count({ collection: name }), 0, 'nothing written');
    await store.upsert({ collection: name, records: [{ id: 'max', vector: [FLOAT32_MAX, -FLOAT32_MAX] }] });
    const [max] = await store.get({ collection: name, ids: ['max'], includeVectors: true });
    deepEqual(Array.from(max?.vector ?? []), [FLOAT32_MAX, -FLOAT32_MAX], 'the largest float32 round-trips');
  });

  t('a Float32Array with NaN or ±Infinity anywhere in a batch writes nothing; -0 is stored as 0', async (store) => {
    const name = uniqueName('f32a');
    await store.createCollection({ name, dimensions: 5 });
    await store.upsert({ collection: name, records: [{ id: 'kept', vector: new Float32Array([1, 2, 3, 4, 5]) }] });
    for (const bad of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) {
      for (const at of [0, 3, 4]) {
        const vector = new Float32Array([0.5, -0, 0.5, 0.5, 0.5]);
        vector[at] = bad;
        const error = await rejectsWith(
          () =>
            store.upsert({
              collection: name,
              records: [
                { id: 'kept', vector: new Float32Array([9, 9, 9, 9, 9]), payload: { changed: true } },
                { id: 'new', vector: new Float32Array(5).fill(1) },
                { id: 'bad', vector },
              ],
            }),
          'InvalidArgumentError',
          `a Float32Array with ${bad} at ${at}, after an update and an insert`,
        );
        check(
          error.message.includes(`records.2.vector.${at}`) && error.message.includes('finite'),
          `the message names records.2.vector.${at} and says values must be finite: ${error.message}`,
        );
      }
    }
    equal(await store.count({ collection: name }), 1, 'refused batches write nothing');
    const [kept] = await store.get({ collection: name, ids: ['kept'], includeVectors: true });
    deepEqual(Array.from(kept?.vector ?? []), [1, 2, 3, 4, 5], 'the record a refused batch updated is as it was');
    deepEqual(kept?.payload, {}, 'and so is its payload');
    await store.upsert({ collection: name, records: [{ id: 'zero', vector: new Float32Array([-0, 1, -0, 1, -0]) }] });
    const [zero] = await store.get({ collection: name, ids: ['zero'], includeVectors: true });
    check(
      Array.from(zero?.vector ?? []).every((value, i) => Object.is(value, i % 2 === 0 ? 0 : 1)),
      `every -0 of a Float32Array comes back as 0: ${Array.from(zero?.vector ?? [])}`,
    );
  });

  t(`string ids are limited to ${maxIdBytes} UTF-8 bytes in every method`, async (store) => {
    const name = uniqueName('ids');
    await store.createCollection({ name, dimensions: 2 });
    const random = seededRandom(11);
    const ascii = Array.from({ length: maxIdBytes }, () => String.fromCharCode(33 + Math.floor(random() * 94))).join(
      '',
    );
    /** `unit` repeated, padded with ASCII to exactly the limit. */
    const exactly = (unit: string, bytes: number) =>
      `${unit.repeat(Math.floor(maxIdBytes / bytes))}${'x'.repeat(maxIdBytes % bytes)}`;
    const ids = [ascii, exactly('é', 2), exactly('🙂', 4), exactly('あ', 3)];
    await store.upsert({ collection: name, records: ids.map((id, i) => ({ id, vector: [1, i], payload: { i } })) });
    const got = await store.get({ collection: name, ids });
    deepEqual(
      got.map((record) => record.id),
      ids,
      `ids of exactly ${maxIdBytes} UTF-8 bytes round-trip`,
    );
    deepEqual(
      (await store.scroll({ collection: name, limit: 10 })).records.map((record) => record.id),
      sortIds(ids),
      'scroll over the longest ids',
    );
    for (const id of [`${ascii}x`, `${exactly('é', 2)}x`, `${exactly('🙂', 4)}é`]) {
      const error = await rejectsWith(
        () => store.upsert({ collection: name, records: [{ id, vector: [1, 0] }] }),
        'InvalidArgumentError',
        `an id of ${id.length} UTF-16 units over ${maxIdBytes} UTF-8 bytes`,
      );
      check(error.message.includes(String(maxIdBytes)), `the message names the limit: ${error.message}`);
      await rejectsWith(
        () => store.get({ collection: name, ids: [id] }),
        'InvalidArgumentError',
        'get of a too-long id',
      );
      await rejectsWith(
        () => store.delete({ collection: name, ids: [id] }),
        'InvalidArgumentError',
        'delete of a too-long id',
      );
    }
    equal(await store.count({ collection: name }), ids.length, 'refused ids wrote nothing');
    equal((await store.delete({ collection: name, ids })).deleted, ids.length, 'the longest ids delete');
  });
}
