/**
 * kumiki's dense-search kernel as a WebAssembly module, for runtimes that run only precompiled
 * modules (Cloudflare Workers, Vercel Edge, pages under a strict CSP): their bundlers turn
 * `import kernel from 'kumiki/stores/memory/kernel.wasm'` into a `WebAssembly.Module`. Pass it as
 * `createMemoryStore({ kernel })`.
 */
declare const kernel: WebAssembly.Module;
export default kernel;
