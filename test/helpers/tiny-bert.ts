/**
 * Writes a small BERT-style model folder that transformers.js loads like one from the Hugging Face
 * Hub: `config.json`, a WordPiece `tokenizer.json`, `tokenizer_config.json` and `onnx/model.onnx`.
 *
 * The graph is real ONNX that onnxruntime runs: word + position + token-type embeddings (Gather),
 * LayerNormalization, then `layers` blocks that each add a projection of the attention-masked mean of
 * the sequence to every token (so tokens see each other, but never the padding) and a Tanh
 * feed-forward with a residual and LayerNormalization. The output is `last_hidden_state`
 * (float32, [batch, seq, hidden]). Weights come from a seeded generator, so every run writes the
 * same bytes. Nothing is downloaded.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import onnxProto from 'onnx-proto';
import { seededRandom as random } from '../../src/internal/random.js';

const { onnx } = onnxProto;

export type TinyBertOptions = {
  /** Width of every token vector (the embedding dimensions); default 32. */
  hidden?: number;
  /** Context + feed-forward blocks; default 2. */
  layers?: number;
  /** Feed-forward width; default 2 × hidden. */
  intermediate?: number;
  /** Longest sequence the position table covers (also `model_max_length`); default 128. */
  maxPositions?: number;
  /** Seed of the weights; default 1. */
  seed?: number;
};

export type TinyBert = {
  /** The folder written. */
  folder: string;
  hidden: number;
  vocabSize: number;
  maxPositions: number;
};

const SPECIAL = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'];
const LETTERS = 'abcdefghijklmnopqrstuvwxyz0123456789'.split('');
const PUNCTUATION = '.,!?\'"-:;()#/&+=*%$@[]{}<>_'.split('');
const WORDS = (
  'the a an and or of to in on at by for with from is are was were be been it its this that these those ' +
  'quick brown fox jumps over lazy dog retrieval augmented generation grounds answers documents document ' +
  'vectors vector same space can compared different cannot short unicode text texts embed embedding query ' +
  'search model models data store stores index lorem ipsum dolor sit amet math emoji all hello world cat cats ' +
  'red green blue one two three first second last new old good bad big small fast slow read write'
).split(' ');
const SUFFIXES = ['##s', '##es', '##ed', '##ing', '##er', '##ly', '##tion', '##al'];

/** Every token of the vocabulary, in id order. */
function vocabulary(): string[] {
  const tokens = [...SPECIAL, ...LETTERS, ...PUNCTUATION, ...LETTERS.map((letter) => `##${letter}`)];
  for (const word of [...WORDS, ...SUFFIXES]) if (!tokens.includes(word)) tokens.push(word);
  return tokens;
}

function tokenizerJson(tokens: string[], maxPositions: number) {
  const id = (token: string) => tokens.indexOf(token);
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: SPECIAL.map((content) => ({
      id: id(content),
      content,
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: false,
      special: true,
    })),
    normalizer: {
      type: 'BertNormalizer',
      clean_text: true,
      handle_chinese_chars: true,
      strip_accents: null,
      lowercase: true,
    },
    pre_tokenizer: { type: 'BertPreTokenizer' },
    post_processor: {
      type: 'TemplateProcessing',
      single: [
        { SpecialToken: { id: '[CLS]', type_id: 0 } },
        { Sequence: { id: 'A', type_id: 0 } },
        { SpecialToken: { id: '[SEP]', type_id: 0 } },
      ],
      pair: [
        { SpecialToken: { id: '[CLS]', type_id: 0 } },
        { Sequence: { id: 'A', type_id: 0 } },
        { SpecialToken: { id: '[SEP]', type_id: 0 } },
        { Sequence: { id: 'B', type_id: 1 } },
        { SpecialToken: { id: '[SEP]', type_id: 1 } },
      ],
      special_tokens: {
        '[CLS]': { id: '[CLS]', ids: [id('[CLS]')], tokens: ['[CLS]'] },
        '[SEP]': { id: '[SEP]', ids: [id('[SEP]')], tokens: ['[SEP]'] },
      },
    },
    decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
    model: {
      type: 'WordPiece',
      unk_token: '[UNK]',
      continuing_subword_prefix: '##',
      max_input_chars_per_word: maxPositions,
      vocab: Object.fromEntries(tokens.map((token, index) => [token, index])),
    },
  };
}

