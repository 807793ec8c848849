import fc from 'fast-check';
import { describe, expect, it, test } from 'vitest';
import { runKumikiStore, runWink } from '../bench/bm25.js';
import { averagePrecision, loadCisi, ndcgAt, recallAt } from '../bench/cisi.js';
import { copyBm25Statistics } from '../src/bm25/encoder.js';
import { murmur3 } from '../src/bm25/hash.js';
import { type Bm25State, type Bm25Vector, createBm25Encoder, DEFAULT_BM25_DIMENSIONS } from '../src/bm25/index.js';
import { AbortedError, InvalidArgumentError } from '../src/core/errors.js';
import { fingerprint } from '../src/core/fingerprint.js';

function dot(a: Bm25Vector, b: Bm25Vector): number {
  const weights = new Map<number, number>();
  for (let i = 0; i < b.indices.length; i++) weights.set(b.indices[i]!, b.values[i]!);
  let sum = 0;
  for (let i = 0; i < a.indices.length; i++) sum += a.values[i]! * (weights.get(a.indices[i]!) ?? 0);
  return sum;
}

async function embedOne(encoder: ReturnType<typeof createBm25Encoder>, text: string, role: 'query' | 'document') {
  const { vectors } = await encoder.embed({ values: [text], role });
  return vectors[0]!;
}

function catchError(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error('expected an error');
}

describe('murmur3', () => {
  it('matches the reference MurmurHash3 x86 32-bit values', () => {
    expect(murmur3('')).toBe(0);
    expect(murmur3('', 1)).toBe(0x514e28b7);
    expect(murmur3('Hello, world!')).toBe(0xc0363e43);
    expect(murmur3('The quick brown fox jumps over the lazy dog')).toBe(0x2e4ff723);
    expect(murmur3('aaa', 0x9747b28c)).toBe(0x283e0130);
  });
});

describe('tokenize', () => {
  const encoder = createBm25Encoder();

  it('lowercases, removes stop words and stems', () => {
    expect(encoder.tokenize('The Cats are RUNNING to the libraries')).toEqual(['cat', 'run', 'librari']);
    expect(encoder.tokenize("It's the DDC's history")).toEqual(['ddc', 'histori']);
  });

  it('splits on anything that is not a letter, mark or digit', () => {
    expect(encoder.tokenize('e-mail, (retrieval); 1876!')).toEqual(['e', 'mail', 'retriev', '1876']);
  });

  it('is Unicode-aware', () => {
    const plain = createBm25Encoder({ stemmer: 'none', stopwords: 'none' });
    expect(plain.tokenize('Ünïcödé CAFÉ Straße')).toEqual(['ünïcödé', 'café', 'straße']);
    // NFKC: full-width letters and digits, ligatures
    expect(plain.tokenize('ＡＢＣ １２３ ﬁle')).toEqual(['abc', '123', 'file']);
    expect(plain.tokenize('Ελληνικά Русский')).toEqual(['ελληνικά', 'русский']);
    // Han / Kana runs become overlapping bigrams; a lone character stays a unigram
    expect(plain.tokenize('日本語のテキスト')).toEqual(['日本', '本語', '語の', 'のテ', 'テキ', 'キス', 'スト']);
    expect(plain.tokenize('猫 BM25検索')).toEqual(['猫', 'bm25', '検索']);
    // typographic apostrophes count as apostrophes
    expect(plain.tokenize('don’t')).toEqual(["don't"]);
  });

  it('takes custom stop words and stemmers, or none', () => {
    const none = createBm25Encoder({ stopwords: 'none', stemmer: 'none' });
    expect(none.tokenize('The running cats')).toEqual(['the', 'running', 'cats']);
    const custom = createBm25Encoder({
      stopwords: ['LE', 'la', 'les'],
      stemmer: { name: 'strip-s', stem: (word) => word.replace(/s$/, '') },
    });
    expect(custom.tokenize('Le chat et les chats')).toEqual(['chat', 'et', 'chat']);
  });

  it('yields no terms for empty or stop-word-only text', () => {
    expect(encoder.tokenize('')).toEqual([]);
    expect(encoder.tokenize('the of and !!!')).toEqual([]);
  });
});

