// Widening G, D and the head to a larger nf keeps what they compute, and the new channels can learn.
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { parseGeneratorConfig } from '../../src/model/config.js';
import { createGenerator } from '../../src/model/generator.js';
import { createConditionalHead, createDiscriminator } from '../../src/model/discriminator.js';
import { widenNetworks } from '../../src/training/widen.js';
import { useTestBackend } from '../helpers/backend.js';

before(() => useTestBackend());

/** Every weight nudged, so that identity affines and zero gammas / projections cannot hide a wrong map. */
async function perturbed<T extends { params: { variables(): tf.Variable[] } }>(net: T, seed: number): Promise<T> {
  net.params.variables().forEach((v, i) => tf.tidy(() => v.assign(tf.add(v, tf.randomNormal(v.shape, 0, 0.05, 'float32', seed * 101 + i)))));
  return net;
}

const maxDiff = (a: tf.Tensor, b: tf.Tensor) => tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);

for (const [oldNf, newNf] of [[2, 4], [2, 3]] as const) {
  test(`widening nf ${oldNf} -> ${newNf} keeps G's images and D's logits; the new channels get gradients`, async () => {
    const cfg = parseGeneratorConfig({ imageSize: 32, nf: oldNf, condDim: 6, headProjection: true, fcSentence: true });
    const nets = {
      g: await perturbed(createGenerator(cfg, { seed: 1 }), 1),
      d: await perturbed(createDiscriminator(cfg, { seed: 2 }), 2),
      c: await perturbed(createConditionalHead(cfg, { seed: 3 }), 3),
    };
    const z = tf.randomNormal([3, cfg.zDim], 0, 1, 'float32', 4) as tf.Tensor2D;
    const s = tf.randomNormal([3, cfg.condDim], 0, 1, 'float32', 5) as tf.Tensor2D;
    const img = tf.randomUniform([3, 32, 32, 3], -1, 1, 'float32', 6) as tf.Tensor4D;
    const gOld = nets.g.apply(z, s);
    const logitOld = tf.tidy(() => nets.c.apply(nets.d.apply(img), s));
    const tensors = (ns: Array<{ params: { variables(): tf.Variable[] } }>) => ns.reduce((n, m) => n + m.params.variables().length, 0);
    const before = tf.memory().numTensors - tensors([nets.g, nets.d, nets.c]);
    const wide = await widenNetworks(nets, newNf, 7);
    assert.equal(tf.memory().numTensors - tensors([wide.g, wide.d, wide.c]), before, 'the narrow networks are disposed, nothing else is left');
    assert.equal(wide.g.config.nf, newNf);
    assert.deepEqual(wide.c.params.get('proj.weight').shape, [6, 16 * 8 * newNf]);
    const gNew = wide.g.apply(z, s);
    const logitNew = tf.tidy(() => wide.c.apply(wide.d.apply(img), s));
    assert.ok(maxDiff(gOld, gNew) < 1e-5, `the same images (max difference ${maxDiff(gOld, gNew)})`);
    assert.ok(maxDiff(logitOld, logitNew) < 1e-4, `the same logits (max difference ${maxDiff(logitOld, logitNew)})`);
    // The new channels are live: G's loss reaches the (zero) weights out of them.
    const rgb = wide.g.params.get('to_rgb.1.weight');
    const grad = tf.tidy(() => {
      const { grads } = tf.variableGrads(() => tf.sum(tf.square(wide.g.apply(z, s))) as tf.Scalar, [rgb]);
      const g4 = grads[rgb.name] as tf.Tensor4D;
      return tf.sum(tf.abs(tf.slice(g4, [0, 0, oldNf, 0], [-1, -1, newNf - oldNf, -1]))).dataSync()[0];
    });
    assert.ok(grad > 0, 'gradients reach the weights out of the new channels');
    tf.dispose([z, s, img, gOld, logitOld, gNew, logitNew]);
    [wide.g, wide.d, wide.c].forEach((n) => n.dispose());
  });
}

test('widening to the same or a smaller nf is refused', async () => {
  const cfg = parseGeneratorConfig({ imageSize: 32, nf: 2, condDim: 6 });
  const nets = { g: createGenerator(cfg), d: createDiscriminator(cfg), c: createConditionalHead(cfg) };
  await assert.rejects(widenNetworks(nets, 2, 0), (e: Error & { code?: string }) => e.code === 'INVALID_ARGUMENT' && /nf above/.test(e.message));
  [nets.g, nets.d, nets.c].forEach((n) => n.dispose());
});
