#!/usr/bin/env node
// Packs the library as npm would publish it and checks the tarball: every "exports" target and the
// bin exist in it, publint --strict passes, and @arethetypeswrong/cli finds no type-resolution problem.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const run = (command, args, options = {}) =>
  execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], ...options });
const pkg = JSON.parse(readFileSync('package.json', 'utf8'));
const out = mkdtempSync(join(tmpdir(), 'kumiki-pack-'));
let failed = false;
try {
  const [packed] = JSON.parse(run('npm', ['pack', '--json', '--pack-destination', out]));
  const tarball = join(out, packed.filename);
  const files = new Set(packed.files.map((file) => file.path));

  const targets = [];
  const collect = (value) => {
    if (typeof value === 'string') targets.push(value);
    else if (value && typeof value === 'object') Object.values(value).forEach(collect);
  };
  collect(pkg.exports);
  collect(pkg.bin);
  for (const field of ['main', 'module', 'types']) if (pkg[field]) targets.push(pkg[field]);
  const missing = [...new Set(targets)].filter((target) => !files.has(target.replace(/^\.\//, '')));
  if (missing.length > 0) {
    failed = true;
    console.error(`package.json points at files missing from the tarball: ${missing.join(', ')}`);
  } else {
    console.log(
      `exports: all ${new Set(targets).size} targets are in ${packed.filename} (${packed.files.length} files, ${packed.size} bytes)`,
    );
  }

  run('npx', ['--no-install', 'publint', '--strict', tarball], { stdio: 'inherit' });
  run(
    'npx',
    [
      '--no-install',
      'attw',
      tarball,
      '--profile',
      'node16',
      '--exclude-entrypoints',
      'package.json',
      'stores/memory/kernel.wasm',
    ],
    {
      stdio: 'inherit',
    },
  );
} catch (error) {
  failed = true;
  console.error(error instanceof Error ? error.message : String(error));
} finally {
  rmSync(out, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
