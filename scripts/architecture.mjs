#!/usr/bin/env node
// Writes the "Layers" section of docs/architecture.md from scripts/layers.mjs (the same rules
// dependency-cruiser enforces), or checks that it is up to date; and checks that no module in src/ is
// longer than MAX_LINES (a file that grows past it holds more than one concern: split it), and that
// no file turns type-checking off (in-place mutation runs write `// @ts-nocheck` into every file).
//
//   node scripts/architecture.mjs          check (run by `npm test`)
//   node scripts/architecture.mjs --write  rewrite the section
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { LAYERS, NODE_ONLY } from './layers.mjs';

const BEGIN = '<!-- layers:begin (generated from scripts/layers.mjs by scripts/architecture.mjs; do not edit) -->';
const END = '<!-- layers:end -->';
const doc = fileURLToPath(new URL('../docs/architecture.md', import.meta.url));
const src = fileURLToPath(new URL('../src/', import.meta.url));
/** The longest a module in src/ may be (generated files are not kept in src/). */
const MAX_LINES = 500;

/** Modules of src/ over MAX_LINES lines, as `path (lines)`. */
function longModules() {
  return readdirSync(src, { recursive: true })
    .filter((file) => /\.(ts|mts|js|mjs)$/.test(file))
    .map((file) => ({ file, lines: readFileSync(`${src}${file}`, 'utf8').split('\n').length - 1 }))
    .filter(({ lines }) => lines > MAX_LINES)
    .map(({ file, lines }) => `src/${file} (${lines})`);
}

/** A unit's path pattern as a folder or file name, for reading. */
const shown = (pattern) =>
  pattern
    .replace(/^\^/, '')
    .replace(/\$$/, '')
    .replace(/\\\./g, '.')
    .replace(/\(([^)]*)\)/g, '{$1}')
    .replace(/\|/g, ',');

export function renderLayers() {
  const lines = [
    BEGIN,
    '',
    'From the top down; each layer imports only the layers below it, and the units of one layer do not',
    'import each other. `npm test` fails on any import against this order (dependency-cruiser,',
    '`.dependency-cruiser.mjs`), on an import cycle, on a module outside every unit, and on a module of',
    `more than ${MAX_LINES} lines (\`npm run check:architecture\`).`,
    '',
    '| layer | units | what |',
    '|---|---|---|',
  ];
  for (const layer of [...LAYERS].reverse()) {
    const units = layer.units.map((unit) => `\`${shown(unit.path)}\``).join(' ');
    lines.push(`| ${layer.name} | ${units} | ${layer.summary} |`);
  }
  lines.push(
    '',
    'Only these modules may import Node built-ins (`node:*`); everything else runs in any JavaScript runtime:',
    '',
  );
  for (const entry of NODE_ONLY) lines.push(`- \`${shown(entry.path)}\`: ${entry.why}`);
  lines.push('', END);
  return lines.join('\n');
}

function main(write) {
  const text = readFileSync(doc, 'utf8');
  const start = text.indexOf(BEGIN);
  const end = text.indexOf(END);
  if (start < 0 || end < start) {
    console.error(`docs/architecture.md has no generated layers section (${BEGIN} … ${END})`);
    return 1;
  }
  const next = text.slice(0, start) + renderLayers() + text.slice(end + END.length);
  if (next === text) {
    console.log('architecture: docs/architecture.md describes the layers of scripts/layers.mjs');
    return 0;
  }
  if (!write) {
    console.error(
      'architecture: the layers in docs/architecture.md differ from scripts/layers.mjs; run `node scripts/architecture.mjs --write`',
    );
    return 1;
  }
  writeFileSync(doc, next);
  console.log('architecture: rewrote the layers section of docs/architecture.md');
  return 0;
}

function checkLengths() {
  const long = longModules();
  if (long.length === 0) {
    console.log(`architecture: every module in src/ has at most ${MAX_LINES} lines`);
    return 0;
  }
  console.error(`architecture: modules over ${MAX_LINES} lines (split them by concern): ${long.join(', ')}`);
  return 1;
}

/** Files of src/, test/, scripts/ and examples/ that switch type-checking off. */
function checkTypeChecked() {
  const root = fileURLToPath(new URL('../', import.meta.url));
  const unchecked = ['src', 'test', 'scripts', 'examples'].flatMap((folder) =>
    readdirSync(`${root}${folder}`, { recursive: true })
      .filter((file) => /\.(ts|mts|tsx)$/.test(file))
      .map((file) => `${folder}/${file}`)
      .filter((file) => /^\/\/ @ts-nocheck\b/m.test(readFileSync(`${root}${file}`, 'utf8'))),
  );
  if (unchecked.length === 0) return 0;
  console.error(`architecture: type-checking is off (// @ts-nocheck) in ${unchecked.join(', ')}; remove it`);
  return 1;
}

process.exit(main(process.argv.includes('--write')) || checkLengths() || checkTypeChecked());