describe('vectors', () => {
  it('are deterministic, sorted, typed, and index terms by murmur3 mod dimensions', async () => {
    const text = 'Information retrieval systems retrieve information';
    const a = await embedOne(createBm25Encoder(), text, 'document');
    const b = await embedOne(createBm25Encoder(), text, 'document');
    expect(a.indices).toBeInstanceOf(Uint32Array);
    expect(a.values).toBeInstanceOf(Float32Array);
    expect([...a.indices]).toEqual([...b.indices]);
    expect([...a.values]).toEqual([...b.values]);
    expect([...a.indices]).toEqual([...a.indices].sort((x, y) => x - y));
    const expected = [...new Set(['inform', 'retriev', 'system'].map((t) => murmur3(t) % DEFAULT_BM25_DIMENSIONS))];
    expect([...a.indices]).toEqual(expected.sort((x, y) => x - y));
  });

  it('maps empty text to an empty vector', async () => {
    const encoder = createBm25Encoder({ corpus: ['some text'] });
    for (const role of ['query', 'document'] as const) {
      const vector = await embedOne(encoder, '', role);
      expect(vector.indices.length).toBe(0);
      expect(vector.values.length).toBe(0);
      expect((await embedOne(encoder, 'the and of', role)).indices.length).toBe(0);
    }
  });

  it('without statistics, uses the document as its own average length', async () => {
    const encoder = createBm25Encoder();
    const vector = await embedOne(encoder, 'cat cat dog', 'document');
    // dl = avgdl, so the weight is tf·(k1+1)/(tf+k1)
    const weights = new Map([...vector.indices].map((index, i) => [index, vector.values[i]!]));
    expect(weights.get(murmur3('cat') % DEFAULT_BM25_DIMENSIONS)).toBeCloseTo((2 * 2.2) / (2 + 1.2), 6);
    expect(weights.get(murmur3('dog') % DEFAULT_BM25_DIMENSIONS)).toBeCloseTo((1 * 2.2) / (1 + 1.2), 6);
  });

  it('dot(query, document) equals the BM25 score computed by hand', async () => {
    // Terms after analysis: d1 [cat, sat, mat], d2 [dog, dog, bark], d3 [cat, dog] → N 3, avgdl 8/3.
    const corpus = ['Cat sat mat', 'Dog dog barked', 'cat dog'];
    const encoder = createBm25Encoder({ corpus });
    expect(encoder.stats()).toEqual({ documentCount: 3, totalLength: 8, averageLength: 8 / 3, vocabularySize: 5 });
    const { vectors: docs } = await encoder.embed({ values: corpus, role: 'document' });
    const query = await embedOne(encoder, 'dog and cat', 'query');
    const k1 = 1.2;
    const b = 0.75;
    const avgdl = 8 / 3;
    const idf = (df: number) => Math.log(1 + (3 - df + 0.5) / (df + 0.5));
    const tfPart = (tf: number, dl: number) => (tf * (k1 + 1)) / (tf + k1 * (1 - b + (b * dl) / avgdl));
    const expected = [
      idf(2) * tfPart(1, 3), // d1: cat
      idf(2) * tfPart(2, 3), // d2: dog ×2
      idf(2) * tfPart(1, 2) + idf(2) * tfPart(1, 2), // d3: cat + dog
    ];
    docs.forEach((doc, i) => {
      expect(dot(query, doc)).toBeCloseTo(expected[i]!, 5);
    });
    // a repeated query term counts once per occurrence
    const twice = await embedOne(encoder, 'dog dog', 'query');
    expect(dot(twice, docs[1]!)).toBeCloseTo(2 * idf(2) * tfPart(2, 3), 5);
    const binary = createBm25Encoder({ corpus, queryTermFrequency: 'binary' });
    expect(dot(await embedOne(binary, 'dog dog', 'query'), docs[1]!)).toBeCloseTo(idf(2) * tfPart(2, 3), 5);
  });

  it('gives unseen query terms the highest IDF and never a negative one', async () => {
    const encoder = createBm25Encoder({ corpus: ['cat', 'cat', 'cat dog'] });
    const query = await embedOne(encoder, 'cat zebra', 'query');
    const weights = new Map([...query.indices].map((index, i) => [index, query.values[i]!]));
    const cat = weights.get(murmur3('cat') % DEFAULT_BM25_DIMENSIONS)!;
    const zebra = weights.get(murmur3('zebra') % DEFAULT_BM25_DIMENSIONS)!;
    expect(cat).toBeGreaterThan(0);
    expect(cat).toBeCloseTo(Math.log(1 + 0.5 / 3.5), 6);
    expect(zebra).toBeCloseTo(Math.log(1 + 3.5 / 0.5), 6);
  });

  it('sums colliding terms into one index', async () => {
    const encoder = createBm25Encoder({ dimensions: 1, stemmer: 'none' });
    const vector = await embedOne(encoder, 'alpha beta gamma', 'document');
    expect([...vector.indices]).toEqual([0]);
    // the bucket is treated as one term with tf 3 and dl = avgdl = 3
    expect(vector.values[0]).toBeCloseTo((3 * 2.2) / (3 + 1.2), 6);
  });

  it('ranks the obviously relevant document first', async () => {
    const corpus = [
      'The Dewey Decimal Classification and its editions in libraries',
      'Automatic indexing and retrieval of scientific documents by computer',
      'Citation analysis of journals in chemistry',
      'A history of public libraries in the nineteenth century',
    ];
    const encoder = createBm25Encoder({ corpus });
    const { vectors } = await encoder.embed({ values: corpus, role: 'document' });
    const query = await embedOne(encoder, 'computerized document retrieval', 'query');
    const scores = vectors.map((doc) => dot(query, doc));
    expect(scores.indexOf(Math.max(...scores))).toBe(1);
    expect(scores[2]).toBe(0);
  });

  it('does not change statistics when embedding documents', async () => {
    const encoder = createBm25Encoder({ corpus: ['a b c'] });
    const before = encoder.exportState();
    await encoder.embed({ values: ['new words here'], role: 'document' });
    expect(encoder.exportState()).toEqual(before);
  });
});

