// DAMSM text encoder (AttnGAN's RNN_ENCODER): word embedding, then one bidirectional LSTM, written with raw
// tfjs ops over a ParamStore so that it runs (and differentiates) on every backend.
//
// Parameters, PyTorch state-dict names, tfjs layouts:
//   encoder.weight              [V, E]    embedding, init U(-0.1, 0.1) (AttnGAN's init_weights)
//   rnn.weight_ih_l0            [E, 4H]   = PyTorch weight_ih_l0 transposed
//   rnn.weight_hh_l0            [H, 4H]   = PyTorch weight_hh_l0 transposed
//   rnn.bias_l0                 [4H]      = PyTorch bias_ih_l0 + bias_hh_l0
//   rnn.*_reverse                         the backward direction, same shapes
//   sentence.mean               [2H]      only with whitenSentences: subtracted from the scaled sentence vector,
//   sentence.whitening          [2H, 2H]  which is then multiplied by this (symmetric) matrix; not trained here
// Gate order along 4H is PyTorch's (input, forget, cell, output). LSTM init is PyTorch's: every weight
// U(-1/sqrt(H), 1/sqrt(H)); the single bias is the sum of two such draws, which is exactly the distribution of
// PyTorch's bias_ih + bias_hh.
//
// Batches of variable-length captions follow packed-sequence semantics: the forward direction reads positions
// 0..len-1 and its final state is the one after len-1; the backward direction starts from a zero state at
// len-1 and ends after position 0; padded positions leave the states unchanged and output zero word features.
import * as tf from '@tensorflow/tfjs-core';
import { DfganError } from '../../errors.js';
import { parseTextEncoderConfig, type TextEncoderConfig } from '../config.js';
import { Initializer, ParamStore } from '../params.js';

export interface TextEncoding {
  /** [B, 2H]: concat(forward final h, backward final h). */
  sentence: tf.Tensor2D;
  /** [B, T, 2H] with T the longest length of the batch: concat(forward h_t, backward h_t); zero where padded. */
  words: tf.Tensor3D;
}

/** Training-only options of a forward pass; without them encodeIds is the deterministic inference forward. */
export interface EncodeOptions {
  /** Dropout rate on the word embeddings (AttnGAN trains with 0.5); 0 or absent: none. */
  dropout?: number;
  /** Seed of the dropout mask (same seed, same mask). */
  seed?: number;
}

export interface TextEncoder {
  readonly config: TextEncoderConfig;
  readonly params: ParamStore;
  /**
   * Encodes a batch of id lists (each of length >= 1, ids in [0, vocabSize)); shorter ones are padded with 0 to
   * the longest. The caller owns (and disposes) the returned tensors. `opts` is for training only (embedding
   * dropout, inverted scaling by 1 / (1 - rate) as PyTorch's nn.Dropout).
   */
  encodeIds(ids: number[][], opts?: EncodeOptions): TextEncoding;
  dispose(): void;
}

/** Parameter names of one LSTM direction ('' forward, '_reverse' backward). */
function lstmNames(suffix: '' | '_reverse'): { wih: string; whh: string; bias: string } {
  return { wih: `rnn.weight_ih_l0${suffix}`, whh: `rnn.weight_hh_l0${suffix}`, bias: `rnn.bias_l0${suffix}` };
}

