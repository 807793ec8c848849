/**
 * Prepares a JSON Schema for node-llama-cpp's grammar compiler, which enforces the JSON shape, enums
 * and consts but ignores numeric bounds: a bounded integer with few values becomes an `enum` of them,
 * so the grammar itself keeps it in range. node-llama-cpp also reads a missing `additionalProperties`
 * as `false`, which turns an object without properties (`{ type: 'object' }`, OpenAI's `json_object`)
 * into a grammar for `{}` alone; such an object gets JSON Schema's own default, any members.
 * Everything else passes through unchanged.
 */

/** Bounded integer ranges up to this many values become an enum. */
const MAX_ENUM_RANGE = 256;

type Json = Record<string, unknown>;

const isObject = (value: unknown): value is Json =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** The inclusive integer bounds of an integer schema, or undefined when it is unbounded on either side. */
function integerBounds(schema: Json): [number, number] | undefined {
  const low =
    typeof schema.exclusiveMinimum === 'number'
      ? Math.floor(schema.exclusiveMinimum) + 1
      : typeof schema.minimum === 'number'
        ? Math.ceil(schema.minimum)
        : undefined;
  const high =
    typeof schema.exclusiveMaximum === 'number'
      ? Math.ceil(schema.exclusiveMaximum) - 1
      : typeof schema.maximum === 'number'
        ? Math.floor(schema.maximum)
        : undefined;
  if (low === undefined || high === undefined || high < low || high - low + 1 > MAX_ENUM_RANGE) return undefined;
  return [low, high];
}

const NESTED_MAPS = ['properties', '$defs', 'definitions'] as const;
const NESTED_LISTS = ['anyOf', 'oneOf', 'allOf', 'prefixItems'] as const;
const NESTED_SCHEMAS = ['items', 'additionalProperties'] as const;

/** A copy of `schema` for the grammar compiler: `$schema` dropped, small integer ranges as enums. */
export function grammarSchema(schema: Json): Json {
  const { $schema: _ignored, ...rest } = schema;
  return narrow(rest);
}

function narrow(schema: Json): Json {
  if (schema.type === 'integer' && schema.enum === undefined && schema.const === undefined) {
    const bounds = integerBounds(schema);
    if (bounds !== undefined) {
      const [low, high] = bounds;
      return {
        ...(typeof schema.description === 'string' ? { description: schema.description } : {}),
        enum: Array.from({ length: high - low + 1 }, (_, index) => low + index),
      };
    }
  }
  const copy: Json = { ...schema };
  const isObjectType = schema.type === 'object' || (Array.isArray(schema.type) && schema.type.includes('object'));
  const noProperties = !isObject(schema.properties) || Object.keys(schema.properties).length === 0;
  if (isObjectType && noProperties && schema.additionalProperties === undefined) copy.additionalProperties = true;
  for (const key of NESTED_MAPS) {
    const map = schema[key];
    if (isObject(map))
      copy[key] = Object.fromEntries(
        Object.entries(map).map(([name, value]) => [name, isObject(value) ? narrow(value) : value]),
      );
  }
  for (const key of NESTED_LISTS) {
    const list = schema[key];
    if (Array.isArray(list)) copy[key] = list.map((value) => (isObject(value) ? narrow(value) : value));
  }
  for (const key of NESTED_SCHEMAS) {
    const value = schema[key];
    if (isObject(value)) copy[key] = narrow(value);
  }
  return copy;
}
