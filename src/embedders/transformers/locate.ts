/**
 * Where a transformers.js model comes from, and the one place where loading failures become kumiki
 * errors.
 */
import { access } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { ForbiddenError, KumikiError, NotFoundError, UnauthorizedError, UnavailableError } from '../../core/errors.js';

export const COMPONENT = 'transformers.js';

/** The files every model folder needs besides the ONNX graph. */
const REQUIRED_FILES = ['config.json', 'tokenizer.json', 'tokenizer_config.json'];

/** File-name suffix of each dtype's ONNX graph, as transformers.js names them (`onnx/model_quantized.onnx`). */
export const DTYPE_SUFFIX = {
  fp32: '',
  fp16: '_fp16',
  q8: '_quantized',
  int8: '_int8',
  uint8: '_uint8',
  q4: '_q4',
  q4f16: '_q4f16',
  bnb4: '_bnb4',
} as const;

export type TransformersDtype = keyof typeof DTYPE_SUFFIX;

/** `owner/name` or `name`, as on the Hugging Face Hub; anything else (or a leading `.`) is a folder path. */
const HUB_ID = /^(?:[\w.-]+\/)?[\w.-]+$/;

function isHubId(model: string): boolean {
  return HUB_ID.test(model) && !model.startsWith('.');
}

export type ModelSource = {
  /** What transformers.js is given: a hub id, or an absolute folder path. */
  path: string;
  /** True when `path` is a folder: transformers.js then reads files only (`local_files_only`). */
  local: boolean;
};

export type LocateOptions = {
  model: string;
  revision: string;
  dtype: TransformersDtype;
  offline: boolean;
  /** The cache folder in effect: the `cacheDir` option, or transformers.js's `env.cacheDir`. */
  cacheDir: string | null;
  /** transformers.js's `env.localModelPath`, when `env.allowLocalModels` is on. */
  localModelPath: string | null;
};

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

async function missingFiles(folder: string, files: readonly string[]): Promise<string[]> {
  const found = await Promise.all(files.map((file) => exists(join(folder, file))));
  return files.filter((_, i) => !found[i]);
}

/** The folders a hub model may already sit in: the file cache, then transformers.js's local model path. */
function candidateFolders(options: LocateOptions): string[] {
  const folders: string[] = [];
  if (options.cacheDir !== null) {
    folders.push(
      options.revision === 'main'
        ? join(options.cacheDir, options.model)
        : join(options.cacheDir, options.model, options.revision),
    );
  }
  if (options.localModelPath !== null) folders.push(join(options.localModelPath, options.model));
  return folders;
}

async function checkFolder(folder: string, graph: string): Promise<ModelSource> {
  const missing = await missingFiles(folder, REQUIRED_FILES);
  if (missing.length > 0) {
    const fix = `Point \`model\` at a folder holding ${REQUIRED_FILES.join(', ')} and ${graph} (a transformers.js / Optimum ONNX export), or pass a Hugging Face model id such as "Xenova/all-MiniLM-L6-v2".`;
    if (!(await exists(folder))) {
      throw new NotFoundError({ resource: 'Model folder', name: folder, component: COMPONENT, hint: fix });
    }
    throw new NotFoundError({
      resource: 'Model file',
      name: join(folder, missing[0] as string),
      component: COMPONENT,
      hint: `The folder lacks ${missing.join(', ')}. ${fix}`,
    });
  }
  return { path: folder, local: true };
}

/**
 * Decides where to load from. A folder path must hold the tokenizer and config files. A hub id
 * already complete in the cache or the local model path loads from there without any request;
 * otherwise it is downloaded, unless `offline`, which throws one NotFoundError naming the folders.
 */
export async function locateModel(options: LocateOptions): Promise<ModelSource> {
  const graph = `onnx/model${DTYPE_SUFFIX[options.dtype]}.onnx`;
  if (!isHubId(options.model)) return checkFolder(resolve(options.model), graph);
  const folders = candidateFolders(options);
  for (const folder of folders) {
    if (options.offline) {
      if (await exists(join(folder, 'config.json'))) return checkFolder(folder, graph);
    } else if ((await missingFiles(folder, [...REQUIRED_FILES, graph])).length === 0) {
      return { path: folder, local: true };
    }
  }
  if (!options.offline) return { path: options.model, local: false };
  const searched = folders.length > 0 ? folders.join(' and ') : 'no folder (transformers.js has no cache folder here)';
  throw new NotFoundError({
    resource: 'Local copy of model',
    name: options.model,
    component: COMPONENT,
    hint: `offline: true forbids downloads, and no folder holding its config.json was found; searched ${searched}. Load it once with offline: false (it is then cached in ${folders[0] ?? 'the cache folder'}), copy the model folder into one of those folders, or pass model: '/path/to/model-folder'.`,
  });
}

/** Node's network failure codes that mean "could not reach the server". */
const NETWORK_CODES = new Set(['ENOTFOUND', 'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EAI_AGAIN', 'UND_ERR_SOCKET']);

function networkCode(error: unknown): string | undefined {
  for (let current = error, depth = 0; current && depth < 4; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string' && NETWORK_CODES.has(code)) return code;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

/**
 * Turns what transformers.js throws while loading into kumiki errors: missing files (locally or on
 * the Hub), 401/403 from the Hub, and network failures. Anything else (a corrupt ONNX file, an
 * unsupported architecture) is rethrown unchanged, since its own message is the useful part.
 */
export function translateLoadError(error: unknown, model: string, source: ModelSource): unknown {
  if (KumikiError.isInstance(error) || !(error instanceof Error)) return error;
  const status = (error as { status?: unknown }).status;
  const url = /"(https?:\/\/[^"]+)"/.exec(error.message)?.[1];
  if (error.name === 'ModelFileNotFoundError') {
    if (status === 401) {
      return new UnauthorizedError({
        component: COMPONENT,
        cause: error,
        message: `The Hugging Face Hub refused ${url ?? model} without credentials. If the model is private or gated, set the HF_TOKEN environment variable to an access token.`,
      });
    }
    if (status === 403) {
      return new ForbiddenError({
        component: COMPONENT,
        cause: error,
        message: `The Hugging Face Hub refused ${url ?? model} for this token. Accept the model's terms on its Hub page, or use a token with access to it.`,
      });
    }
    const file = url ?? /"([^"]+)"/.exec(error.message)?.[1] ?? model;
    return new NotFoundError({
      resource: source.local ? 'Model file' : 'Hub file',
      name: file,
      component: COMPONENT,
      cause: error,
      hint: source.local
        ? 'The folder has no ONNX graph for the chosen dtype (onnx/model.onnx for fp32, onnx/model_quantized.onnx for q8, …): choose a dtype the folder has, or export that graph.'
        : `Check the model id ("${model}"), the revision and the dtype (each dtype has its own ONNX file, and not every model ships every dtype).`,
    });
  }
  const code = networkCode(error);
  if (code !== undefined || (error instanceof TypeError && /fetch failed/i.test(error.message)) || url) {
    return new UnavailableError({
      component: COMPONENT,
      cause: error,
      url,
      message: `Could not download model "${model}" from the Hugging Face Hub${url ? ` (${url})` : ''}: ${error.message}. Check the network connection, or use offline: true with a copy already in the cache folder.`,
    });
  }
  return error;
}