/** Builds the ONNX graph and returns the serialised ModelProto. */
function onnxModel(options: Required<TinyBertOptions>, vocabSize: number): Uint8Array {
  const { hidden, layers, intermediate, maxPositions } = options;
  const next = random(options.seed);
  const initializer: InstanceType<typeof onnx.TensorProto>[] = [];
  const node: InstanceType<typeof onnx.NodeProto>[] = [];

  const floats = (name: string, dims: number[], fill: (i: number) => number) => {
    const size = dims.reduce((a, b) => a * b, 1);
    const data = new Float32Array(size);
    for (let i = 0; i < size; i++) data[i] = fill(i);
    initializer.push(
      onnx.TensorProto.create({
        name,
        dims,
        dataType: onnx.TensorProto.DataType.FLOAT,
        rawData: new Uint8Array(data.buffer),
      }),
    );
    return name;
  };
  const uniform = (name: string, dims: number[], scale: number) => floats(name, dims, () => (next() * 2 - 1) * scale);
  const int64 = (name: string, dims: number[], values: number[]) => {
    initializer.push(
      onnx.TensorProto.create({ name, dims, dataType: onnx.TensorProto.DataType.INT64, int64Data: values }),
    );
    return name;
  };
  let counter = 0;
  const op = (opType: string, input: string[], attribute: InstanceType<typeof onnx.AttributeProto>[] = []) => {
    const output = `${opType.toLowerCase()}_${counter++}`;
    node.push(onnx.NodeProto.create({ opType, input, output: [output], name: output, attribute }));
    return output;
  };
  const intAttribute = (name: string, value: number) =>
    onnx.AttributeProto.create({ name, type: onnx.AttributeProto.AttributeType.INT, i: value });
  const floatAttribute = (name: string, value: number) =>
    onnx.AttributeProto.create({ name, type: onnx.AttributeProto.AttributeType.FLOAT, f: value });
  const layerNorm = (input: string, prefix: string) =>
    op(
      'LayerNormalization',
      [input, floats(`${prefix}.gamma`, [hidden], () => 1), floats(`${prefix}.beta`, [hidden], () => 0)],
      [intAttribute('axis', -1), floatAttribute('epsilon', 1e-12)],
    );

  const words = op('Gather', [uniform('embeddings.word', [vocabSize, hidden], 1), 'input_ids']);
  const types = op('Gather', [uniform('embeddings.token_type', [2, hidden], 0.1), 'token_type_ids']);
  const shape = op('Shape', ['input_ids']);
  const length = op('Gather', [shape, int64('one', [], [1])], [intAttribute('axis', 0)]);
  const positionIds = op('Range', [int64('zero', [], [0]), length, 'one']);
  const positions = op('Gather', [uniform('embeddings.position', [maxPositions, hidden], 0.1), positionIds]);
  let state = layerNorm(op('Add', [op('Add', [words, types]), positions]), 'embeddings.norm');

  // mask: [batch, seq, 1] of 0/1; count: real tokens per text, at least 1.
  const mask = op('Unsqueeze', [op('Cast', ['attention_mask'], [intAttribute('to', 1)]), int64('axis2', [1], [2])]);
  const axis1 = int64('axis1', [1], [1]);
  const count = op('Max', [
    op('ReduceSum', [mask, axis1], [intAttribute('keepdims', 1)]),
    floats('one_f', [], () => 1),
  ]);

  for (let layer = 0; layer < layers; layer++) {
    const p = `layer${layer}`;
    const sum = op('ReduceSum', [op('Mul', [state, mask]), axis1], [intAttribute('keepdims', 1)]);
    const context = op('MatMul', [op('Div', [sum, count]), uniform(`${p}.context`, [hidden, hidden], 1 / hidden)]);
    const mixed = op('Add', [state, context]);
    const up = op('Tanh', [
      op('Add', [
        op('MatMul', [mixed, uniform(`${p}.up`, [hidden, intermediate], Math.sqrt(3 / hidden))]),
        uniform(`${p}.up_bias`, [intermediate], 0.1),
      ]),
    ]);
    const down = op('Add', [
      op('MatMul', [up, uniform(`${p}.down`, [intermediate, hidden], Math.sqrt(3 / intermediate))]),
      uniform(`${p}.down_bias`, [hidden], 0.1),
    ]);
    state = layerNorm(op('Add', [state, down]), `${p}.norm`);
  }
  const last = node[node.length - 1] as InstanceType<typeof onnx.NodeProto>;
  last.output = ['last_hidden_state'];

  const tensor = (name: string, elemType: number, dims: (string | number)[]) =>
    onnx.ValueInfoProto.create({
      name,
      type: {
        tensorType: {
          elemType,
          shape: { dim: dims.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d })) },
        },
      },
    });
  const INT64 = onnx.TensorProto.DataType.INT64;
  const model = onnx.ModelProto.create({
    irVersion: 8,
    producerName: 'kumiki test/helpers/tiny-bert.ts',
    opsetImport: [{ domain: '', version: 17 }],
    graph: {
      name: 'tiny_bert',
      node,
      initializer,
      input: [
        tensor('input_ids', INT64, ['batch', 'sequence']),
        tensor('attention_mask', INT64, ['batch', 'sequence']),
        tensor('token_type_ids', INT64, ['batch', 'sequence']),
      ],
      output: [tensor('last_hidden_state', onnx.TensorProto.DataType.FLOAT, ['batch', 'sequence', hidden])],
    },
  });
  return onnx.ModelProto.encode(model).finish();
}