describe('statistics', () => {
  const first = ['Information retrieval in libraries', 'Dewey decimal classification'];
  const second = ['Retrieval of chemical information by computer', 'Library classification schemes'];

  it('removeDocuments undoes addDocuments exactly', () => {
    const encoder = createBm25Encoder({ corpus: first });
    const snapshot = encoder.exportState();
    encoder.addDocuments(second);
    expect(encoder.stats().documentCount).toBe(4);
    encoder.removeDocuments(second);
    expect(encoder.exportState()).toEqual(snapshot);
    encoder.removeDocuments(first);
    expect(encoder.stats()).toEqual({ documentCount: 0, totalLength: 0, averageLength: 0, vocabularySize: 0 });
  });

  it('adding in any order gives the same statistics', () => {
    const a = createBm25Encoder({ corpus: [...first, ...second] });
    const b = createBm25Encoder({ corpus: [...second].reverse() });
    b.addDocuments([...first].reverse());
    expect(b.exportState()).toEqual(a.exportState());
  });

  it('refuses to remove documents that were never added, changing nothing', () => {
    const encoder = createBm25Encoder({ corpus: first });
    const snapshot = encoder.exportState();
    const error = catchError(() => encoder.removeDocuments(['zebra crossing']));
    expect(InvalidArgumentError.isInstance(error)).toBe(true);
    expect((error as Error).message).toMatch(/texts.*no added document/);
    expect(() => encoder.removeDocuments([...first, ...first])).toThrow(/only 2 were added/);
    expect(encoder.exportState()).toEqual(snapshot);
  });

  it('round-trips through JSON', async () => {
    const encoder = createBm25Encoder({ corpus: [...first, ...second] });
    const json = JSON.stringify(encoder.exportState());
    const restored = createBm25Encoder({ state: JSON.parse(json) as Bm25State });
    expect(restored.exportState()).toEqual(encoder.exportState());
    const other = createBm25Encoder();
    other.importState(JSON.parse(json) as Bm25State);
    for (const role of ['query', 'document'] as const) {
      const expected = await embedOne(encoder, 'classification of information', role);
      for (const candidate of [restored, other]) {
        const actual = await embedOne(candidate, 'classification of information', role);
        expect([...actual.indices]).toEqual([...expected.indices]);
        expect([...actual.values]).toEqual([...expected.values]);
      }
    }
    // state and corpus together: the corpus is added on top
    const both = createBm25Encoder({ state: JSON.parse(json) as Bm25State, corpus: ['one more'] });
    expect(both.stats().documentCount).toBe(5);
  });

  it('forks and copies statistics as exportState/importState would, independent from then on', async () => {
    const encoder = createBm25Encoder({ corpus: [...first, ...second], k1: 1.5 });
    const fork = encoder.fork();
    const copy = createBm25Encoder({ k1: 1.5, corpus: ['replaced by the copy'] });
    expect(copyBm25Statistics(encoder, copy)).toBe(true);
    const expected = encoder.exportState();
    for (const candidate of [fork, copy]) {
      expect(candidate.exportState()).toEqual(expected);
      for (const role of ['query', 'document'] as const) {
        expect(await embedOne(candidate, 'classification of information', role)).toEqual(
          await embedOne(encoder, 'classification of information', role),
        );
      }
    }
    encoder.addDocuments(['catalogue of a library']);
    fork.removeDocuments([first[0] as string]);
    copy.addDocuments(['indexing']);
    const built = (corpus: string[]) => createBm25Encoder({ corpus }).exportState();
    expect(encoder.exportState()).toEqual(built([...first, ...second, 'catalogue of a library']));
    expect(fork.exportState()).toEqual(built([first[1] as string, ...second]));
    expect(copy.exportState()).toEqual(built([...first, ...second, 'indexing']));
  });

  it('copies statistics only between its own encoders with the same analyzer', () => {
    const encoder = createBm25Encoder({ corpus: first });
    const other = createBm25Encoder({ stopwords: 'none', corpus: second });
    const before = other.exportState();
    expect(copyBm25Statistics(encoder, other)).toBe(false);
    expect(other.exportState()).toEqual(before);
    // importState says why the analyzers differ.
    expect(() => other.importState(encoder.exportState())).toThrow(/stopwords/);
    const lookalike = { ...encoder };
    expect(copyBm25Statistics(lookalike, createBm25Encoder())).toBe(false);
    expect(copyBm25Statistics(encoder, lookalike)).toBe(false);
    // A different k1 or b is no different analyzer: the statistics are the same kind.
    const tuned = createBm25Encoder({ k1: 2, b: 0.5 });
    expect(copyBm25Statistics(encoder, tuned)).toBe(true);
    expect(tuned.exportState()).toEqual(encoder.exportState());
  });

  it('rejects state from another analyzer, naming what differs', () => {
    const state = createBm25Encoder({ corpus: first, dimensions: 1024 }).exportState();
    const error = catchError(() => createBm25Encoder({ state }));
    expect(InvalidArgumentError.isInstance(error)).toBe(true);
    expect((error as InvalidArgumentError).issues.map((issue) => issue.path)).toEqual(['analyzer.dimensions']);
    expect(() =>
      createBm25Encoder({
        state: { ...state, analyzer: { ...state.analyzer, dimensions: DEFAULT_BM25_DIMENSIONS } },
        stemmer: 'none',
      }),
    ).toThrow(/analyzer\.stemmer/);
  });

  it('rejects malformed state, naming the problem', () => {
    const state = createBm25Encoder({ corpus: first }).exportState();
    const encoder = createBm25Encoder();
    expect(() => encoder.importState({ ...state, indices: [...state.indices].reverse() })).toThrow(
      /indices\.1: .*ascending/,
    );
    expect(() => encoder.importState({ ...state, documentFrequencies: state.documentFrequencies.slice(1) })).toThrow(
      /documentFrequencies/,
    );
    expect(() => encoder.importState({ ...state, format: 'nope' } as unknown as Bm25State)).toThrow(/format/);
    expect(() => encoder.importState({ ...state, documentCount: -1 })).toThrow(/documentCount/);
    expect(encoder.stats().documentCount).toBe(0);
  });
});

