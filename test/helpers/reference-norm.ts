/**
 * The norm of a row as both dense kernels sum it (`prepare_row`): one float64 sum per lane of four,
 * the tail added to the first, rounded to float32 as the arena stores it.
 */
export function referenceNorm(values: Float32Array): number {
  const sums = [0, 0, 0, 0];
  const full = values.length - (values.length % 4);
  for (let i = 0; i < full; i++) sums[i % 4] = (sums[i % 4] as number) + (values[i] as number) ** 2;
  for (let i = full; i < values.length; i++) sums[0] = (sums[0] as number) + (values[i] as number) ** 2;
  const [a, b, c, d] = sums as [number, number, number, number];
  return Math.fround(Math.sqrt(a + b + c + d));
}
