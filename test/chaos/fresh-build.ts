import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Chaos children run the built package: refuse to test a build older than the sources. */
export async function assertFreshBuild(): Promise<void> {
  const built = await stat(fileURLToPath(new URL('../../dist/index.js', import.meta.url))).catch(() => undefined);
  const sources = fileURLToPath(new URL('../../src', import.meta.url));
  let newest = 0;
  for (const entry of await readdir(sources, { recursive: true })) {
    if (entry.endsWith('.ts')) newest = Math.max(newest, (await stat(join(sources, entry))).mtimeMs);
  }
  if (!built || built.mtimeMs < newest) throw new Error('dist/ is older than src/: run `npm run build` first');
}
