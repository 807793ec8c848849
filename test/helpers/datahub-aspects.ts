/**
 * DataHub's aspect schemas, encoded as zod from the PDL sources of datahub-project/datahub
 * (`metadata-models/src/main/pegasus/com/linkedin/…`), read through the stored-code search in
 * November 2026 (master branch, DataHub 1.x line). Files read, with the stored commit:
 *
 *   dataset/DatasetProperties.pdl            785b5e11  (includes CustomProperties, ExternalReference)
 *   dataset/UpstreamLineage.pdl              0cdf0edb
 *   dataset/Upstream.pdl                     17bb29f3  (auditStamp with a default, dataset, type)
 *   schema/SchemaMetadata.pdl                15ec1e06
 *   schema/SchemaField.pdl                   029ca4e0
 *   schema/SchemaFieldDataType.pdl           3c9d031d
 *   ml/metadata/MLModelProperties.pdl        6fedf182
 *   dataprocess/DataProcessInstanceProperties.pdl  02be1b72
 *   dataprocess/DataProcessInstanceInput.pdl       31dd6590
 *   dataprocess/DataProcessInstanceOutput.pdl      16cdc96e
 *   dataprocess/DataProcessInstanceRunEvent.pdl    1273f0a1
 *   dataprocess/DataProcessInstanceRunResult.pdl   0c1f4486
 *   timeseries/TimeseriesAspectBase.pdl            1c8b8aa9
 *   mxe/MetadataChangeProposal.pdl                 1c7ee865
 *
 * Not re-read, encoded from DataHub's generated Avro/Python model as remembered (an assumption):
 * SchemaMetadataKey (schemaName, platform, version), ChangeAuditStamps, OtherSchema { rawSchema },
 * AuditStamp { time, actor, impersonator?, message? }, GenericAspect { value, contentType }, the
 * FabricType list, the 512-character URN limit and the reserved URN characters `,` `(` `)` `␟`.
 *
 * Rest.li JSON encoding: a union member is an object with one key, the member's fully qualified
 * name (`{"com.linkedin.schema.StringType": {}}`); `long` is a JSON number; fields with a default
 * may be left out; unknown fields are an error (`.strict()`), as Rest.li validation reports them.
 * Optional fields kumiki never sends are accepted with a loose type.
 */
import { z } from 'zod';

const long = z.number().int();
const stringMap = z.record(z.string(), z.string());

/** `urn:li:<entityType>:<key>`; tuple keys are parenthesised and comma-separated. */
export const urnSchema = z.string().regex(/^urn:li:[A-Za-z]+:.+$/, 'not a URN');
const fabric = '(DEV|TEST|QA|UAT|EI|PRE|STG|NON_PROD|PROD|CORP|RVW|PRD|TST|SIT|SBX|SANDBOX)';
/** A tuple part must not contain a bare `,`, `(` or `)` (DataHub's reserved characters). */
const part = '[^,()\\u241f]+';
export const platformUrnSchema = z.string().regex(/^urn:li:dataPlatform:[A-Za-z0-9_.-]+$/, 'not a DataPlatformUrn');
export const datasetUrnSchema = z
  .string()
  .max(512)
  .regex(
    new RegExp(`^urn:li:dataset:\\(urn:li:dataPlatform:[A-Za-z0-9_.-]+,${part},${fabric}\\)$`),
    'not a DatasetUrn',
  );
export const mlModelUrnSchema = z
  .string()
  .max(512)
  .regex(
    new RegExp(`^urn:li:mlModel:\\(urn:li:dataPlatform:[A-Za-z0-9_.-]+,${part},${fabric}\\)$`),
    'not an MLModelUrn',
  );
export const dataProcessInstanceUrnSchema = z
  .string()
  .max(512)
  .regex(/^urn:li:dataProcessInstance:[^,()\u241f]+$/, 'not a DataProcessInstance URN');

const auditStamp = z
  .object({ time: long, actor: urnSchema, impersonator: urnSchema.optional(), message: z.string().optional() })
  .strict();

export const datasetProperties = z
  .object({
    customProperties: stringMap.optional(),
    externalUrl: z.string().optional(),
    name: z.string().optional(),
    qualifiedName: z.string().optional(),
    description: z.string().optional(),
    uri: z.string().optional(),
    tags: z.array(z.string()).optional(),
  })
  .strict();

