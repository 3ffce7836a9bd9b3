// The training step the benchmarks time: fresh G, D and C of one size (fixed seeds), the release's Adam settings,
// and one random batch of images, sentence vectors and noise.
import * as tf from '@tensorflow/tfjs-core';
import { parseGeneratorConfig } from '../src/model/config.js';
import { createGenerator, type Generator } from '../src/model/generator.js';
import { createConditionalHead, createDiscriminator } from '../src/model/discriminator.js';
import { DFGANStep } from '../src/training/dfgan-step.js';

export interface StepFixture {
  g: Generator;
  step: DFGANStep;
  images: tf.Tensor4D;
  s: tf.Tensor2D;
  z: tf.Tensor2D;
  dispose(): void;
}

export function stepFixture(size: number, nf: number, batch: number): StepFixture {
  const cfg = parseGeneratorConfig({ imageSize: size, nf });
  const g = createGenerator(cfg, { seed: 1 });
  const d = createDiscriminator(cfg, { seed: 2 });
  const c = createConditionalHead(cfg, { seed: 3 });
  const step = new DFGANStep(g, d, c, { lrG: 1e-4, lrD: 4e-4, beta1: 0, beta2: 0.9 });
  const images = tf.randomUniform([batch, size, size, 3], -1, 1) as tf.Tensor4D;
  const s = tf.randomNormal([batch, cfg.condDim]) as tf.Tensor2D;
  const z = tf.randomNormal([batch, cfg.zDim]) as tf.Tensor2D;
  return {
    g, step, images, s, z,
    dispose() {
      tf.dispose([images, s, z]);
      step.dispose();
      for (const m of [g, d, c]) m.dispose();
    },
  };
}