export function createTextEncoder(cfgInput: TextEncoderConfig, opts: { seed?: number } = {}): TextEncoder {
  const config = parseTextEncoderConfig(cfgInput);
  const { vocabSize: V, embeddingDim: E, hiddenPerDirection: H } = config;
  const init = new Initializer(opts.seed ?? 0);
  const params = new ParamStore();

  params.add('encoder.weight', init.uniform([V, E], 0.1));
  const bound = 1 / Math.sqrt(H);
  for (const suffix of ['', '_reverse'] as const) {
    const n = lstmNames(suffix);
    params.add(n.wih, init.uniform([E, 4 * H], bound));
    params.add(n.whh, init.uniform([H, 4 * H], bound));
    const bIh = init.uniform([4 * H], bound);
    const bHh = init.uniform([4 * H], bound);
    params.add(n.bias, tf.add(bIh, bHh));
    bIh.dispose();
    bHh.dispose();
  }
  if (config.whitenSentences) {
    // Identity until fitted (training/damsm/sentence-whitening.ts); frozen: the GAN never trains the text side.
    params.add('sentence.mean', tf.zeros([2 * H]), false);
    params.add('sentence.whitening', tf.eye(2 * H), false);
  }

  let disposed = false;

  /** One direction over the projected inputs xs[t] ([B, 4H], bias included), with masks ms[t] ([B, 1]). */
  function runDirection(xs: tf.Tensor2D[], ms: tf.Tensor2D[], whh: tf.Tensor2D, reverse: boolean): { hs: tf.Tensor2D[]; last: tf.Tensor2D } {
    const B = xs[0].shape[0];
    let h: tf.Tensor2D = tf.zeros([B, H]);
    let c: tf.Tensor2D = tf.zeros([B, H]);
    const hs: tf.Tensor2D[] = new Array(xs.length);
    const T = xs.length;
    for (let k = 0; k < T; k++) {
      const t = reverse ? T - 1 - k : k;
      const gates = tf.add(xs[t], tf.matMul(h, whh));
      const [gi, gf, gg, go] = tf.split(gates, 4, 1) as tf.Tensor2D[];
      const cNew = tf.add(tf.mul(tf.sigmoid(gf), c), tf.mul(tf.sigmoid(gi), tf.tanh(gg)));
      const hNew = tf.mul(tf.sigmoid(go), tf.tanh(cNew));
      const m = ms[t];
      const keep = tf.sub(1, m);
      c = tf.add(tf.mul(m, cNew), tf.mul(keep, c));
      h = tf.add(tf.mul(m, hNew), tf.mul(keep, h));
      hs[t] = tf.mul(m, hNew);
    }
    return { hs, last: h };
  }

  function encodeIds(ids: number[][], opts: EncodeOptions = {}): TextEncoding {
    if (disposed) throw new DfganError('INTERNAL', 'text encoder used after dispose()');
    const rate = opts.dropout ?? 0;
    if (!(Number.isFinite(rate) && rate >= 0 && rate < 1)) throw new DfganError('INVALID_ARGUMENT', `dropout must be in [0, 1), got ${rate}`);
    if (!Array.isArray(ids) || ids.length === 0) throw new DfganError('INVALID_ARGUMENT', 'encodeIds needs a non-empty batch');
    const B = ids.length;
    let T = 0;
    for (let b = 0; b < B; b++) {
      const row = ids[b];
      if (!Array.isArray(row) || row.length === 0) {
        throw new DfganError('INVALID_ARGUMENT', `caption ${b} of the batch has no word ids (length must be >= 1)`);
      }
      for (const id of row) {
        if (!Number.isInteger(id) || id < 0 || id >= V) {
          throw new DfganError('INVALID_ARGUMENT', `word id ${id} in caption ${b} is outside [0, ${V})`);
        }
      }
      T = Math.max(T, row.length);
    }
    const idData = new Int32Array(B * T);
    const maskData = new Float32Array(B * T);
    for (let b = 0; b < B; b++) {
      ids[b].forEach((id, t) => {
        idData[b * T + t] = id;
        maskData[b * T + t] = 1;
      });
    }

    return tf.tidy(() => {
      const idT = tf.tensor2d(idData, [B, T], 'int32');
      const looked = tf.gather(params.get('encoder.weight'), tf.reshape(idT, [B * T])) as tf.Tensor2D; // [B*T, E]
      const emb = rate > 0 ? (tf.dropout(looked, rate, undefined, opts.seed) as tf.Tensor2D) : looked;
      const mask = tf.tensor2d(maskData, [B, T], 'float32');
      const ms = tf.unstack(tf.reshape(mask, [B, T, 1]), 1) as tf.Tensor2D[]; // T x [B, 1]

      const run = (suffix: '' | '_reverse', reverse: boolean) => {
        const n = lstmNames(suffix);
        const proj = tf.add(tf.matMul(emb, params.get(n.wih) as tf.Tensor2D), params.get(n.bias)); // [B*T, 4H]
        const xs = tf.unstack(tf.reshape(proj, [B, T, 4 * H]), 1) as tf.Tensor2D[]; // T x [B, 4H]
        return runDirection(xs, ms, params.get(n.whh) as tf.Tensor2D, reverse);
      };
      const fwd = run('', false);
      const bwd = run('_reverse', true);

      const both = tf.concat([fwd.last, bwd.last], 1) as tf.Tensor2D;
      const scaled = config.sentenceScale === 1 ? both : (tf.mul(both, config.sentenceScale) as tf.Tensor2D);
      const sentence = config.whitenSentences
        ? (tf.matMul(tf.sub(scaled, params.get('sentence.mean')), params.get('sentence.whitening') as tf.Tensor2D) as tf.Tensor2D)
        : scaled;
      const words = tf.concat([tf.stack(fwd.hs, 1), tf.stack(bwd.hs, 1)], 2) as tf.Tensor3D;
      return { sentence, words };
    });
  }

  return {
    config,
    params,
    encodeIds,
    dispose() {
      if (disposed) return;
      disposed = true;
      params.dispose();
    },
  };
}
