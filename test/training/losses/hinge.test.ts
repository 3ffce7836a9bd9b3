import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { useTestBackend } from '../../helpers/backend.js';
import { HingeLoss } from '../../../src/training/losses/hinge.js';

before(async () => {
  await useTestBackend();
});

test("D's hinge terms and G's loss with and without the mismatch term", () => {
  const real = tf.tensor1d([2, 0.5, -1]);
  const fake = tf.tensor1d([-2, 0, 0.5]);
  const mis = tf.tensor1d([-0.5, -3, 1]);
  const d = new HingeLoss().discriminator(real, fake, mis);
  // real: relu(1 - [2, .5, -1]) = [0, .5, 2]; fake: relu(1 + [-2, 0, .5]) = [0, 1, 1.5]; mismatch: [.5, 0, 2]
  assert.ok(Math.abs(d.real.dataSync()[0] - 2.5 / 3) < 1e-6);
  assert.ok(Math.abs(d.fake.dataSync()[0] - 2.5 / 3) < 1e-6);
  assert.ok(Math.abs(d.mismatch.dataSync()[0] - 2.5 / 3) < 1e-6);
  assert.ok(Math.abs(d.total.dataSync()[0] - (2.5 / 3) * 2) < 1e-6);

  const reference = new HingeLoss();
  assert.equal(reference.generatorMismatchWeight, 0, 'off by default (the DF-GAN G loss)');
  assert.ok(Math.abs(reference.generator(fake).dataSync()[0] - 0.5) < 1e-6, '-mean(fake)');
  assert.ok(Math.abs(reference.generator(fake, mis).dataSync()[0] - 0.5) < 1e-6, 'weight 0 ignores mismatched logits');

  const contrast = new HingeLoss({ generatorMismatchWeight: 2 });
  assert.ok(Math.abs(contrast.generator(fake, mis).dataSync()[0] - (0.5 + 2 * (2.5 / 3))) < 1e-6, '-mean(fake) + w mean(relu(1 + mis))');
  assert.throws(() => contrast.generator(fake), /mismatched captions/);
  assert.throws(() => new HingeLoss({ generatorMismatchWeight: -1 }), RangeError);
  assert.deepEqual(contrast.options, { fakeWeight: 0.5, mismatchWeight: 0.5, generatorMismatchWeight: 2 });
  tf.dispose([real, fake, mis, d.real, d.fake, d.mismatch, d.total]);
});
