/**
 * How kumiki's records map onto DataHub: each entity's kumiki state kept as JSON in its
 * customProperties (read back exactly), and the aspects (Metadata Change Proposals) that describe a
 * dataset, model or ingestion run.
 */
import * as z from 'zod';
import type { DatasetField, DatasetInfo, DatasetRef, IngestionRun } from '../../core/catalog.js';
import { InvalidArgumentError, UnavailableError } from '../../core/errors.js';
import { sha256Hex } from '../../core/sha256.js';
import type { JsonObject } from '../../core/types.js';
import { datasetInfoSchema, datasetRefSchema, ingestionRunSchema } from '../shared.js';
import { COMPONENT, type MetadataChangeProposal } from './client.js';
import type { GraphqlEntity } from './graphql.js';
import { entityUrn, platformUrn, runUrn, type UrnSettings } from './urn.js';

/** One RFC 2396 URI character (`java.net.URI`'s grammar, ASCII only): unreserved, reserved or `%XX`. */
const URIC = "(?:[A-Za-z0-9\\-_.!~*'();/?:@&=+$,]|%[0-9A-Fa-f]{2})";
/**
 * A name that `java.net.URI` parses (DataHub types `datasetProperties.uri` as `java.net.URI` and
 * refuses the aspect otherwise) is also sent as `uri`: a scheme, a non-empty scheme-specific part
 * (not a bare `//`), at most one `#`. IPv6 hosts (`[…]`) and non-ASCII names are simply not sent.
 */
const URI = new RegExp(`^[A-Za-z][A-Za-z0-9+.-]*:(?!#)(?!//(?:$|#))${URIC}+(?:#${URIC}*)?$`);
const ACTOR = 'urn:li:corpuser:kumiki';
const KEY = {
  dataset: 'kumiki.dataset',
  upstreams: 'kumiki.upstreams',
  runs: 'kumiki.runs',
  run: 'kumiki.run',
  kind: 'kumiki.kind',
  name: 'kumiki.name',
} as const;

/** What the adapter keeps in an entity's customProperties to answer reads exactly. */
export type EntityState = {
  dataset?: DatasetInfo;
  upstreams: { upstream: DatasetRef; via?: string }[];
  runs: string[];
};

const upstreamsSchema = z.array(z.object({ upstream: datasetRefSchema, via: z.string().optional() }).strict());

const FIELD_TYPES: Record<string, string> = {
  string: 'StringType',
  text: 'StringType',
  number: 'NumberType',
  integer: 'NumberType',
  float: 'NumberType',
  boolean: 'BooleanType',
  array: 'ArrayType',
  object: 'RecordType',
  null: 'NullType',
  date: 'DateType',
  datetime: 'DateType',
  time: 'TimeType',
  bytes: 'BytesType',
};

/** DataHub's platform-independent type for a kumiki field type (the original stays in `nativeDataType`). */
function schemaFieldType(type: string): Record<string, Record<string, never>> {
  return { [`com.linkedin.schema.${FIELD_TYPES[type.toLowerCase()] ?? 'StringType'}`]: {} };
}

function propertyText(value: JsonObject[string]): string {
  return typeof value === 'string' ? value : JSON.stringify(value);
}

const customProperties = (entity: GraphqlEntity | undefined): Map<string, string> =>
  new Map((entity?.properties?.customProperties ?? []).map((entry) => [entry.key, entry.value]));

function decodeJson<S extends z.ZodType>(schema: S, text: string | undefined, what: string): z.output<S> | undefined {
  if (text === undefined) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    value = Symbol('invalid');
  }
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  throw new UnavailableError({
    message: `DataHub holds a ${what} that kumiki cannot read (customProperty edited by hand?); fix or remove it in DataHub.`,
    isRetryable: false,
    component: COMPONENT,
  });
}

/** The kumiki state an entity holds (empty for an entity DataHub does not have). */
export function stateOf(entity: GraphqlEntity | undefined): EntityState {
  const props = customProperties(entity);
  const dataset = props.has(KEY.dataset)
    ? (decodeJson(datasetInfoSchema, props.get(KEY.dataset), `${KEY.dataset} of ${entity?.urn}`) as DatasetInfo)
    : undefined;
  return {
    ...(dataset ? { dataset } : {}),
    upstreams: decodeJson(upstreamsSchema, props.get(KEY.upstreams), `${KEY.upstreams} of ${entity?.urn}`) ?? [],
    runs: decodeJson(z.array(z.string()), props.get(KEY.runs), `${KEY.runs} of ${entity?.urn}`) ?? [],
  };
}

/** The run a `dataProcessInstance` entity holds, if any. */
export function runOf(entity: GraphqlEntity | undefined, urn: string): IngestionRun | undefined {
  const text = customProperties(entity).get(KEY.run);
  return decodeJson(ingestionRunSchema, text, `${KEY.run} of ${urn}`) as IngestionRun | undefined;
}

const proposal = (
  entityType: MetadataChangeProposal['entityType'],
  urn: string,
  aspectName: string,
  value: unknown,
): MetadataChangeProposal => ({
  entityType,
  entityUrn: urn,
  changeType: 'UPSERT',
  aspectName,
  aspect: { value: restliBytes(value), contentType: 'application/json' },
});

