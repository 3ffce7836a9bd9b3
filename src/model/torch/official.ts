// Maps the official DF-GAN (NetG, NetD, NetC) and DAMSM (RNN_ENCODER) state dicts onto this project's networks:
// names are the official ones, layouts change from PyTorch's to tfjs's:
//
//   Linear weight [out, in]            -> Dense kernel [in, out]         (transpose)
//   Conv2d weight [out, in, kh, kw]    -> Conv2D kernel [kh, kw, in, out]
//   NetG fc [nf*8*16, z] (its output is viewed as [nf*8, 4, 4], channel-major) -> [z, nf*8*16], columns kept in
//       PyTorch's order: the generator reshapes to [B, nf*8, 4, 4] and transposes to NHWC itself
//   LSTM weight_ih/hh [4H, in]         -> [in, 4H], gate order (i, f, g, o) kept; bias_ih + bias_hh -> one bias
//   biases, embedding, D gammas        unchanged
//
// Every expected weight must be present with exactly the expected shape, and every weight of the file must be
// used, except NetD's 1x1 `conv_s` of blocks with in == out, which the release builds and never uses: those are
// checked and dropped explicitly (and reported).
import { DfganError } from '../../errors.js';
import { IMAGE_SIZES, type GeneratorConfig, type TextEncoderConfig, discriminatorPairs, parseGeneratorConfig, parseTextEncoderConfig } from '../config.js';
import type { ParamSpec } from '../params.js';
import { END_TOKEN, Vocabulary } from '../text/vocab.js';
import { type PickleValue, unpickle } from '../../pickle.js';
import { TorchTensor } from './tensor.js';
import type { TorchFile } from './serialization.js';

export type StateDict = Map<string, TorchTensor>;

/** Converted weights of one network, in the order and layouts of its ParamStore. */
export interface ConvertedNetwork {
  specs: ParamSpec[];
  values: Map<string, Float32Array>;
  /** Weights of the file that are accepted and deliberately not used. */
  dropped: string[];
}

function bad(source: string, why: string): DfganError {
  return new DfganError('INVALID_ARGUMENT', `${source}: ${why}`);
}

const shapeStr = (s: readonly number[]) => `[${s.join(', ')}]`;

function listSome(names: string[], n = 8): string {
  return names.slice(0, n).join(', ') + (names.length > n ? `, and ${names.length - n} more` : '');
}

/**
 * A state dict: a dict of str -> tensor. A `module.` prefix on every key (DataParallel) is removed; a prefix on
 * only some keys is an error.
 */
export function stateDictOf(v: PickleValue, what: string, source: string): StateDict {
  if (!(v instanceof Map)) throw bad(source, `${what} is not a state dict (a dict of name -> tensor)`);
  const out: StateDict = new Map();
  for (const [k, t] of v) {
    if (typeof k !== 'string') throw bad(source, `${what} has a key that is not a string`);
    if (!(t instanceof TorchTensor)) throw bad(source, `${what}: ${k} is not a tensor`);
    out.set(k, t);
  }
  if (out.size === 0) throw bad(source, `${what} is empty`);
  const keys = [...out.keys()];
  const prefixed = keys.filter((k) => k.startsWith('module.')).length;
  if (prefixed === 0) return out;
  if (prefixed !== keys.length) throw bad(source, `${what}: only some names carry the DataParallel prefix "module."`);
  return new Map([...out].map(([k, t]) => [k.slice('module.'.length), t]));
}

export interface DfganStates {
  netG: StateDict;
  netD?: StateDict;
  netC?: StateDict;
  /** The training state's epoch, when the file is one. */
  epoch?: number;
  kind: 'generator' | 'training-state';
}

