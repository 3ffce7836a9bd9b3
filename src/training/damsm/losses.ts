// DAMSM matching losses (AttnGAN, Xu et al. 2018, miscc/losses.py: sent_loss, words_loss, func_attention).
//
// Score matrices are [images, captions]: entry (j, i) scores image j against caption i; in a training batch the
// matching pairs are the diagonal. Each loss is cross-entropy both ways over the batch, with scores scaled by
// gamma3: `imageToText` classifies each image's row over the captions (AttnGAN's loss0), `textToImage` each
// caption's column over the images (loss1). Pairs j != i with the same class id (AttnGAN: the same CUB class;
// here e.g. identical captions) can be masked out of the softmax.
//
// Sentence level: cos(global image feature j, sentence i).
// Word level (for caption i and image j):
//   s[r, w]     = region_r . word_w                                    (raw dot products)
//   s'[r, w]    = softmax over the caption's words w of s[r, w]        (func_attention's first softmax)
//   a[w, r]     = softmax over regions r of gamma1 * s'[r, w]          (attention of word w over the regions)
//   c_w         = sum_r a[w, r] region_r                               (region-context vector)
//   R_w         = cos(c_w, word_w)
//   score(j, i) = log(sum_w exp(gamma2 R_w))^(1/gamma2) = log(sum_w exp(gamma2 R_w)) / gamma2  (the paper's eq. 10;
//                 AttnGAN's code leaves out the 1/gamma2, which only rescales the logits by gamma2)
// Cosines divide by max(|x| |y|, 1e-8) as AttnGAN's cosine_similarity does; norms are taken of max(|x|^2, 1e-16)
// so that zero (padded) word vectors give finite gradients.
import * as tf from '@tensorflow/tfjs-core';
import { DfganError } from '../../errors.js';

export const DAMSM_GAMMAS = Object.freeze({ gamma1: 4, gamma2: 5, gamma3: 10 });

const COS_EPS = 1e-8;
const SQ_EPS = 1e-16;
/** Added to logits that must not count (padded words, masked pairs): exp() of it is 0 in float32. */
const MASKED = -1e9;

// A type alias (not an interface) so that tf.tidy accepts it as a TensorContainer.
export type MatchingLoss = {
  /** imageToText + textToImage. */
  total: tf.Scalar;
  /** Mean cross-entropy of each image over the batch's captions (AttnGAN's loss0). */
  imageToText: tf.Scalar;
  /** Mean cross-entropy of each caption over the batch's images (AttnGAN's loss1). */
  textToImage: tf.Scalar;
};

export interface MatchingOptions {
  /**
   * One id per pair of the batch: off-diagonal pairs with equal ids are left out of both softmaxes (they are not
   * counted as mismatches). Absent: every off-diagonal pair is a mismatch.
   */
  classIds?: ArrayLike<number>;
}

// tfjs-backend-wasm 4.22 runs only the plain product (no transpose, batch 1) through XNNPACK; transposed or
// batched products take a scalar loop 10-50x slower, and matMul's gradients are exactly such products. On wasm
// the products below go through explicit (fast) transposes and one 2-D product per batch entry instead.
function onWasm(): boolean {
  return tf.getBackend() === 'wasm';
}

/** a [M, K] @ b [K, N], with a gradient made of untransposed products on wasm. */
export function matMul2d(a: tf.Tensor2D, b: tf.Tensor2D): tf.Tensor2D {
  if (!onWasm()) return tf.matMul(a, b);
  const f = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const [x, y, save] = args as [tf.Tensor, tf.Tensor, tf.GradSaveFunc];
    save([x, y]);
    return {
      value: tf.matMul(x as tf.Tensor2D, y as tf.Tensor2D),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [sx, sy] = saved as tf.Tensor2D[];
        return [tf.matMul(dy as tf.Tensor2D, tf.transpose(sy)), tf.matMul(tf.transpose(sx), dy as tf.Tensor2D)];
      },
    };
  });
  return f(a, b) as tf.Tensor2D;
}

