/**
 * The runtime matrix's runtimes (test/runtimes.test.ts), exact versions from the npm registry, each
 * installed into its own folder under .cache/runtimes/ (not project dependencies: together they are
 * hundreds of MB). Idempotent: a folder whose stamp names the same version is kept.
 *   npx tsx scripts/runtimes.ts [name…]   install what is missing, print where each binary is
 * Chromium is Debian's package (apt-get install chromium, done by .ci/run), not installed here.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const RUNTIMES: Record<string, { package: string; version: string; bin: string }> = {
  node22: { package: 'node', version: '22.23.3', bin: 'node_modules/node/bin/node' },
  node24: { package: 'node', version: '24.21.0', bin: 'node_modules/node/bin/node' },
  bun: { package: 'bun', version: '1.4.5', bin: 'node_modules/bun/bin/bun.exe' },
  deno: { package: 'deno', version: '2.9.6', bin: 'node_modules/deno/bin.cjs' },
  miniflare: { package: 'miniflare', version: '4.20260730.0', bin: 'node_modules/miniflare' },
  'edge-runtime': { package: 'edge-runtime', version: '4.0.1', bin: 'node_modules/@edge-runtime/vm' },
};

export const cacheDir = fileURLToPath(new URL('../.cache/runtimes/', import.meta.url));

/** Installs one runtime unless its folder holds that version already; returns the path of its binary or package. */
export function install(name: string): string {
  const runtime = RUNTIMES[name];
  if (!runtime) throw new Error(`unknown runtime ${name}; one of ${Object.keys(RUNTIMES).join(', ')}`);
  const dir = join(cacheDir, name);
  const stamp = join(dir, 'installed.txt');
  const wanted = `${runtime.package}@${runtime.version}`;
  if (!existsSync(stamp) || readFileSync(stamp, 'utf8') !== wanted) {
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'package.json'), '{"private":true}\n');
    execFileSync('npm', ['install', '--no-audit', '--no-fund', '--no-package-lock', '--loglevel=error', wanted], {
      cwd: dir,
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    writeFileSync(stamp, wanted);
  }
  return join(dir, runtime.bin);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const names = process.argv.length > 2 ? process.argv.slice(2) : Object.keys(RUNTIMES);
  for (const name of names) {
    const started = Date.now();
    const path = install(name);
    console.log(`${name}: ${path} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
  }
}
