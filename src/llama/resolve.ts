/**
 * Where a llama.cpp adapter's GGUF file comes from: a local path (`modelPath`), or a model URI
 * (`model`) that node-llama-cpp's `resolveModelFile` finds in, or downloads to, a models directory.
 * Internal: the adapters re-export the option types.
 */
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import * as z from 'zod';
import { InvalidArgumentError, KumikiError, NotFoundError, UnavailableError } from '../core/errors.js';
import { loadNodeLlamaCpp } from './registry.js';

/** How far a model download got, in bytes. */
export type ModelDownloadProgress = { downloadedBytes: number; totalBytes: number };

/**
 * Where the GGUF file comes from: exactly one of `modelPath` or `model` (checked when the adapter is
 * created; `InvalidArgumentError` otherwise). `modelsDirectory`, `offline` and `onProgress` go with `model`.
 */
export type LlamaModelSource = {
  /** Path of a local GGUF file. Resolved against the working directory; never downloaded. */
  modelPath?: string;
  /**
   * A model URI as node-llama-cpp reads it (`hf:<user>/<repo>/<file>.gguf`, `hf:<user>/<repo>:<quant>`,
   * `https://…/<file>.gguf`), or a file path, looked up in `modelsDirectory` when relative. Resolved,
   * and downloaded when missing, on first use.
   */
  model?: string;
  /** Where model files are looked up and downloaded to. Default node-llama-cpp's `~/.node-llama-cpp/models`. */
  modelsDirectory?: string;
  /** Never touch the network: the file must already be in `modelsDirectory`. Default `false`. */
  offline?: boolean;
  /** Called as a download progresses. */
  onProgress?: (progress: ModelDownloadProgress) => void;
};

/** node-llama-cpp's own models directory (what `npx node-llama-cpp pull` fills), shared with it. */
export const DEFAULT_MODELS_DIRECTORY = join(homedir(), '.node-llama-cpp', 'models');

/** The zod fields of `LlamaModelSource`, to merge into an adapter's options schema (check with `checkModelSource`). */
export const modelSourceShape = {
  modelPath: z
    .string({ error: 'modelPath must be the path of a local .gguf file' })
    .min(1, 'modelPath is empty')
    .optional(),
  model: z.string({ error: 'model must be a model URI or file path' }).min(1, 'model is empty').optional(),
  modelsDirectory: z
    .string({ error: 'modelsDirectory must be a directory path' })
    .min(1, 'modelsDirectory is empty')
    .optional(),
  offline: z.boolean({ error: 'offline must be a boolean' }).optional(),
  onProgress: z
    .custom<(progress: ModelDownloadProgress) => void>((value) => typeof value === 'function', {
      error: 'onProgress must be a function',
    })
    .optional(),
};

type ParsedSource = {
  modelPath?: string | undefined;
  model?: string | undefined;
  modelsDirectory?: string | undefined;
  offline?: boolean | undefined;
  onProgress?: unknown;
};

/** Adds an issue unless exactly one of `modelPath` / `model` is given, and the URI-only options come with `model`. */
export function checkModelSource(source: ParsedSource, context: z.RefinementCtx): void {
  if ((source.modelPath === undefined) === (source.model === undefined)) {
    context.addIssue({
      code: 'custom',
      path: [],
      message:
        source.model === undefined
          ? 'pass modelPath (a local .gguf file) or model (a model URI)'
          : 'pass either modelPath or model, not both',
    });
    return;
  }
  if (source.modelPath === undefined) return;
  for (const key of ['modelsDirectory', 'offline', 'onProgress'] as const) {
    if (source[key] !== undefined)
      context.addIssue({ code: 'custom', path: [key], message: `${key} applies only with model, not with modelPath` });
  }
}

export type ResolveModelRequest = {
  model: string;
  modelsDirectory?: string | undefined;
  offline?: boolean | undefined;
  onProgress?: ((progress: ModelDownloadProgress) => void) | undefined;
  component: string;
};

/** For a plain http(s) URL, the file name the download gets, so that a later offline call finds it. */
function urlFileName(model: string): string | undefined {
  if (!/^https?:\/\//i.test(model)) return undefined;
  let url: URL;
  try {
    url = new URL(model);
  } catch {
    return undefined;
  }
  if (/(^|\.)(huggingface\.co|hf\.co)$/i.test(url.hostname)) return undefined;
  const last = decodeURIComponent(url.pathname.split('/').at(-1) ?? '');
  return last.toLowerCase().endsWith('.gguf') && !/[\\/]/.test(last) ? last : undefined;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * Resolves `model` to a local file path with node-llama-cpp's `resolveModelFile`, downloading it into
 * `modelsDirectory` when missing (unless `offline`). Errors: `InvalidArgumentError` for a malformed
 * URI, `NotFoundError` when the file is absent and may not be downloaded, `UnavailableError` when the
 * download or its lookup fails.
 */
export async function resolveLlamaModelFile(request: ResolveModelRequest): Promise<string> {
  const { model, component } = request;
  const directory = resolve(request.modelsDirectory ?? DEFAULT_MODELS_DIRECTORY);
  const lib = await loadNodeLlamaCpp();
  const onProgress = request.onProgress;
  const fileName = urlFileName(model);
  try {
    return await lib.resolveModelFile(model, {
      directory,
      download: request.offline ? false : 'auto',
      cli: false,
      ...(fileName === undefined ? {} : { fileName }),
      ...(onProgress === undefined
        ? {}
        : {
            onProgress: ({ downloadedSize, totalSize }) =>
              onProgress({ downloadedBytes: downloadedSize, totalBytes: totalSize }),
          }),
    });
  } catch (error) {
    if (KumikiError.isInstance(error)) throw error;
    const message = messageOf(error);
    if (/^Invalid (Hugging Face URI|URL|path)\b/.test(message)) {
      throw new InvalidArgumentError({
        argument: 'model',
        issues: [
          {
            path: '',
            message: `"${model}" is not a model URI node-llama-cpp understands (${message}); use hf:<user>/<repo>/<file>.gguf, hf:<user>/<repo>:<quant>, an https URL of a .gguf file, or a file path`,
          },
        ],
        cause: error,
        component,
      });
    }
    if (/^No model file found|^Not all split parts/.test(message)) {
      throw new NotFoundError({
        resource: 'model',
        name: model,
        hint: `No file for it in "${directory}" (${message}). ${
          request.offline
            ? 'offline is set, so nothing was downloaded: run once online (without offline) to download it into modelsDirectory, or pass modelPath with a local .gguf file.'
            : 'Check the path, or pass modelPath with a local .gguf file.'
        }`,
        cause: error,
        component,
      });
    }
    throw new UnavailableError({
      message: `Cannot resolve or download the model "${model}" into "${directory}": ${message}. Check the URI and the network, or pass offline: true with the file already in modelsDirectory, or modelPath.`,
      isRetryable: true,
      cause: error,
      component,
    });
  }
}