function sqrtClamped(sumSq: tf.Tensor): tf.Tensor {
  return tf.sqrt(tf.maximum(sumSq, SQ_EPS));
}

/** [Bimg, Btxt]: cosine similarity of every image feature (rows) with every sentence vector (columns). */
export function sentenceSimilarity(sent: tf.Tensor2D, img: tf.Tensor2D): tf.Tensor2D {
  if (sent.rank !== 2 || img.rank !== 2 || sent.shape[1] !== img.shape[1]) {
    throw new DfganError('INVALID_ARGUMENT', `sentence [${sent.shape}] and image [${img.shape}] features must be [B, D] of one D`);
  }
  return tf.tidy(() => {
    const dots = matMul2d(img, tf.transpose(sent)); // [Bj, Bi]
    const nImg = sqrtClamped(tf.sum(tf.square(img), 1, true)); // [Bj, 1]
    const nSent = tf.reshape(sqrtClamped(tf.sum(tf.square(sent), 1)), [1, -1]); // [1, Bi]
    return tf.div(dots, tf.maximum(tf.mul(nImg, nSent), COS_EPS)) as tf.Tensor2D;
  });
}

/** [Bi, T] float mask: 1 for the first lengths[i] positions. */
function lengthMask(lengths: readonly number[], T: number): tf.Tensor2D {
  const data = new Float32Array(lengths.length * T);
  lengths.forEach((n, i) => data.fill(1, i * T, i * T + n));
  return tf.tensor2d(data, [lengths.length, T]);
}

/**
 * [Bimg, Btxt]: word-level score of every image (rows) with every caption (columns), before gamma3.
 * words [Bi, T, D] (positions >= lengths[i] are ignored), regions [Bj, R, D].
 */
export function wordSimilarity(words: tf.Tensor3D, lengths: readonly number[], regions: tf.Tensor3D, gamma1: number, gamma2: number): tf.Tensor2D {
  const [Bi, T, D] = words.shape;
  const [Bj, R, D2] = regions.shape;
  if (words.rank !== 3 || regions.rank !== 3 || D !== D2) {
    throw new DfganError('INVALID_ARGUMENT', `words [${words.shape}] and regions [${regions.shape}] must be [B, T, D] and [B, R, D] of one D`);
  }
  if (lengths.length !== Bi || lengths.some((n) => !Number.isInteger(n) || n < 1 || n > T)) {
    throw new DfganError('INVALID_ARGUMENT', `lengths must give 1..${T} words for each of the ${Bi} captions, got [${lengths}]`);
  }
  return tf.tidy(() => {
    const Q = Bi * T;
    const mask = lengthMask(lengths, T); // [Bi, T]
    const negMask = tf.reshape(tf.mul(tf.sub(1, mask), MASKED), [1, Bi, T]);
    const wordsFlat = tf.reshape(words, [Q, D]);
    const wordsT = tf.transpose(wordsFlat) as tf.Tensor2D; // [D, Q]
    const wordNorm = sqrtClamped(tf.sum(tf.square(wordsFlat), 1)); // [Q]
    // One image at a time: every product is a plain 2-D one and no large tensor is sliced (on wasm a slice
    // copies its whole source), and the [R, Q] intermediates stay small.
    const rows = (tf.unstack(regions) as tf.Tensor2D[]).map((reg) => {
      const raw = matMul2d(reg, wordsT); // [R, Q]: region_r . word_w
      // func_attention: softmax over each caption's words, then over the regions of gamma1 times that.
      const overWords = tf.reshape(tf.softmax(tf.add(tf.reshape(raw, [R, Bi, T]), negMask)), [R, Q]);
      const attn = tf.softmax(tf.mul(tf.transpose(overWords), gamma1)) as tf.Tensor2D; // [Q, R]
      // c_w . word_w = sum_r a[w, r] (region_r . word_w); |c_w|^2 = a G a^T with G = reg reg^T ([R, R]).
      const dot = tf.sum(tf.mul(attn, tf.transpose(raw)), 1); // [Q]
      const gram = matMul2d(reg, tf.transpose(reg) as tf.Tensor2D);
      const ctxNorm = sqrtClamped(tf.sum(tf.mul(matMul2d(attn, gram), attn), 1)); // [Q]
      const cos = tf.div(dot, tf.maximum(tf.mul(ctxNorm, wordNorm), COS_EPS));
      const e = tf.mul(tf.exp(tf.mul(tf.reshape(cos, [Bi, T]), gamma2)), mask);
      return tf.div(tf.log(tf.sum(e, 1)), gamma2); // [Bi]
    });
    return tf.stack(rows) as tf.Tensor2D;
  });
}

