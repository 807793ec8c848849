/** What `createMemoryStore` and the memory store's own methods accept; the options' defaults. */
import * as z from 'zod';
import { persistenceSchema } from '../../core/persistence.js';
import { jsonValueSchema } from '../../core/types.js';
import { parseArgument } from '../../core/validate.js';
import { abortSignalSchema } from '../kernel/schemas.js';
import type { AnnSettings } from './ann.js';
import { resolveKernel } from './kernel/kernel.js';
import type { MemoryStoreOptions } from './types.js';

const optionsSchema = z
  .object({
    persistence: persistenceSchema.optional(),
    durability: z.enum(['write', 'manual']).optional(),
    quantization: z.enum(['none', 'int8']).optional(),
    rescore: z.number().int().min(1).max(64).optional(),
    kernel: z
      .union([
        z.enum(['auto', 'wasm', 'js']),
        z.custom<object>(
          (value) => typeof value === 'object' && value !== null,
          'kernel must be "auto", "wasm", "js" or a WebAssembly.Module',
        ),
      ])
      .optional(),
    autoIndex: z.boolean().optional(),
    ann: z
      .union([
        z.boolean(),
        z
          .object({
            m: z.number().int().min(2).max(128).optional(),
            efConstruction: z.number().int().min(2).max(4096).optional(),
            ef: z.number().int().min(1).max(10_000).optional(),
            minRecords: z.number().int().min(0).optional(),
            exactBelow: z.number().min(0).max(1).optional(),
          })
          .strict(),
      ])
      .optional(),
  })
  .strict();

export const payloadIndexSchema = z
  .object({
    collection: z.string().min(1, 'collection must not be empty'),
    field: z
      .string()
      .min(1, 'field must not be empty')
      .regex(/^[^.]+(\.[^.]+)*$/, 'field must be dot-separated non-empty keys, e.g. "meta.author"'),
    abortSignal: abortSignalSchema.optional(),
  })
  .strict();

export const getStateSchema = z
  .object({
    collection: z.string().min(1, 'collection must not be empty'),
    key: z.string().min(1, 'key must not be empty'),
    abortSignal: abortSignalSchema.optional(),
  })
  .strict();
export const setStateSchema = getStateSchema.extend({
  value: jsonValueSchema.optional(),
  version: z.number().int().min(0).optional(),
});

/** The settings a memory store runs with. */
export function resolveOptions(options: MemoryStoreOptions) {
  const settings = parseArgument(optionsSchema, options, 'memory store options');
  const persistence = settings.persistence;
  const durability = settings.durability ?? 'write';
  const quantized = settings.quantization === 'int8';
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
  return { persistence, durability, quantized, rescore, kernel, autoIndex, ann };
}
