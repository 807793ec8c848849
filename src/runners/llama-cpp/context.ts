/**
 * The llama.cpp runner's model and contexts: loading them (the model shared per process, the contexts
 * the runner's own) and lending each context's sequence to one request at a time.
 */
import { basename } from 'node:path';
import type { ChatWrapper, LlamaContext, LlamaContextSequence } from 'node-llama-cpp';
import { raceAbort } from '../../internal/abort.js';
import { translateLlamaError } from '../../llama/errors.js';
import { acquireLlamaModel, type LlamaModelLease, loadNodeLlamaCpp } from '../../llama/registry.js';
import { resolveLlamaModelFile } from '../../llama/resolve.js';
import { COMPONENT, DEFAULT_CONTEXT_CAP, type ParsedOptions } from './options.js';

export type State = {
  lease: LlamaModelLease;
  contexts: LlamaContext[];
  chatWrapper: ChatWrapper;
  /** Whether plain prompts get the model's BOS token first (as LlamaCompletion does). */
  prependsBos: boolean;
  quantization: string | undefined;
  lib: Awaited<ReturnType<typeof loadNodeLlamaCpp>>;
  /** The contexts' sequences that no request holds. */
  free: LlamaContextSequence[];
  /** Requests waiting for a sequence, first come first served. */
  waiting: ((sequence: LlamaContextSequence) => void)[];
};

/** The runner's GGUF file: with `model`, the URI until the first load resolves it to a file. */
export type ModelFile = { path: string; id: string };

/**
 * Resolves the model file (updating `file`), acquires the shared model and creates `sequences`
 * contexts of one sequence each.
 */
export async function loadState(
  parsed: ParsedOptions,
  file: ModelFile,
  sequences: number,
  threads: number,
): Promise<State> {
  if (parsed.model !== undefined) {
    file.path = await resolveLlamaModelFile({
      model: parsed.model,
      modelsDirectory: parsed.modelsDirectory,
      offline: parsed.offline,
      onProgress: parsed.onProgress,
      component: COMPONENT,
    });
    file.id = basename(file.path);
  }
  const lease = await acquireLlamaModel({
    modelPath: file.path,
    gpu: parsed.gpu,
    gpuLayers: parsed.gpuLayers,
    logLevel: parsed.logLevel,
    component: COMPONENT,
  });
  const mark = lease.errorLog.count;
  try {
    const { model } = lease;
    const lib = await loadNodeLlamaCpp();
    const contextSize = parsed.contextSize ?? Math.min(model.trainContextSize, DEFAULT_CONTEXT_CAP);
    const contexts: LlamaContext[] = [];
    try {
      for (let i = 0; i < sequences; i++) {
        contexts.push(
          await model.createContext({
            contextSize,
            sequences: 1,
            threads,
            ...(parsed.batchSize === undefined ? {} : { batchSize: parsed.batchSize }),
          }),
        );
      }
    } catch (error) {
      await Promise.all(contexts.map((context) => context.dispose()));
      throw error;
    }
    const fileType = model.fileInfo.metadata.general.file_type;
    return {
      lease,
      contexts,
      chatWrapper: lib.resolveChatWrapper(model),
      prependsBos: model.tokens.shouldPrependBosToken && model.tokens.bos !== null,
      quantization: fileType === undefined ? undefined : (lib.GgufFileType[fileType] ?? String(fileType)),
      lib,
      free: contexts.map((context) => context.getSequence()),
      waiting: [],
    };
  } catch (error) {
    await lease.release();
    throw translateLlamaError(error, {
      operation: `creating a context for ${file.id}`,
      modelPath: file.path,
      component: COMPONENT,
      log: await lease.errorLog.since(mark),
    });
  }
}

/** The context every sequence has, in tokens. */
export const contextSizeOf = (state: State) => (state.contexts[0] as LlamaContext).contextSize;

/** Lends a sequence to `task`; waits in line when all are busy. */
export async function withSequence<T>(
  state: State,
  signal: AbortSignal | undefined,
  operation: string,
  task: (sequence: LlamaContextSequence) => Promise<T>,
): Promise<T> {
  let sequence = state.free.pop();
  if (sequence === undefined) {
    let waiter: ((sequence: LlamaContextSequence) => void) | undefined;
    const granted = new Promise<LlamaContextSequence>((grant) => {
      waiter = grant;
      state.waiting.push(grant);
    });
    try {
      sequence = await raceAbort(granted, signal, operation, COMPONENT);
    } catch (error) {
      const index = state.waiting.indexOf(waiter as (sequence: LlamaContextSequence) => void);
      if (index >= 0) state.waiting.splice(index, 1);
      // Granted just as the signal fired: hand it on.
      else void granted.then((lent) => giveBack(state, lent));
      throw error;
    }
  }
  try {
    return await task(sequence);
  } finally {
    giveBack(state, sequence);
  }
}

function giveBack(state: State, sequence: LlamaContextSequence): void {
  const next = state.waiting.shift();
  if (next) next(sequence);
  else state.free.push(sequence);
}
