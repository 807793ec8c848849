import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createDataHubCatalog } from '../src/catalogs/datahub/index.js';
import { escapeUrnPart } from '../src/catalogs/datahub/urn.js';
import type { IngestionRun } from '../src/core/catalog.js';
import {
  ForbiddenError,
  InvalidArgumentError,
  TimeoutError,
  UnauthorizedError,
  UnavailableError,
} from '../src/core/errors.js';
import { catalogConformance } from '../src/testing/catalog-conformance.js';
import { validateProposal } from './helpers/datahub-aspects.js';
import { type DataHubGms, startDataHubGms } from './helpers/datahub-gms.js';

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
  test('the emulator really validates: a malformed aspect is refused with 400 and translated', async () => {
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
    expect(response.status).toBe(400);
    expect(((await response.json()) as { message: string }).message).toContain('platformSchema');
    gms.rejected.length = 0;
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
    expect(gms.aspect(runUrn, 'dataProcessInstanceInput')).toEqual({ inputs: [urnOf(source.name), modelUrn] });
    expect(gms.aspect(runUrn, 'dataProcessInstanceOutput')).toEqual({ outputs: [collectionUrn] });
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

  test('a request past timeoutMs is a TimeoutError', async () => {
    gms.inject({ status: 200, times: 1, delayMs: 1500 });
    const error = await open({ timeoutMs: 200, retries: 0 })
      .getRun('slow')
      .catch((e: unknown) => e);
    expect(TimeoutError.isInstance(error)).toBe(true);
  });

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
      /512-character limit/,
    );
    await expect(catalog.registerDataset({ kind: 'source', name: 'file:///a\nb' })).rejects.toThrow(
      /control characters/,
    );
  });
});
