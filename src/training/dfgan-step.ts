// One DF-GAN training step: a discriminator update (hinge with mismatched pairs + MA-GP), then a generator
// update, 1:1, as in the official release.
//
// The step is split into gradient computation (dGrads, gGrads) and application (applyD, applyG) so that a batch
// can be sharded over replicas (src/training/parallel/): each replica computes the gradients of its shard, the
// averaged gradient is applied everywhere. run() composes the four for one replica holding the whole batch.
import * as tf from '@tensorflow/tfjs-core';
import type { Generator } from '../model/generator.js';
import type { ConditionalHead, Discriminator } from '../model/discriminator.js';
import type { ParamStore } from '../model/params.js';
import { Rng } from '../model/sampling.js';
import { Adam } from './adam.js';
import { HingeLoss } from './losses/hinge.js';
import { MatchingAwareGradientPenalty } from './losses/ma-gp.js';
import { DiffAugment, type AugmentDraw } from './diff-augment.js';

export interface StepLosses {
  dReal: number;
  dFake: number;
  dMismatch: number;
  /** Present when the step scored counterfactual pairs. */
  dCounterfactual?: number;
  maGP: number;
  dTotal: number;
  g: number;
}

export interface StepOptions {
  lrG: number;
  lrD: number;
  beta1: number;
  beta2: number;
  /** Adam's epsilon (default 1e-8, PyTorch's). */
  eps?: number;
  /**
   * Mismatched pairs are formed within each of this many groups of consecutive samples (image i+1 with text i,
   * wrapping inside the group); default 1 = the whole batch, as in the release. A data-parallel run whose shards
   * are these groups computes the same maths as one replica with the whole batch.
   */
  mismatchGroups?: number;
}

/** The augmentation of one step: one draw for the real images, one for the fakes (D's and G's step share it). */
export interface StepDraws {
  real: AugmentDraw;
  fake: AugmentDraw;
}

/** Order of the values in DGradients.terms. */
export const D_TERMS = ['dReal', 'dFake', 'dMismatch', 'maGP', 'dTotal', 'dCounterfactual'] as const;

/** StepLosses from D's terms (ordered as D_TERMS) and G's loss; dCounterfactual only when the step scored it. */
export function stepLosses(terms: ArrayLike<number>, g: number, counterfactual: boolean): StepLosses {
  const [dReal, dFake, dMismatch, maGP, dTotal, dCounterfactual] = Array.from(terms);
  return { dReal, dFake, dMismatch, ...(counterfactual ? { dCounterfactual } : {}), maGP, dTotal, g };
}

export interface DGradients {
  /** Gradient of D's loss for every NetD ('netD/...') and NetC ('netC/...') parameter that has one. */
  grads: Map<string, tf.Tensor>;
  /** D_TERMS of this batch (kept on the backend until read). */
  terms: tf.Tensor1D;
}

export interface GGradients {
  grads: Map<string, tf.Tensor>;
  loss: tf.Scalar;
}

/** The common surface of a single-replica and a data-parallel step, as the training loop uses it. */
export interface TrainStep {
  readonly optG: Adam;
  readonly optD: Adam;
  /** `counterfactuals` [B, condDim]: sentence vectors of each image's caption with one attribute changed (optional). */
  run(images: tf.Tensor4D, sentences: tf.Tensor2D, z: tf.Tensor2D, rng: Rng, counterfactuals?: tf.Tensor2D): StepLosses | Promise<StepLosses>;
  dispose(): void | Promise<void>;
}

/** Sizes of `groups` consecutive groups covering `batch` samples; the first `batch % groups` get one more. */
export function groupSizes(batch: number, groups: number): number[] {
  if (!Number.isInteger(groups) || groups < 1) throw new RangeError(`groups must be a positive integer, got ${groups}`);
  const base = Math.floor(batch / groups);
  const extra = batch % groups;
  return Array.from({ length: groups }, (_, i) => base + (i < extra ? 1 : 0));
}

function varMap(...stores: Array<[string, ParamStore]>): Map<string, tf.Variable> {
  const m = new Map<string, tf.Variable>();
  for (const [prefix, s] of stores) for (const n of s.names()) m.set(`${prefix}${n}`, s.get(n));
  return m;
}

