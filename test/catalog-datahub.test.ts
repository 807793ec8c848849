import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ENTITIES_QUERY, GRAPHQL_DOCUMENTS, SEARCH_QUERY, searchVariables } from '../src/catalogs/datahub/graphql.js';
import { createDataHubCatalog } from '../src/catalogs/datahub/index.js';
import { escapeUrnPart, urlEncodedLength } from '../src/catalogs/datahub/urn.js';
import type { IngestionRun } from '../src/core/catalog.js';
import {
  AbortedError,
  ForbiddenError,
  InvalidArgumentError,
  TimeoutError,
  UnauthorizedError,
  UnavailableError,
  UnsupportedServerError,
} from '../src/core/errors.js';
import { createBm25Encoder, createMemoryStore, fromStrings } from '../src/index.js';
import { ingest } from '../src/pipeline/ingest.js';
import { catalogConformance } from '../src/testing/catalog-conformance.js';
import { javaUriParses, validateProposal } from './helpers/datahub-aspects.js';
import { type DataHubGms, graphqlProblems, startDataHubGms } from './helpers/datahub-gms.js';
import { strictFetch } from './helpers/strict-fetch.js';

const TOKEN = 'eyJhbGciOiJIUzI1NiJ9.secret-token-value';
let gms: DataHubGms;
beforeAll(async () => {
  gms = await startDataHubGms({ token: TOKEN });
});
afterAll(() => gms.close());

const open = (extra: Partial<Parameters<typeof createDataHubCatalog>[0]> = {}) =>
  createDataHubCatalog({ url: gms.url, token: TOKEN, ...extra });
const aspectRequests = () => gms.requests.filter((r) => r.path.startsWith('/aspects')).length;
const urnOf = (name: string) => `urn:li:dataset:(urn:li:dataPlatform:kumiki,${escapeUrnPart(name)},PROD)`;

describe('DataHub catalog against the GMS emulator', () => {
  catalogConformance(test, () => open(), { name: 'datahub', reopen: () => open() });

  test('every proposal the conformance suite emitted validated against the encoded aspect schemas', () => {
    expect(gms.rejected).toEqual([]);
    // None was dropped by GMS's URN validation (which answers 200 all the same).
    expect(gms.skipped).toEqual([]);
    expect(gms.accepted.length).toBeGreaterThan(100);
    const kinds = new Set(gms.accepted.map((p) => `${p.entityType}/${p.aspectName}`));
    expect([...kinds].sort()).toEqual([
      'dataProcessInstance/dataProcessInstanceInput',
      'dataProcessInstance/dataProcessInstanceOutput',
      'dataProcessInstance/dataProcessInstanceProperties',
      'dataProcessInstance/dataProcessInstanceRunEvent',
      'dataset/datasetProperties',
      'dataset/schemaMetadata',
      'dataset/upstreamLineage',
      'mlModel/mlModelProperties',
    ]);
  });
});

