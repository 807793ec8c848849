import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));
const bin = fileURLToPath(new URL('../dist/cli/index.js', import.meta.url));

const kumiki = (...args: string[]) => spawnSync(process.execPath, [bin, ...args], { cwd: root, encoding: 'utf8' });

describe('kumiki bin (built)', () => {
  test('demo indexes docs/ and prints cited passages for the sample questions', () => {
    const result = kumiki('demo');
    expect(result.status, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/Indexed \d+ passages from \d+ files under docs\//);
    expect(result.stdout).toContain('Q: How do filters treat missing fields and null values?');
    expect(result.stdout).toMatch(/\[1\] docs\/filters\.md § /);
  });

  test('--json returns each question with sources, best match first', () => {
    const result = kumiki('demo', 'docs', '--query', 'torn snapshot checksum', '--limit', '2', '--json');
    expect(result.status, result.stderr).toBe(0);
    const [answer] = JSON.parse(result.stdout) as {
      question: string;
      matches: { source: string; heading: string; score: number }[];
    }[];
    expect(answer?.question).toBe('torn snapshot checksum');
    expect(answer?.matches).toHaveLength(2);
    expect(answer?.matches[0]?.score).toBeGreaterThanOrEqual(answer?.matches[1]?.score ?? Number.POSITIVE_INFINITY);
    expect(answer?.matches.every((m) => m.source.startsWith('docs/'))).toBe(true);
  });

  test('bad flags and unknown commands fail with a message', () => {
    const limit = kumiki('demo', '--limit', 'zero');
    expect(limit.status).toBe(1);
    expect(limit.stderr).toContain('--limit must be a positive integer');
    const unknown = kumiki('launch');
    expect(unknown.status).toBe(1);
    expect(unknown.stderr).toContain('Unknown command "launch"');
    const missing = kumiki('demo', 'no-such-folder');
    expect(missing.status).toBe(1);
    expect(missing.stderr).toContain('no-such-folder');
  });

  test('--version and --help', () => {
    expect(kumiki('--version').stdout).toMatch(/^kumiki \d+\.\d+\.\d+/);
    expect(kumiki('--help').stdout).toContain('kumiki demo');
  });
});
