/** What `createMemoryStore` and the memory store's own methods accept; the options' defaults. */
import * as z from 'zod/mini';
import { persistenceSchema } from '../../core/persistence.js';
import { jsonValueSchema } from '../../core/types.js';
import { parseArgument } from '../../core/validate.js';
import { abortSignalSchema } from '../kernel/schemas.js';
import type { AnnSettings } from './ann.js';
import { resolveKernel } from './kernel/kernel.js';
import type { MemoryStoreOptions } from './types.js';

const optionsSchema = z.strictObject({
  persistence: z.optional(persistenceSchema),
  durability: z.optional(z.enum(['write', 'manual'])),
  quantization: z.optional(z.enum(['none', 'int8', 'int8-only'])),
  rescore: z.optional(z.number().check(z.int(), z.gte(1), z.lte(64))),
  kernel: z.optional(
    z.union([
      z.enum(['auto', 'wasm', 'js']),
      z.custom<object>(
        (value) => typeof value === 'object' && value !== null,
        'kernel must be "auto", "wasm", "js" or a WebAssembly.Module',
      ),
    ]),
  ),
  autoIndex: z.optional(z.boolean()),
  ann: z.optional(
    z.union([
      z.boolean(),
      z.strictObject({
        m: z.optional(z.number().check(z.int(), z.gte(2), z.lte(128))),
        efConstruction: z.optional(z.number().check(z.int(), z.gte(2), z.lte(4096))),
        ef: z.optional(z.number().check(z.int(), z.gte(1), z.lte(10_000))),
        minRecords: z.optional(z.number().check(z.int(), z.gte(0))),
        exactBelow: z.optional(z.number().check(z.gte(0), z.lte(1))),
      }),
    ]),
  ),
});

export const payloadIndexSchema = z.strictObject({
  collection: z.string().check(z.minLength(1, 'collection must not be empty')),
  field: z
    .string()
    .check(
      z.minLength(1, 'field must not be empty'),
      z.regex(/^[^.]+(\.[^.]+)*$/, 'field must be dot-separated non-empty keys, e.g. "meta.author"'),
    ),
  abortSignal: abortSignalSchema,
});

export const getStateSchema = z.strictObject({
  collection: z.string().check(z.minLength(1, 'collection must not be empty')),
  key: z.string().check(z.minLength(1, 'key must not be empty')),
  abortSignal: abortSignalSchema,
});
export const setStateSchema = z.extend(getStateSchema, {
  value: z.optional(jsonValueSchema),
  version: z.optional(z.number().check(z.int(), z.gte(0))),
});

/** The settings a memory store runs with. */
export function resolveOptions(options: MemoryStoreOptions) {
  const settings = parseArgument(optionsSchema, options, 'memory store options');
  const persistence = settings.persistence;
  const durability = settings.durability ?? 'write';
  const quantization = settings.quantization ?? 'none';
  const quantized = quantization !== 'none';
  const floats = quantization !== 'int8-only';
  const rescore = settings.rescore ?? 4;
  const kernel = resolveKernel(settings.kernel ?? 'auto');
  const autoIndex = settings.autoIndex ?? true;
  const annOption = settings.ann === true ? {} : settings.ann === false ? undefined : settings.ann;
  const ann: AnnSettings | undefined = annOption && {
    m: annOption.m ?? 16,
    efConstruction: annOption.efConstruction ?? 200,
    ef: annOption.ef ?? 64,
    minRecords: annOption.minRecords ?? 10_000,
    exactBelow: annOption.exactBelow ?? 0.05,
  };
  return { persistence, durability, quantization, quantized, floats, rescore, kernel, autoIndex, ann };
}
