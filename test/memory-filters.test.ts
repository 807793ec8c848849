import fc from 'fast-check';
import { describe, expect, test, vi } from 'vitest';
import { matchesFilter } from '../src/filter/evaluate.js';
import type { Filter, JsonObject, Store } from '../src/index.js';
import { createMemoryStore, f, parseFilter } from '../src/index.js';
import { CompiledFilter, compilePredicate, PayloadIndex } from '../src/stores/memory/filters.js';
import type { MemoryStore } from '../src/stores/memory/memory-store.js';
import { storeConformance } from '../src/testing/index.js';
import { filterArbitrary } from '../src/testing/store/filter-arbitrary.js';

// The project's TS lib set has no WebAssembly declarations.
const Wasm = (
  globalThis as unknown as {
    WebAssembly: {
      Module: new (bytes: Uint8Array) => object;
      compile: (bytes: Uint8Array) => Promise<object>;
      CompileError: new (message: string) => Error;
    };
  }
).WebAssembly;

/** A memory store that declares a payload index on every field a filter reads before it runs. */
function indexingStore(): Store {
  const store = createMemoryStore({ autoIndex: false });
  const fieldsOf = (filter: Filter, into: string[] = []): string[] => {
    if ('filters' in filter) for (const inner of filter.filters) fieldsOf(inner, into);
    else if ('filter' in filter) fieldsOf(filter.filter, into);
    else into.push(filter.field);
    return into;
  };
  const indexed = async (collection: string, filter: Filter | undefined) => {
    if (!filter) return;
    try {
      parseFilter(filter);
    } catch {
      return; // a malformed filter: the call itself refuses it
    }
    for (const field of fieldsOf(filter)) {
      try {
        await store.createPayloadIndex({ collection, field });
      } catch {
        // A missing collection: the call itself reports it.
      }
    }
  };
  return {
    ...store,
    async count(options) {
      await indexed(options.collection, options.filter);
      return store.count(options);
    },
    async scroll(options) {
      await indexed(options.collection, options.filter);
      return store.scroll(options);
    },
    async search(options) {
      await indexed(options.collection, options.filter);
      return store.search(options);
    },
    async delete(options) {
      await indexed(options.collection, 'filter' in options ? options.filter : undefined);
      return store.delete(options);
    },
  };
}

// The whole conformance suite, its differential property test included, with every filter answered
// through payload indexes.
storeConformance(test, indexingStore, { name: 'memory store, filters through payload indexes' });

const scalar = fc.oneof(
  fc.constantFrom('x', 'y', 'z', '', 'é🙂'),
  fc.integer({ min: -3, max: 3 }),
  fc.double({ min: -3, max: 3, noNaN: true }).map((n) => (Object.is(n, -0) ? 0 : n)),
  fc.boolean(),
);
const value = fc.oneof(
  scalar,
  fc.constant(null),
  fc.array(scalar, { maxLength: 3 }),
  fc.record({ d: scalar }, { requiredKeys: [] }),
);
const payload: fc.Arbitrary<JsonObject> = fc.record(
  { a: value, b: value, c: fc.oneof(fc.record({ d: value }, { requiredKeys: [] }), value) },
  { requiredKeys: [] },
) as fc.Arbitrary<JsonObject>;
const field = fc.constantFrom('a', 'b', 'c', 'c.d', 'e');
const filter = filterArbitrary(fc, {
  field,
  scalar: scalar,
  bound: fc.oneof(fc.integer({ min: -3, max: 3 }), fc.constantFrom('x', 'y', '')),
});

