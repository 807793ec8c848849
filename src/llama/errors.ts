/**
 * Turns node-llama-cpp and file-system failures into kumiki errors, in one place, for every llama.cpp
 * adapter (embedder, runner). Internal: not part of the public surface.
 */
import { ConflictError, InvalidArgumentError, KumikiError, NotFoundError, UnavailableError } from '../core/errors.js';

export type LlamaErrorContext = {
  /** What was being done, e.g. `loading stories260K.gguf`. */
  operation: string;
  /** The resolved GGUF path, named in messages. */
  modelPath: string;
  /** The adapter that raised the error, e.g. `llama-cpp`. */
  component: string;
  /** Error messages llama.cpp logged during the operation (see `LlamaErrorLog`): they say why. */
  log?: readonly string[];
};

function errorName(error: unknown): string {
  if (typeof error !== 'object' || error === null) return '';
  const constructorName = (error as { constructor?: { name?: unknown } }).constructor?.name;
  return typeof constructorName === 'string' ? constructorName : '';
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Maps a lower-level failure to the kumiki error a caller can act on; kumiki errors pass through. */
export function translateLlamaError(error: unknown, context: LlamaErrorContext): KumikiError {
  if (KumikiError.isInstance(error)) return error;
  const { component, modelPath, operation } = context;
  const name = errorName(error);
  const log = context.log ?? [];
  const message = log.length > 0 ? `${errorMessage(error)}; llama.cpp logged: ${log.join(' / ')}` : errorMessage(error);
  const code = (error as { code?: unknown } | null)?.code;
  if (code === 'ENOENT') {
    return new NotFoundError({
      resource: 'GGUF model file',
      name: modelPath,
      hint: 'Check modelPath: it must point at a local .gguf file (modelPath is never downloaded; pass a URI as `model` to download one).',
      cause: error,
      component,
    });
  }
  if (code === 'EACCES' || code === 'EPERM') {
    return new UnavailableError({
      message: `Cannot read the GGUF model file "${modelPath}": permission denied. Make it readable by this process.`,
      isRetryable: false,
      cause: error,
      component,
    });
  }
  if (name === 'NoBinaryFoundError') {
    return new UnavailableError({
      message: `node-llama-cpp has no llama.cpp binary for this platform and gpu setting, and kumiki never builds one at run time (${message}). Use gpu: false, or build one ahead of time with \`npx --no node-llama-cpp source download\`.`,
      isRetryable: false,
      cause: error,
      component,
    });
  }
  if (name === 'InsufficientMemoryError') {
    return new UnavailableError({
      message: `Not enough memory for ${operation} (${message}). Lower contextSize or batchSize, or offload fewer gpuLayers.`,
      isRetryable: false,
      cause: error,
      component,
    });
  }
  if (name === 'DisposedError') {
    return new ConflictError({
      message: `${operation} failed: the llama.cpp object it needs was disposed. Create a new embedder or runner.`,
      cause: error,
      component,
    });
  }
  if (
    name === 'InvalidGgufMagicError' ||
    name === 'UnsupportedGgufValueTypeError' ||
    /\bGGUF\b|corrupted|incomplete|unknown model architecture/i.test(message)
  ) {
    return new InvalidArgumentError({
      argument: 'modelPath',
      issues: [
        {
          path: '',
          message: `"${modelPath}" is not a readable GGUF model file (${message}); pass a llama.cpp .gguf file`,
        },
      ],
      cause: error,
      component,
    });
  }
  if (/encoder-decoder/i.test(message)) {
    return new InvalidArgumentError({
      argument: 'modelPath',
      issues: [{ path: '', message: `"${modelPath}" is an encoder-decoder model; llama.cpp cannot embed with it` }],
      cause: error,
      component,
    });
  }
  return new UnavailableError({
    message: `${operation} failed for "${modelPath}": ${message}`,
    isRetryable: false,
    cause: error,
    component,
  });
}
