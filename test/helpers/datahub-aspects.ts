/**
 * DataHub's proposal validation as GMS applies it, for the emulator in ./datahub-gms.ts: the aspect
 * schemas (zod, strict), URN validation, and the Rest.li `bytes` encoding of aspect values.
 *
 * Aspect schemas, encoded as zod from the PDL sources of datahub-project/datahub
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
 * may be left out. Unknown fields are an error here (`.strict()`); GMS trims them
 * (`validateTrimOrThrow`), so this is stricter than the server, never laxer. Optional fields kumiki
 * never sends are accepted with a loose type.
 *
 * Read in the DataHub snapshot HarryXYX/metapulse @4b67de79 (2025-12-06, upstream late 2025; the
 * same snapshot as ../shared/contracts/datahub-graphql), paths under backend/:
 *
 *   metadata-models/…/dataprocess/DataProcessInstanceInput.pdl, …Output.pdl  `inputEdges`/`outputEdges`
 *     (array of common/Edge.pdl: destinationUrn, created, …), the lineage relationships
 *   metadata-models/…/dataset/DatasetProperties.pdl   `uri: optional Uri` (common/Uri.pdl: java.net.URI)
 *   metadata-utils/…/utils/UrnValidationUtil.java      `validateUrn`: no leading/trailing whitespace
 *     (String.trim), at most 512 bytes once URL-encoded (java.net.URLEncoder), no `␟`, a valid key
 *   metadata-io/metadata-io-api/…/batch/AspectsBatchImpl.java  an IllegalArgumentException while
 *     building a batch item (URN validation) logs "Invalid proposal, skipping" and drops the item;
 *     the request still answers 200
 *   metadata-io/metadata-io-api/…/validation/ValidationApiUtils.java, AspectResource.java  an aspect
 *     that fails validation is a ValidationException, answered 422 for the whole batch
 *   entity-registry/…/validation/FieldPathValidator.java  duplicated schema field paths refused
 *   metadata-utils/…/utils/GenericRecordUtils.java      aspect bytes decoded as UTF-8
 *   linkedin/rest.li data/ByteString.java `copyAvroString` → Data.stringToBytes: a `bytes` value in
 *     JSON is a string whose characters are the bytes (above U+00FF: invalid, the request fails 400)
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
  .regex(
    new RegExp(`^urn:li:dataset:\\(urn:li:dataPlatform:[A-Za-z0-9_.-]+,${part},${fabric}\\)$`),
    'not a DatasetUrn',
  );
export const mlModelUrnSchema = z
  .string()
  .regex(
    new RegExp(`^urn:li:mlModel:\\(urn:li:dataPlatform:[A-Za-z0-9_.-]+,${part},${fabric}\\)$`),
    'not an MLModelUrn',
  );
export const dataProcessInstanceUrnSchema = z
  .string()
  .regex(/^urn:li:dataProcessInstance:[^,()\u241f]+$/, 'not a DataProcessInstance URN');

const auditStamp = z
  .object({ time: long, actor: urnSchema, impersonator: urnSchema.optional(), message: z.string().optional() })
  .strict();

/**
 * Whether `java.net.URI` parses `text` (RFC 2396 as its parser applies it, ASCII only): a scheme, a
 * non-empty scheme-specific part, a non-empty authority after `//` unless a path follows, RFC 2396
 * characters or `%XX` escapes, at most one `#`.
 */
