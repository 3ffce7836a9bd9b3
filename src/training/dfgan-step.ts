// One DF-GAN training step: a discriminator update (hinge with mismatched pairs + MA-GP), then a generator
// update, 1:1, as in the official release.
import * as tf from '@tensorflow/tfjs-core';
import type { Generator } from '../model/generator.js';
import type { ConditionalHead, Discriminator } from '../model/discriminator.js';
import type { ParamStore } from '../model/params.js';
import { Rng } from '../model/sampling.js';
import { Adam } from './adam.js';
import { HingeLoss } from './losses/hinge.js';
import { MatchingAwareGradientPenalty } from './losses/ma-gp.js';
import { DiffAugment } from './diff-augment.js';

export interface StepLosses {
  dReal: number;
  dFake: number;
  dMismatch: number;
  maGP: number;
  dTotal: number;
  g: number;
}

export interface StepOptions {
  lrG: number;
  lrD: number;
  beta1: number;
  beta2: number;
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

export class DFGANStep {
  readonly optG: Adam;
  readonly optD: Adam;
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
    this.gVars = varMap(['', g.params]);
    // NetD and NetC share one optimizer, as in the release.
    this.dVars = varMap(['netD/', d.params], ['netC/', c.params]);
    this.optG = new Adam(this.gVars, { lr: opts.lrG, beta1: opts.beta1, beta2: opts.beta2 }, 'g/');
    this.optD = new Adam(this.dVars, { lr: opts.lrD, beta1: opts.beta1, beta2: opts.beta2 }, 'd/');
  }

  /**
   * images [B, S, S, 3] in [-1, 1], sentences [B, condDim] (frozen encoder output), z [B, zDim] ~ N(0, 1);
   * `rng` draws the augmentation. Returns the losses of this step.
   */
  run(images: tf.Tensor4D, sentences: tf.Tensor2D, z: tf.Tensor2D, rng: Rng): StepLosses {
    const [b, size] = images.shape;
    const fake = tf.tidy(() => this.g.apply(z, sentences)); // stop-gradient copy for D's step
    const drawReal = this.augment.draw(b, size, rng);
    const drawFake = this.augment.draw(b, size, rng);
    const realAug = this.augment.apply(images, drawReal);
    const fakeAug = this.augment.apply(fake, drawFake);

    let parts: tf.Tensor | undefined;
    const dVarList = [...this.dVars.values()];
    const dOut = tf.variableGrads(() => {
      // One forward of D on the real batch serves the real logits, the mismatch pairs and MA-GP's gradient.
      let feats: tf.Tensor4D | undefined;
      const { value: pReal, grads } = tf.valueAndGrads((x: tf.Tensor, s: tf.Tensor) => {
        feats = tf.keep(this.d.apply(x as tf.Tensor4D));
        return this.c.apply(feats, s as tf.Tensor2D);
      })([realAug, sentences]);
      const [gx, gs] = grads;
      const pMis = this.c.apply(rollByOne(feats!), sentences);
      const pFake = this.c.apply(this.d.apply(fakeAug), sentences);
      const terms = this.hinge.discriminator(pReal as tf.Tensor1D, pFake, pMis);
      const penalty = this.maGP.fromGradients(gx as tf.Tensor4D, gs as tf.Tensor2D);
      const total = tf.add(terms.total, penalty) as tf.Scalar;
      parts = tf.keep(tf.stack([terms.real, terms.fake, terms.mismatch, penalty, total]));
      feats!.dispose();
      return total;
    }, dVarList);
    this.optD.apply(this.namedGrads(this.dVars, dOut.grads));
    tf.dispose([dOut.value, ...Object.values(dOut.grads), fake, fakeAug]);
    if (realAug !== images) realAug.dispose();

    const gOut = tf.variableGrads(() => {
      const x = this.augment.apply(this.g.apply(z, sentences), drawFake);
      return this.hinge.generator(this.c.apply(this.d.apply(x), sentences));
    }, [...this.gVars.values()]);
    const g = gOut.value.dataSync()[0];
    this.optG.apply(this.namedGrads(this.gVars, gOut.grads));
    tf.dispose([gOut.value, ...Object.values(gOut.grads)]);

    const [dReal, dFake, dMismatch, maGP, dTotal] = parts!.dataSync();
    parts!.dispose();
    return { dReal, dFake, dMismatch, maGP, dTotal, g };
  }

  private namedGrads(vars: Map<string, tf.Variable>, grads: tf.NamedTensorMap): Map<string, tf.Tensor> {
    const out = new Map<string, tf.Tensor>();
    for (const [name, v] of vars) if (grads[v.name]) out.set(name, grads[v.name]);
    return out;
  }

  dispose(): void {
    this.optG.dispose();
    this.optD.dispose();
  }
}
