import { createContext, runInContext } from 'node:vm';
import { build } from 'esbuild';
import { expect, test } from 'vitest';

test('the root entry runs in a bare context with only web-standard globals (edge/browser-like)', async () => {
  const bundle = await build({
    entryPoints: [new URL('./fixtures/runtime-scenario.ts', import.meta.url).pathname],
    bundle: true,
    write: false,
    format: 'iife',
    platform: 'neutral',
    mainFields: ['module', 'main'],
    logLevel: 'silent',
  });
  const code = bundle.outputFiles[0]?.text ?? '';
  let result: unknown;
  const done = new Promise<void>((resolve) => {
    const globals = {
      WebAssembly: (globalThis as Record<string, unknown>).WebAssembly,
      TextEncoder,
      crypto,
      TextDecoder,
      atob,
      structuredClone,
      AbortController,
      AbortSignal,
      console,
      report: (value: unknown) => {
        result = value;
        resolve();
      },
    };
    runInContext(code, createContext(globals), { timeout: 10_000 });
  });
  await done;
  expect(result).toEqual({ dense: ['a', 'c'], sparseTerms: 2, fingerprint: 'bm25' });
});
