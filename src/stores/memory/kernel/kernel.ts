/**
 * Which dense-search kernel runs: the WebAssembly SIMD module (kernel.wat) or, where a runtime refuses
 * to compile WebAssembly (Cloudflare Workers and Vercel Edge without a precompiled module, pages under
 * a CSP without 'wasm-unsafe-eval'), a pure-JavaScript kernel with the same entry points over the same
 * memory layout. The arena code above it is identical for both.
 */
import { InvalidArgumentError } from '../../../core/errors.js';
import { KERNEL_WASM_BASE64 } from './kernel-wasm.generated.js';

/** A linear memory: WebAssembly.Memory, or its JavaScript stand-in (growth replaces the buffer). */
export type KernelMemory = { readonly buffer: ArrayBuffer; grow(pages: number): number };

/** The kernel's entry points (byte offsets into the memory; see kernel.wat). */
export type KernelExports = {
  /**
   * A float row just copied in at byte `row` (`dims` values): its sum of squares, summed the same
   * way by both kernels (NaN or Infinity when a value is NaN or ±Infinity), with every -0 made 0.
   */
  prepare_row(row: number, dims: number): number;
  score_f32(
    metric: number,
    query: number,
    data: number,
    stride: number,
    rows: number,
    count: number,
    norms: number,
    queryNorm: number,
    out: number,
  ): void;
  score_i8(
    metric: number,
    query: number,
    codes: number,
    codeStride: number,
    rows: number,
    count: number,
    scales: number,
    norms: number,
    queryScale: number,
    queryNorm: number,
    out: number,
  ): void;
  /**
   * The HNSW layer-0 walk and linking (kernel.wat); the JavaScript kernel has none: hnsw.ts runs them.
   * They score float rows, or int8 codes when `scales` is non-zero (the query as i16 codes at `query`).
   */
  walk?(
    metric: number,
    query: number,
    data: number,
    stride: number,
    norms: number,
    queryNorm: number,
    scales: number,
    queryScale: number,
    links: number,
    listStride: number,
    size: number,
    visited: number,
    mark: number,
    ef: number,
    exclude: number,
    found: number,
    count: number,
    heap: number,
    batch: number,
    accept: number,
  ): number;
  connect?(
    metric: number,
    data: number,
    stride: number,
    norms: number,
    scales: number,
    links: number,
    listStride: number,
    size: number,
    row: number,
    found: number,
    count: number,
    m: number,
    max: number,
    scratch: number,
  ): void;
};

export type KernelName = 'wasm-simd' | 'js';

export type Kernel = {
  readonly name: KernelName;
  /** Why this kernel runs (shown by `describe()`), e.g. why WebAssembly was not used. */
  readonly reason: string;
  memory(pages: number): KernelMemory;
  instantiate(memory: KernelMemory): KernelExports;
};

/**
 * How to pick the kernel: `'auto'` (default) compiles the built-in module and falls back to the
 * JavaScript kernel when the runtime refuses; `'wasm'` requires WebAssembly; `'js'` always uses the
 * JavaScript kernel; a `WebAssembly.Module` (e.g. `import kernel from 'kumiki/stores/memory/kernel.wasm'`
 * on Workers and Vercel Edge) is used as it is, with no compilation at run time.
 */
export type KernelChoice = 'auto' | 'wasm' | 'js' | object;

export const PAGE = 65536;

// Minimal structural types: the project's TS lib set has no WebAssembly declarations.
type WasmApi = {
  Module: (new (bytes: Uint8Array) => object) & { exports?(module: object): { name: string; kind: string }[] };
  Instance: new (module: object, imports: object) => { exports: unknown };
  Memory: new (descriptor: { initial: number }) => KernelMemory;
};

const wasmApi = (): WasmApi | undefined => (globalThis as unknown as { WebAssembly?: WasmApi }).WebAssembly;

