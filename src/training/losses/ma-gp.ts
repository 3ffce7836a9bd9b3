// Matching-aware gradient penalty (DF-GAN): on real images with their matching sentences, the joint L2 norm of
// the gradient of D's logit w.r.t. pixels and sentence, raised to p, scaled by k. D trains through this gradient.
import * as tf from '@tensorflow/tfjs-core';
import type { ConditionalHead, Discriminator } from '../../model/discriminator.js';

export interface MAGPOptions {
  /** Weight of the penalty (official: 2). */
  k: number;
  /** Power of the gradient norm (official: 6). */
  p: number;
}

export const MAGP_DEFAULTS: Readonly<MAGPOptions> = Object.freeze({ k: 2, p: 6 });

export class MatchingAwareGradientPenalty {
  readonly k: number;
  readonly p: number;

  constructor(opts: Partial<MAGPOptions> = {}) {
    this.k = opts.k ?? MAGP_DEFAULTS.k;
    this.p = opts.p ?? MAGP_DEFAULTS.p;
    if (!(this.k >= 0) || !(this.p > 0)) throw new RangeError(`MA-GP needs k >= 0 and p > 0, got k=${this.k}, p=${this.p}`);
  }

  /** k * mean(||(dC/dx, dC/ds)||^p) over the batch; differentiable w.r.t. D's and C's weights. */
  apply(d: Discriminator, c: ConditionalHead, images: tf.Tensor4D, sentences: tf.Tensor2D): tf.Scalar {
    return tf.tidy(() => {
      const [gx, gs] = tf.grads((x: tf.Tensor, s: tf.Tensor) => tf.sum(c.apply(d.apply(x as tf.Tensor4D), s as tf.Tensor2D)))([
        images,
        sentences,
      ]);
      return this.fromGradients(gx as tf.Tensor4D, gs as tf.Tensor2D);
    });
  }

  /** The penalty from already computed per-sample gradients w.r.t. images [B, ...] and sentences [B, ...]. */
  fromGradients(gradImages: tf.Tensor, gradSentences: tf.Tensor): tf.Scalar {
    return tf.tidy(() => {
      const b = gradImages.shape[0];
      const sq = tf.add(tf.sum(tf.square(tf.reshape(gradImages, [b, -1])), 1), tf.sum(tf.square(tf.reshape(gradSentences, [b, -1])), 1));
      // ||g||^p as (||g||^2)^(p/2): same value, and no sqrt whose derivative blows up at a zero gradient.
      return tf.mul(this.k, tf.mean(tf.pow(sq, this.p / 2))) as tf.Scalar;
    });
  }
}
