import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { useTestBackend } from '../helpers/backend.js';
import { Adam } from '../../src/training/adam.js';

before(async () => {
  await useTestBackend();
});

test('Adam follows PyTorch update rule, and its state round-trips by name', async () => {
  const p = tf.variable(tf.tensor1d([1, -2]));
  const opt = new Adam(new Map([['w', p]]), { lr: 0.1, beta1: 0.5, beta2: 0.9, eps: 1e-8 }, 'g/');
  const grads = [[0.5, -1], [0.2, 3]];
  // Reference in plain JS.
  let w = [1, -2], m = [0, 0], v = [0, 0];
  grads.forEach((g, t) => {
    m = m.map((mi, i) => 0.5 * mi + 0.5 * g[i]);
    v = v.map((vi, i) => 0.9 * vi + 0.1 * g[i] ** 2);
    w = w.map((wi, i) => wi - (0.1 / (1 - 0.5 ** (t + 1))) * (m[i] / (Math.sqrt(v[i] / (1 - 0.9 ** (t + 1))) + 1e-8)));
    const gt = tf.tensor1d(g);
    opt.apply(new Map([['w', gt]]));
    gt.dispose();
  });
  const got = p.dataSync();
  w.forEach((wi, i) => assert.ok(Math.abs(got[i] - wi) < 1e-6, `${got[i]} vs ${wi}`));
  const state = await opt.read();
  assert.deepEqual([...state.keys()], ['g/step', 'g/w/m', 'g/w/v']);
  assert.equal(state.get('g/step')![0], 2);
  const q = tf.variable(tf.tensor1d([0, 0]));
  const other = new Adam(new Map([['w', q]]), { lr: 0.1 }, 'g/');
  assert.equal(other.restore(state), true);
  assert.equal(other.step, 2);
  assert.equal(other.restore(new Map([['g/step', Float32Array.of(1)]])), false, 'mismatched state is refused');
  for (const x of [opt, other]) x.dispose();
  tf.dispose([p, q]);
});