function decodeBase64(text: string): Uint8Array {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

/** The kernel module's bytes (what `kumiki/stores/memory/kernel.wasm` holds). */
export function kernelBytes(): Uint8Array {
  return decodeBase64(KERNEL_WASM_BASE64);
}

const EXPORTS = ['prepare_row', 'score_f32', 'score_i8', 'walk', 'connect'] as const;

function wasmKernel(api: WasmApi, module: object, reason: string): Kernel {
  return {
    name: 'wasm-simd',
    reason,
    memory: (pages) => new api.Memory({ initial: pages }),
    instantiate: (memory) => new api.Instance(module, { env: { memory } }).exports as KernelExports,
  };
}

/** Compiles the module and instantiates it once, so a refusal at either step is seen here. */
function tryWasm(api: WasmApi | undefined, module: object | undefined): { module: object } | { error: string } {
  if (api === undefined) return { error: 'this runtime has no WebAssembly' };
  try {
    const compiled = module ?? new api.Module(kernelBytes());
    new api.Instance(compiled, { env: { memory: new api.Memory({ initial: 1 }) } });
    return { module: compiled };
  } catch (error) {
    return { error: error instanceof Error ? `${error.name}: ${error.message}` : String(error) };
  }
}

/** The automatic choice, decided once per WebAssembly implementation (tests replace it to refuse compilation). */
let automatic: { api: unknown; kernel: Kernel } | undefined;

/** The kernel for a choice (see `KernelChoice`); `'auto'` is decided once per process. */
export function resolveKernel(choice: KernelChoice = 'auto'): Kernel {
  const api = wasmApi();
  if (choice === 'js') return jsKernel('chosen with kernel: "js"');
  if (choice === 'auto') {
    if (automatic === undefined || automatic.api !== api?.Module) {
      const wasm = tryWasm(api, undefined);
      automatic = {
        api: api?.Module,
        kernel:
          'module' in wasm
            ? wasmKernel(api as WasmApi, wasm.module, 'WebAssembly SIMD compiled from the built-in module')
            : jsKernel(
                `WebAssembly was refused (${wasm.error}); pass kernel: the module from kumiki/stores/memory/kernel.wasm to use it`,
              ),
      };
    }
    return automatic.kernel;
  }
  const given = typeof choice === 'object' && choice !== null ? choice : undefined;
  if (choice !== 'wasm' && given === undefined) {
    throw new InvalidArgumentError({
      argument: 'memory store options',
      issues: [{ path: 'kernel', message: 'kernel must be "auto", "wasm", "js" or a WebAssembly.Module' }],
      component: 'memory',
    });
  }
  if (given !== undefined && api?.Module.exports) {
    const names = new Set(api.Module.exports(given).map((entry) => entry.name));
    const missing = EXPORTS.filter((name) => !names.has(name));
    if (missing.length > 0) {
      throw new InvalidArgumentError({
        argument: 'memory store options',
        issues: [
          {
            path: 'kernel',
            message: `this WebAssembly.Module is not kumiki's kernel (it lacks ${missing.join(', ')}); import it from kumiki/stores/memory/kernel.wasm`,
          },
        ],
        component: 'memory',
      });
    }
  }
  const wasm = tryWasm(api, given);
  if ('error' in wasm) {
    throw new InvalidArgumentError({
      argument: 'memory store options',
      issues: [
        {
          path: 'kernel',
          message: `the WebAssembly kernel cannot run here (${wasm.error}); pass the module from kumiki/stores/memory/kernel.wasm, or kernel: "auto" to fall back to the JavaScript kernel`,
        },
      ],
      component: 'memory',
    });
  }
  return wasmKernel(
    api as WasmApi,
    wasm.module,
    given ? 'WebAssembly SIMD from the module passed in' : 'WebAssembly SIMD (kernel: "wasm")',
  );
}

/** A growable ArrayBuffer standing in for WebAssembly.Memory (growth copies into a new buffer). */
class JsMemory implements KernelMemory {
  buffer: ArrayBuffer;
  constructor(pages: number) {
    this.buffer = new ArrayBuffer(pages * PAGE);
  }
  grow(pages: number): number {
    const before = this.buffer.byteLength / PAGE;
    const next = new ArrayBuffer(this.buffer.byteLength + pages * PAGE);
    new Uint8Array(next).set(new Uint8Array(this.buffer));
    this.buffer = next;
    return before;
  }
}

/** The JavaScript kernel: score_f32 and score_i8 of kernel.wat, computed in float64 and stored as float32. */
function jsKernel(reason: string): Kernel {
  return {
    name: 'js',
    reason,
    memory: (pages) => new JsMemory(pages),
    instantiate: (memory) => {
      let buffer: ArrayBuffer | undefined;
      let f32 = new Float32Array(0);
      let u32 = new Uint32Array(0);
      let i8 = new Int8Array(0);
      let i16 = new Int16Array(0);
      const views = () => {
        if (buffer === memory.buffer) return;
        buffer = memory.buffer;
        f32 = new Float32Array(buffer);
        u32 = new Uint32Array(buffer);
        i8 = new Int8Array(buffer);
        i16 = new Int16Array(buffer);
      };
      return {
        prepare_row(row, dims) {
          views();
          // Four sums break the dependency chain; float32 squares are exact in float64.
          let a = 0;
          let b = 0;
          let c = 0;
          let d = 0;
          const start = row >>> 2;
          const end = start + dims;
          let i = start;
          for (; i + 4 <= end; i += 4) {
            const w = f32[i]!;
            const x = f32[i + 1]!;
            const y = f32[i + 2]!;
            const z = f32[i + 3]!;
            a += w * w;
            b += x * x;
            c += y * y;
            d += z * z;
          }
          for (; i < end; i++) a += f32[i]! * f32[i]!;
          for (i = start; i < end; i++) if (f32[i] === 0) f32[i] = 0;
          return a + b + c + d;
        },
        score_f32(metric, query, data, stride, rows, count, norms, queryNorm, out) {
          views();
          const q = query >>> 2;
          const width = stride >>> 2;
          for (let i = 0; i < count; i++) {
            const r = rows === 0 ? i : u32[(rows >>> 2) + i]!;
            const p = (data >>> 2) + r * width;
            let s: number;
            if (metric === 2) {
              let a = 0;
              let b = 0;
              let j = 0;
              for (; j + 1 < width; j += 2) {
                const d0 = f32[p + j]! - f32[q + j]!;
                const d1 = f32[p + j + 1]! - f32[q + j + 1]!;
                a += d0 * d0;
                b += d1 * d1;
              }
              for (; j < width; j++) {
                const d = f32[p + j]! - f32[q + j]!;
                a += d * d;
              }
              s = 0 - Math.sqrt(a + b);
            } else {
              let a = 0;
              let b = 0;
              let j = 0;
              for (; j + 1 < width; j += 2) {
                a += f32[p + j]! * f32[q + j]!;
                b += f32[p + j + 1]! * f32[q + j + 1]!;
              }
              for (; j < width; j++) a += f32[p + j]! * f32[q + j]!;
              s = a + b;
              if (metric === 0) {
                const den = Math.fround(queryNorm * f32[(norms >>> 2) + r]!);
                s = den === 0 ? 0 : s / den;
              }
            }
            f32[(out >>> 2) + i] = s;
          }
        },
        score_i8(metric, query, codes, codeStride, rows, count, scales, norms, queryScale, queryNorm, out) {
          views();
          const q = query >>> 1;
          // float32 steps as kernel.wat takes them (its parameters are float32), so both score alike.
          const qs = Math.fround(queryScale);
          const qn = Math.fround(queryNorm);
          const qn2 = Math.fround(qn * qn);
          for (let i = 0; i < count; i++) {
            const r = rows === 0 ? i : u32[(rows >>> 2) + i]!;
            const p = codes + r * codeStride;
            let dot = 0;
            for (let j = 0; j < codeStride; j++) dot += i8[p + j]! * i16[q + j]!;
            let s = Math.fround(Math.fround(dot * qs) * f32[(scales >>> 2) + r]!);
            if (metric !== 1) {
              const vn = f32[(norms >>> 2) + r]!;
              if (metric === 0) {
                const den = Math.fround(qn * vn);
                s = den === 0 ? 0 : s / den;
              } else {
                const d2 = Math.fround(Math.fround(qn2 + Math.fround(vn * vn)) - Math.fround(s + s));
                s = 0 - Math.fround(Math.sqrt(Math.max(0, d2)));
              }
            }
            f32[(out >>> 2) + i] = s;
          }
        },
      };
    },
  };
}