/** Rolls the batch by one: row i gets row i+1 (image i+1 paired with text i). */
function rollByOne<T extends tf.Tensor>(x: T): T {
  const b = x.shape[0];
  const begin = new Array(x.rank).fill(0);
  const rest = x.shape.slice(1);
  return tf.concat([tf.slice(x, [1, ...begin.slice(1)], [b - 1, ...rest]), tf.slice(x, begin, [1, ...rest])], 0) as T;
}

/** rollByOne inside each group of consecutive rows. */
function rollWithinGroups<T extends tf.Tensor>(x: T, sizes: number[]): T {
  if (sizes.length === 1) return rollByOne(x);
  const rest = x.shape.slice(1);
  const zeros = rest.map(() => 0);
  let start = 0;
  const parts = sizes.map((n) => {
    const part = rollByOne(tf.slice(x, [start, ...zeros], [n, ...rest]));
    start += n;
    return part;
  });
  return tf.concat(parts, 0) as T;
}

export class DFGANStep implements TrainStep {
  readonly optG: Adam;
  readonly optD: Adam;
  readonly mismatchGroups: number;
  private readonly gVars: Map<string, tf.Variable>;
  private readonly dVars: Map<string, tf.Variable>;

  constructor(
    readonly g: Generator,
    readonly d: Discriminator,
    readonly c: ConditionalHead,
    opts: StepOptions,
    readonly hinge = new HingeLoss(),
    readonly maGP = new MatchingAwareGradientPenalty(),
    readonly augment = new DiffAugment(),
  ) {
    this.mismatchGroups = opts.mismatchGroups ?? 1;
    groupSizes(2, this.mismatchGroups); // validates
    this.gVars = varMap(['', g.params]);
    // NetD and NetC share one optimizer, as in the release.
    this.dVars = varMap(['netD/', d.params], ['netC/', c.params]);
    const adam = { beta1: opts.beta1, beta2: opts.beta2, ...(opts.eps !== undefined ? { eps: opts.eps } : {}) };
    this.optG = new Adam(this.gVars, { lr: opts.lrG, ...adam }, 'g/');
    this.optD = new Adam(this.dVars, { lr: opts.lrD, ...adam }, 'd/');
  }

  /** Names and shapes of G's parameters in a fixed order (the keys of gGrads' and applyG's maps). */
  gParams(): Array<{ name: string; shape: number[] }> {
    return [...this.gVars].map(([name, v]) => ({ name, shape: v.shape.slice() }));
  }

  /** Names and shapes of D's and C's parameters in a fixed order ('netD/...', then 'netC/...'). */
  dParams(): Array<{ name: string; shape: number[] }> {
    return [...this.dVars].map(([name, v]) => ({ name, shape: v.shape.slice() }));
  }

  /** The augmentation of a step, drawn on the host: real first, then fake (the order run() has always used). */
  drawAugment(batch: number, size: number, rng: Rng): StepDraws {
    return { real: this.augment.draw(batch, size, rng), fake: this.augment.draw(batch, size, rng) };
  }

