/**
 * The per-process llama.cpp registry shared by every llama.cpp adapter (embedders, runners):
 *
 * - one node-llama-cpp `Llama` per runtime setting (`gpu`, `logLevel`), created with explicit settings
 *   and kept for the life of the process;
 * - one `LlamaModel` per resolved GGUF path and load settings, loaded once however many callers race
 *   for it, reference-counted, and disposed when its last user releases it.
 *
 * `describeLlamaModels()` reports what is loaded (a diagnostics API, re-exported by the adapters).
 */

import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { realpath, stat } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { basename } from 'node:path';
import type { Llama, LlamaModel } from 'node-llama-cpp';
import { z } from 'zod';
import { InvalidArgumentError } from '../core/errors.js';
import { importOptional } from '../internal/optional.js';
import { translateLlamaError } from './errors.js';

/** Where llama.cpp computes: `false` for CPU only; `'auto'` probes CUDA, Vulkan and Metal in turn. */
export type LlamaGpu = false | 'auto' | 'cuda' | 'vulkan' | 'metal';
export const LLAMA_GPUS = [false, 'auto', 'cuda', 'vulkan', 'metal'] as const;

/** llama.cpp's own log threshold; messages go to stderr through node-llama-cpp's logger. */
export type LlamaLogLevel = 'disabled' | 'fatal' | 'error' | 'warn' | 'info' | 'log' | 'debug';
export const LLAMA_LOG_LEVELS = ['disabled', 'fatal', 'error', 'warn', 'info', 'log', 'debug'] as const;

/** How many layers go to the GPU: a count, `'max'`, or node-llama-cpp's memory-based `'auto'`. */
export type LlamaGpuLayers = number | 'auto' | 'max';

export type LlamaModelRequest = {
  /** Path to a local GGUF file; resolved (symlinks too) so two spellings of one file share a model. */
  modelPath: string;
  /** Default `false` (CPU only, no probing). */
  gpu?: LlamaGpu;
  /** Default `'auto'`; ignored (0) when `gpu` is `false`. */
  gpuLayers?: LlamaGpuLayers;
  /** Default `'warn'`. */
  logLevel?: LlamaLogLevel;
  /** The adapter asking, named in errors. */
  component: string;
};

/**
 * The latest error and fatal messages llama.cpp logged on one `Llama` (whatever `logLevel` prints):
 * node-llama-cpp's own errors often say only "Failed to load model", while the log says why.
 */
export type LlamaErrorLog = {
  /** How many error messages were logged so far: take it before an operation, pass it to `since`. */
  readonly count: number;
  /**
   * The messages logged after `count` was `mark` (at most the last 20), read after one turn of the
   * event loop: llama.cpp's log callbacks can arrive just after the failure they explain.
   */
  since(mark: number): Promise<string[]>;
};

/** One user's hold on a shared model. `release()` is idempotent; the last release disposes the model. */
export type LlamaModelLease = {
  readonly llama: Llama;
  readonly model: LlamaModel;
  readonly errorLog: LlamaErrorLog;
  /** The resolved GGUF file the model was loaded from. */
  readonly file: GgufFile;
  release(): Promise<void>;
};

export type GgufFile = {
  /** Absolute path with symlinks resolved. */
  path: string;
  size: number;
  mtimeMs: number;
};

/** A loaded (or loading) model, as `describeLlamaModels()` reports it. */
export type LlamaModelInfo = {
  modelPath: string;
  gpu: LlamaGpu;
  gpuLayers: LlamaGpuLayers;
  logLevel: LlamaLogLevel;
  /** Embedders and runners holding it. */
  users: number;
  state: 'loading' | 'ready';
};

type Runtime = { llama: Llama; errorLog: LlamaErrorLog };

type ModelEntry = {
  info: LlamaModelInfo;
  file: GgufFile;
  loaded: Promise<{ runtime: Runtime; model: LlamaModel }>;
};

const ERROR_LOG_SIZE = 20;

/** node-llama-cpp, imported on first use; `MissingDependencyError` when it is not installed. */
export const loadNodeLlamaCpp = () => importOptional('node-llama-cpp', 'llama-cpp', () => import('node-llama-cpp'));

const runtimes = new Map<string, Promise<Runtime>>();
const models = new Map<string, ModelEntry>();
const revisions = new Map<string, Promise<string>>();

/** Whether llama.cpp's `level` is at least as severe as `threshold` (`'disabled'` lets nothing through). */
function atLeast(level: LlamaLogLevel, threshold: LlamaLogLevel): boolean {
  return level !== 'disabled' && LLAMA_LOG_LEVELS.indexOf(level) <= LLAMA_LOG_LEVELS.indexOf(threshold);
}

/**
 * The `Llama` for one runtime setting, created once per process. Settings are explicit: the given
 * `gpu` (CPU only unless asked), `build: 'never'` (never compile llama.cpp at run time), and at most
 * as many llama.cpp threads in flight as this machine has cores (`maxThreads`), so contexts that
 * evaluate at the same time share the cores instead of oversubscribing them. Messages at `logLevel`
 * and above print as node-llama-cpp prints them; error messages are also kept for kumiki's errors.
 */