const upstream = z
  .object({
    auditStamp: auditStamp.optional(),
    dataset: datasetUrnSchema,
    type: z.enum(['COPY', 'TRANSFORMED', 'VIEW']),
  })
  .strict();

export const upstreamLineage = z
  .object({ upstreams: z.array(upstream), fineGrainedLineages: z.array(z.unknown()).optional() })
  .strict();

const SCHEMA_FIELD_TYPES = [
  'BooleanType',
  'FixedType',
  'StringType',
  'BytesType',
  'NumberType',
  'DateType',
  'TimeType',
  'EnumType',
  'NullType',
  'MapType',
  'ArrayType',
  'UnionType',
  'RecordType',
] as const;

/** A Rest.li union value: exactly one member, named by its fully qualified type. */
function union(members: readonly string[], namespace: string) {
  return z
    .record(z.string(), z.record(z.string(), z.unknown()))
    .refine((value) => Object.keys(value).length === 1, 'a union value has exactly one member')
    .refine(
      (value) => members.some((member) => Object.hasOwn(value, `${namespace}.${member}`)),
      `union member must be one of ${members.map((m) => `${namespace}.${m}`).join(', ')}`,
    );
}

const schemaField = z
  .object({
    fieldPath: z.string().min(1),
    jsonPath: z.string().optional(),
    nullable: z.boolean().optional(),
    description: z.string().optional(),
    label: z.string().optional(),
    created: auditStamp.optional(),
    lastModified: auditStamp.optional(),
    type: z.object({ type: union(SCHEMA_FIELD_TYPES, 'com.linkedin.schema') }).strict(),
    nativeDataType: z.string(),
    recursive: z.boolean().optional(),
    globalTags: z.unknown().optional(),
    glossaryTerms: z.unknown().optional(),
    isPartOfKey: z.boolean().optional(),
    isPartitioningKey: z.boolean().optional(),
    jsonProps: z.string().optional(),
  })
  .strict();

const PLATFORM_SCHEMAS = [
  'EspressoSchema',
  'OracleDDL',
  'MySqlDDL',
  'PrestoDDL',
  'KafkaSchema',
  'BinaryJsonSchema',
  'OrcSchema',
  'Schemaless',
  'KeyValueSchema',
  'OtherSchema',
] as const;

export const schemaMetadata = z
  .object({
    schemaName: z.string(),
    platform: platformUrnSchema,
    version: long,
    created: auditStamp.optional(),
    lastModified: auditStamp.optional(),
    deleted: auditStamp.optional(),
    dataset: datasetUrnSchema.optional(),
    cluster: z.string().optional(),
    hash: z.string(),
    platformSchema: union(PLATFORM_SCHEMAS, 'com.linkedin.schema').refine((value) => {
      const other = value['com.linkedin.schema.OtherSchema'];
      return other === undefined || (typeof other.rawSchema === 'string' && Object.keys(other).length === 1);
    }, 'OtherSchema is { rawSchema: string }'),
    fields: z.array(schemaField),
    primaryKeys: z.array(z.string()).optional(),
    foreignKeysSpecs: z.unknown().optional(),
    foreignKeys: z.array(z.unknown()).optional(),
  })
  .strict();

export const mlModelProperties = z
  .object({
    customProperties: stringMap.optional(),
    externalUrl: z.string().optional(),
    description: z.string().optional(),
    date: long.optional(),
    version: z.object({ versionTag: z.string().optional() }).optional(),
    type: z.string().optional(),
    hyperParameters: z.unknown().optional(),
    hyperParams: z.array(z.unknown()).optional(),
    trainingMetrics: z.array(z.unknown()).optional(),
    onlineMetrics: z.array(z.unknown()).optional(),
    mlFeatures: z.array(urnSchema).optional(),
    tags: z.array(z.string()).optional(),
    deployments: z.array(urnSchema).optional(),
    trainingJobs: z.array(urnSchema).optional(),
    downstreamJobs: z.array(urnSchema).optional(),
    groups: z.array(urnSchema).optional(),
  })
  .strict();