describe('space and fingerprint', () => {
  it('describes everything that changes the vectors', async () => {
    const space = await createBm25Encoder().space();
    expect(space).toMatchObject({
      provider: 'kumiki',
      model: 'bm25',
      kind: 'sparse',
      dimensions: DEFAULT_BM25_DIMENSIONS,
    });
    expect(space.extra).toMatchObject({ k1: 1.2, b: 0.75, stopwords: 'english-v1', stemmer: 'porter2' });
  });

  it('changes with k1, b, dimensions, stop words, stemmer and query weighting, not with statistics', async () => {
    const base = fingerprint(await createBm25Encoder().space());
    expect(fingerprint(await createBm25Encoder({ corpus: ['x y z'] }).space())).toBe(base);
    expect(fingerprint(await createBm25Encoder({ k1: 1.2, b: 0.75 }).space())).toBe(base);
    const variants = [
      { k1: 1.5 },
      { b: 0.5 },
      { dimensions: 2 ** 20 },
      { stopwords: 'none' as const },
      { stopwords: ['foo'] },
      { stemmer: 'none' as const },
      { stemmer: { name: 'mine', stem: (word: string) => word } },
      { queryTermFrequency: 'binary' as const },
    ];
    const prints = new Set([base]);
    for (const options of variants) prints.add(fingerprint(await createBm25Encoder(options).space()));
    expect(prints.size).toBe(variants.length + 1);
  });
});

