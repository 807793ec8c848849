/** How token vectors become one text vector. */
export type TransformersPooling = 'mean' | 'cls' | 'last_token';

export const POOLINGS = ['mean', 'cls', 'last_token'] as const;

/**
 * Pools a `[batch, sequence, width]` block of token vectors into one vector per text. Only tokens
 * whose attention mask is 1 count: `mean` averages them, `cls` takes the first position, `last_token`
 * the last real (not padding) token of each text, wherever the padding sits. With `normalize` each
 * vector is scaled to Euclidean length 1 (an all-zero vector stays zero). Sums run in float64.
 */
export function poolTokens(
  hidden: Float32Array,
  dims: readonly number[],
  mask: BigInt64Array,
  pooling: TransformersPooling,
  normalize: boolean,
): Float32Array[] {
  const [batch = 0, sequence = 0, width = 0] = dims;
  const vectors: Float32Array[] = [];
  const sums = new Float64Array(width);
  for (let b = 0; b < batch; b++) {
    const row = b * sequence;
    const vector = new Float32Array(width);
    if (pooling === 'mean') {
      sums.fill(0);
      let count = 0;
      for (let s = 0; s < sequence; s++) {
        if (mask[row + s] === 0n) continue;
        count++;
        const offset = (row + s) * width;
        for (let j = 0; j < width; j++) sums[j] = (sums[j] as number) + (hidden[offset + j] as number);
      }
      if (count > 0) for (let j = 0; j < width; j++) vector[j] = (sums[j] as number) / count;
    } else {
      let position = 0;
      if (pooling === 'last_token') {
        position = -1;
        for (let s = sequence - 1; s >= 0 && position < 0; s--) if (mask[row + s] !== 0n) position = s;
      }
      if (position >= 0) vector.set(hidden.subarray((row + position) * width, (row + position + 1) * width));
    }
    if (normalize) {
      let squares = 0;
      for (let j = 0; j < width; j++) squares += (vector[j] as number) ** 2;
      const norm = Math.sqrt(squares);
      if (norm > 0) for (let j = 0; j < width; j++) vector[j] = (vector[j] as number) / norm;
    }
    vectors.push(vector);
  }
  return vectors;
}