describe('DataHub catalog specifics', () => {
  test('the emulator really validates: a malformed aspect is refused with 422 and translated', async () => {
    const proposal = {
      entityType: 'dataset',
      entityUrn: urnOf('x'),
      changeType: 'UPSERT',
      aspectName: 'schemaMetadata',
      aspect: {
        value: JSON.stringify({
          schemaName: 'x',
          platform: 'urn:li:dataPlatform:kumiki',
          version: 0,
          hash: '',
          fields: [],
        }),
        contentType: 'application/json',
      },
    };
    expect(validateProposal(proposal).join()).toContain('platformSchema');
    const badUnion = {
      ...proposal,
      aspect: {
        value: JSON.stringify({
          schemaName: 'x',
          platform: 'urn:li:dataPlatform:kumiki',
          version: 0,
          hash: '',
          platformSchema: { 'com.linkedin.schema.OtherSchema': { rawSchema: '[]' } },
          fields: [{ fieldPath: 'a', nativeDataType: 'string', type: { type: { StringType: {} } } }],
        }),
        contentType: 'application/json',
      },
    };
    expect(validateProposal(badUnion).join()).toContain('union member');
    const response = await fetch(`${gms.url}/aspects?action=ingestProposalBatch`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${TOKEN}`, 'X-RestLi-Protocol-Version': '2.0.0' },
      body: JSON.stringify({ proposals: [proposal], async: 'false' }),
    });
    expect(response.status).toBe(422);
    expect(((await response.json()) as { message: string }).message).toContain('platformSchema');
    gms.rejected.length = 0;
  });

  test('the emulator behaves like GMS: bytes aspects, skip-and-200 for bad URNs, 422 for bad aspects', async () => {
    const properties = (urn: string, value: unknown) => ({
      entityType: 'dataset',
      entityUrn: urn,
      changeType: 'UPSERT',
      aspectName: 'datasetProperties',
      aspect: { value: typeof value === 'string' ? value : JSON.stringify(value), contentType: 'application/json' },
    });
    const ingest = (proposals: unknown[]) =>
      fetch(`${gms.url}/aspects?action=ingestProposalBatch`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${TOKEN}`, 'X-RestLi-Protocol-Version': '2.0.0' },
        body: JSON.stringify({ proposals, async: 'false' }),
      });
    // A character above U+00FF cannot be a Rest.li byte: the request fails.
    expect((await ingest([properties(urnOf('bytes'), { description: '漢字' })])).status).toBe(400);
    // U+0080–U+00FF are single bytes, decoded as UTF-8: not "naïve" but U+FFFD.
    expect((await ingest([properties(urnOf('latin'), { description: 'naïve' })])).status).toBe(200);
    expect(gms.aspect(urnOf('latin'), 'datasetProperties')).toEqual({ description: 'na\ufffdve' });
    // Escaped JSON is ASCII and decodes exactly.
    expect((await ingest([properties(urnOf('escaped'), '{"description":"na\\u00efve \\u6f22"}')])).status).toBe(200);
    expect(gms.aspect(urnOf('escaped'), 'datasetProperties')).toEqual({ description: 'naïve 漢' });
    // A URN over 512 bytes once URL-encoded (here 300 characters, 900 bytes) is skipped with a 200.
    const long = urnOf('漢'.repeat(60));
    expect(long.length).toBeLessThan(512);
    const okay = await ingest([properties(long, { name: 'x' }), properties(urnOf('kept'), { name: 'kept' })]);
    expect(okay.status).toBe(200);
    expect(gms.aspect(long, 'datasetProperties')).toBeUndefined();
    expect(gms.aspect(urnOf('kept'), 'datasetProperties')).toEqual({ name: 'kept' });
    expect(gms.skipped.splice(0)).toEqual([expect.stringContaining('longer than 512 bytes (when URL encoded)')]);
    // Duplicated field paths and a uri java.net.URI refuses fail the whole request with 422.
    expect((await ingest([properties(urnOf('uri'), { uri: 'http://x/a[1]' })])).status).toBe(422);
    expect(gms.aspect(urnOf('uri'), 'datasetProperties')).toBeUndefined();
    for (const [text, parses] of [
      ['file:///docs/a.md', true],
      ['https://x.org/a?b=c#d', true],
      ['mailto:a@b', true],
      ['http://', false],
      ['a:#x', false],
      ['x:%zz', false],
      ['http://x/a[1]', false],
      ['http://x/a#b#c', false],
    ] as const) {
      expect(javaUriParses(text), text).toBe(parses);
    }
    gms.rejected.length = 0;
  });

  test("every GraphQL document the adapter can send validates, with its variables, against DataHub's schema", () => {
    expect(GRAPHQL_DOCUMENTS).toEqual([ENTITIES_QUERY, SEARCH_QUERY]);
    expect(graphqlProblems(ENTITIES_QUERY, { urns: [urnOf('a'), 'urn:li:dataProcessInstance:r'] })).toEqual([]);
    for (const kind of [undefined, 'source', 'collection', 'model'] as const) {
      for (const text of ['', 'docs', '*']) {
        expect(graphqlProblems(SEARCH_QUERY, searchVariables(text, kind, 20)), `${kind} ${text}`).toEqual([]);
      }
    }
    // The check has teeth: the enum spells ML models MLMODEL.
    expect(graphqlProblems(SEARCH_QUERY, { input: { types: ['ML_MODEL'], query: 'x' } }).join()).toContain(
      'Value "ML_MODEL" does not exist in "EntityType" enum',
    );
    expect(graphqlProblems('query { entities(urns: ["x"]) { nope } }').join()).toContain('Cannot query field "nope"');
  });

  test('fetch is called unbound, as the platform fetch of Workers and browsers requires', async () => {
    const catalog = open({ fetch: strictFetch });
    await catalog.registerDataset({ kind: 'collection', name: 'memory/strict-fetch' });
    expect(await catalog.getDataset({ kind: 'collection', name: 'memory/strict-fetch' })).toMatchObject({
      name: 'memory/strict-fetch',
    });
  });

  test('the mapping: collection with fields, model, run with model input, lineage', async () => {
    const catalog = open();
    const collection = { kind: 'collection', name: 'memory/mapping' } as const;
    const model = { kind: 'model', name: 'kmf1:mapping' } as const;
    const source = { kind: 'source', name: 'file:///docs/mapping.md' } as const;
    await catalog.registerDataset({
      ...collection,
      description: 'chunks',
      fields: [
        { name: 'text', type: 'string' },
        { name: 'start', type: 'integer' },
        { name: 'tags', type: 'array' },
      ],
      properties: { store: 'memory', dimensions: 3 },
    });
    await catalog.registerDataset({ ...model, properties: { modelId: 'Xenova/all-MiniLM-L6-v2' } });
    const run: IngestionRun = {
      id: 'run-mapping',
      status: 'succeeded',
      startedAt: '2026-01-01T00:00:00Z',
      finishedAt: '2026-01-01T00:00:02Z',
      inputs: [source],
      output: collection,
      embeddingFingerprint: model.name,
      embeddingModel: 'Xenova/all-MiniLM-L6-v2',
    };
    await catalog.recordRun(run);
    await catalog.addLineage([
      { upstream: source, downstream: collection, via: run.id },
      { upstream: model, downstream: collection },
    ]);
    const collectionUrn = urnOf(collection.name);
    const modelUrn = `urn:li:mlModel:(urn:li:dataPlatform:kumiki,${model.name},PROD)`;
    const props = gms.aspect(collectionUrn, 'datasetProperties') as { customProperties: Record<string, string> };
    expect(props.customProperties['property.dimensions']).toBe('3');
    expect(props.customProperties['kumiki.kind']).toBe('collection');
    const schema = gms.aspect(collectionUrn, 'schemaMetadata') as { fields: { fieldPath: string; type: unknown }[] };
    expect(schema.fields.map((f) => [f.fieldPath, f.type])).toEqual([
      ['text', { type: { 'com.linkedin.schema.StringType': {} } }],
      ['start', { type: { 'com.linkedin.schema.NumberType': {} } }],
      ['tags', { type: { 'com.linkedin.schema.ArrayType': {} } }],
    ]);
    expect(gms.aspect(collectionUrn, 'upstreamLineage')).toMatchObject({
      upstreams: [{ dataset: urnOf(source.name), type: 'TRANSFORMED' }],
    });
    const mlProps = gms.aspect(modelUrn, 'mlModelProperties') as { customProperties: Record<string, string> };
    expect(mlProps.customProperties['property.modelId']).toBe('Xenova/all-MiniLM-L6-v2');
    const runUrn = 'urn:li:dataProcessInstance:run-mapping';
    // Lineage in DataHub's graph comes from the edges; `inputs`/`outputs` are required but are not lineage.
    const created = { time: Date.parse(run.startedAt), actor: 'urn:li:corpuser:kumiki' };
    expect(gms.aspect(runUrn, 'dataProcessInstanceInput')).toEqual({
      inputs: [urnOf(source.name), modelUrn],
      inputEdges: [
        { destinationUrn: urnOf(source.name), created },
        { destinationUrn: modelUrn, created },
      ],
    });
    expect(gms.aspect(runUrn, 'dataProcessInstanceOutput')).toEqual({
      outputs: [collectionUrn],
      outputEdges: [{ destinationUrn: collectionUrn, created }],
    });
    expect(gms.aspect(runUrn, 'dataProcessInstanceRunEvent')).toEqual({
      timestampMillis: Date.parse('2026-01-01T00:00:02Z'),
      status: 'COMPLETE',
      result: { type: 'SUCCESS', nativeResultType: 'kumiki' },
    });
    const lineage = await catalog.getLineage(collection);
    expect(lineage.runs).toEqual([run]);
    expect(lineage.upstream).toHaveLength(2);
    expect(gms.rejected).toEqual([]);
  });

  test('proposals go out in batches: N proposals make ceil(N / batchSize) requests', async () => {
    const catalog = open({ batchSize: 3 });
    const before = aspectRequests();
    // Five dataset downstreams: datasetProperties + upstreamLineage each = 10 proposals.
    await catalog.addLineage(
      Array.from({ length: 5 }, (_, i) => ({
        upstream: { kind: 'source', name: `file:///batch/${i}.md` } as const,
        downstream: { kind: 'collection', name: `memory/batch-${i}` } as const,
      })),
    );
    expect(aspectRequests() - before).toBe(Math.ceil(10 / 3));
    const sizes = gms.requests
      .filter((r) => r.path.startsWith('/aspects'))
      .slice(-4)
      .map((r) => (r.body as { proposals: unknown[] }).proposals.length);
    expect(sizes).toEqual([3, 3, 3, 1]);
  });

  test('429 and 500 are retried, then the write lands', async () => {
    const catalog = open({ retries: 3 });
    await catalog.getRun('warm-up'); // reads the server version first
    const ref = { kind: 'source', name: 'file:///retry.md' } as const;
    const before = gms.requests.length;
    gms.inject({ status: 429, times: 1, retryAfter: '0' });
    gms.inject({ status: 500, times: 1 });
    await catalog.registerDataset({ ...ref, description: 'after retries' });
    expect(gms.requests.length - before).toBe(4); // GraphQL read: 429, 500, ok; then one ingest
    expect(await catalog.getDataset(ref)).toEqual({ ...ref, description: 'after retries' });
    gms.inject({ status: 503, times: 2 }); // the first attempt and the one retry
    const error = await open({ retries: 1 })
      .getRun('anything')
      .catch((e: unknown) => e);
    expect(UnavailableError.isInstance(error)).toBe(true);
    expect((error as UnavailableError).statusCode).toBe(503);
    expect(await open().getRun('anything')).toBeUndefined();
  });

  test('the token is sent as a bearer header with the rest.li protocol header', async () => {
    const before = gms.requests.length;
    await open().registerDataset({ kind: 'source', name: 'file:///headers.md' });
    const sent = gms.requests.slice(before);
    expect(sent.length).toBeGreaterThan(0);
    for (const request of sent) {
      expect(request.headers.authorization).toBe(`Bearer ${TOKEN}`);
      expect(request.headers['x-restli-protocol-version']).toBe('2.0.0');
    }
  });

  test('401 → UnauthorizedError that names the option but never prints the token; 403 → ForbiddenError', async () => {
    const wrong = 'wrong-token-should-not-leak';
    const error = await createDataHubCatalog({ url: gms.url, token: wrong })
      .registerDataset({ kind: 'source', name: 'file:///x.md' })
      .catch((e: unknown) => e);
    expect(UnauthorizedError.isInstance(error)).toBe(true);
    expect((error as Error).message).toContain('`token`');
    expect((error as Error).message).not.toContain(wrong);
    expect(JSON.stringify(error)).not.toContain(wrong);
    const missing = await createDataHubCatalog({ url: gms.url })
      .getRun('x')
      .catch((e: unknown) => e);
    expect(UnauthorizedError.isInstance(missing)).toBe(true);
    expect((missing as Error).message).toContain('pass a personal access token');
    gms.inject({ status: 403, times: 1 });
    const forbidden = await open()
      .getRun('x')
      .catch((e: unknown) => e);
    expect(ForbiddenError.isInstance(forbidden)).toBe(true);
    expect((forbidden as Error).message).not.toContain(TOKEN);
  });

  test('Retry-After as an HTTP date is read, and a token the server echoes never reaches the error', async () => {
    const inAMinute = new Date(Date.now() + 60_000).toUTCString();
    gms.inject({ status: 503, times: 1, retryAfter: inAMinute, message: `overloaded; request had Bearer ${TOKEN}` });
    const error = await open({ retries: 0 })
      .getRun('busy')
      .catch((e: unknown) => e);
    expect(UnavailableError.isInstance(error)).toBe(true);
    const { retryAfterMs, message } = error as UnavailableError;
    expect(retryAfterMs).toBeGreaterThan(30_000); // a date a minute ahead, not "no hint"
    expect(retryAfterMs).toBeLessThanOrEqual(60_000);
    expect(message).toContain('overloaded');
    expect(message).not.toContain(TOKEN);
    expect(JSON.stringify(error)).not.toContain(TOKEN);
  });

  test('a request past timeoutMs is a TimeoutError', async () => {
    gms.inject({ status: 200, times: 1, delayMs: 1500 });
    const error = await open({ timeoutMs: 200, retries: 0 })
      .getRun('slow')
      .catch((e: unknown) => e);
    expect(TimeoutError.isInstance(error)).toBe(true);
  });

  test('aborting cancels a request in flight: GMS sees the connection closed, the call rejects with AbortedError', async () => {
    const catalog = open({ retries: 0 });
    const ref = { kind: 'collection', name: 'memory/aborted-in-flight' } as const;
    await catalog.getDataset(ref); // the version check is done

    const read = gms.hold('/api/graphql');
    const reading = new AbortController();
    const gettingRun = catalog.getRun('held', { abortSignal: reading.signal }).catch((e: unknown) => e);
    await read.arrived;
    reading.abort(new Error('the caller gave up'));
    expect(AbortedError.isInstance(await gettingRun)).toBe(true);
    await read.abandoned; // never resolves (the test times out) when the request is left running

    const before = aspectRequests();
    const written = gms.hold('/aspects');
    const writing = new AbortController();
    const registering = catalog
      .registerDataset({ ...ref, description: 'never stored' }, { abortSignal: writing.signal })
      .catch((e: unknown) => e);
    await written.arrived;
    writing.abort();
    expect(AbortedError.isInstance(await registering)).toBe(true);
    await written.abandoned;
    expect(aspectRequests()).toBe(before + 1);
    expect(await catalog.getDataset(ref)).toBeUndefined();
    // The next write is not held up by the aborted one.
    await catalog.registerDataset({ ...ref, description: 'stored' });
    expect(await catalog.getDataset(ref)).toEqual({ ...ref, description: 'stored' });
    await catalog.dispose?.();
  }, 20_000);

  test("an ingest's abort reaches DataHub: the run's catalog write in flight is cancelled", async () => {
    const catalog = open({ retries: 0 });
    await catalog.getDataset({ kind: 'collection', name: 'memory/warm-up' }); // the version check is done
    const store = createMemoryStore();
    const controller = new AbortController();
    const held = gms.hold('/aspects'); // the run's "running" record
    const ingesting = ingest({
      store,
      collection: 'aborted-by-caller',
      documents: fromStrings(['a note about rivers']),
      sparseEmbedder: createBm25Encoder(),
      catalog,
      abortSignal: controller.signal,
    }).catch((e: unknown) => e);
    await held.arrived;
    controller.abort();
    expect(AbortedError.isInstance(await ingesting)).toBe(true);
    await held.abandoned; // never resolves (the test times out) when ingest does not pass its signal on
    expect(await store.listCollections()).toEqual([]);
    await catalog.dispose?.();
  }, 20_000);

  test('awkward names (commas, parentheses, percent signs) are escaped and kept apart', async () => {
    const catalog = open();
    const names = ['memory/a,b', 'memory/a%2Cb', 'memory/f(x) = (y, z)', 'file:///My Docs/naïve ␟ report.md'];
    for (const name of names) await catalog.registerDataset({ kind: 'collection', name, description: name });
    for (const name of names) {
      expect(await catalog.getDataset({ kind: 'collection', name })).toEqual({
        kind: 'collection',
        name,
        description: name,
      });
    }
    expect(escapeUrnPart('memory/f(x) = (y, z)')).toBe('memory/f%28x%29 = %28y%2C z%29');
    expect(escapeUrnPart('a%2Cb')).toBe('a%252Cb');
    expect(escapeUrnPart('␟')).toBe('%E2%90%9F');
    const urns = gms.accepted.filter((p) => names.some((n) => p.entityUrn === urnOf(n))).map((p) => p.entityUrn);
    expect(new Set(urns).size).toBe(4);
    expect(gms.rejected).toEqual([]);
  });

  test('bad options and names DataHub cannot hold are InvalidArgumentError', async () => {
    expect(() => createDataHubCatalog({ url: 'not a url' })).toThrow(InvalidArgumentError);
    expect(() => createDataHubCatalog({ url: gms.url, env: 'LIVE' as 'PROD' })).toThrow(InvalidArgumentError);
    expect(() => createDataHubCatalog({ url: gms.url, platform: 'my platform' })).toThrow(InvalidArgumentError);
    expect(() => createDataHubCatalog({ url: gms.url, batchSize: 0 })).toThrow(InvalidArgumentError);
    expect(() => createDataHubCatalog({ url: gms.url, token: '' })).toThrow(InvalidArgumentError);
    const catalog = open();
    await expect(catalog.registerDataset({ kind: 'source', name: `file:///${'x'.repeat(600)}` })).rejects.toThrow(
      /over DataHub's 512-byte limit/,
    );
    await expect(catalog.registerDataset({ kind: 'source', name: 'file:///a\nb' })).rejects.toThrow(
      /control characters/,
    );
  });
});

