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

test("G's mismatch term: its loss is -mean(C(x, s)) + w mean(relu(1 + C(x, s rolled by one))), and it changes G's gradients", () => {
  const cfg = parseGeneratorConfig({ imageSize: 32, nf: 4, condDim: 16 });
  const g = createGenerator(cfg, { seed: 1 });
  const d = createDiscriminator(cfg, { seed: 2 });
  const c = createConditionalHead(cfg, { seed: 3 });
  const s = tf.randomNormal([4, 16], 0, 1, 'float32', 6) as tf.Tensor2D;
  const z = tf.randomNormal([4, 100], 0, 1, 'float32', 7) as tf.Tensor2D;
  const opts = { lrG: 1e-3, lrD: 4e-3, beta1: 0, beta2: 0.9 };
  const plain = new DFGANStep(g, d, c, opts);
  const contrast = new DFGANStep(g, d, c, opts, new HingeLoss({ generatorMismatchWeight: 1.5 }));
  const draws = plain.drawAugment(4, 32, new Rng(3));
  const tensors = tf.memory().numTensors;
  const a = plain.gGrads(s, z, draws);
  const b = contrast.gGrads(s, z, draws);
  const expected = tf.tidy(() => {
    const feats = d.apply(plain.augment.apply(g.apply(z, s), draws.fake));
    const own = c.apply(feats, s).dataSync();
    const rolled = tf.concat([tf.slice(s, [1, 0], [3, 16]), tf.slice(s, [0, 0], [1, 16])], 0) as tf.Tensor2D;
    const mis = c.apply(feats, rolled).dataSync();
    const mean = (v: ArrayLike<number>) => Array.from(v).reduce((t, x) => t + x, 0) / v.length;
    return { plain: -mean(own), contrast: -mean(own) + 1.5 * mean(Array.from(mis, (m) => Math.max(0, 1 + m))) };
  });
  assert.ok(Math.abs(a.loss.dataSync()[0] - expected.plain) < 1e-5, `plain G loss ${a.loss.dataSync()[0]} vs ${expected.plain}`);
  assert.ok(Math.abs(b.loss.dataSync()[0] - expected.contrast) < 1e-5, `G loss with the mismatch term ${b.loss.dataSync()[0]} vs ${expected.contrast}`);
  assert.ok(expected.contrast > expected.plain, 'the fixture has mismatched logits above -1, so the term is active');
  const name = 'GBlocks.0.fuse1.affine0.fc_gamma.linear2.weight';
  assert.notDeepEqual(b.grads.get(name)!.dataSync(), a.grads.get(name)!.dataSync(), "the term reaches G's text-conditioned weights");
  tf.dispose([a.loss, b.loss, ...a.grads.values(), ...b.grads.values()]);
  assert.equal(tf.memory().numTensors, tensors, 'no tensors leak');
  tf.dispose([s, z]);
  plain.dispose();
  contrast.dispose();
  for (const m of [g, d, c]) m.dispose();
});