function getRuntime(gpu: LlamaGpu, logLevel: LlamaLogLevel): Promise<Runtime> {
  const key = JSON.stringify([gpu, logLevel]);
  let pending = runtimes.get(key);
  if (pending === undefined) {
    pending = loadNodeLlamaCpp().then(async (lib) => {
      const recent: string[] = [];
      let count = 0;
      const errorLog: LlamaErrorLog = {
        get count() {
          return count;
        },
        since: async (mark) => {
          await new Promise((resolve) => setImmediate(resolve));
          return recent.slice(Math.max(0, recent.length - (count - mark)));
        },
      };
      const llama = await lib.getLlama({
        gpu,
        build: 'never',
        skipDownload: true,
        progressLogs: false,
        logLevel: lib.LlamaLogLevel[atLeast('error', logLevel) ? logLevel : 'error'],
        logger: (level, message) => {
          if (atLeast(level, 'error')) {
            count++;
            recent.push(message);
            if (recent.length > ERROR_LOG_SIZE) recent.shift();
          }
          if (atLeast(level, logLevel)) lib.Llama.defaultConsoleLogger(level, message);
        },
        maxThreads: availableParallelism(),
      });
      return { llama, errorLog };
    });
    pending.catch(() => runtimes.delete(key));
    runtimes.set(key, pending);
  }
  return pending;
}

/**
 * Resolves a GGUF path to the real file: `NotFoundError` naming the path when it is missing,
 * `InvalidArgumentError` when it is not a regular file.
 */
export async function resolveGgufFile(modelPath: string, component: string): Promise<GgufFile> {
  try {
    const path = await realpath(modelPath);
    const info = await stat(path);
    if (!info.isFile()) {
      throw new InvalidArgumentError({
        argument: 'modelPath',
        issues: [{ path: '', message: `"${modelPath}" is not a file; pass the path of a .gguf file` }],
        component,
      });
    }
    return { path, size: info.size, mtimeMs: info.mtimeMs };
  } catch (error) {
    throw translateLlamaError(error, { operation: `opening ${basename(modelPath)}`, modelPath, component });
  }
}

/**
 * Takes a reference to the model at `modelPath`, loading it when no one holds it yet. Concurrent
 * requests for the same file and settings share one load and one model.
 */
export async function acquireLlamaModel(request: LlamaModelRequest): Promise<LlamaModelLease> {
  const { component } = request;
  const file = await resolveGgufFile(request.modelPath, component);
  const gpu = request.gpu ?? false;
  const gpuLayers = gpu === false ? 0 : (request.gpuLayers ?? 'auto');
  const logLevel = request.logLevel ?? 'warn';
  const key = JSON.stringify([file.path, gpu, gpuLayers, logLevel]);
  let entry = models.get(key);
  if (entry === undefined) {
    const info: LlamaModelInfo = { modelPath: file.path, gpu, gpuLayers, logLevel, users: 0, state: 'loading' };
    const operation = `loading ${basename(file.path)}`;
    const loaded = (async () => {
      let runtime: Runtime | undefined;
      let mark = 0;
      try {
        runtime = await getRuntime(gpu, logLevel);
        mark = runtime.errorLog.count;
        const model = await runtime.llama.loadModel({ modelPath: file.path, gpuLayers });
        info.state = 'ready';
        return { runtime, model };
      } catch (error) {
        const log = (await runtime?.errorLog.since(mark)) ?? [];
        throw translateLlamaError(error, { operation, modelPath: file.path, component, log });
      }
    })();
    entry = { info, file, loaded };
    const created = entry;
    loaded.catch(() => {
      if (models.get(key) === created) models.delete(key);
    });
    models.set(key, entry);
  }
  const held = entry;
  held.info.users++;
  let loaded: { runtime: Runtime; model: LlamaModel };
  try {
    loaded = await held.loaded;
  } catch (error) {
    held.info.users--;
    throw error;
  }
  let released = false;
  return {
    llama: loaded.runtime.llama,
    model: loaded.model,
    errorLog: loaded.runtime.errorLog,
    file: held.file,
    async release() {
      if (released) return;
      released = true;
      held.info.users--;
      if (held.info.users > 0) return;
      if (models.get(key) === held) models.delete(key);
      await loaded.model.dispose();
    },
  };
}

/** The models this process holds (or is loading), with their users: for diagnostics and tests. */
export function describeLlamaModels(): LlamaModelInfo[] {
  return [...models.values()].map((entry) => ({ ...entry.info }));
}

/**
 * `sha256:` + the SHA-256 of the file's bytes: the same weights give the same revision wherever the
 * file is copied, and any change to them gives another. Hashed once per process per path, size and
 * modification time (a 4 GB file takes a few seconds).
 */
export function ggufRevision(file: GgufFile, component: string): Promise<string> {
  const key = JSON.stringify([file.path, file.size, file.mtimeMs]);
  let pending = revisions.get(key);
  if (pending === undefined) {
    pending = new Promise<string>((resolve, reject) => {
      const hash = createHash('sha256');
      createReadStream(file.path)
        .on('data', (chunk) => hash.update(chunk))
        .on('error', (error) =>
          reject(
            translateLlamaError(error, {
              operation: `hashing ${basename(file.path)}`,
              modelPath: file.path,
              component,
            }),
          ),
        )
        .on('end', () => resolve(`sha256:${hash.digest('hex')}`));
    });
    pending.catch(() => revisions.delete(key));
    revisions.set(key, pending);
  }
  return pending;
}

/** Option fields the llama.cpp embedder and runner share: which hardware loads the model, and its revision. */
export const llamaLoadShape = {
  revision: z.string().min(1, 'revision is empty').optional(),
  gpu: z
    .union([z.literal(false), z.enum(['auto', 'cuda', 'vulkan', 'metal'])], {
      error: "gpu must be false, 'auto', 'cuda', 'vulkan' or 'metal'",
    })
    .optional(),
  gpuLayers: z
    .union([z.number().int().nonnegative(), z.enum(['auto', 'max'])], {
      error: "gpuLayers must be a non-negative integer, 'auto' or 'max'",
    })
    .optional(),
  logLevel: z.enum(LLAMA_LOG_LEVELS, { error: `logLevel must be one of: ${LLAMA_LOG_LEVELS.join(', ')}` }).optional(),
};