export const dataProcessInstanceProperties = z
  .object({
    customProperties: stringMap.optional(),
    externalUrl: z.string().optional(),
    name: z.string(),
    type: z.enum(['BATCH_SCHEDULED', 'BATCH_AD_HOC', 'STREAMING']).optional(),
    created: auditStamp,
  })
  .strict();

/** Inputs may be datasets or ML models (the `Consumes` relationship's entityTypes). */
export const dataProcessInstanceInput = z
  .object({
    inputs: z.array(z.union([datasetUrnSchema, mlModelUrnSchema])),
    inputEdges: z.array(z.unknown()).optional(),
  })
  .strict();

export const dataProcessInstanceOutput = z
  .object({
    outputs: z.array(z.union([datasetUrnSchema, mlModelUrnSchema])),
    outputEdges: z.array(z.unknown()).optional(),
  })
  .strict();

export const dataProcessInstanceRunEvent = z
  .object({
    timestampMillis: long,
    eventGranularity: z.unknown().optional(),
    partitionSpec: z.unknown().optional(),
    messageId: z.string().optional(),
    externalUrl: z.string().optional(),
    status: z.enum(['STARTED', 'COMPLETE']),
    attempt: z.number().int().optional(),
    result: z
      .object({
        type: z.enum(['SUCCESS', 'FAILURE', 'SKIPPED', 'UP_FOR_RETRY']),
        nativeResultType: z.string(),
      })
      .strict()
      .optional(),
  })
  .strict();

/** Which aspects each entity type accepts here, and their schemas. */
export const ASPECTS: Record<string, Record<string, z.ZodType>> = {
  dataset: { datasetProperties, schemaMetadata, upstreamLineage },
  mlModel: { mlModelProperties },
  dataProcessInstance: {
    dataProcessInstanceProperties,
    dataProcessInstanceInput,
    dataProcessInstanceOutput,
    dataProcessInstanceRunEvent,
  },
};

export const ENTITY_URNS: Record<string, z.ZodType<string>> = {
  dataset: datasetUrnSchema,
  mlModel: mlModelUrnSchema,
  dataProcessInstance: dataProcessInstanceUrnSchema,
};

/** MetadataChangeProposal as the rest.li `ingestProposal(Batch)` actions take it, with a GenericAspect. */
export const metadataChangeProposal = z
  .object({
    auditHeader: z.unknown().optional(),
    entityType: z.string(),
    // Optional in the PDL; an UPSERT of one aspect needs the URN, the aspect name and the aspect.
    entityUrn: urnSchema,
    entityKeyAspect: z.unknown().optional(),
    changeType: z.enum(['UPSERT', 'CREATE', 'CREATE_ENTITY', 'DELETE', 'PATCH', 'RESTATE', 'UPDATE']),
    aspectName: z.string(),
    aspect: z.object({ value: z.string(), contentType: z.literal('application/json') }).strict(),
    systemMetadata: z.unknown().optional(),
  })
  .strict();

/** Validates one proposal completely; returns the problems (empty when valid). */
export function validateProposal(value: unknown): string[] {
  const envelope = metadataChangeProposal.safeParse(value);
  if (!envelope.success) return envelope.error.issues.map((i) => `proposal.${i.path.join('.')}: ${i.message}`);
  const mcp = envelope.data;
  const problems: string[] = [];
  const urnSchemaFor = ENTITY_URNS[mcp.entityType];
  const aspectSchema = ASPECTS[mcp.entityType]?.[mcp.aspectName];
  if (!urnSchemaFor || !aspectSchema) return [`unknown aspect ${mcp.aspectName} for entity type ${mcp.entityType}`];
  const urn = urnSchemaFor.safeParse(mcp.entityUrn);
  if (!urn.success) problems.push(`entityUrn ${mcp.entityUrn}: ${urn.error.issues[0]?.message}`);
  let aspect: unknown;
  try {
    aspect = JSON.parse(mcp.aspect.value);
  } catch {
    return [...problems, 'aspect.value is not JSON'];
  }
  const parsed = aspectSchema.safeParse(aspect);
  if (!parsed.success) {
    problems.push(...parsed.error.issues.map((i) => `${mcp.aspectName}.${i.path.join('.')}: ${i.message}`));
  }
  return problems;
}
