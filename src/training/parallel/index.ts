// Picks the training step for a run: one replica (DFGANStep) or data-parallel replicas (ParallelStep).
import * as tf from '@tensorflow/tfjs-core';
import type { Generator } from '../../model/generator.js';
import type { ConditionalHead, Discriminator } from '../../model/discriminator.js';
import type { DiffAugment } from '../diff-augment.js';
import type { HingeLoss } from '../losses/hinge.js';
import type { MatchingAwareGradientPenalty } from '../losses/ma-gp.js';
import { DFGANStep, type StepOptions, type TrainStep } from '../dfgan-step.js';
import { ParallelStep } from './parallel-step.js';

export { ParallelStep, type ParallelOptions, type ReplicaState } from './parallel-step.js';

/**
 * Replicas worth running: at most `requested`, at least 2 images per shard (mismatched pairs are formed inside a
 * shard), and 1 on the native TensorFlow backends, which use every core by themselves.
 */
export function usableWorkers(requested: number, batchSize: number, tfBackend = tf.getBackend()): number {
  if (tfBackend === 'tensorflow') return 1;
  return Math.max(1, Math.min(requested, Math.floor(batchSize / 2)));
}

export function createTrainStep(
  g: Generator,
  d: Discriminator,
  c: ConditionalHead,
  opts: StepOptions,
  hinge: HingeLoss,
  maGP: MatchingAwareGradientPenalty,
  augment: DiffAugment,
  workers: number,
): TrainStep {
  return workers > 1
    ? new ParallelStep(g, d, c, opts, hinge, maGP, augment, { workers })
    : new DFGANStep(g, d, c, opts, hinge, maGP, augment);
}