  /**
   * Gradients of D's loss: images [B, S, S, 3] in [-1, 1], sentences [B, condDim], z [B, zDim] (the fakes are
   * G(z, sentences) with G's current weights, not differentiated); `counterfactuals` [B, condDim], when given, are
   * scored with the real images as further mismatched pairs. The caller owns and disposes the result.
   */
  dGrads(images: tf.Tensor4D, sentences: tf.Tensor2D, z: tf.Tensor2D, draws: StepDraws, counterfactuals?: tf.Tensor2D): DGradients {
    const sizes = groupSizes(images.shape[0], this.mismatchGroups);
    if (sizes.some((n) => n < 2)) {
      throw new RangeError(`mismatched pairs need at least 2 samples per group: batch ${images.shape[0]}, ${this.mismatchGroups} groups`);
    }
    const fake = tf.tidy(() => this.g.apply(z, sentences)); // stop-gradient copy for D's step
    const realAug = this.augment.apply(images, draws.real);
    const fakeAug = this.augment.apply(fake, draws.fake);

    let parts: tf.Tensor1D | undefined;
    const dOut = tf.variableGrads(() => {
      // One forward of D on the real batch serves the real logits, the mismatch pairs and MA-GP's gradient.
      let feats: tf.Tensor4D | undefined;
      const { value: pReal, grads } = tf.valueAndGrads((x: tf.Tensor, s: tf.Tensor) => {
        feats = tf.keep(this.d.apply(x as tf.Tensor4D));
        return this.c.apply(feats, s as tf.Tensor2D);
      })([realAug, sentences]);
      const [gx, gs] = grads;
      const pMis = this.c.apply(rollWithinGroups(feats!, sizes), sentences);
      const pCf = counterfactuals ? this.c.apply(feats!, counterfactuals) : undefined;
      const pFake = this.c.apply(this.d.apply(fakeAug), sentences);
      const terms = this.hinge.discriminator(pReal as tf.Tensor1D, pFake, pMis, pCf);
      const penalty = this.maGP.fromGradients(gx as tf.Tensor4D, gs as tf.Tensor2D);
      const total = tf.add(terms.total, penalty) as tf.Scalar;
      parts = tf.keep(tf.stack([terms.real, terms.fake, terms.mismatch, penalty, total, terms.counterfactual]) as tf.Tensor1D);
      feats!.dispose();
      return total;
    }, [...this.dVars.values()]);
    tf.dispose([dOut.value, fake, fakeAug]);
    if (realAug !== images) realAug.dispose();
    return { grads: this.namedGrads(this.dVars, dOut.grads), terms: parts! };
  }

  /** One Adam update of D and C from gradients keyed like dGrads' (the caller keeps ownership of them). */
  applyD(grads: Map<string, tf.Tensor>): void {
    this.optD.apply(grads);
  }

  /** Gradients of G's loss through D and C as they are now (call after applyD); the caller disposes them. */
  gGrads(sentences: tf.Tensor2D, z: tf.Tensor2D, draws: StepDraws): GGradients {
    const gOut = tf.variableGrads(() => {
      const x = this.augment.apply(this.g.apply(z, sentences), draws.fake);
      return this.hinge.generator(this.c.apply(this.d.apply(x), sentences));
    }, [...this.gVars.values()]);
    return { grads: this.namedGrads(this.gVars, gOut.grads), loss: gOut.value };
  }

  applyG(grads: Map<string, tf.Tensor>): void {
    this.optG.apply(grads);
  }

  /**
   * images [B, S, S, 3] in [-1, 1], sentences [B, condDim] (frozen encoder output), z [B, zDim] ~ N(0, 1);
   * `rng` draws the augmentation. Returns the losses of this step.
   */
  run(images: tf.Tensor4D, sentences: tf.Tensor2D, z: tf.Tensor2D, rng: Rng, counterfactuals?: tf.Tensor2D): StepLosses {
    const [b, size] = images.shape;
    const draws = this.drawAugment(b, size, rng);
    const d = this.dGrads(images, sentences, z, draws, counterfactuals);
    this.applyD(d.grads);
    tf.dispose([...d.grads.values()]);
    const g = this.gGrads(sentences, z, draws);
    this.applyG(g.grads);
    tf.dispose([...g.grads.values()]);
    // Read back once, at the end: nothing waits on the host in the middle of the step.
    const terms = d.terms.dataSync();
    const gLoss = g.loss.dataSync()[0];
    tf.dispose([d.terms, g.loss]);
    return stepLosses(terms, gLoss, counterfactuals !== undefined);
  }

  private namedGrads(vars: Map<string, tf.Variable>, grads: tf.NamedTensorMap): Map<string, tf.Tensor> {
    const out = new Map<string, tf.Tensor>();
    for (const [name, v] of vars) if (grads[v.name]) out.set(name, grads[v.name]);
    // A variable that did not take part has no gradient; drop anything else tfjs returned so nothing leaks.
    const used = new Set([...out.values()]);
    for (const t of Object.values(grads)) if (!used.has(t)) t.dispose();
    return out;
  }

  dispose(): void {
    this.optG.dispose();
    this.optD.dispose();
  }
}