describe('DataHub as its source defines it', () => {
  test('non-ASCII text travels as \\u escapes in the bytes aspect and round-trips exactly', async () => {
    const catalog = open();
    const text = 'naïve — “quotes” 漢字 🙂 ü';
    const ref = { kind: 'collection', name: `memory/unicode-${text}` } as const;
    const before = gms.requests.length;
    await catalog.registerDataset({ ...ref, description: text, properties: { note: text } });
    expect(await catalog.getDataset(ref)).toEqual({ ...ref, description: text, properties: { note: text } });
    const sent = gms.requests
      .slice(before)
      .flatMap((request) => (request.body as { proposals?: { aspect: { value: string } }[] } | null)?.proposals ?? []);
    expect(sent.length).toBeGreaterThan(0);
    for (const proposal of sent) expect(proposal.aspect.value).toMatch(/^[\x20-\x7e]*$/);
    expect(gms.aspect(urnOf(ref.name), 'datasetProperties')).toMatchObject({ description: text });
  });

  test('search by kind model asks for MLMODEL and finds the model', async () => {
    const catalog = open();
    const model = { kind: 'model', name: 'kmf1:searchable-model' } as const;
    await catalog.registerDataset({ ...model, description: 'searchable embedding model' });
    expect(await catalog.searchDatasets?.('searchable embedding', { kind: 'model' })).toEqual([
      { ...model, description: 'searchable embedding model' },
    ]);
    expect(await catalog.searchDatasets?.('searchable embedding')).toContainEqual({
      ...model,
      description: 'searchable embedding model',
    });
  });

  test('URNs are measured as DataHub measures them: 512 bytes once URL-encoded', async () => {
    const catalog = open();
    const before = gms.requests.filter((request) => request.path.startsWith('/aspects')).length;
    // 60 CJK characters: 60 characters, 540 bytes URL-encoded.
    const name = `memory/${'漢'.repeat(60)}`;
    expect(urlEncodedLength(urnOf(name))).toBeGreaterThan(512);
    await expect(catalog.registerDataset({ kind: 'collection', name })).rejects.toMatchObject({
      name: 'InvalidArgumentError',
      message: expect.stringContaining('bytes once URL-encoded'),
    });
    expect(gms.requests.filter((request) => request.path.startsWith('/aspects')).length).toBe(before);
    expect(urlEncodedLength('a b-c.*_~é')).toBe(8 + 3 + 6);
    const fits = `memory/${'x'.repeat(400)}`;
    await catalog.registerDataset({ kind: 'collection', name: fits });
    expect(await catalog.getDataset({ kind: 'collection', name: fits })).toEqual({ kind: 'collection', name: fits });
    expect(gms.skipped).toEqual([]);
  });

  test('run ids with spaces at either end are escaped, so GMS does not drop the run', async () => {
    const catalog = open();
    const output = { kind: 'collection', name: 'memory/whitespace-runs' } as const;
    for (const id of [' leading', 'trailing ', '  both  ']) {
      const run: IngestionRun = {
        id,
        status: 'succeeded',
        startedAt: '2026-01-01T00:00:00Z',
        finishedAt: '2026-01-01T00:00:01Z',
        inputs: [],
        output,
      };
      await catalog.recordRun(run);
      expect(await catalog.getRun(id)).toEqual(run);
    }
    expect(gms.skipped).toEqual([]);
  });

  test('two fields of one name are refused before anything is sent (GMS answers 422)', async () => {
    const catalog = open();
    const before = gms.requests.filter((request) => request.path.startsWith('/aspects')).length;
    await expect(
      catalog.registerDataset({
        kind: 'collection',
        name: 'memory/duplicate-fields',
        fields: [
          { name: 'text', type: 'string' },
          { name: 'text', type: 'integer' },
        ],
      }),
    ).rejects.toMatchObject({ name: 'InvalidArgumentError', message: expect.stringContaining('"text" appears twice') });
    expect(gms.requests.filter((request) => request.path.startsWith('/aspects')).length).toBe(before);
  });

  test('a source name goes out as `uri` only when java.net.URI accepts it', async () => {
    const catalog = open();
    const names = ['https://example.org/a?b=c#d', 'http://example.org/a[1]', 'file:///docs/%zz.md', 'notes: draft'];
    for (const name of names) await catalog.registerDataset({ kind: 'source', name });
    const uris = names.map((name) => (gms.aspect(urnOf(name), 'datasetProperties') as { uri?: string }).uri);
    expect(uris).toEqual(['https://example.org/a?b=c#d', undefined, undefined, undefined]);
    expect(gms.rejected).toEqual([]);
  });

  test('the server version is read once (GET /config); DataHub older than 1.1 is an UnsupportedServerError', async () => {
    const configReads = () => gms.requests.filter((request) => request.path === '/config').length;
    const catalog = open();
    const before = configReads();
    await catalog.getRun('one');
    await catalog.getRun('two');
    expect(configReads() - before).toBe(1);
    gms.version = 'v1.0.0';
    try {
      const error = await open()
        .getRun('old')
        .catch((e: unknown) => e);
      expect(UnsupportedServerError.isInstance(error)).toBe(true);
      expect(error).toMatchObject({ serverVersion: 'v1.0.0', minimumVersion: '1.1.0' });
      expect((error as Error).message).toContain('DataHub 1.1.0 or later');
      // DataHub Cloud numbers its releases on its own scale: not compared.
      gms.serverEnv = 'cloud';
      gms.version = 'v0.3.12';
      expect(await open().getRun('cloud')).toBeUndefined();
    } finally {
      gms.version = 'v1.3.0';
      gms.serverEnv = 'core';
    }
  });
});