/** The state dicts of a DF-GAN file: NetG alone, or the release's {model: {netG, netD, netC}, optimizers, epoch}. */
export function dfganStatesOf(file: TorchFile, source: string): DfganStates {
  const root = file.value;
  if (!(root instanceof Map)) throw bad(source, 'holds neither a state dict nor a DF-GAN training state (not a dict)');
  const model = root.get('model');
  if (model instanceof Map) {
    const netG = model.get('netG');
    if (netG === undefined) throw bad(source, "training state without model['netG']");
    const has = (k: string) => model.get(k) !== undefined && model.get(k) !== null;
    if (has('netD') !== has('netC')) throw bad(source, "training state with only one of model['netD'] and model['netC']");
    const epoch = root.get('epoch');
    return {
      netG: stateDictOf(netG, "model['netG']", source),
      netD: has('netD') ? stateDictOf(model.get('netD')!, "model['netD']", source) : undefined,
      netC: has('netC') ? stateDictOf(model.get('netC')!, "model['netC']", source) : undefined,
      epoch: typeof epoch === 'number' && Number.isSafeInteger(epoch) ? epoch : undefined,
      kind: 'training-state',
    };
  }
  if ([...root.values()].some((v) => !(v instanceof TorchTensor))) {
    const keys = [...root.keys()].filter((k) => typeof k === 'string').slice(0, 6);
    throw bad(source, `holds neither a generator state dict nor a DF-GAN training state (top-level keys: ${keys.join(', ')})`);
  }
  return { netG: stateDictOf(root, 'the generator state dict', source), kind: 'generator' };
}

function torchShapeOf(tfShape: readonly number[]): number[] {
  if (tfShape.length === 2) return [tfShape[1], tfShape[0]];
  if (tfShape.length === 4) return [tfShape[3], tfShape[2], tfShape[0], tfShape[1]];
  return tfShape.slice();
}

function floatValues(t: TorchTensor, name: string, what: string, source: string): Float32Array {
  if (t.dtype === 'int64') throw bad(source, `${what}: ${name} is an int64 tensor, a weight must be floating point`);
  return t.toFloat32();
}