describe('compiled filters select what the reference evaluator selects', () => {
  test('the compiled predicate', () => {
    fc.assert(
      fc.property(filter, fc.array(payload, { maxLength: 20 }), (where, payloads) => {
        const compiled = compilePredicate(where);
        for (const p of payloads) expect(compiled(p)).toBe(matchesFilter(where, p));
      }),
      { numRuns: 2000 },
    );
  });

  test('payload indexes, after writes, moves and truncation', () => {
    fc.assert(
      fc.property(
        filter,
        fc.array(payload, { minLength: 1, maxLength: 30 }),
        fc.array(payload, { maxLength: 10 }),
        fc.array(fc.nat(), { maxLength: 5 }),
        fc.subarray(['a', 'b', 'c', 'c.d', 'e']),
        (where, initial, updates, removals, fields) => {
          const payloads = [...initial];
          const indexes = new Map(fields.map((name) => [name, new PayloadIndex(name)]));
          for (const index of indexes.values()) {
            for (const [row, p] of payloads.entries()) index.set(row, p);
          }
          // Overwrite some rows, then swap-remove some, as the collection does.
          updates.forEach((p, i) => {
            const row = i % payloads.length;
            payloads[row] = p;
            for (const index of indexes.values()) index.set(row, p);
          });
          for (const pick of removals) {
            if (payloads.length === 0) break;
            const row = pick % payloads.length;
            const last = payloads.length - 1;
            if (row !== last) {
              payloads[row] = payloads[last] as JsonObject;
              for (const index of indexes.values()) index.move(last, row);
            }
            payloads.pop();
            for (const index of indexes.values()) index.truncate(last);
          }
          const mask = new CompiledFilter(where, indexes).mask(payloads.length, payloads);
          expect(Array.from(mask)).toEqual(payloads.map((p) => (matchesFilter(where, p) ? 1 : 0)));
        },
      ),
      { numRuns: 2000 },
    );
  });
});

describe('payload indexes and the query plan', () => {
  const records = (n: number) =>
    Array.from({ length: n }, (_, i) => ({
      id: i,
      vector: [Math.cos(i), Math.sin(i), (i % 7) / 7],
      payload: { lang: i % 100 === 0 ? 'fr' : 'en', year: 1990 + (i % 30), flag: i % 2 === 0 },
    }));

  test('explain shows the kernel and which clauses an index answers; declared indexes are listed', async () => {
    const store = createMemoryStore({ autoIndex: false });
    await store.createCollection({ name: 'docs', dimensions: 3 });
    await store.upsert({ collection: 'docs', records: records(50) });
    const where = f.and(f.eq('lang', 'fr'), f.gte('year', 1990));
    let explained = await store.explain({ collection: 'docs', filter: where });
    expect(explained.native).toEqual(where);
    expect(['wasm-simd', 'js']).toContain(explained.kernel);
    expect(explained.plan.filter).toEqual({
      op: 'and',
      filters: [
        { op: 'eq', field: 'lang', access: 'scan' },
        { op: 'gte', field: 'year', access: 'scan' },
      ],
    });
    expect(await store.createPayloadIndex({ collection: 'docs', field: 'year' })).toBe(true);
    expect(await store.createPayloadIndex({ collection: 'docs', field: 'year' })).toBe(false);
    explained = await store.explain({ collection: 'docs', filter: where });
    expect(explained.plan.filter).toEqual({
      op: 'and',
      filters: [
        { op: 'gte', field: 'year', access: 'index' },
        { op: 'eq', field: 'lang', access: 'scan' },
      ],
    });
    expect((await store.describe()).collections[0]?.payloadIndexes).toEqual([{ field: 'year', source: 'declared' }]);
    expect(await store.count({ collection: 'docs', filter: where })).toBe(1);
    expect(await store.dropPayloadIndex({ collection: 'docs', field: 'year' })).toBe(true);
    expect(await store.dropPayloadIndex({ collection: 'docs', field: 'year' })).toBe(false);
    await expect(store.createPayloadIndex({ collection: 'docs', field: 'a..b' })).rejects.toThrow(/field/);
    await expect(store.createPayloadIndex({ collection: 'nope', field: 'a' })).rejects.toThrow(/nope/);
  });

  test('a field filtered on twice in a large collection gets an automatic index', async () => {
    const store = createMemoryStore();
    await store.createCollection({ name: 'docs', dimensions: 3 });
    await store.upsert({ collection: 'docs', records: records(1500) });
    const where = f.eq('lang', 'fr');
    expect(await store.count({ collection: 'docs', filter: where })).toBe(15);
    expect((await store.describe()).collections[0]?.payloadIndexes).toEqual([]);
    expect(await store.count({ collection: 'docs', filter: where })).toBe(15);
    expect((await store.describe()).collections[0]?.payloadIndexes).toEqual([{ field: 'lang', source: 'automatic' }]);
    // The index follows writes and deletes.
    await store.upsert({ collection: 'docs', records: [{ id: 1, vector: [1, 0, 0], payload: { lang: 'fr' } }] });
    await store.delete({ collection: 'docs', ids: [0] });
    expect(await store.count({ collection: 'docs', filter: where })).toBe(15);
    const hits = await store.search({ collection: 'docs', vector: [1, 0, 0], limit: 100, filter: where });
    expect(hits.map((hit) => hit.id).sort((a, b) => Number(a) - Number(b))).toEqual([
      1,
      ...Array.from({ length: 14 }, (_, i) => (i + 1) * 100),
    ]);
    expect(await store.delete({ collection: 'docs', filter: where })).toEqual({ deleted: 15 });
    expect(await store.count({ collection: 'docs', filter: where })).toBe(0);
    const memory = createMemoryStore({ autoIndex: false });
    await memory.createCollection({ name: 'docs', dimensions: 3 });
    await memory.upsert({ collection: 'docs', records: records(1500) });
    for (let i = 0; i < 3; i++) await memory.count({ collection: 'docs', filter: where });
    expect((await memory.describe()).collections[0]?.payloadIndexes).toEqual([]);
  });
});

