// DF-GAN's hinge losses with mismatched pairs. D: real + (fake + mismatch) / 2; G: -mean(C(D(G(z, s)), s)).
// Optionally D also scores counterfactual pairs (a real image with its caption, one named attribute changed) as
// mismatched: a randomly mismatched caption differs in many attributes, so D can reject it by the most visible
// one (background, body colour) and never learn to check a beak or a crown; a counterfactual leaves it one.
import * as tf from '@tensorflow/tfjs-core';

export interface HingeOptions {
  /** Weight of the mismatched-pair term inside (fake + mismatch) * weight (official: 0.5 each). */
  fakeWeight: number;
  mismatchWeight: number;
  /** Weight of the counterfactual-pair term when its logits are given (not in the official release). */
  counterfactualWeight: number;
}

export const HINGE_DEFAULTS: Readonly<HingeOptions> = Object.freeze({ fakeWeight: 0.5, mismatchWeight: 0.5, counterfactualWeight: 0.5 });

export interface DiscriminatorTerms {
  real: tf.Scalar;
  fake: tf.Scalar;
  mismatch: tf.Scalar;
  /** Zero when no counterfactual logits were given. */
  counterfactual: tf.Scalar;
  total: tf.Scalar;
}

export class HingeLoss {
  readonly fakeWeight: number;
  readonly mismatchWeight: number;
  readonly counterfactualWeight: number;

  constructor(opts: Partial<HingeOptions> = {}) {
    this.fakeWeight = opts.fakeWeight ?? HINGE_DEFAULTS.fakeWeight;
    this.mismatchWeight = opts.mismatchWeight ?? HINGE_DEFAULTS.mismatchWeight;
    this.counterfactualWeight = opts.counterfactualWeight ?? HINGE_DEFAULTS.counterfactualWeight;
  }

  get options(): HingeOptions {
    return { fakeWeight: this.fakeWeight, mismatchWeight: this.mismatchWeight, counterfactualWeight: this.counterfactualWeight };
  }

  /**
   * Logits of real pairs, generated pairs, mismatched real pairs and (optionally) counterfactual real pairs -> the
   * D terms (call inside a tidy).
   */
  discriminator(real: tf.Tensor1D, fake: tf.Tensor1D, mismatch: tf.Tensor1D, counterfactual?: tf.Tensor1D): DiscriminatorTerms {
    const r = tf.mean(tf.relu(tf.sub(1, real))) as tf.Scalar;
    const f = tf.mean(tf.relu(tf.add(1, fake))) as tf.Scalar;
    const m = tf.mean(tf.relu(tf.add(1, mismatch))) as tf.Scalar;
    const cf = counterfactual ? (tf.mean(tf.relu(tf.add(1, counterfactual))) as tf.Scalar) : tf.scalar(0);
    const parts = [r, tf.mul(f, this.fakeWeight), tf.mul(m, this.mismatchWeight)];
    if (counterfactual) parts.push(tf.mul(cf, this.counterfactualWeight));
    const total = tf.addN(parts) as tf.Scalar;
    return { real: r, fake: f, mismatch: m, counterfactual: cf, total };
  }

  generator(fake: tf.Tensor1D): tf.Scalar {
    return tf.neg(tf.mean(fake)) as tf.Scalar;
  }
}
