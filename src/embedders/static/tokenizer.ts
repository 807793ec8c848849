/**
 * The part of Hugging Face `tokenizer.json` that static embedding models use, in plain TypeScript:
 * normalizers (BertNormalizer, Lowercase, NFC/NFD/NFKC/NFKD, StripAccents, Strip, Replace, Sequence),
 * pre-tokenizers (BertPreTokenizer, Whitespace, WhitespaceSplit, Punctuation, Metaspace, Split on a
 * string, Sequence) and models (WordPiece, WordLevel, Unigram). Special tokens are not added (static
 * models do not use them), and added tokens are not matched in the text. Anything else is refused
 * with InvalidArgumentError naming it, never approximated.
 */
import { InvalidArgumentError } from '../../core/errors.js';

export type Tokenizer = {
  /** Token ids of a text, in order (unknown pieces as the unknown token's id, if the model has one). */
  encode(text: string): number[];
  /** Token id → token. */
  readonly tokens: readonly string[];
  /** The unknown token's id, when the model has one. */
  readonly unknownId: number | undefined;
};

type Json = Record<string, unknown>;

const invalid = (path: string, message: string) =>
  new InvalidArgumentError({ argument: 'tokenizer.json', component: 'static', issues: [{ path, message }] });

const object = (value: unknown, path: string): Json => {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw invalid(path, 'must be an object');
  return value as Json;
};

type Normalize = (text: string) => string;
type PreTokenize = (pieces: string[]) => string[];

