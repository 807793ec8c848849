import * as z from 'zod';
import type { Catalog, DatasetInfo, DatasetRef, IngestionRun, LineageEdge } from '../core/catalog.js';
import { parseArgument } from '../core/validate.js';
import { check, deepEqual, equal, rejectsWith } from './assert.js';
import type { TestFunction } from './store-conformance.js';

/** What the factory gets: a namespace unique to each test; put it in names to keep shared servers tidy. */
export type CatalogFactoryContext = { namespace: string };
type CatalogFactory = (context: CatalogFactoryContext) => Catalog | Promise<Catalog>;

export type CatalogConformanceOptions = {
  /** Prefix of the test names, default `catalog conformance`. */
  name?: string;
  /**
   * Opens again the catalog that `factory` opened for this context (same file, same server). When
   * given, the suite checks that everything written survives a dispose and re-open.
   */
  reopen?: CatalogFactory;
  /** How long search results may take to appear (search indexes that refresh asynchronously); default 0. */
  searchSettleMs?: number;
  /** Concurrent writes in the serialisation test; default 40. */
  concurrency?: number;
  /** Per-test timeout passed to the runner, default 60 s. */
  timeoutMs?: number;
};

const optionsSchema = z
  .object({
    name: z.string().min(1).optional(),
    reopen: z.function().optional(),
    searchSettleMs: z.number().int().nonnegative().optional(),
    concurrency: z.number().int().min(2).max(1000).optional(),
    timeoutMs: z.number().int().positive().optional(),
  })
  .strict();

let counter = 0;
const uniqueNamespace = () => `kcat${Date.now().toString(36)}${(counter++).toString(36)}`;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const key = (ref: DatasetRef) => `${ref.kind}:${ref.name}`;
const edgeText = (edge: LineageEdge) => `${key(edge.upstream)} -> ${key(edge.downstream)}`;

/**
 * Registers the Catalog conformance suite with your test runner: idempotent writes, runs replaced
 * when recorded again, transitive lineage (nearest first, each edge once, cycles end), runs newest
 * first, exact round trips, unknown entries, search (when the catalog declares it), aborted calls,
 * input validation and, with `reopen`, persistence. Every kumiki catalog runs it.
 *
 * ```ts
 * import { test } from 'vitest';
 * import { catalogConformance } from 'kumiki/testing';
 * catalogConformance(test, () => createLocalCatalog());
 * ```
 */
