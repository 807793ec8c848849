import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));
const bin = fileURLToPath(new URL('../dist/cli/index.js', import.meta.url));
const MODEL = fileURLToPath(new URL('../../shared/models/stories260K.gguf', import.meta.url));

let work: string;
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'kumiki-cli-'));
});
afterAll(() => rm(work, { recursive: true, force: true }));

const kumiki = (...args: string[]) =>
  spawnSync(process.execPath, [bin, ...args], { cwd: root, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });

describe('kumiki demo (built)', () => {
  test('ingests docs/ into the embedded store and catalog, then answers with cited passages', () => {
    const result = kumiki('demo', '--fresh', '--data-dir', join(work, 'demo'));
    expect(result.status, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/Ingested into "demo" \(run run-[\w-]+\): \d+ added, 0 updated, 0 unchanged/);
    expect(result.stdout).toMatch(/Re-ingest of the unchanged folder: 0 embedding calls/);
    expect(result.stdout).toContain('Q: How do filters treat missing fields and null values?');
    expect(result.stdout).toMatch(/\[1\] docs\/filters\.md § /);
    expect(result.stdout).toMatch(
      /Where did \[1\] of the first answer come from\? docs\/filters\.md, characters \d+–\d+, ingested .* by run-/,
    );
    expect(result.stderr).toMatch(/done\s+\d+ sources/); // progress, on stderr
  });

  test('with a model, the answer is generated from the passages', () => {
    const result = kumiki(
      'demo',
      '--data-dir',
      join(work, 'demo'),
      '--model',
      MODEL,
      '--query',
      'torn snapshot checksum',
      '--limit',
      '2',
      '--json',
    );
    expect(result.status, result.stderr).toBe(0);
    const [answer] = JSON.parse(result.stdout) as {
      question: string;
      answer: string;
      passages: { source: string; score: number }[];
    }[];
    expect(answer?.question).toBe('torn snapshot checksum');
    expect(answer?.answer.length).toBeGreaterThan(0);
    expect(answer?.passages).toHaveLength(2);
    expect(answer?.passages[0]?.score).toBeGreaterThanOrEqual(answer?.passages[1]?.score ?? Number.POSITIVE_INFINITY);
    expect(answer?.passages.every((p) => p.source.startsWith('docs/'))).toBe(true);
  });
});