const CONTROL = /[\p{Cc}\p{Cf}]/u;
const WHITESPACE = /\s/u;
const MARKS = /\p{Mn}/gu;
/** BERT's "punctuation": Unicode punctuation and the ASCII symbols. */
const PUNCTUATION = /[\p{P}!-/:-@[-`{-~]/u;
const CJK =
  /[\u{4E00}-\u{9FFF}\u{3400}-\u{4DBF}\u{20000}-\u{2A6DF}\u{2A700}-\u{2B73F}\u{2B740}-\u{2B81F}\u{2B820}-\u{2CEAF}\u{F900}-\u{FAFF}\u{2F800}-\u{2FA1F}]/u;

function bertNormalizer(config: Json): Normalize {
  const clean = config.clean_text !== false;
  const chinese = config.handle_chinese_chars !== false;
  const lowercase = config.lowercase !== false;
  const stripAccents =
    config.strip_accents === null || config.strip_accents === undefined ? lowercase : config.strip_accents === true;
  return (text) => {
    let out = '';
    for (const char of text) {
      if (clean) {
        if (char === '\u0000' || char === '\ufffd') continue;
        if (char !== '\t' && char !== '\n' && char !== '\r' && CONTROL.test(char)) continue;
        if (WHITESPACE.test(char)) {
          out += ' ';
          continue;
        }
      }
      out += chinese && CJK.test(char) ? ` ${char} ` : char;
    }
    if (stripAccents) out = out.normalize('NFD').replace(MARKS, '');
    return lowercase ? out.toLowerCase() : out;
  };
}

function normalizer(config: unknown, path: string): Normalize {
  if (config === null || config === undefined) return (text) => text;
  const json = object(config, path);
  switch (json.type) {
    case 'BertNormalizer':
      return bertNormalizer(json);
    case 'Lowercase':
      return (text) => text.toLowerCase();
    case 'NFC':
    case 'NFD':
    case 'NFKC':
    case 'NFKD': {
      const form = json.type;
      return (text) => text.normalize(form);
    }
    case 'StripAccents':
      return (text) => text.replace(MARKS, '');
    case 'Strip': {
      const left = json.strip_left !== false;
      const right = json.strip_right !== false;
      return (text) => (left && right ? text.trim() : left ? text.trimStart() : right ? text.trimEnd() : text);
    }
    case 'Replace': {
      const pattern = object(json.pattern, `${path}.pattern`);
      if (typeof pattern.String !== 'string' || typeof json.content !== 'string') {
        throw invalid(`${path}.pattern`, 'only Replace with a String pattern is supported');
      }
      const from = pattern.String;
      const to = json.content;
      return (text) => text.split(from).join(to);
    }
    case 'Sequence': {
      if (!Array.isArray(json.normalizers)) throw invalid(`${path}.normalizers`, 'must be an array');
      const steps = json.normalizers.map((step, i) => normalizer(step, `${path}.normalizers[${i}]`));
      return (text) => steps.reduce((value, step) => step(value), text);
    }
    default:
      throw invalid(`${path}.type`, `normalizer ${JSON.stringify(json.type)} is not supported`);
  }
}

const splitEach =
  (split: (piece: string) => string[]): PreTokenize =>
  (pieces) =>
    pieces.flatMap(split);

/** Splits on whitespace; each punctuation character becomes a piece of its own. */
const bertSplit = (piece: string): string[] => {
  const out: string[] = [];
  let word = '';
  for (const char of piece) {
    if (WHITESPACE.test(char)) {
      if (word) out.push(word);
      word = '';
    } else if (PUNCTUATION.test(char)) {
      if (word) out.push(word);
      out.push(char);
      word = '';
    } else word += char;
  }
  if (word) out.push(word);
  return out;
};

function preTokenizer(config: unknown, path: string): PreTokenize {
  if (config === null || config === undefined) return (pieces) => pieces;
  const json = object(config, path);
  switch (json.type) {
    case 'BertPreTokenizer':
      return splitEach(bertSplit);
    case 'Whitespace':
      return splitEach((piece) => piece.match(/\w+|[^\w\s]+/gu) ?? []);
    case 'WhitespaceSplit':
      return splitEach((piece) => piece.split(/\s+/u).filter(Boolean));
    case 'Punctuation':
      return splitEach((piece) => {
        const out: string[] = [];
        let word = '';
        for (const char of piece) {
          if (PUNCTUATION.test(char)) {
            if (word) out.push(word);
            out.push(char);
            word = '';
          } else word += char;
        }
        if (word) out.push(word);
        return out;
      });
    case 'Metaspace': {
      const replacement = typeof json.replacement === 'string' ? json.replacement : '▁';
      const prepend =
        json.prepend_scheme === undefined ? json.add_prefix_space !== false : json.prepend_scheme !== 'never';
      const split = json.split !== false;
      return (pieces) =>
        pieces.flatMap((piece, i) => {
          let text = piece.replaceAll(' ', replacement);
          if (prepend && !text.startsWith(replacement) && (json.prepend_scheme !== 'first' || i === 0))
            text = replacement + text;
          if (!split) return [text];
          const out: string[] = [];
          let current = '';
          for (const char of text) {
            if (char === replacement && current) {
              out.push(current);
              current = '';
            }
            current += char;
          }
          if (current) out.push(current);
          return out;
        });
    }
    case 'Split': {
      const pattern = object(json.pattern, `${path}.pattern`);
      if (typeof pattern.String !== 'string' || json.behavior !== 'Removed') {
        throw invalid(`${path}`, 'only Split on a String pattern with behavior "Removed" is supported');
      }
      const on = pattern.String;
      return splitEach((piece) => piece.split(on).filter(Boolean));
    }
    case 'Sequence': {
      if (!Array.isArray(json.pretokenizers)) throw invalid(`${path}.pretokenizers`, 'must be an array');
      const steps = json.pretokenizers.map((step, i) => preTokenizer(step, `${path}.pretokenizers[${i}]`));
      return (pieces) => steps.reduce((value, step) => step(value), pieces);
    }
    default:
      throw invalid(`${path}.type`, `pre-tokenizer ${JSON.stringify(json.type)} is not supported`);
  }
}

type Model = { tokens: string[]; unknownId: number | undefined; encode(piece: string): number[] };

/** A `{ token: id }` vocabulary as a dense id → token table (ids 0…n−1, each once). */
function vocabulary(vocab: unknown, path: string): { tokens: string[]; ids: Map<string, number> } {
  const entries = Object.entries(object(vocab, path));
  const tokens: string[] = new Array(entries.length);
  const ids = new Map<string, number>();
  for (const [token, id] of entries) {
    if (
      !Number.isInteger(id) ||
      (id as number) < 0 ||
      (id as number) >= entries.length ||
      tokens[id as number] !== undefined
    ) {
      throw invalid(path, `token ids must be 0…${entries.length - 1}, each once; "${token}" has ${JSON.stringify(id)}`);
    }
    tokens[id as number] = token;
    ids.set(token, id as number);
  }
  return { tokens, ids };
}

function unknownOf(ids: Map<string, number>, token: unknown, path: string): number | undefined {
  if (token === null || token === undefined) return undefined;
  const id = typeof token === 'string' ? ids.get(token) : undefined;
  if (id === undefined) throw invalid(path, `the unknown token ${JSON.stringify(token)} is not in the vocabulary`);
  return id;
}

function wordPiece(json: Json, path: string): Model {
  const { tokens, ids } = vocabulary(json.vocab, `${path}.vocab`);
  const unknownId = unknownOf(ids, json.unk_token ?? '[UNK]', `${path}.unk_token`);
  const prefix = typeof json.continuing_subword_prefix === 'string' ? json.continuing_subword_prefix : '##';
  const maxChars = typeof json.max_input_chars_per_word === 'number' ? json.max_input_chars_per_word : 100;
  const unknown = unknownId === undefined ? [] : [unknownId];
  return {
    tokens,
    unknownId,
    encode(piece) {
      const chars = Array.from(piece);
      if (chars.length > maxChars) return unknown;
      const out: number[] = [];
      let start = 0;
      while (start < chars.length) {
        let end = chars.length;
        let found: number | undefined;
        while (start < end) {
          const candidate = (start > 0 ? prefix : '') + chars.slice(start, end).join('');
          found = ids.get(candidate);
          if (found !== undefined) break;
          end--;
        }
        if (found === undefined) return unknown;
        out.push(found);
        start = end;
      }
      return out;
    },
  };
}

function wordLevel(json: Json, path: string): Model {
  const { tokens, ids } = vocabulary(json.vocab, `${path}.vocab`);
  const unknownId = unknownOf(ids, json.unk_token, `${path}.unk_token`);
  return {
    tokens,
    unknownId,
    encode: (piece) => {
      const id = ids.get(piece) ?? unknownId;
      return id === undefined ? [] : [id];
    },
  };
}

/** Unigram (SentencePiece): the segmentation with the highest total log-probability (Viterbi). */
function unigram(json: Json, path: string): Model {
  if (!Array.isArray(json.vocab)) throw invalid(`${path}.vocab`, 'must be an array of [piece, score]');
  const tokens: string[] = [];
  const ids = new Map<string, number>();
  const scores: number[] = [];
  let longest = 0;
  json.vocab.forEach((entry, i) => {
    if (!Array.isArray(entry) || typeof entry[0] !== 'string' || typeof entry[1] !== 'number') {
      throw invalid(`${path}.vocab[${i}]`, 'must be [piece, score]');
    }
    tokens.push(entry[0]);
    scores.push(entry[1]);
    if (!ids.has(entry[0])) ids.set(entry[0], i);
    longest = Math.max(longest, Array.from(entry[0]).length);
  });
  const unknownId = typeof json.unk_id === 'number' ? json.unk_id : undefined;
  if (unknownId !== undefined && (unknownId < 0 || unknownId >= tokens.length)) {
    throw invalid(`${path}.unk_id`, `must be a vocabulary index (0…${tokens.length - 1})`);
  }
  const minimum = Math.min(...scores);
  const unknownScore = minimum - 10;
  return {
    tokens,
    unknownId,
    encode(piece) {
      const chars = Array.from(piece);
      const n = chars.length;
      const best = new Float64Array(n + 1).fill(Number.NEGATIVE_INFINITY);
      const from = new Int32Array(n + 1).fill(-1);
      const token = new Int32Array(n + 1).fill(-1);
      best[0] = 0;
      for (let start = 0; start < n; start++) {
        if (best[start] === Number.NEGATIVE_INFINITY) continue;
        let matched = false;
        for (let end = start + 1; end <= Math.min(n, start + longest); end++) {
          const id = ids.get(chars.slice(start, end).join(''));
          if (id === undefined) continue;
          if (end === start + 1) matched = true;
          const score = (best[start] as number) + (scores[id] as number);
          if (score > (best[end] as number)) {
            best[end] = score;
            from[end] = start;
            token[end] = id;
          }
        }
        if (!matched) {
          // A character no piece covers: the unknown token, at a score below every piece's.
          const score = (best[start] as number) + unknownScore;
          if (score > (best[start + 1] as number)) {
            best[start + 1] = score;
            from[start + 1] = start;
            token[start + 1] = unknownId ?? -1;
          }
        }
      }
      const out: number[] = [];
      for (let end = n; end > 0; end = from[end] as number) {
        const id = token[end] as number;
        // Consecutive unknown characters become one unknown token, as SentencePiece does.
        if (id >= 0 && !(id === unknownId && out[out.length - 1] === unknownId)) out.push(id);
      }
      return out.reverse();
    },
  };
}

function model(config: unknown, path: string): Model {
  const json = object(config, path);
  const type = json.type ?? (Array.isArray(json.vocab) ? 'Unigram' : undefined);
  switch (type) {
    case 'WordPiece':
      return wordPiece(json, path);
    case 'WordLevel':
      return wordLevel(json, path);
    case 'Unigram':
      return unigram(json, path);
    default:
      throw invalid(`${path}.type`, `model ${JSON.stringify(type)} is not supported (WordPiece, WordLevel, Unigram)`);
  }
}

const PIECE_CACHE_LIMIT = 200_000;

/** A tokenizer from the parsed contents of a `tokenizer.json`. */
export function createTokenizer(config: unknown): Tokenizer {
  const json = object(config, '');
  const normalize = normalizer(json.normalizer, 'normalizer');
  const preTokenize = preTokenizer(json.pre_tokenizer, 'pre_tokenizer');
  const vocabModel = model(json.model, 'model');
  const cache = new Map<string, number[]>();
  return {
    tokens: vocabModel.tokens,
    unknownId: vocabModel.unknownId,
    encode(text) {
      const out: number[] = [];
      for (const piece of preTokenize([normalize(text)])) {
        let ids = cache.get(piece);
        if (!ids) {
          ids = vocabModel.encode(piece);
          if (cache.size >= PIECE_CACHE_LIMIT) cache.clear();
          cache.set(piece, ids);
        }
        for (const id of ids) out.push(id);
      }
      return out;
    },
  };
}