describe('validation and abort', () => {
  it('rejects invalid options, naming the problem', () => {
    const cases: Array<[unknown, RegExp]> = [
      [{ k1: -1 }, /BM25 options.*k1/],
      [{ b: 2 }, /b must be between 0 and 1/],
      [{ dimensions: 0 }, /dimensions/],
      [{ dimensions: 1.5 }, /dimensions must be an integer/],
      [{ stemmer: 'klingon' }, /stemmer/],
      [{ stemmer: { name: '', stem: (word: string) => word } }, /stemmer\.name/],
      [{ corpus: 'not an array' }, /corpus/],
      [{ kl: 1 }, /kl/],
    ];
    for (const [options, message] of cases) {
      const error = catchError(() => createBm25Encoder(options as never));
      expect(InvalidArgumentError.isInstance(error)).toBe(true);
      expect((error as Error).message).toMatch(message);
    }
  });

  it('rejects invalid embed input, naming the problem', async () => {
    const encoder = createBm25Encoder();
    await expect(encoder.embed({ values: 'text' as never, role: 'query' })).rejects.toThrow(
      /values must be an array of strings/,
    );
    await expect(encoder.embed({ values: ['ok', 3 as never], role: 'query' })).rejects.toThrow(/values\.1/);
    await expect(encoder.embed({ values: ['ok'], role: 'passage' as never })).rejects.toThrow(
      /role must be 'query' or 'document'/,
    );
    await expect(encoder.embed({ values: new Array(4097).fill('x'), role: 'document' })).rejects.toThrow(
      /maxBatchSize/,
    );
    await expect(encoder.embed({ values: ['x'], role: 'query' })).resolves.toBeDefined();
    const error = await encoder.embed({ values: [null as never], role: 'query' }).catch((e: unknown) => e);
    expect(InvalidArgumentError.isInstance(error)).toBe(true);
    expect(() => encoder.addDocuments([1 as never])).toThrow(/Invalid texts: 0/);
  });

  it('honours an aborted signal before and during the work', async () => {
    const controller = new AbortController();
    controller.abort();
    const encoder = createBm25Encoder();
    const early = await encoder
      .embed({ values: ['x'], role: 'query', abortSignal: controller.signal })
      .catch((e: unknown) => e);
    expect(AbortedError.isInstance(early)).toBe(true);

    const midway = new AbortController();
    const aborting = createBm25Encoder({
      stemmer: {
        name: 'aborts-on-trigger',
        stem: (word) => {
          if (word === 'trigger') midway.abort();
          return word;
        },
      },
    });
    const values = Array.from({ length: 500 }, (_, i) => (i === 10 ? 'trigger' : `word${i}`));
    const late = await aborting
      .embed({ values, role: 'document', abortSignal: midway.signal })
      .catch((e: unknown) => e);
    expect(AbortedError.isInstance(late)).toBe(true);
  });

  it('declares the embedder contract', () => {
    const encoder = createBm25Encoder();
    expect(encoder).toMatchObject({
      specificationVersion: 'kumiki.embedder.v1',
      provider: 'kumiki',
      modelId: 'bm25',
      kind: 'sparse',
      maxBatchSize: 4096,
      supportsParallelCalls: true,
    });
  });
});

describe('metrics', () => {
  it('compute nDCG@10, average precision and recall@100', () => {
    const relevant = new Set(['a', 'c']);
    expect(ndcgAt(['a', 'b', 'c'], relevant, 10)).toBeCloseTo((1 + 1 / 2) / (1 + 1 / Math.log2(3)), 10);
    expect(averagePrecision(['a', 'b', 'c'], relevant)).toBeCloseTo((1 + 2 / 3) / 2, 10);
    expect(averagePrecision(['b', 'a'], relevant)).toBeCloseTo(0.5 / 2, 10);
    expect(recallAt(['b', 'a'], relevant, 100)).toBe(0.5);
  });
});

