// DF-GAN's hinge losses with mismatched pairs. D: real + (fake + mismatch) / 2; G: -mean(C(D(G(z, s)), s)).
import * as tf from '@tensorflow/tfjs-core';

export interface HingeOptions {
  /** Weight of the mismatched-pair term inside (fake + mismatch) * weight (official: 0.5 each). */
  fakeWeight: number;
  mismatchWeight: number;
}

export const HINGE_DEFAULTS: Readonly<HingeOptions> = Object.freeze({ fakeWeight: 0.5, mismatchWeight: 0.5 });

export interface DiscriminatorTerms {
  real: tf.Scalar;
  fake: tf.Scalar;
  mismatch: tf.Scalar;
  total: tf.Scalar;
}

export class HingeLoss {
  readonly fakeWeight: number;
  readonly mismatchWeight: number;

  constructor(opts: Partial<HingeOptions> = {}) {
    this.fakeWeight = opts.fakeWeight ?? HINGE_DEFAULTS.fakeWeight;
    this.mismatchWeight = opts.mismatchWeight ?? HINGE_DEFAULTS.mismatchWeight;
  }

  /** Logits of real pairs, generated pairs and mismatched real pairs -> the D terms (call inside a tidy). */
  discriminator(real: tf.Tensor1D, fake: tf.Tensor1D, mismatch: tf.Tensor1D): DiscriminatorTerms {
    const r = tf.mean(tf.relu(tf.sub(1, real))) as tf.Scalar;
    const f = tf.mean(tf.relu(tf.add(1, fake))) as tf.Scalar;
    const m = tf.mean(tf.relu(tf.add(1, mismatch))) as tf.Scalar;
    const total = tf.addN([r, tf.mul(f, this.fakeWeight), tf.mul(m, this.mismatchWeight)]) as tf.Scalar;
    return { real: r, fake: f, mismatch: m, total };
  }

  generator(fake: tf.Tensor1D): tf.Scalar {
    return tf.neg(tf.mean(fake)) as tf.Scalar;
  }
}