describe('kumiki ingest, search, ask, catalog lineage (built)', () => {
  let corpus: string;
  let dataDir: string;
  beforeAll(async () => {
    corpus = join(work, 'corpus');
    dataDir = join(work, 'data');
    await rm(corpus, { recursive: true, force: true });
    const { mkdir } = await import('node:fs/promises');
    await mkdir(corpus, { recursive: true });
    await writeFile(
      join(corpus, 'tides.md'),
      '# Tides\n\nThe moon pulls the oceans, which makes the tides rise and fall twice a day.',
    );
    await writeFile(
      join(corpus, 'bread.html'),
      '<title>Bread</title><p>Wild yeast &amp; bacteria make sourdough rise.</p>',
    );
    await writeFile(join(corpus, 'blob.bin'), Buffer.from([0, 1, 2, 3]));
  });
  const cli = (...args: string[]) => kumiki(...args, '--data-dir', dataDir);

  test('ingest reports what it did; a second run does nothing; an edit updates one source', async () => {
    const first = cli('ingest', corpus, '--json');
    expect(first.status, first.stderr).toBe(0);
    expect(JSON.parse(first.stdout)).toMatchObject({ added: 2, updated: 0, unchanged: 0 });
    const again = cli('ingest', corpus, '--json');
    expect(JSON.parse(again.stdout)).toMatchObject({ added: 0, unchanged: 2, embeddingCalls: 0, chunksWritten: 0 });
    const text = cli('ingest', corpus);
    expect(text.stdout).toMatch(/0 added, 0 updated, 2 unchanged, 0 removed/);
    await writeFile(
      join(corpus, 'tides.md'),
      '# Tides\n\nThe moon and the sun pull the oceans: spring tides and neap tides.',
    );
    expect(JSON.parse(cli('ingest', corpus, '--json').stdout)).toMatchObject({ updated: 1, unchanged: 1 });
  });

  test('search returns cited chunks; ask without a model shows the grounding passages', () => {
    const search = cli('search', 'sourdough yeast', '--json');
    expect(search.status, search.stderr).toBe(0);
    const [top] = JSON.parse(search.stdout) as { id: string; citation: { source: string; title: string } }[];
    expect(top?.citation).toMatchObject({ title: 'Bread' });
    expect(top?.citation.source).toMatch(/^file:\/\/.*bread\.html$/);
    const ask = cli('ask', 'why', 'does', 'sourdough', 'rise?');
    expect(ask.status, ask.stderr).toBe(0);
    expect(ask.stdout).toContain('no model configured');
    expect(ask.stdout).toMatch(/\[1\] file:\/\/.*bread\.html/);
    const lineage = cli('catalog', 'lineage', top?.id as string, '--json');
    expect(lineage.status, lineage.stderr).toBe(0);
    const provenance = JSON.parse(lineage.stdout) as {
      run: { status: string; embeddingModel: string; chunker: { kind: string } };
    };
    expect(provenance.run).toMatchObject({
      status: 'succeeded',
      embeddingModel: 'bm25',
      chunker: { kind: 'recursive' },
    });
    const collection = cli('catalog', 'lineage', 'docs', '--json');
    const { upstream } = JSON.parse(collection.stdout) as { upstream: { upstream: { kind: string; name: string } }[] };
    expect(
      upstream
        .filter((e) => e.upstream.kind === 'source')
        .map((e) => e.upstream.name.split('/').pop())
        .sort(),
    ).toEqual(['bread.html', 'tides.md']);
  });

  test('ingest --prune removes the chunks of vanished sources', async () => {
    await rm(join(corpus, 'bread.html'));
    expect(JSON.parse(cli('ingest', corpus, '--json').stdout)).toMatchObject({ deleted: 0, unchanged: 1 });
    expect(JSON.parse(cli('ingest', corpus, '--prune', '--json').stdout)).toMatchObject({ deleted: 1, unchanged: 1 });
    const search = JSON.parse(cli('search', 'sourdough yeast', '--json').stdout) as unknown[];
    expect(search).toEqual([]);
  });

  test('a config file is validated, and its errors name the field', async () => {
    const config = join(work, 'bad.config.json');
    await writeFile(config, JSON.stringify({ store: { kind: 'qdrant' }, runner: { kind: 'llama-cpp' } }));
    const result = kumiki('search', 'x', '--config', config);
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('InvalidArgumentError');
    expect(result.stderr).toMatch(/store\.url/);
    expect(result.stderr).toMatch(/runner\.modelPath/);
    await writeFile(
      config,
      JSON.stringify({ store: { kind: 'pgvector', connectionStringEnv: 'postgres://u:secret@h/db' } }),
    );
    const secret = kumiki('search', 'x', '--config', config);
    expect(secret.stderr).toMatch(/NAME of an environment variable/);
  });

  test('bad flags and unknown commands fail with a message', () => {
    expect(kumiki('demo', '--limit', 'zero').stderr).toContain('--limit must be a positive integer');
    const unknown = kumiki('launch');
    expect(unknown.status).toBe(1);
    expect(unknown.stderr).toContain('Unknown command "launch"');
    const missing = kumiki('ingest', join(work, 'no-such-folder'), '--data-dir', join(work, 'x'));
    expect(missing.status).toBe(1);
    expect(missing.stderr).toMatch(/NotFoundError: .*no-such-folder/);
    expect(kumiki('--version').stdout).toMatch(/^kumiki \d+\.\d+\.\d+/);
    expect(kumiki('--help').stdout).toContain('kumiki catalog lineage');
  });
});

describe('kumiki eval and serve (built)', () => {
  test('eval prints the CISI metrics table with the comparison libraries and a TREC run, on the test queries', {
    timeout: 600_000,
  }, async () => {
    // A poor run: documents 1–20 for every query, in order.
    const run = join(work, 'first-twenty.run');
    const lines: string[] = [];
    for (let q = 1; q <= 112; q++) for (let d = 1; d <= 20; d++) lines.push(`${q} Q0 ${d} ${d} ${21 - d} poor`);
    await writeFile(run, `${lines.join('\n')}\n`);
    const result = kumiki('eval', '--quiet', '--queries', 'test', '--run', run);
    expect(result.status, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/\| kumiki .* \| lexical \(BM25\) \| 0\.384 \|/);
    expect(result.stdout).toMatch(/wink-bm25-text-search/);
    expect(result.stdout).toMatch(/\| first-twenty \| run \|/);
    expect(result.stdout).toContain('38 queries');
    const bad = kumiki('eval', '--quiet', '--queries', 'half');
    expect(bad.status).not.toBe(0);
    expect(bad.stderr).toContain('--queries must be all, train or test');
  });

  test('serve starts the gateway over the configured collection until SIGTERM', async () => {
    const dataDir = join(work, 'demo');
    const child = spawn(
      process.execPath,
      [bin, 'serve', '--port', '0', '--data-dir', dataDir, '--collection', 'demo', '--json'],
      {
        cwd: root,
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    const line = await new Promise<string>((resolve, reject) => {
      child.stdout.once('data', (data) => resolve(String(data)));
      child.once('exit', (code) => reject(new Error(`serve exited with ${code}`)));
    });
    const { url } = JSON.parse(line) as { url: string };
    const response = await fetch(`${url}/v1/search`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ collection: 'demo', query: 'torn snapshot checksum', limit: 2 }),
    });
    expect(response.status).toBe(200);
    const body = (await response.json()) as { data: { citation: { source: string } }[] };
    expect(body.data).toHaveLength(2);
    expect(body.data[0]?.citation.source).toMatch(/^file:\/\/.*\.md$/);
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  });
});