/** Cross-entropy both ways over a square [images, captions] matrix of logits whose diagonal holds the matches. */
export function matchingLoss(logits: tf.Tensor2D, opts: MatchingOptions = {}): MatchingLoss {
  const [B, B2] = logits.shape;
  if (B !== B2) throw new DfganError('INVALID_ARGUMENT', `matching logits must be square, got [${logits.shape}]`);
  const ids = opts.classIds;
  if (ids && ids.length !== B) throw new DfganError('INVALID_ARGUMENT', `classIds has ${ids.length} entries for a batch of ${B}`);
  return tf.tidy(() => {
    let scores = logits;
    if (ids) {
      const m = new Float32Array(B * B);
      for (let j = 0; j < B; j++) for (let i = 0; i < B; i++) if (i !== j && ids[i] === ids[j]) m[j * B + i] = MASKED;
      scores = tf.add(scores, tf.tensor2d(m, [B, B]));
    }
    const eye = tf.eye(B);
    const ce = (x: tf.Tensor2D) => tf.neg(tf.div(tf.sum(tf.mul(tf.logSoftmax(x), eye)), B)) as tf.Scalar;
    const imageToText = ce(scores);
    const textToImage = ce(tf.transpose(scores));
    return { total: tf.add(imageToText, textToImage) as tf.Scalar, imageToText, textToImage };
  });
}

/** AttnGAN's sent_loss: sentences [B, D] and global image features [B, D] of matching pairs (row i with row i). */
export function sentenceLoss(sent: tf.Tensor2D, img: tf.Tensor2D, gamma3: number, opts: MatchingOptions = {}): MatchingLoss {
  if (sent.shape[0] !== img.shape[0]) throw new DfganError('INVALID_ARGUMENT', `${sent.shape[0]} sentences for ${img.shape[0]} images`);
  return tf.tidy(() => matchingLoss(tf.mul(sentenceSimilarity(sent, img), gamma3) as tf.Tensor2D, opts));
}

/** AttnGAN's words_loss: words [B, T, D] with lengths, region features [B, R, D] of matching pairs. */
export function wordLoss(
  words: tf.Tensor3D,
  lengths: readonly number[],
  regions: tf.Tensor3D,
  gamma1: number,
  gamma2: number,
  gamma3: number,
  opts: MatchingOptions = {},
): MatchingLoss {
  if (words.shape[0] !== regions.shape[0]) throw new DfganError('INVALID_ARGUMENT', `${words.shape[0]} captions for ${regions.shape[0]} images`);
  return tf.tidy(() => matchingLoss(tf.mul(wordSimilarity(words, lengths, regions, gamma1, gamma2), gamma3) as tf.Tensor2D, opts));
}

/** Image -> text top-k accuracy of a square [images, captions] score matrix (the match of row j is column j). */
export async function retrievalAccuracy(scores: tf.Tensor2D, k = 1): Promise<number> {
  const [B] = scores.shape;
  const data = await scores.data();
  let hits = 0;
  for (let j = 0; j < B; j++) {
    const own = data[j * B + j];
    let better = 0;
    for (let i = 0; i < B; i++) if (i !== j && data[j * B + i] >= own) better++;
    if (better < k) hits++;
  }
  return hits / B;
}
