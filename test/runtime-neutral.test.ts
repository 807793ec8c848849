import { createContext, runInContext } from 'node:vm';
import { build } from 'esbuild';
import { expect, test } from 'vitest';

async function runScenario(withWebAssembly: boolean): Promise<unknown> {
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
      // A new context has its own WebAssembly; hide it to play a runtime that has none.
      WebAssembly: withWebAssembly ? (globalThis as Record<string, unknown>).WebAssembly : undefined,
      TextEncoder,
      crypto,
      TextDecoder,
      atob,
      structuredClone,
      AbortController,
      AbortSignal,
      // ingest() times its stages (WinterCG's minimum common API has performance, as every runtime does).
      performance,
      console,
      report: (value: unknown) => {
        result = value;
        resolve();
      },
    };
    runInContext(code, createContext(globals), { timeout: 10_000 });
  });
  await done;
  return result;
}

test('the root entry runs in a bare context with only web-standard globals (edge/browser-like)', async () => {
  expect(await runScenario(true)).toEqual({
    hybrid: 'mem://cats',
    denseOnly: 'mem://cats',
    dense: ['a', 'c'],
    sparseTerms: 2,
    fingerprint: 'bm25',
    kernel: 'wasm-simd',
  });
});

test('without WebAssembly, dense search runs on the JavaScript kernel with the same results', async () => {
  expect(await runScenario(false)).toEqual({
    hybrid: 'mem://cats',
    denseOnly: 'mem://cats',
    dense: ['a', 'c'],
    sparseTerms: 2,
    fingerprint: 'bm25',
    kernel: 'js',
  });
});