describe('the JavaScript kernel when WebAssembly compilation is refused', () => {
  test('createMemoryStore falls back, says so, and answers exactly as the WebAssembly kernel does', async () => {
    const wasm = createMemoryStore();
    expect((await wasm.describe()).kernel.name).toBe('wasm-simd');
    const refuse = function refuse() {
      throw new Wasm.CompileError('WebAssembly.Module(): Wasm code generation disallowed by embedder');
    };
    const spies = [
      vi.spyOn(Wasm, 'Module').mockImplementation(refuse as never),
      vi.spyOn(Wasm, 'compile').mockImplementation(refuse as never),
    ];
    let js: MemoryStore;
    try {
      js = createMemoryStore({ quantization: 'int8' });
      const described = await js.describe();
      expect(described.kernel.name).toBe('js');
      expect(described.kernel.reason).toMatch(/disallowed by embedder/);
      // While compilation is refused, collections are created, filled and searched: no CompileError escapes.
      await js.createCollection({ name: 'refused', dimensions: 3, metric: 'cosine' });
      await js.upsert({ collection: 'refused', records: [{ id: 1, vector: [1, 0, 0] }] });
      expect((await js.search({ collection: 'refused', vector: [1, 0, 0], limit: 1 }))[0]?.id).toBe(1);
      expect(() => createMemoryStore({ kernel: 'wasm' })).toThrow(/cannot run here.*kernel\.wasm/);
    } finally {
      for (const spy of spies) spy.mockRestore();
    }
    const exact = createMemoryStore({ kernel: 'js' });
    for (const store of [wasm, js, exact]) {
      await store.createCollection({ name: 'v', dimensions: 5, metric: 'cosine' });
      await store.upsert({
        collection: 'v',
        records: Array.from({ length: 300 }, (_, i) => ({
          id: i,
          vector: [Math.sin(i), Math.cos(i * 1.3), (i % 11) - 5, 0.5, i % 3],
          payload: { even: i % 2 === 0 },
        })),
      });
    }
    for (const metricQuery of [
      [1, 0, 0, 0, 0],
      [0.3, -0.2, 0.9, 0.1, -1],
    ]) {
      const expected = await wasm.search({
        collection: 'v',
        vector: metricQuery,
        limit: 7,
        filter: f.eq('even', true),
      });
      for (const store of [js, exact]) {
        const got = await store.search({ collection: 'v', vector: metricQuery, limit: 7, filter: f.eq('even', true) });
        expect(got.map((m) => m.id)).toEqual(expected.map((m) => m.id));
        for (const [i, m] of got.entries()) expect(m.score).toBeCloseTo(expected[i]!.score, 5);
      }
    }
    expect((await js.explain({ collection: 'v', filter: f.eq('even', true) })).kernel).toBe('js');
  });

  test('a module handed in is used; something else is refused', async () => {
    const { kernelBytes } = await import('../src/stores/memory/kernel/kernel.js');
    const module = new Wasm.Module(kernelBytes());
    const store = createMemoryStore({ kernel: module });
    expect((await store.describe()).kernel).toMatchObject({
      name: 'wasm-simd',
      reason: expect.stringMatching(/passed in/),
    });
    const empty = new Wasm.Module(new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0]));
    expect(() => createMemoryStore({ kernel: empty })).toThrow(/not kumiki's kernel/);
    expect(() => createMemoryStore({ kernel: 'fast' as never })).toThrow(/kernel/);
  });
});
