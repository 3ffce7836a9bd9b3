import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { useTestBackend } from '../helpers/backend.js';
import { parseGeneratorConfig } from '../../src/model/config.js';
import { createGenerator } from '../../src/model/generator.js';
import { createConditionalHead, createDiscriminator } from '../../src/model/discriminator.js';
import { Rng } from '../../src/model/sampling.js';
import { DFGANStep } from '../../src/training/dfgan-step.js';
import { HingeLoss } from '../../src/training/losses/hinge.js';

before(async () => {
  await useTestBackend();
});

test('a training step gives finite losses, moves G, D and C, and leaks nothing', async () => {
  const cfg = parseGeneratorConfig({ imageSize: 32, nf: 4, condDim: 16 });
  const g = createGenerator(cfg, { seed: 1 });
  const d = createDiscriminator(cfg, { seed: 2 });
  const c = createConditionalHead(cfg, { seed: 3 });
  const step = new DFGANStep(g, d, c, { lrG: 1e-3, lrD: 4e-3, beta1: 0, beta2: 0.9 });
  const images = tf.randomUniform([4, 32, 32, 3], -1, 1, 'float32', 5) as tf.Tensor4D;
  const s = tf.randomNormal([4, 16], 0, 1, 'float32', 6) as tf.Tensor2D;
  const z = tf.randomNormal([4, 100], 0, 1, 'float32', 7) as tf.Tensor2D;
  const before = {
    g: (await g.params.read()).get('GBlocks.0.fuse1.affine0.fc_gamma.linear2.weight')!.slice(),
    d: (await d.params.read()).get('DBlocks.0.gamma')!.slice(),
    c: (await c.params.read()).get('joint_conv.0.weight')!.slice(),
  };
  const rng = new Rng(1);
  step.run(images, s, z, rng); // warm-up (creates nothing that persists besides optimizer state)
  const tensors = tf.memory().numTensors;
  const losses = step.run(images, s, z, rng);
  assert.equal(tf.memory().numTensors, tensors, 'no tensors leak per step');
  for (const [k, v] of Object.entries(losses)) assert.ok(Number.isFinite(v), `${k} = ${v}`);
  assert.ok(losses.dReal >= 0 && losses.dFake >= 0 && losses.dMismatch >= 0 && losses.maGP >= 0);
  assert.ok(Math.abs(losses.dTotal - (losses.dReal + 0.5 * losses.dFake + 0.5 * losses.dMismatch + losses.maGP)) < 1e-4);
  const after = {
    g: (await g.params.read()).get('GBlocks.0.fuse1.affine0.fc_gamma.linear2.weight')!,
    d: (await d.params.read()).get('DBlocks.0.gamma')!,
    c: (await c.params.read()).get('joint_conv.0.weight')!,
  };
  assert.notDeepEqual(after.g, before.g, 'G moved (its identity-initialised affine left the identity)');
  assert.notDeepEqual(after.d, before.d, 'D moved (its residual scale left 0)');
  assert.notDeepEqual(after.c, before.c, 'C moved');
  assert.equal(step.optG.step, 2);
  tf.dispose([images, s, z]);
  step.dispose();
  for (const m of [g, d, c]) m.dispose();
});

test('counterfactual pairs: D adds weight * mean(relu(1 + C(D(real), counterfactual))) to its loss; G is unchanged', () => {
  const cfg = parseGeneratorConfig({ imageSize: 32, nf: 4, condDim: 16 });
  const g = createGenerator(cfg, { seed: 1 });
  const d = createDiscriminator(cfg, { seed: 2 });
  const c = createConditionalHead(cfg, { seed: 3 });
  const step = new DFGANStep(g, d, c, { lrG: 1e-3, lrD: 4e-3, beta1: 0, beta2: 0.9 }, new HingeLoss({ counterfactualWeight: 0.7 }));
  const images = tf.randomUniform([4, 32, 32, 3], -1, 1, 'float32', 5) as tf.Tensor4D;
  const s = tf.randomNormal([4, 16], 0, 1, 'float32', 6) as tf.Tensor2D;
  const cf = tf.randomNormal([4, 16], 0, 3, 'float32', 8) as tf.Tensor2D;
  const z = tf.randomNormal([4, 100], 0, 1, 'float32', 7) as tf.Tensor2D;
  const draws = step.drawAugment(4, 32, new Rng(3));
  const tensors = tf.memory().numTensors;
  const without = step.dGrads(images, s, z, draws);
  const withCf = step.dGrads(images, s, z, draws, cf);
  const t0 = without.terms.arraySync();
  const t1 = withCf.terms.arraySync();
  const expected = tf.tidy(() => tf.mean(tf.relu(tf.add(1, c.apply(d.apply(step.augment.apply(images, draws.real)), cf)))).arraySync() as number);
  assert.ok(expected > 0, 'the term is active');
  assert.ok(Math.abs(t1[5] - expected) < 1e-5, `dCounterfactual ${t1[5]} vs ${expected}`);
  assert.equal(t0[5], 0, 'no term without counterfactuals');
  for (const j of [0, 1, 2, 3]) assert.ok(Math.abs(t1[j] - t0[j]) < 1e-5, `term ${j} unchanged`);
  assert.ok(Math.abs(t1[4] - (t0[4] + 0.7 * expected)) < 1e-4, `total ${t1[4]} = ${t0[4]} + 0.7 * ${expected}`);
  const gradDiff = tf.tidy(() => tf.sum(tf.abs(tf.sub(withCf.grads.get('netC/joint_conv.0.weight')!, without.grads.get('netC/joint_conv.0.weight')!))).arraySync() as number);
  assert.ok(gradDiff > 0, "the term reaches the head's weights");
  tf.dispose([without.terms, withCf.terms, ...without.grads.values(), ...withCf.grads.values()]);
  assert.equal(tf.memory().numTensors, tensors, 'nothing leaks');
  const losses = step.run(images, s, z, new Rng(4), cf);
  assert.ok(losses.dCounterfactual !== undefined && losses.dCounterfactual > 0);
  assert.equal(step.run(images, s, z, new Rng(5)).dCounterfactual, undefined, 'absent when not scored');
  tf.dispose([images, s, cf, z]);
  step.dispose();
  for (const m of [g, d, c]) m.dispose();
});