/** Every aspect that describes `ref` given its whole kumiki state: properties, schema and upstream lineage. */
export function entityProposals(
  ref: DatasetRef,
  state: EntityState,
  hadFields: boolean,
  settings: UrnSettings,
): MetadataChangeProposal[] {
  const urn = entityUrn(ref, settings);
  const info = state.dataset;
  const custom: Record<string, string> = {
    [KEY.kind]: ref.kind,
    [KEY.name]: ref.name,
    [KEY.upstreams]: JSON.stringify(state.upstreams),
    [KEY.runs]: JSON.stringify(state.runs),
  };
  if (info) {
    custom[KEY.dataset] = JSON.stringify(info);
    for (const [key, value] of Object.entries(info.properties ?? {})) custom[`property.${key}`] = propertyText(value);
  }
  if (ref.kind === 'model') {
    return [
      proposal('mlModel', urn, 'mlModelProperties', {
        customProperties: custom,
        ...(info?.description !== undefined ? { description: info.description } : {}),
        type: 'embedding model',
        tags: [],
      }),
    ];
  }
  const out = [
    proposal('dataset', urn, 'datasetProperties', {
      customProperties: custom,
      name: ref.name,
      ...(info?.description !== undefined ? { description: info.description } : {}),
      ...(ref.kind === 'source' && URI.test(ref.name) ? { uri: ref.name } : {}),
      tags: [],
    }),
  ];
  if (info?.fields || hadFields)
    out.push(proposal('dataset', urn, 'schemaMetadata', schemaMetadata(ref, info?.fields ?? [], settings)));
  const datasetUpstreams = state.upstreams.filter((edge) => edge.upstream.kind !== 'model');
  out.push(
    proposal('dataset', urn, 'upstreamLineage', {
      upstreams: datasetUpstreams.map((edge) => ({
        auditStamp: { time: Date.now(), actor: ACTOR },
        dataset: entityUrn(edge.upstream, settings, 'lineage edges'),
        type: 'TRANSFORMED',
      })),
    }),
  );
  return out;
}

function schemaMetadata(ref: DatasetRef, fields: DatasetField[], settings: UrnSettings) {
  const rawSchema = JSON.stringify(fields);
  return {
    schemaName: ref.name,
    platform: platformUrn(settings),
    version: 0,
    hash: sha256Hex(rawSchema),
    platformSchema: { 'com.linkedin.schema.OtherSchema': { rawSchema } },
    fields: fields.map((field) => ({
      fieldPath: field.name,
      nativeDataType: field.type,
      type: { type: schemaFieldType(field.type) },
      nullable: true,
      recursive: false,
      isPartOfKey: false,
      ...(field.description !== undefined ? { description: field.description } : {}),
    })),
  };
}

/** The `dataProcessInstance` aspects of a run: its properties, input and output edges, and run event. */
export function runProposals(run: IngestionRun, settings: UrnSettings): MetadataChangeProposal[] {
  const urn = runUrn(run.id);
  const inputs = run.inputs.map((input) => entityUrn(input, settings, 'run'));
  if (run.embeddingFingerprint)
    inputs.push(entityUrn({ kind: 'model', name: run.embeddingFingerprint }, settings, 'run'));
  const output = entityUrn(run.output, settings, 'run');
  // DataHub draws lineage from the edges (relationships DataProcessInstanceConsumes / Produces);
  // `inputs`/`outputs` (Consumes / Produces) are required but are not lineage.
  const created = { time: Date.parse(run.startedAt), actor: ACTOR };
  const edges = (urns: string[]) => urns.map((destinationUrn) => ({ destinationUrn, created }));
  const custom: Record<string, string> = {
    [KEY.run]: JSON.stringify(run),
    'kumiki.status': run.status,
    'kumiki.output': `${run.output.kind}:${run.output.name}`,
  };
  if (run.embeddingModel) custom['kumiki.embeddingModel'] = run.embeddingModel;
  if (run.error) custom['kumiki.error'] = run.error;
  const finished = run.status !== 'running';
  return [
    proposal('dataProcessInstance', urn, 'dataProcessInstanceProperties', {
      name: run.id,
      type: 'BATCH_AD_HOC',
      created: { time: Date.parse(run.startedAt), actor: ACTOR },
      customProperties: custom,
    }),
    proposal('dataProcessInstance', urn, 'dataProcessInstanceInput', {
      inputs: [...new Set(inputs)],
      inputEdges: edges([...new Set(inputs)]),
    }),
    proposal('dataProcessInstance', urn, 'dataProcessInstanceOutput', {
      outputs: [output],
      outputEdges: edges([output]),
    }),
    proposal('dataProcessInstance', urn, 'dataProcessInstanceRunEvent', {
      timestampMillis: Date.parse(finished ? (run.finishedAt ?? run.startedAt) : run.startedAt),
      status: finished ? 'COMPLETE' : 'STARTED',
      ...(finished
        ? { result: { type: run.status === 'succeeded' ? 'SUCCESS' : 'FAILURE', nativeResultType: 'kumiki' } }
        : {}),
    }),
  ];
}

/**
 * An aspect as GMS's Rest.li `bytes` field takes it: JSON with every character above U+007F written
 * as a `\uXXXX` escape (as DataHub's Python emitter does). Rest.li reads each character of a
 * `bytes` string as one byte, refusing anything above U+00FF, and GMS decodes those bytes as UTF-8:
 * raw Unicode would be refused (above U+00FF) or turned into U+FFFD (U+0080 to U+00FF).
 */
function restliBytes(value: unknown): string {
  return JSON.stringify(value).replace(
    /[\u0080-\uffff]/g,
    (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

/** DataHub refuses a schema with two fields of one name (422); say so before anything is sent. */
export function checkFieldNames(info: DatasetInfo): void {
  const seen = new Set<string>();
  (info.fields ?? []).forEach((field, index) => {
    if (seen.has(field.name)) {
      throw new InvalidArgumentError({
        argument: 'dataset',
        issues: [
          {
            path: `fields.${index}.name`,
            message: `field "${field.name}" appears twice; a DataHub schema holds each field name once`,
          },
        ],
        component: COMPONENT,
      });
    }
    seen.add(field.name);
  });
}
