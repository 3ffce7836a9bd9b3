// Whitening of sentence vectors for the GAN (after Su et al. 2021, "Whitening sentence representations").
// A DAMSM encoder's sentence vectors vary most along the words that change most of the image (background, body
// colour) and far less along words such as "left"/"right": on synth-birds the mean difference between captions
// that differ only in facing is 12x shorter than between sky and water. MA-GP bounds D's gradient with respect to
// the sentence, so a short direction cannot move D's logit much and D never checks it; G then never learns it.
// Whitening (with shrinkage, so that directions of pure noise are not blown up) makes such directions about as
// long as the others: facing 0.74 -> 2.3, background 9.4 -> 5.4 at shrinkage 0.04. The overall spread stays what
// sentenceScale set.
import * as tf from '@tensorflow/tfjs-core';
import { DfganError } from '../../errors.js';
import { sentenceDim } from '../../model/config.js';
import type { Generator } from '../../model/generator.js';
import { createTextEncoder, type TextEncoder } from '../../model/text/encoder.js';
import type { Vocabulary } from '../../model/text/vocab.js';
import { symmetricEigen } from '../eval/frechet.js';
import { sampleCaptionIds } from './sentence-scale.js';

export interface SentenceWhitening {
  dim: number;
  /** [D] mean of the sentence vectors before whitening. */
  mean: Float32Array;
  /** [D, D] symmetric: whitened = (s - mean) matrix. */
  matrix: Float32Array;
  /** [D, D] its inverse: s = whitened inverse + mean. */
  inverse: Float32Array;
}

/**
 * Fits a ZCA whitening of `text`'s sentence vectors over up to `sample` of `captions` (evenly spread, so
 * deterministic). Eigenvalues are shrunk by `shrinkage` times their mean before the inverse square root, and the
 * result is rescaled so that the root mean per-dimension variance is what it was.
 */
export async function fitSentenceWhitening(
  text: TextEncoder,
  vocab: Vocabulary,
  captions: readonly string[],
  opts: { shrinkage: number; sample?: number },
): Promise<SentenceWhitening> {
  if (text.config.whitenSentences) throw new DfganError('INVALID_ARGUMENT', 'the text encoder is already whitened');
  if (!(opts.shrinkage >= 0)) throw new DfganError('INVALID_ARGUMENT', `whitening shrinkage must be >= 0, got ${opts.shrinkage}`);
  const D = sentenceDim(text.config);
  const ids = sampleCaptionIds(text, vocab, captions, opts.sample ?? 4096);
  // Without shrinkage the covariance must be full rank; with it, directions no caption moves stay (nearly) zero.
  const needed = opts.shrinkage > 0 ? 2 : D + 1;
  if (ids.length < needed) {
    throw new DfganError('INVALID_ARGUMENT', `whitening ${D}-d sentence vectors${opts.shrinkage > 0 ? '' : ' without shrinkage'} needs at least ${needed} usable captions, got ${ids.length}`);
  }
  const n = ids.length;
  const rows = new Float64Array(n * D);
  for (let i = 0; i < n; i += 256) {
    const { sentence, words } = text.encodeIds(ids.slice(i, i + 256));
    words.dispose();
    rows.set(await sentence.data(), i * D);
    sentence.dispose();
  }
  const mean = new Float64Array(D);
  for (let r = 0; r < n; r++) for (let d = 0; d < D; d++) mean[d] += rows[r * D + d] / n;
  for (let r = 0; r < n; r++) for (let d = 0; d < D; d++) rows[r * D + d] -= mean[d];
  const cov = new Float64Array(D * D);
  for (let r = 0; r < n; r++) {
    const o = r * D;
    for (let i = 0; i < D; i++) {
      const x = rows[o + i];
      if (x === 0) continue;
      for (let j = i; j < D; j++) cov[i * D + j] += x * rows[o + j];
    }
  }
  for (let i = 0; i < D; i++) for (let j = i; j < D; j++) cov[j * D + i] = cov[i * D + j] /= n;
  const { values, vectors: V } = symmetricEigen(cov, D);
  const lam = Array.from(values, (v) => Math.max(0, v));
  const meanLam = lam.reduce((a, b) => a + b, 0) / D;
  if (!(meanLam > 0)) throw new DfganError('INVALID_ARGUMENT', 'sentence vectors do not vary across the captions; nothing to whiten');
  const eps = opts.shrinkage * meanLam;
  const g = lam.map((l) => 1 / Math.sqrt(l + eps));
  // Keep the spread: sum(l g^2) / D = meanLam.
  const k = Math.sqrt(meanLam / (lam.reduce((a, l, i) => a + l * g[i] * g[i], 0) / D));
  const matrix = new Float32Array(D * D);
  const inverse = new Float32Array(D * D);
  for (let i = 0; i < D; i++) {
    for (let j = i; j < D; j++) {
      let w = 0;
      let v = 0;
      for (let e = 0; e < D; e++) {
        const p = V[i * D + e] * V[j * D + e];
        w += p * k * g[e];
        v += p / (k * g[e]);
      }
      matrix[i * D + j] = matrix[j * D + i] = w;
      inverse[i * D + j] = inverse[j * D + i] = v;
    }
  }
  return { dim: D, mean: Float32Array.from(mean), matrix, inverse };
}

/** A copy of `text` that whitens its sentence vectors with `w` (the caller still owns `text`). */
export async function whitenedTextEncoder(text: TextEncoder, w: SentenceWhitening): Promise<TextEncoder> {
  const out = createTextEncoder({ ...text.config, whitenSentences: true });
  const values = await text.params.read();
  values.set('sentence.mean', w.mean);
  values.set('sentence.whitening', w.matrix);
  out.params.assign(values);
  return out;
}

/**
 * Makes `g` compute from whitened sentences what it computed from raw ones: every affine MLP's first layer reads
 * cat(z, s), so with s = s' inverse + mean its sentence rows become inverse x rows and its bias gains mean x rows.
 */
export async function foldWhiteningIntoGenerator(g: Generator, w: SentenceWhitening): Promise<void> {
  const { zDim, condDim } = g.config;
  if (condDim !== w.dim) throw new DfganError('INVALID_ARGUMENT', `the generator reads ${condDim}-d sentences, the whitening is ${w.dim}-d`);
  const values = await g.params.read();
  const inv = tf.tensor2d(w.inverse, [w.dim, w.dim]);
  const mean = tf.tensor2d(w.mean, [1, w.dim]);
  try {
    for (const name of g.params.names()) {
      // Every layer that reads cat(z, s): the affine MLPs' first layers, and fc when it reads the sentence too.
      if (!name.endsWith('.linear1.weight') && !(name === 'fc.weight' && g.config.fcSentence)) continue;
      const bias = name.replace(/weight$/, 'bias');
      const weight = values.get(name)!;
      const c = weight.length / (zDim + condDim);
      const [wz, ws] = tf.tidy(() => tf.split(tf.tensor2d(weight, [zDim + condDim, c]), [zDim, condDim], 0));
      const folded = tf.tidy(() => tf.concat([wz, tf.matMul(inv, ws)], 0));
      const shift = tf.tidy(() => tf.add(tf.tensor1d(values.get(bias)!), tf.reshape(tf.matMul(mean, ws), [c])));
      values.set(name, (await folded.data()) as Float32Array);
      values.set(bias, (await shift.data()) as Float32Array);
      tf.dispose([wz, ws, folded, shift]);
    }
  } finally {
    tf.dispose([inv, mean]);
  }
  g.params.assign(values);
}
