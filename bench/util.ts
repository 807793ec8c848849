/** Helpers shared by the benchmark scripts. */
import { seededRandom } from '../src/testing/random.js';

/** The number after `--name` on the command line, if any. */
export function argValue(name: string): number | undefined {
  const at = process.argv.indexOf(`--${name}`);
  const value = at >= 0 ? process.argv[at + 1] : undefined;
  return value === undefined ? undefined : Number(value);
}

/** `count` random unit vectors (Gaussian directions), row-major. */
export function unitVectors(count: number, dims: number, seed: number): Float32Array {
  const rand = seededRandom(seed);
  const out = new Float32Array(count * dims);
  for (let r = 0; r < count; r++) {
    const base = r * dims;
    let sum = 0;
    for (let i = 0; i < dims; i++) {
      const u = rand() || 1e-12;
      const g = Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rand());
      out[base + i] = g;
      sum += g * g;
    }
    const inv = 1 / Math.sqrt(sum);
    for (let i = 0; i < dims; i++) out[base + i] = (out[base + i] as number) * inv;
  }
  return out;
}
