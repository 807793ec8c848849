/**
 * `kumiki/loaders/pdf` with unpdf, bundled for a neutral platform and run in a bare context that has
 * only web-standard globals (Workers-like): PDF text and page offsets come out as in Node.
 */
import { createContext, runInContext } from 'node:vm';
import { build } from 'esbuild';
import { expect, test } from 'vitest';
import { libraryPdf } from './helpers/documents.js';

test('pdfToDocument runs without Node: bundled with unpdf, in a context with web-standard globals only', async () => {
  const bundle = await build({
    entryPoints: [new URL('./fixtures/pdf-scenario.ts', import.meta.url).pathname],
    bundle: true,
    write: false,
    format: 'iife',
    platform: 'neutral',
    mainFields: ['module', 'main'],
    conditions: ['worker', 'browser'],
    logLevel: 'silent',
  });
  const code = bundle.outputFiles[0]?.text ?? '';
  expect(code).not.toMatch(/require\("node:/);
  const pdfBytes = await libraryPdf([['Uploaded from a Worker.'], [], ['Third page.']], { title: 'Upload' });
  const result = await new Promise<unknown>((resolve) => {
    const globals = {
      WebAssembly: (globalThis as Record<string, unknown>).WebAssembly,
      TextEncoder,
      TextDecoder,
      ReadableStream,
      URL,
      crypto,
      atob,
      btoa,
      structuredClone,
      AbortController,
      AbortSignal,
      setTimeout,
      clearTimeout,
      queueMicrotask,
      console,
      pdfBytes,
      report: resolve,
    };
    runInContext(code, createContext(globals), { timeout: 30_000 });
  });
  expect(result).toEqual({
    uri: 'mem://upload.pdf',
    text: 'Uploaded from a Worker.\n\nThird page.',
    contentType: 'application/pdf',
    title: 'Upload',
    metadata: { tenant: 't1' },
    pageStarts: [0, 23, 25],
  });
});