describe('CISI (../shared/data/cisi)', () => {
  it('names the directory when the collection is missing', () => {
    expect(() => loadCisi('/nonexistent/cisi')).toThrow(/CISI data directory "\/nonexistent\/cisi" does not exist/);
  });

  it('kumiki (encoder + memory store) matches or beats wink-bm25-text-search on nDCG@10 and MAP', async () => {
    const cisi = loadCisi();
    expect(cisi.documents).toHaveLength(1460);
    expect(cisi.queries).toHaveLength(76);
    const kumiki = await runKumikiStore(cisi);
    const wink = runWink(cisi);
    expect(kumiki.ndcg10).toBeGreaterThanOrEqual(wink.ndcg10);
    expect(kumiki.map).toBeGreaterThanOrEqual(wink.map);
    expect(kumiki.ndcg10).toBeGreaterThan(0.39);
    expect(kumiki.map).toBeGreaterThan(0.21);
  });
});

type Tokenize = typeof import('../src/bm25/tokenize.js');

/**
 * Checks the fast paths against the reference on `text`: `eachWord` yields what `splitWords` returns,
 * and `countIndices` counts as many terms as `analyze()` gives; returns both for further checks.
 */
function splitsAndCounts(
  eachWord: Tokenize['eachWord'],
  splitWords: Tokenize['splitWords'],
  analyzer: InstanceType<Tokenize['Analyzer']>,
  text: string,
) {
  const words: { word: string; cjk: boolean }[] = [];
  eachWord(text, (word, cjk) => words.push({ word, cjk }));
  expect(words).toEqual(splitWords(text));
  const terms = analyzer.analyze(text);
  const { counts, length } = analyzer.countIndices(text);
  expect(length).toBe(terms.length);
  return { terms, counts };
}

describe('fast analysis paths agree with the reference ones', () => {
  test('ASCII text splits as splitWords splits it; counts match analyze()', async () => {
    const { eachWord, splitWords, Analyzer } = await import('../src/bm25/tokenize.js');
    const ascii = fc.string({ unit: fc.constantFrom(..."aZ09 '’-.,\n\tÉé漢字かなxyzQ".split('')), maxLength: 60 });
    const analyzer = new Analyzer({ stopwords: 'english', stemmer: 'english', dimensions: 2 ** 24 });
    fc.assert(
      fc.property(ascii, (text) => {
        const { terms, counts } = splitsAndCounts(eachWord, splitWords, analyzer, text);
        const expected = new Map<number, number>();
        for (const term of terms) expected.set(analyzer.index(term), (expected.get(analyzer.index(term)) ?? 0) + 1);
        expect(counts).toEqual(expected);
      }),
      { numRuns: 1000 },
    );
  });

  test('ASCII-only text (apostrophes, digits, capitals, punctuation) splits and counts as the reference does', async () => {
    const { eachWord, splitWords, Analyzer } = await import('../src/bm25/tokenize.js');
    const ascii = fc.string({ unit: fc.constantFrom(..."aZz09 '''-.,\n\t_xQ`".split('')), maxLength: 80 });
    const analyzer = new Analyzer({ stopwords: 'english', stemmer: 'english', dimensions: 2 ** 24 });
    fc.assert(
      fc.property(ascii, (text) => {
        const { terms, counts } = splitsAndCounts(eachWord, splitWords, analyzer, text);
        expect([...counts.keys()]).toEqual([...new Set(terms.map((term) => analyzer.index(term)))]);
      }),
      { numRuns: 2000 },
    );
    const words: string[] = [];
    eachWord("Don't stop: it's 1990's ''tis' x'y'z 'a b' c''d", (word) => words.push(word));
    expect(words).toEqual(["don't", 'stop', "it's", "1990's", 'tis', "x'y'z", 'a', 'b', 'c', 'd']);
  });

  test('documents added and then embedded get the vectors they get when embedded alone', async () => {
    const texts = ['The cat sat on the mat', 'dogs bark; cats purr', 'The cat sat on the mat'];
    const a = createBm25Encoder({ corpus: ['an unrelated corpus text', 'cats and dogs'] });
    const b = a.fork();
    a.addDocuments(texts);
    b.addDocuments(texts);
    const viaCache = (await a.embed({ values: texts, role: 'document' })).vectors;
    b.addDocuments(['something else']);
    b.removeDocuments(['something else']);
    const fresh = (await b.embed({ values: texts, role: 'document' })).vectors;
    expect(viaCache).toEqual(fresh);
  });
});