export function javaUriParses(text: string): boolean {
  const colon = text.indexOf(':');
  if (colon < 1 || !/^[A-Za-z][A-Za-z0-9+.-]*$/.test(text.slice(0, colon))) return false;
  const hash = text.indexOf('#', colon);
  const ssp = text.slice(colon + 1, hash < 0 ? undefined : hash);
  const fragment = hash < 0 ? '' : text.slice(hash + 1);
  const legal = (part: string) => /^(?:[A-Za-z0-9\-_.!~*'();/?:@&=+$,]|%[0-9A-Fa-f]{2})*$/.test(part);
  if (ssp === '' || !legal(ssp) || !legal(fragment)) return false;
  // "Expected authority": `//` must be followed by an authority or by a path, query or nothing else.
  if (ssp.startsWith('//') && ssp.length === 2) return false;
  return true;
}

export const datasetProperties = z
  .object({
    customProperties: stringMap.optional(),
    externalUrl: z.string().optional(),
    name: z.string().optional(),
    qualifiedName: z.string().optional(),
    description: z.string().optional(),
    uri: z.string().refine(javaUriParses, 'not a java.net.URI').optional(),
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
    fields: z
      .array(schemaField)
      .refine(
        (fields) => new Set(fields.map((field) => field.fieldPath)).size === fields.length,
        'SchemaMetadata aspect has duplicated field paths',
      ),
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

const assetUrn = z.union([datasetUrnSchema, mlModelUrnSchema]);

/** common/Edge.pdl; the DataProcessInstance edges point at datasets, ML models or process instances. */
const edge = z
  .object({
    sourceUrn: urnSchema.optional(),
    destinationUrn: z.union([datasetUrnSchema, mlModelUrnSchema, dataProcessInstanceUrnSchema]),
    created: auditStamp.optional(),
    lastModified: auditStamp.optional(),
    properties: stringMap.optional(),
    confidenceScore: z.number().optional(),
  })
  .strict();

/**
 * `inputs` (relationship Consumes, not lineage) is required; `inputEdges` (DataProcessInstanceConsumes,
 * `isLineage: true`) is what DataHub's lineage graph reads.
 */
export const dataProcessInstanceInput = z
  .object({ inputs: z.array(assetUrn), inputEdges: z.array(edge).optional() })
  .strict();

export const dataProcessInstanceOutput = z
  .object({ outputs: z.array(assetUrn), outputEdges: z.array(edge).optional() })
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

/** `java.net.URLEncoder.encode`'s output length: `[A-Za-z0-9.-*_]` and space (`+`) one character, other bytes `%XX`. */
function urlEncodedLength(text: string): number {
  let length = 0;
  for (const byte of Buffer.from(text, 'utf8')) length += /[A-Za-z0-9.\-*_ ]/.test(String.fromCharCode(byte)) ? 1 : 3;
  return length;
}

/** Why UrnValidationUtil.validateUrn would refuse `urn` for an entity of `entityType`, or `undefined`. */
export function urnProblem(entityType: string, urn: string): string | undefined {
  // String.trim() removes every character up to U+0020 from both ends.
  const trimmable = (char: string | undefined) => char !== undefined && char.charCodeAt(0) <= 0x20;
  if (trimmable(urn[0]) || trimmable(urn[urn.length - 1])) {
    return 'Error: cannot provide an URN with leading or trailing whitespace';
  }
  if (urlEncodedLength(urn) > 512) return 'Error: cannot provide an URN longer than 512 bytes (when URL encoded)';
  if (urn.includes('\u241f')) return 'Error: URN cannot contain ␟ character';
  const key = ENTITY_URNS[entityType]?.safeParse(urn);
  if (!key?.success) return `Invalid urn: ${urn}`;
  return undefined;
}

/**
 * The bytes of a Rest.li `bytes` value written as a JSON string (each character one byte), or
 * `undefined` when a character is above U+00FF (Data.stringToBytes fails).
 */
export function restliBytes(text: string): Buffer | undefined {
  const bytes = Buffer.alloc(text.length);
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code > 0xff) return undefined;
    bytes[i] = code;
  }
  return bytes;
}

/**
 * One proposal as GMS treats it: `invalid` (the request fails: 400 for an envelope Rest.li cannot
 * read, 422 for an aspect that fails validation), `skip` (URN validation: dropped, the request
 * still answers 200), or `ok` with the aspect decoded from its bytes as UTF-8 (U+FFFD for bad bytes).
 */
export type ProposalVerdict =
  | { verdict: 'invalid'; status: 400 | 422; problems: string[] }
  | { verdict: 'skip'; problem: string }
  | { verdict: 'ok'; aspect: unknown };

export function checkProposal(value: unknown): ProposalVerdict {
  const envelope = metadataChangeProposal.safeParse(value);
  if (!envelope.success) {
    return {
      verdict: 'invalid',
      status: 400,
      problems: envelope.error.issues.map((i) => `proposal.${i.path.join('.')}: ${i.message}`),
    };
  }
  const mcp = envelope.data;
  const bytes = restliBytes(mcp.aspect.value);
  if (!bytes) {
    return {
      verdict: 'invalid',
      status: 400,
      problems: ['aspect.value: a bytes value holds only characters up to U+00FF (escape others in the JSON)'],
    };
  }
  const aspectSchema = ASPECTS[mcp.entityType]?.[mcp.aspectName];
  if (!ENTITY_URNS[mcp.entityType] || !aspectSchema) {
    return {
      verdict: 'invalid',
      status: 422,
      problems: [`unknown aspect ${mcp.aspectName} for entity type ${mcp.entityType}`],
    };
  }
  const problem = urnProblem(mcp.entityType, mcp.entityUrn);
  if (problem) return { verdict: 'skip', problem: `${mcp.entityUrn}: ${problem}` };
  let aspect: unknown;
  try {
    aspect = JSON.parse(bytes.toString('utf8'));
  } catch {
    return { verdict: 'invalid', status: 422, problems: [`aspect.value of ${mcp.aspectName} is not JSON`] };
  }
  const parsed = aspectSchema.safeParse(aspect);
  if (!parsed.success) {
    return {
      verdict: 'invalid',
      status: 422,
      problems: parsed.error.issues.map((i) => `${mcp.aspectName}.${i.path.join('.')}: ${i.message}`),
    };
  }
  return { verdict: 'ok', aspect };
}

/** The problems GMS finds in one proposal (empty when it would be stored). */
export function validateProposal(value: unknown): string[] {
  const result = checkProposal(value);
  return result.verdict === 'ok' ? [] : result.verdict === 'skip' ? [result.problem] : result.problems;
}
