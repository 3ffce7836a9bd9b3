// DF-GAN's hinge losses with mismatched pairs. D: real + (fake + mismatch) / 2; G: -mean(C(D(G(z, s)), s)),
// optionally + w * mean(relu(1 + C(D(G(z, s)), s'))) for other captions s' (off in the reference DF-GAN).
import * as tf from '@tensorflow/tfjs-core';

export interface HingeOptions {
  /** Weight of the mismatched-pair term inside (fake + mismatch) * weight (official: 0.5 each). */
  fakeWeight: number;
  mismatchWeight: number;
  /**
   * Weight of G's mismatch term: G's image of caption s should also score as a mismatch (below -1) under another
   * caption s' of the batch. D(x, s) - D(x, s') cancels what D thinks of x regardless of the caption, so this term
   * pushes G only toward what tells its captions apart (0: DF-GAN's G loss).
   */
  generatorMismatchWeight: number;
}

export const HINGE_DEFAULTS: Readonly<HingeOptions> = Object.freeze({ fakeWeight: 0.5, mismatchWeight: 0.5, generatorMismatchWeight: 0 });

export interface DiscriminatorTerms {
  real: tf.Scalar;
  fake: tf.Scalar;
  mismatch: tf.Scalar;
  total: tf.Scalar;
}

export class HingeLoss {
  readonly fakeWeight: number;
  readonly mismatchWeight: number;
  readonly generatorMismatchWeight: number;

  constructor(opts: Partial<HingeOptions> = {}) {
    this.fakeWeight = opts.fakeWeight ?? HINGE_DEFAULTS.fakeWeight;
    this.mismatchWeight = opts.mismatchWeight ?? HINGE_DEFAULTS.mismatchWeight;
    this.generatorMismatchWeight = opts.generatorMismatchWeight ?? HINGE_DEFAULTS.generatorMismatchWeight;
    if (!(this.generatorMismatchWeight >= 0)) throw new RangeError(`generatorMismatchWeight must be >= 0, got ${this.generatorMismatchWeight}`);
  }

  get options(): HingeOptions {
    return { fakeWeight: this.fakeWeight, mismatchWeight: this.mismatchWeight, generatorMismatchWeight: this.generatorMismatchWeight };
  }

  /** Logits of real pairs, generated pairs and mismatched real pairs -> the D terms (call inside a tidy). */
  discriminator(real: tf.Tensor1D, fake: tf.Tensor1D, mismatch: tf.Tensor1D): DiscriminatorTerms {
    const r = tf.mean(tf.relu(tf.sub(1, real))) as tf.Scalar;
    const f = tf.mean(tf.relu(tf.add(1, fake))) as tf.Scalar;
    const m = tf.mean(tf.relu(tf.add(1, mismatch))) as tf.Scalar;
    const total = tf.addN([r, tf.mul(f, this.fakeWeight), tf.mul(m, this.mismatchWeight)]) as tf.Scalar;
    return { real: r, fake: f, mismatch: m, total };
  }

  /**
   * G's loss from the logits of its images under their own captions and, when generatorMismatchWeight > 0, under
   * other captions (`mismatch`, required then; call inside a tidy).
   */
  generator(fake: tf.Tensor1D, mismatch?: tf.Tensor1D): tf.Scalar {
    const own = tf.neg(tf.mean(fake)) as tf.Scalar;
    if (this.generatorMismatchWeight === 0) return own;
    if (!mismatch) throw new Error('the generator mismatch term needs the logits of mismatched captions');
    return tf.add(own, tf.mul(tf.mean(tf.relu(tf.add(1, mismatch))), this.generatorMismatchWeight)) as tf.Scalar;
  }
}