/** Writes the model folder (creating it) and describes it. Deterministic for given options. */
export async function writeTinyBert(folder: string, options: TinyBertOptions = {}): Promise<TinyBert> {
  const hidden = options.hidden ?? 32;
  const resolved: Required<TinyBertOptions> = {
    hidden,
    layers: options.layers ?? 2,
    intermediate: options.intermediate ?? hidden * 2,
    maxPositions: options.maxPositions ?? 128,
    seed: options.seed ?? 1,
  };
  const tokens = vocabulary();
  const config = {
    model_type: 'bert',
    architectures: ['BertModel'],
    hidden_size: hidden,
    num_hidden_layers: resolved.layers,
    num_attention_heads: 1,
    intermediate_size: resolved.intermediate,
    max_position_embeddings: resolved.maxPositions,
    type_vocab_size: 2,
    vocab_size: tokens.length,
    pad_token_id: 0,
  };
  const tokenizerConfig = {
    tokenizer_class: 'BertTokenizer',
    do_lower_case: true,
    model_max_length: resolved.maxPositions,
    padding_side: 'right',
    cls_token: '[CLS]',
    sep_token: '[SEP]',
    pad_token: '[PAD]',
    unk_token: '[UNK]',
    mask_token: '[MASK]',
  };
  await mkdir(join(folder, 'onnx'), { recursive: true });
  await writeFile(join(folder, 'config.json'), `${JSON.stringify(config, null, 2)}\n`);
  await writeFile(join(folder, 'tokenizer_config.json'), `${JSON.stringify(tokenizerConfig, null, 2)}\n`);
  await writeFile(join(folder, 'tokenizer.json'), JSON.stringify(tokenizerJson(tokens, resolved.maxPositions)));
  await writeFile(join(folder, 'onnx', 'model.onnx'), onnxModel(resolved, tokens.length));
  return { folder, hidden, vocabSize: tokens.length, maxPositions: resolved.maxPositions };
}
