/// <reference path="./wink-porter2-stemmer.d.ts" />
import porter2 from 'wink-porter2-stemmer';
import { murmur3 } from './hash.js';
import { ENGLISH_STOPWORDS, ENGLISH_STOPWORDS_ID } from './stopwords.js';

/**
 * Identifies the word splitting rules below. Bump it whenever they change what a text turns into:
 * it is part of the embedding space, so stored vectors built with other rules are recognised.
 */
export const TOKENIZER_ID = 'kumiki-unicode-v1';

/** A stemmer: maps one lowercase word to its stem. `name` goes into the embedding space. */
export type Bm25Stemmer = { name: string; stem: (word: string) => string };

/** Runs of letters, marks and digits; apostrophes are kept inside words ("don't", "ddc's"). */
const WORD = /[\p{L}\p{M}\p{N}]+(?:'[\p{L}\p{M}\p{N}]+)*/gu;
/** Scripts written without spaces between words: indexed as overlapping character bigrams. */
const CJK_CHAR = /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}]/u;
const APOSTROPHES = /[\u2019\u02bc\uff07]/g;
/** A character outside ASCII. All-ASCII text is left as it is by NFKC and holds no CJK and no other apostrophes. */
const NON_ASCII = /[\u0080-\uffff]/;
/** Whether a character code is a lowercase ASCII letter or a digit (`WORD` restricted to lowercased ASCII). */
const isAsciiWordCode = (code: number): boolean => (code >= 97 && code <= 122) || (code >= 48 && code <= 57);

/**
 * Where the word that starts at `start` of lowercased ASCII text ends: a run of letters and digits,
 * with apostrophes kept inside it: the longest match of `[a-z0-9]+(?:'[a-z0-9]+)*` there, found without
 * a regular expression (no match object per word).
 */
function asciiWordEnd(lower: string, start: number): number {
  const length = lower.length;
  let end = start + 1;
  for (;;) {
    while (end < length && isAsciiWordCode(lower.charCodeAt(end))) end++;
    if (end + 1 < length && lower.charCodeAt(end) === 39 && isAsciiWordCode(lower.charCodeAt(end + 1))) end += 2;
    else return end;
  }
}

/**
 * Calls `visit(word, cjk)` for every word of `text` in order, exactly as `splitWords` lists them,
 * without building the list; ASCII text takes a shorter path with the same result.
 */
export function eachWord(text: string, visit: (word: string, cjk: boolean) => void): void {
  if (!NON_ASCII.test(text)) {
    const lower = text.toLowerCase();
    for (let i = 0; i < lower.length; ) {
      if (!isAsciiWordCode(lower.charCodeAt(i))) {
        i++;
        continue;
      }
      const end = asciiWordEnd(lower, i);
      visit(lower.slice(i, end), false);
      i = end;
    }
    return;
  }
  for (const { word, cjk } of splitWords(text)) visit(word, cjk);
}

/**
 * Splits text into lowercase words: NFKC normalisation (full-width forms, ligatures), lowercasing,
 * runs of Unicode letters/marks/digits. Han, Hiragana and Katakana runs, which carry no spaces,
 * become overlapping character bigrams (a single character stays a unigram), as common CJK analyzers
 * do. Returns `[word, isCjk]` pairs so callers can skip stemming CJK tokens.
 */
export function splitWords(text: string): Array<{ word: string; cjk: boolean }> {
  const normalised = text.normalize('NFKC').toLowerCase().replace(APOSTROPHES, "'");
  const out: Array<{ word: string; cjk: boolean }> = [];
  for (const match of normalised.matchAll(WORD)) {
    const word = match[0];
    if (!CJK_CHAR.test(word)) {
      out.push({ word, cjk: false });
      continue;
    }
    // Split the run into CJK and non-CJK segments.
    let segment = '';
    let segmentIsCjk = false;
    const flush = () => {
      if (segment.length === 0) return;
      if (segmentIsCjk) pushBigrams(segment, out);
      else {
        for (const part of segment.split("'")) if (part.length > 0) out.push({ word: part, cjk: false });
      }
      segment = '';
    };
    for (const char of word) {
      const isCjk = CJK_CHAR.test(char);
      if (isCjk !== segmentIsCjk) {
        flush();
        segmentIsCjk = isCjk;
      }
      segment += char;
    }
    flush();
  }
  return out;
}

function pushBigrams(segment: string, out: Array<{ word: string; cjk: boolean }>): void {
  const chars = Array.from(segment);
  if (chars.length === 1) {
    out.push({ word: segment, cjk: true });
    return;
  }
  for (let i = 0; i + 1 < chars.length; i++) out.push({ word: chars[i]! + chars[i + 1]!, cjk: true });
}

export type AnalyzerOptions = {
  stopwords: 'english' | 'none' | readonly string[];
  stemmer: 'english' | 'none' | Bm25Stemmer;
  dimensions: number;
};

