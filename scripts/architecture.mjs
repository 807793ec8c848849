#!/usr/bin/env node
// Writes the "Layers" section of docs/architecture.md from scripts/layers.mjs (the same rules
// dependency-cruiser enforces), or checks that it is up to date.
//
//   node scripts/architecture.mjs          check (run by `npm test`)
//   node scripts/architecture.mjs --write  rewrite the section
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { LAYERS, NODE_ONLY } from './layers.mjs';

const BEGIN = '<!-- layers:begin (generated from scripts/layers.mjs by scripts/architecture.mjs; do not edit) -->';
const END = '<!-- layers:end -->';
const doc = fileURLToPath(new URL('../docs/architecture.md', import.meta.url));

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
    '`.dependency-cruiser.mjs`), on an import cycle, and on a module outside every unit.',
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

process.exit(main(process.argv.includes('--write')));