export function catalogConformance(
  test: TestFunction,
  factory: CatalogFactory,
  options: CatalogConformanceOptions = {},
): void {
  parseArgument(z.function(), test, "test (the runner's test function, e.g. vitest's `test`)");
  parseArgument(z.function(), factory, 'factory (a function of { namespace } returning a fresh Catalog)');
  parseArgument(optionsSchema, options, 'catalogConformance options');
  const prefix = options.name ?? 'catalog conformance';
  const settle = options.searchSettleMs ?? 0;
  const concurrency = options.concurrency ?? 40;

  type Context = { catalog: Catalog; ns: string; context: CatalogFactoryContext };
  const t = (name: string, body: (ctx: Context) => Promise<void>) =>
    test(
      `${prefix}: ${name}`,
      async () => {
        const context = { namespace: uniqueNamespace() };
        const catalog = await factory(context);
        try {
          await body({ catalog, ns: context.namespace, context });
        } finally {
          await catalog.dispose?.();
        }
      },
      options.timeoutMs ?? 60_000,
    );

  const source = (ns: string, name: string): DatasetRef => ({ kind: 'source', name: `file:///${ns}/${name}` });
  const collection = (ns: string, name: string): DatasetRef => ({ kind: 'collection', name: `memory/${ns}_${name}` });
  const model = (ns: string): DatasetRef => ({ kind: 'model', name: `kmf1:${ns}` });
  const run = (ns: string, id: string, output: DatasetRef, startedAt: string, extra: Partial<IngestionRun> = {}) =>
    ({
      id: `${ns}-${id}`,
      status: 'running',
      startedAt,
      inputs: [source(ns, 'a.md')],
      output,
      ...extra,
    }) as IngestionRun;

  t('identity: specificationVersion, provider and capabilities', async ({ catalog }) => {
    equal(catalog.specificationVersion, 'kumiki.catalog.v2', 'specificationVersion');
    check(typeof catalog.provider === 'string' && catalog.provider.length > 0, 'provider is a non-empty string');
    check(typeof catalog.capabilities.search === 'boolean', 'capabilities.search is a boolean');
    check(typeof catalog.capabilities.persistent === 'boolean', 'capabilities.persistent is a boolean');
    equal(
      typeof catalog.searchDatasets === 'function',
      catalog.capabilities.search,
      'searchDatasets present ⇔ capabilities.search',
    );
  });

  t('getDataset round-trips description, fields and properties exactly', async ({ catalog, ns }) => {
    const info: DatasetInfo = {
      ...collection(ns, 'docs'),
      description: 'Chunks of the handbook — Ünïcödé 日本語',
      fields: [
        { name: 'text', type: 'string', description: 'the chunk text' },
        { name: 'source', type: 'string' },
        { name: 'start', type: 'integer' },
      ],
      properties: { store: 'memory', dimensions: 384, nested: { list: [1, 'two', null, true] } },
    };
    await catalog.registerDataset(info);
    deepEqual(await catalog.getDataset({ kind: info.kind, name: info.name }), info, 'registered collection');
    const modelInfo: DatasetInfo = {
      ...model(ns),
      properties: { modelId: 'Xenova/all-MiniLM-L6-v2', dimensions: 384 },
    };
    await catalog.registerDataset(modelInfo);
    deepEqual(await catalog.getDataset(model(ns)), modelInfo, 'registered model');
    const plain: DatasetInfo = source(ns, 'plain.txt');
    await catalog.registerDataset(plain);
    deepEqual(await catalog.getDataset(plain), plain, 'a source with nothing but kind and name');
  });

  t('registering again replaces the description (idempotent writes)', async ({ catalog, ns }) => {
    const ref = collection(ns, 'docs');
    await catalog.registerDataset({ ...ref, description: 'first', fields: [{ name: 'text', type: 'string' }] });
    await catalog.registerDataset({ ...ref, description: 'second', properties: { revision: 2 } });
    await catalog.registerDataset({ ...ref, description: 'second', properties: { revision: 2 } });
    deepEqual(
      await catalog.getDataset(ref),
      { ...ref, description: 'second', properties: { revision: 2 } },
      'replaced',
    );
  });

  t('unknown datasets and runs are undefined; kinds are separate namespaces', async ({ catalog, ns }) => {
    equal(await catalog.getDataset(source(ns, 'never.md')), undefined, 'unknown dataset');
    equal(await catalog.getRun(`${ns}-never`), undefined, 'unknown run');
    const name = `shared-${ns}`;
    await catalog.registerDataset({ kind: 'source', name, description: 'the source' });
    equal(await catalog.getDataset({ kind: 'collection', name }), undefined, 'same name, other kind');
    const lineage = await catalog.getLineage(collection(ns, 'nothing'));
    deepEqual(lineage, { upstream: [], runs: [] }, 'lineage of an unknown dataset');
  });

  t('a run recorded at start and again at the end is replaced, not duplicated', async ({ catalog, ns }) => {
    const output = collection(ns, 'docs');
    const started = run(ns, 'r1', output, '2026-01-02T10:00:00.000Z', {
      inputs: [source(ns, 'a.md'), source(ns, 'b.md')],
      embeddingFingerprint: `kmf1:${ns}`,
      embeddingModel: 'Xenova/all-MiniLM-L6-v2',
      chunker: { kind: 'recursive', size: 800, overlap: 100 },
    });
    await catalog.recordRun(started);
    deepEqual(await catalog.getRun(started.id), started, 'the running run');
    const finished: IngestionRun = {
      ...started,
      status: 'succeeded',
      finishedAt: '2026-01-02T10:00:05.250Z',
      stats: { added: 12, updated: 0, unchanged: 3, deleted: 1, embeddingCalls: 2, durationMs: 5250 },
    };
    await catalog.recordRun(finished);
    deepEqual(await catalog.getRun(started.id), finished, 'the finished run');
    const failed: IngestionRun = { ...finished, status: 'failed', error: 'embedder unavailable' };
    await catalog.recordRun(failed);
    deepEqual(await catalog.getRun(started.id), failed, 'the run recorded a third time');
    const { runs } = await catalog.getLineage(output);
    deepEqual(runs, [failed], 'runs of the output: the one run, once');
  });

  t('runs whose output is the dataset come newest first; other outputs are left out', async ({ catalog, ns }) => {
    const output = collection(ns, 'docs');
    const older = run(ns, 'old', output, '2026-01-01T08:00:00Z', {
      status: 'succeeded',
      finishedAt: '2026-01-01T08:01:00Z',
    });
    const newest = run(ns, 'new', output, '2026-03-01T08:00:00Z');
    const middle = run(ns, 'mid', output, '2026-02-01T08:00:00+02:00', {
      status: 'failed',
      finishedAt: '2026-02-01T08:00:01+02:00',
      error: 'boom',
    });
    const elsewhere = run(ns, 'other', collection(ns, 'other'), '2026-04-01T08:00:00Z');
    for (const r of [middle, older, elsewhere, newest]) await catalog.recordRun(r);
    const { runs } = await catalog.getLineage(output);
    deepEqual(
      runs.map((r) => r.id),
      [newest.id, middle.id, older.id],
      'run ids newest first',
    );
    deepEqual(runs[1], middle, 'a run with an offset date-time round-trips');
  });

  t('lineage is transitive, nearest first, each edge once, and ends on cycles', async ({ catalog, ns }) => {
    const a = source(ns, 'a.md');
    const x = source(ns, 'x.md');
    const b = collection(ns, 'staging');
    const d = source(ns, 'd.md');
    const m = model(ns);
    const c = collection(ns, 'docs');
    const level1: LineageEdge[] = [
      { upstream: b, downstream: c, via: `${ns}-r2` },
      { upstream: d, downstream: c, via: `${ns}-r2` },
      { upstream: m, downstream: c },
    ];
    const level2: LineageEdge[] = [
      { upstream: a, downstream: b, via: `${ns}-r1` },
      { upstream: x, downstream: b, via: `${ns}-r1` },
    ];
    await catalog.addLineage([...level2, ...level1]);
    await catalog.addLineage(level1);
    await catalog.addLineage([]);
    const { upstream } = await catalog.getLineage(c);
    const texts = upstream.map(edgeText);
    equal(new Set(texts).size, texts.length, `each edge once (got ${texts.join(', ')})`);
    equal(upstream.length, 5, `five edges upstream of ${key(c)} (got ${texts.join(', ')})`);
    const firstLevel = new Set(upstream.slice(0, 3).map(edgeText));
    for (const edge of level1) check(firstLevel.has(edgeText(edge)), `${edgeText(edge)} among the nearest three edges`);
    for (const edge of [...level1, ...level2]) {
      const found = upstream.find((e) => edgeText(e) === edgeText(edge));
      deepEqual(found, edge, `edge ${edgeText(edge)} with its via`);
    }
    const fromB = await catalog.getLineage(b);
    deepEqual(new Set(fromB.upstream.map(edgeText)), new Set(level2.map(edgeText)), `upstream of ${key(b)}`);
    deepEqual((await catalog.getLineage(a)).upstream, [], 'a source has nothing upstream');

    await catalog.addLineage([{ upstream: c, downstream: a }]);
    const cyclic = await catalog.getLineage(c);
    const cyclicTexts = cyclic.upstream.map(edgeText);
    equal(new Set(cyclicTexts).size, cyclicTexts.length, 'each edge once with a cycle');
    equal(cyclic.upstream.length, 6, `six edges once the cycle closes (got ${cyclicTexts.join(', ')})`);
    equal(cyclicTexts.at(-1), edgeText({ upstream: c, downstream: a }), 'the edge closing the cycle comes last');
  });

  t('writes issued concurrently all land', async ({ catalog, ns }) => {
    const target = collection(ns, 'docs');
    const sources = Array.from({ length: concurrency }, (_, i) => source(ns, `doc-${i}.md`));
    await Promise.all([
      ...sources.map((s, i) => catalog.registerDataset({ ...s, description: `document ${i}` })),
      ...sources.map((s) => catalog.addLineage([{ upstream: s, downstream: target }])),
      ...sources.map((_, i) =>
        catalog.recordRun(run(ns, `c${i}`, target, new Date(Date.UTC(2026, 0, 1, 0, i)).toISOString())),
      ),
    ]);
    for (const [i, s] of sources.entries()) {
      deepEqual(await catalog.getDataset(s), { ...s, description: `document ${i}` }, `dataset ${i}`);
    }
    const lineage = await catalog.getLineage(target);
    equal(lineage.upstream.length, concurrency, 'every concurrent edge');
    equal(lineage.runs.length, concurrency, 'every concurrent run');
    equal(lineage.runs[0]?.id, `${ns}-c${concurrency - 1}`, 'newest concurrent run first');
  });

  t(
    'searchDatasets finds by name or description, case-insensitively, by kind and with a limit',
    async ({ catalog, ns }) => {
      if (!catalog.capabilities.search || !catalog.searchDatasets) return;
      const search = catalog.searchDatasets.bind(catalog);
      const handbook = { ...collection(ns, 'handbook'), description: `Employee handbook ${ns}` };
      const handbookSource = { ...source(ns, 'handbook.md'), description: `Employee handbook ${ns} source` };
      const other = { ...collection(ns, 'other'), description: 'unrelated' };
      for (const dataset of [handbook, handbookSource, other]) await catalog.registerDataset(dataset);
      const poll = async (query: string, opts: { kind?: DatasetRef['kind']; limit?: number }, want: number) => {
        const deadline = Date.now() + settle;
        for (;;) {
          const found = await search(query, opts);
          if (found.length >= want || Date.now() >= deadline) return found;
          await sleep(Math.min(500, settle));
        }
      };
      const byDescription = await poll(`HANDBOOK ${ns.toUpperCase()}`, {}, 2);
      deepEqual(
        new Set(byDescription.map(key)),
        new Set([key(handbook), key(handbookSource)]),
        'datasets whose description contains the query, case-insensitively',
      );
      const full = byDescription.find((d) => d.kind === 'collection');
      deepEqual(full, handbook, 'a search hit carries the full dataset');
      const onlyCollections = await poll(`handbook ${ns}`, { kind: 'collection' }, 1);
      deepEqual(onlyCollections.map(key), [key(handbook)], 'kind filter');
      equal((await poll(`handbook ${ns}`, { limit: 1 }, 1)).length, 1, 'limit');
      const byName = await poll(`${ns}_other`, {}, 1);
      deepEqual(byName.map(key), [key(other)], 'match on the name');
      deepEqual(await search(`nothing-matches-${ns}`), [], 'no match');
    },
  );

  t('a call whose signal has fired rejects with AbortedError and writes nothing', async ({ catalog, ns }) => {
    const controller = new AbortController();
    controller.abort(new Error('the caller gave up'));
    const options = { abortSignal: controller.signal };
    const aborted = (action: () => Promise<unknown>, what: string) => rejectsWith(action, 'AbortedError', what);
    const ref = collection(ns, 'docs');
    const started = run(ns, 'r', ref, '2026-01-01T00:00:00Z');
    const edge: LineageEdge = { upstream: source(ns, 'a.md'), downstream: ref };
    await aborted(() => catalog.registerDataset({ ...ref, description: 'aborted' }, options), 'registerDataset');
    await aborted(() => catalog.recordRun(started, options), 'recordRun');
    await aborted(() => catalog.addLineage([edge], options), 'addLineage');
    await aborted(() => catalog.addLineage([], options), 'addLineage of no edges');
    await aborted(() => catalog.getDataset(ref, options), 'getDataset');
    await aborted(() => catalog.getRun(started.id, options), 'getRun');
    await aborted(() => catalog.getLineage(ref, options), 'getLineage');
    if (catalog.searchDatasets) {
      const search = catalog.searchDatasets.bind(catalog);
      await aborted(() => search('aborted', { ...options, limit: 5 }), 'searchDatasets');
    }
    equal(await catalog.getDataset(ref), undefined, 'no dataset was registered');
    equal(await catalog.getRun(started.id), undefined, 'no run was recorded');
    deepEqual(await catalog.getLineage(ref), { upstream: [], runs: [] }, 'no lineage was added');
    const live = new AbortController();
    await catalog.registerDataset({ ...ref, description: 'kept' }, { abortSignal: live.signal });
    deepEqual(
      await catalog.getDataset(ref, { abortSignal: live.signal }),
      { ...ref, description: 'kept' },
      'a signal that has not fired changes nothing',
    );
  });

  t('bad input is refused with InvalidArgumentError', async ({ catalog, ns }) => {
    const bad = (action: () => Promise<unknown>, what: string) => rejectsWith(action, 'InvalidArgumentError', what);
    const good = run(ns, 'r', collection(ns, 'docs'), '2026-01-01T00:00:00Z');
    await bad(() => catalog.registerDataset({ kind: 'source', name: '' }), 'empty name');
    await bad(() => catalog.registerDataset({ kind: 'source', name: '   ' }), 'blank name');
    await bad(() => catalog.registerDataset({ kind: 'table', name: 'x' } as unknown as DatasetInfo), 'unknown kind');
    await bad(
      () => catalog.registerDataset({ ...source(ns, 'f'), fields: [{ name: '', type: 'string' }] }),
      'empty field name',
    );
    await bad(() => catalog.getDataset({ kind: 'source' } as DatasetRef), 'getDataset without name');
    const { id: _id, ...withoutId } = good;
    await bad(() => catalog.recordRun(withoutId as IngestionRun), 'run without id');
    await bad(() => catalog.recordRun({ ...good, id: '' }), 'run with an empty id');
    await bad(() => catalog.recordRun({ ...good, finishedAt: 'yesterday' }), 'finishedAt not ISO');
    await bad(() => catalog.recordRun({ ...good, startedAt: '2026-13-01T00:00:00Z' }), 'startedAt not a date');
    await bad(() => catalog.recordRun({ ...good, status: 'done' } as unknown as IngestionRun), 'unknown status');
    await bad(() => catalog.recordRun({ ...good, finishedAt: '2025-01-01T00:00:00Z' }), 'finishedAt before startedAt');
    await bad(() => catalog.getRun(''), 'getRun with an empty id');
    await bad(
      () => catalog.getRun(good.id, { abortSignal: 'soon' } as unknown as { abortSignal: AbortSignal }),
      'abortSignal that is not an AbortSignal',
    );
    await bad(
      () => catalog.addLineage([{ upstream: { kind: 'source', name: '' }, downstream: collection(ns, 'docs') }]),
      'edge with an empty name',
    );
    await bad(
      () => catalog.addLineage([{ upstream: collection(ns, 'docs'), downstream: collection(ns, 'docs') }]),
      'edge from a dataset to itself',
    );
    await bad(() => catalog.getLineage({ kind: 'nope', name: 'x' } as unknown as DatasetRef), 'lineage of a bad ref');
    if (catalog.searchDatasets) {
      const search = catalog.searchDatasets.bind(catalog);
      await bad(() => search('x', { limit: 0 }), 'search limit 0');
      await bad(() => search('x', { kind: 'table' } as unknown as { kind: 'source' }), 'search with unknown kind');
    }
    equal(await catalog.getRun(good.id), undefined, 'nothing was recorded by the refused calls');
  });

  if (options.reopen) {
    const reopen = options.reopen;
    t('everything survives dispose and re-open', async ({ catalog, ns, context }) => {
      const ref = collection(ns, 'docs');
      const info: DatasetInfo = {
        ...ref,
        description: 'persisted',
        fields: [{ name: 'text', type: 'string' }],
        properties: { dims: 3 },
      };
      const r = run(ns, 'p', ref, '2026-01-01T00:00:00Z', { status: 'succeeded', finishedAt: '2026-01-01T00:00:01Z' });
      const edge: LineageEdge = { upstream: source(ns, 'a.md'), downstream: ref, via: r.id };
      await catalog.registerDataset(info);
      await catalog.recordRun(r);
      await catalog.addLineage([edge]);
      await catalog.dispose?.();
      const again = await reopen(context);
      try {
        deepEqual(await again.getDataset(ref), info, 'dataset after re-open');
        deepEqual(await again.getRun(r.id), r, 'run after re-open');
        deepEqual(await again.getLineage(ref), { upstream: [edge], runs: [r] }, 'lineage after re-open');
      } finally {
        await again.dispose?.();
      }
    });
  }
}