/** What the analyzer settings are called in the embedding space and in exported state. */
export type AnalyzerDescription = {
  tokenizer: string;
  stopwords: string;
  stemmer: string;
  hash: string;
  dimensions: number;
};

const CACHE_LIMIT = 100_000;

/** Turns text into terms and terms into indices, caching both per distinct word. */
export class Analyzer {
  readonly description: AnalyzerDescription;
  private readonly stopwords: ReadonlySet<string>;
  private readonly stem: ((word: string) => string) | null;
  private readonly dimensions: number;
  /** word → term, or null for a stop word. */
  private readonly terms = new Map<string, string | null>();
  private readonly indices = new Map<string, number>();
  /** word (CJK words marked with a leading U+0000) → term index, or -1 for a stop word. */
  private readonly wordIndices = new Map<string, number>();

  constructor(options: AnalyzerOptions) {
    this.dimensions = options.dimensions;
    let stopwordsId: string;
    if (options.stopwords === 'english') {
      this.stopwords = new Set(ENGLISH_STOPWORDS);
      stopwordsId = ENGLISH_STOPWORDS_ID;
    } else if (options.stopwords === 'none') {
      this.stopwords = new Set();
      stopwordsId = 'none';
    } else {
      const words = [...new Set(options.stopwords.flatMap((word) => splitWords(word).map((part) => part.word)))];
      words.sort();
      this.stopwords = new Set(words);
      stopwordsId = `custom-${words.length}-${murmur3(words.join('\n')).toString(16).padStart(8, '0')}`;
    }
    let stemmerId: string;
    if (options.stemmer === 'english') {
      this.stem = porter2;
      stemmerId = 'porter2';
    } else if (options.stemmer === 'none') {
      this.stem = null;
      stemmerId = 'none';
    } else {
      this.stem = options.stemmer.stem;
      stemmerId = `custom:${options.stemmer.name}`;
    }
    this.description = {
      tokenizer: TOKENIZER_ID,
      stopwords: stopwordsId,
      stemmer: stemmerId,
      hash: 'murmur3-32-utf8',
      dimensions: options.dimensions,
    };
  }

  /** The terms of a text in order: stop words removed, the rest stemmed. */
  analyze(text: string): string[] {
    const out: string[] = [];
    eachWord(text, (word, cjk) => {
      const term = this.term(word, cjk);
      if (term !== null) out.push(term);
    });
    return out;
  }

  /** How often each term index occurs in a text, and the number of terms (as `analyze` counts them). */
  countIndices(text: string): { counts: Map<number, number>; length: number } {
    const counts = new Map<number, number>();
    let length = 0;
    if (!NON_ASCII.test(text)) {
      // The ASCII path of `eachWord`, inlined: no CJK words, so the word itself is the cache key.
      const lower = text.toLowerCase();
      for (let i = 0; i < lower.length; ) {
        if (!isAsciiWordCode(lower.charCodeAt(i))) {
          i++;
          continue;
        }
        const end = asciiWordEnd(lower, i);
        const word = lower.slice(i, end);
        i = end;
        let index = this.wordIndices.get(word);
        if (index === undefined) index = this.learn(word, false, word);
        if (index < 0) continue;
        length++;
        counts.set(index, (counts.get(index) ?? 0) + 1);
      }
      return { counts, length };
    }
    eachWord(text, (word, cjk) => {
      const key = cjk ? `\u0000${word}` : word;
      let index = this.wordIndices.get(key);
      if (index === undefined) index = this.learn(word, cjk, key);
      if (index < 0) return;
      length++;
      counts.set(index, (counts.get(index) ?? 0) + 1);
    });
    return { counts, length };
  }

  /** The hashed index of a term. */
  index(term: string): number {
    let index = this.indices.get(term);
    if (index === undefined) {
      index = murmur3(term) % this.dimensions;
      if (this.indices.size >= CACHE_LIMIT) this.indices.clear();
      this.indices.set(term, index);
    }
    return index;
  }

  /** The term index of a word not seen yet (-1 for a stop word), remembered under `key`. */
  private learn(word: string, cjk: boolean, key: string): number {
    const term = this.term(word, cjk);
    const index = term === null ? -1 : this.index(term);
    if (this.wordIndices.size >= CACHE_LIMIT) this.wordIndices.clear();
    this.wordIndices.set(key, index);
    return index;
  }

  private term(word: string, cjk: boolean): string | null {
    const cached = this.terms.get(word);
    if (cached !== undefined) return cached;
    let term: string | null = null;
    if (!this.stopwords.has(word)) {
      term = cjk || this.stem === null ? word : this.stem(word);
      if (typeof term !== 'string' || term.length === 0) term = null;
    }
    if (this.terms.size >= CACHE_LIMIT) this.terms.clear();
    this.terms.set(word, term);
    return term;
  }
}
