import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { useTestBackend } from '../../helpers/backend.js';
import { parseGeneratorConfig } from '../../../src/model/config.js';
import { createConditionalHead, createDiscriminator } from '../../../src/model/discriminator.js';
import { MatchingAwareGradientPenalty } from '../../../src/training/losses/ma-gp.js';

before(async () => {
  await useTestBackend();
});

function tinyNets() {
  const cfg = parseGeneratorConfig({ imageSize: 32, nf: 2, condDim: 8 });
  const d = createDiscriminator(cfg, { seed: 4 });
  const c = createConditionalHead(cfg, { seed: 5 });
  // gamma starts at 0, which would hide every residual branch from the check.
  for (const n of d.params.names().filter((n) => n.endsWith('.gamma'))) d.params.get(n).assign(tf.tensor1d([0.7]));
  return { cfg, d, c, vars: [...d.params.variables(), ...c.params.variables()] };
}

test('MA-GP weight gradient (a gradient of a gradient through D and C) matches central finite differences', () => {
  const { d, c, vars } = tinyNets();
  const x = tf.randomNormal([3, 32, 32, 3], 0, 1, 'float32', 1) as tf.Tensor4D;
  const s = tf.randomNormal([3, 8], 0, 1, 'float32', 2) as tf.Tensor2D;
  for (const p of [2, 6]) {
    const gp = new MatchingAwareGradientPenalty({ k: 2, p });
    const f = () => gp.apply(d, c, x, s);
    const { value, grads } = tf.variableGrads(f, vars);
    const f0 = value.dataSync()[0];
    value.dispose();
    assert.ok(Number.isFinite(f0) && f0 > 0, `penalty ${f0}`);
    // Directional derivative along a random direction over every weight.
    const dirs = vars.map((v, i) => tf.randomNormal(v.shape, 0, 1, 'float32', 100 + i));
    const analytic = tf.tidy(() => tf.addN(vars.map((v, i) => tf.sum(tf.mul(grads[v.name], dirs[i])))).dataSync()[0]);
    const originals = vars.map((v) => tf.clone(v));
    const at = (eps: number) => {
      vars.forEach((v, i) => v.assign(tf.tidy(() => tf.add(originals[i], tf.mul(dirs[i], eps)))));
      const r = tf.tidy(() => f().dataSync()[0]);
      return r;
    };
    // LeakyReLU's kinks make the penalty only piecewise smooth in the weights: a step that moves a unit across
    // its kink shifts a finite difference (never the exact gradient). So take central differences at several
    // steps and require one of them, small enough to cross no kink, to agree.
    const numerics = [1e-3, 3e-4, 1e-4].map((eps) => (at(eps) - at(-eps)) / (2 * eps));
    vars.forEach((v, i) => v.assign(originals[i]));
    tf.dispose([...dirs, ...originals, ...Object.values(grads)]);
    const rel = Math.min(...numerics.map((n) => Math.abs(analytic - n) / Math.max(Math.abs(n), 1e-6)));
    assert.ok(rel < 2e-2, `p=${p}: analytic ${analytic} vs finite differences ${numerics.join(', ')} (relative error ${rel})`);
    assert.ok(Math.abs(analytic) > 1e-6, 'the check must not pass trivially on a zero gradient');
  }
  tf.dispose([x, s]);
  d.dispose();
  c.dispose();
});

test('penalty equals the direct formula on its inputs and leaks no tensors', () => {
  const { d, c } = tinyNets();
  const x = tf.randomNormal([2, 32, 32, 3], 0, 1, 'float32', 3) as tf.Tensor4D;
  const s = tf.randomNormal([2, 8], 0, 1, 'float32', 4) as tf.Tensor2D;
  const before = tf.memory().numTensors;
  const pen = new MatchingAwareGradientPenalty();
  assert.equal(pen.k, 2);
  assert.equal(pen.p, 6);
  const v = pen.apply(d, c, x, s);
  // Per-sample gradient norms, computed one image at a time.
  const norms = [0, 1].map((i) =>
    tf.tidy(() => {
      const xi = tf.slice(x, [i, 0, 0, 0], [1, -1, -1, -1]);
      const si = tf.slice(s, [i, 0], [1, -1]);
      const [gx, gs] = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(c.apply(d.apply(a as tf.Tensor4D), b as tf.Tensor2D)))([xi, si]);
      return Math.sqrt(tf.sum(tf.square(gx)).dataSync()[0] + tf.sum(tf.square(gs)).dataSync()[0]);
    }),
  );
  const expected = (2 * (norms[0] ** 6 + norms[1] ** 6)) / 2;
  const got = v.dataSync()[0];
  v.dispose();
  assert.ok(Math.abs(got - expected) / expected < 1e-4, `${got} vs ${expected}`);
  assert.equal(tf.memory().numTensors, before + 1 - 1);
  tf.dispose([x, s]);
  d.dispose();
  c.dispose();
});