/** [rows, cols] row-major -> [cols, rows] row-major. */
export function transpose2d(src: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(src.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = src[r * cols + c];
  return out;
}

/** PyTorch conv weight [O, I, KH, KW] -> tfjs [KH, KW, I, O]. */
export function convToTf(src: Float32Array, o: number, i: number, kh: number, kw: number): Float32Array {
  const out = new Float32Array(src.length);
  for (let a = 0; a < o; a++)
    for (let b = 0; b < i; b++)
      for (let y = 0; y < kh; y++)
        for (let x = 0; x < kw; x++) out[((y * kw + x) * i + b) * o + a] = src[((a * i + b) * kh + y) * kw + x];
  return out;
}

class Consumer {
  private readonly used = new Set<string>();
  private readonly missing: string[] = [];
  readonly dropped: string[] = [];

  constructor(
    private readonly sd: StateDict,
    private readonly what: string,
    private readonly source: string,
    private readonly model: string,
  ) {}

  /** The tensor `name` with exactly `shape` (PyTorch layout), or undefined (recorded as missing). */
  take(name: string, shape: readonly number[]): Float32Array | undefined {
    const t = this.sd.get(name);
    if (!t) {
      this.missing.push(name);
      return undefined;
    }
    if (t.shape.length !== shape.length || t.shape.some((n, i) => n !== shape[i])) {
      throw bad(this.source, `${this.what}: ${name} has shape ${shapeStr(t.shape)}; ${this.model} needs ${shapeStr(shape)}`);
    }
    this.used.add(name);
    return floatValues(t, name, this.what, this.source);
  }

  /** Accepts `name` (if present, with this shape) as a known unused weight. */
  drop(name: string, shape: readonly number[]): void {
    if (!this.sd.has(name)) return;
    this.take(name, shape);
    this.dropped.push(name);
  }

  finish(): void {
    if (this.missing.length) {
      throw bad(this.source, `${this.what} lacks ${this.missing.length} weight(s) of ${this.model}: ${listSome(this.missing)}`);
    }
    const left = [...this.sd.keys()].filter((k) => !this.used.has(k));
    if (left.length) {
      throw bad(this.source, `${this.what} has ${left.length} weight(s) that ${this.model} does not have: ${listSome(left)}`);
    }
  }
}

/**
 * Converts a NetG / NetD / NetC state dict to the weights of the network whose parameters are `specs` (from the
 * network built with the inferred config): every rank-2 weight is a Linear, every rank-4 one a Conv2d.
 */
export function convertDfganNetwork(
  sd: StateDict,
  specs: ParamSpec[],
  opts: { what: string; model: string; source: string; dropUnused?: Array<{ name: string; shape: number[] }> },
): ConvertedNetwork {
  const c = new Consumer(sd, opts.what, opts.source, opts.model);
  const values = new Map<string, Float32Array>();
  for (const { name, shape } of specs) {
    const ts = torchShapeOf(shape);
    const v = c.take(name, ts);
    if (!v) continue;
    if (shape.length === 2) values.set(name, transpose2d(v, ts[0], ts[1]));
    else if (shape.length === 4) values.set(name, convToTf(v, ts[0], ts[1], ts[2], ts[3]));
    else values.set(name, v);
  }
  for (const d of opts.dropUnused ?? []) c.drop(d.name, d.shape);
  c.finish();
  return { specs, values, dropped: c.dropped };
}

/** NetD's `conv_s` of blocks with in == out: built by the release, never used. */
export function unusedDiscriminatorWeights(cfg: GeneratorConfig): Array<{ name: string; shape: number[] }> {
  return discriminatorPairs(cfg).flatMap(([inC, outC], i) =>
    inC === outC
      ? [
          { name: `DBlocks.${i}.conv_s.weight`, shape: [outC, inC, 1, 1] },
          { name: `DBlocks.${i}.conv_s.bias`, shape: [outC] },
        ]
      : [],
  );
}

/** The generator config a NetG state dict describes, checked against --size and --nf. */
export function generatorConfigOf(sd: StateDict, source: string, want: { size: number; nf?: number }): GeneratorConfig {
  const fc = sd.get('fc.weight');
  if (!fc || fc.shape.length !== 2) throw bad(source, 'the generator state dict has no 2-d fc.weight: not a DF-GAN NetG');
  const [fcOut, zDim] = fc.shape;
  if (fcOut % 128 !== 0) throw bad(source, `fc.weight has ${fcOut} outputs, not nf * 8 * 4 * 4 for a whole nf`);
  const nf = fcOut / 128;
  const blocks = new Set([...sd.keys()].map((k) => /^GBlocks\.(\d+)\./.exec(k)?.[1]).filter((b) => b !== undefined));
  const size = 4 * 2 ** blocks.size;
  if (!(IMAGE_SIZES as readonly number[]).includes(size)) throw bad(source, `the generator has ${blocks.size} G_Blocks: a ${size}px model, which this project does not build`);
  if (size !== want.size) throw bad(source, `the generator has ${blocks.size} G_Blocks: a ${size}px model, not --size ${want.size}`);
  if (want.nf !== undefined && want.nf !== nf) throw bad(source, `the generator has nf ${nf} (fc.weight ${shapeStr(fc.shape)}), not --nf ${want.nf}`);
  const l1 = sd.get('GBlocks.0.fuse1.affine0.fc_gamma.linear1.weight');
  if (!l1 || l1.shape.length !== 2) throw bad(source, 'the generator has no GBlocks.0.fuse1.affine0.fc_gamma.linear1.weight');
  const condDim = l1.shape[1] - zDim;
  if (condDim < 1) throw bad(source, `affine layers take ${l1.shape[1]} inputs, fewer than the noise's ${zDim}`);
  return parseGeneratorConfig({ imageSize: size, nf, zDim, condDim });
}

const LSTM_DIRECTIONS = ['', '_reverse'] as const;

/** The text encoder config a DAMSM RNN_ENCODER state dict describes. */
export function textEncoderConfigOf(sd: StateDict, source: string): TextEncoderConfig {
  const emb = sd.get('encoder.weight');
  const whh = sd.get('rnn.weight_hh_l0');
  if (!emb || emb.shape.length !== 2 || !whh || whh.shape.length !== 2) {
    throw bad(source, 'not a DAMSM text encoder state dict (needs encoder.weight and rnn.weight_hh_l0)');
  }
  // The official encoders' sentence vectors go to the generator as they are: sentenceScale 1.
  return parseTextEncoderConfig({ vocabSize: emb.shape[0], embeddingDim: emb.shape[1], hiddenPerDirection: whh.shape[1], sentenceScale: 1 });
}

/** DAMSM RNN_ENCODER -> this project's text encoder weights (see src/model/text/encoder.ts for the layout). */
export function convertTextEncoder(sd: StateDict, specs: ParamSpec[], cfg: TextEncoderConfig, source: string): ConvertedNetwork {
  const { vocabSize: V, embeddingDim: E, hiddenPerDirection: H } = cfg;
  const model = `the DAMSM text encoder (vocabulary ${V}, embedding ${E}, LSTM ${H} per direction)`;
  const c = new Consumer(sd, 'the text encoder state dict', source, model);
  const values = new Map<string, Float32Array>();
  const emb = c.take('encoder.weight', [V, E]);
  if (emb) values.set('encoder.weight', emb);
  for (const d of LSTM_DIRECTIONS) {
    const wih = c.take(`rnn.weight_ih_l0${d}`, [4 * H, E]);
    const whh = c.take(`rnn.weight_hh_l0${d}`, [4 * H, H]);
    const bih = c.take(`rnn.bias_ih_l0${d}`, [4 * H]);
    const bhh = c.take(`rnn.bias_hh_l0${d}`, [4 * H]);
    if (wih) values.set(`rnn.weight_ih_l0${d}`, transpose2d(wih, 4 * H, E));
    if (whh) values.set(`rnn.weight_hh_l0${d}`, transpose2d(whh, 4 * H, H));
    if (bih && bhh) values.set(`rnn.bias_l0${d}`, bih.map((v, i) => v + bhh[i]));
  }
  c.finish();
  checkCovers(values, specs, source, model);
  return { specs, values, dropped: [] };
}

/** The converted names and sizes are exactly the network's (guards the explicit text-encoder mapping). */
function checkCovers(values: Map<string, Float32Array>, specs: ParamSpec[], source: string, model: string): void {
  const names = new Set(specs.map((s) => s.name));
  const extra = [...values.keys()].filter((k) => !names.has(k));
  const wrong = specs.filter((s) => values.get(s.name)?.length !== s.shape.reduce((a, b) => a * b, 1)).map((s) => s.name);
  if (extra.length || wrong.length) throw new DfganError('INTERNAL', `${source}: conversion to ${model} is inconsistent (${[...extra, ...wrong].join(', ')})`);
}

/**
 * The vocabulary of DAMSM's captions_DAMSM.pickle: [train_captions, test_captions, ixtoword, wordtoix], with
 * ixtoword {0: '<end>', 1: word, ...} and wordtoix its inverse. Python 2 str is read as latin-1.
 */
export function damsmVocabulary(bytes: Uint8Array, source: string): Vocabulary {
  const v = unpickle(bytes, { source, py2StrEncoding: 'latin1' });
  if (!Array.isArray(v) || v.length !== 4) throw bad(source, 'is not [train_captions, test_captions, ixtoword, wordtoix] (a DAMSM captions pickle)');
  const [, , ixtoword, wordtoix] = v;
  if (!(ixtoword instanceof Map) || !(wordtoix instanceof Map)) throw bad(source, 'ixtoword and wordtoix (items 3 and 4) must be dicts');
  const n = ixtoword.size;
  const words: string[] = new Array(n);
  for (const [i, w] of ixtoword) {
    if (typeof i !== 'number' || !Number.isInteger(i) || i < 0 || i >= n) throw bad(source, `ixtoword has key ${String(i)}; keys must be 0..${n - 1}`);
    if (typeof w !== 'string' || w.length === 0) throw bad(source, `ixtoword[${i}] is not a non-empty string`);
    words[i] = w;
  }
  if (words[0] !== END_TOKEN) throw bad(source, `ixtoword[0] is ${JSON.stringify(words[0])}, not ${END_TOKEN}`);
  if (wordtoix.size !== n) throw bad(source, `wordtoix has ${wordtoix.size} words, ixtoword ${n}`);
  for (const [w, i] of wordtoix) {
    if (typeof w !== 'string' || typeof i !== 'number' || words[i] !== w) throw bad(source, `wordtoix[${JSON.stringify(w)}] = ${String(i)} disagrees with ixtoword`);
  }
  try {
    return Vocabulary.fromWords(words);
  } catch (err) {
    throw bad(source, `unusable vocabulary: ${(err as Error).message}`);
  }
}
