import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { useTestBackend } from '../helpers/backend.js';
import { parseGeneratorConfig } from '../../src/model/config.js';
import { createGenerator } from '../../src/model/generator.js';
import { createConditionalHead, createDiscriminator } from '../../src/model/discriminator.js';

before(async () => {
  await useTestBackend();
});

// The reference's table (nf = 32): NetG exactly; NetD without the official code's unused 1x1 convs.
const COUNTS = {
  64: { g: 4_868_867, d: 3_145_028, c: 295_936 },
  128: { g: 7_306_499, d: 4_783_429, c: 295_936 },
  256: { g: 9_744_131, d: 6_421_830, c: 295_936 },
} as const;

describe('parameter counts match the official networks', () => {
  for (const size of [64, 128, 256] as const) {
    test(`size ${size}, nf 32`, () => {
      const cfg = parseGeneratorConfig({ imageSize: size, nf: 32 });
      const g = createGenerator(cfg);
      const d = createDiscriminator(cfg);
      const c = createConditionalHead(cfg);
      try {
        assert.equal(g.params.count(), COUNTS[size].g);
        assert.equal(d.params.count(), COUNTS[size].d);
        assert.equal(c.params.count(), COUNTS[size].c);
      } finally {
        g.dispose();
        d.dispose();
        c.dispose();
      }
    });
  }
});

describe('output shapes', () => {
  for (const size of [32, 64, 128, 256] as const) {
    test(`size ${size}, nf 4: G -> [B, S, S, 3] in [-1, 1], D -> [B, 4, 4, 8nf], C -> [B]`, () => {
      const cfg = parseGeneratorConfig({ imageSize: size, nf: 4 });
      const g = createGenerator(cfg, { seed: 3 });
      const d = createDiscriminator(cfg);
      const c = createConditionalHead(cfg);
      const before = tf.memory().numTensors;
      tf.tidy(() => {
        const z = tf.randomNormal([2, cfg.zDim]) as tf.Tensor2D;
        const s = tf.randomNormal([2, cfg.condDim]) as tf.Tensor2D;
        const img = g.apply(z, s);
        assert.deepEqual(img.shape, [2, size, size, 3]);
        const v = img.dataSync();
        assert.ok(v.every((x) => x >= -1 && x <= 1 && Number.isFinite(x)));
        const feat = d.apply(img);
        assert.deepEqual(feat.shape, [2, 4, 4, cfg.nf * 8]);
        const logit = c.apply(feat, s);
        assert.deepEqual(logit.shape, [2]);
      });
      assert.equal(tf.memory().numTensors, before, 'no tensors leak from apply()');
      g.dispose();
      d.dispose();
      c.dispose();
    });
  }
});

test('every Affine starts as the identity: gamma = 1, beta = 0 for any condition', () => {
  const cfg = parseGeneratorConfig({ imageSize: 64, nf: 4 });
  const g = createGenerator(cfg, { seed: 5 });
  const names = g.params.names().filter((n) => n.includes('.linear2.'));
  assert.equal(names.length, 4 /* blocks */ * 2 /* fuse */ * 2 /* affine */ * 2 /* gamma, beta */ * 2 /* w, b */);
  for (const n of names) {
    const v = g.params.get(n).dataSync();
    const expected = n.includes('fc_gamma') && n.endsWith('bias') ? 1 : 0;
    assert.ok(v.every((x) => x === expected), `${n} should be all ${expected}`);
  }
  g.dispose();
});

test('generator init is reproducible from its seed and differs across seeds', async () => {
  const cfg = parseGeneratorConfig({ imageSize: 32, nf: 4 });
  const a = createGenerator(cfg, { seed: 1 });
  const b = createGenerator(cfg, { seed: 1 });
  const c = createGenerator(cfg, { seed: 2 });
  const wa = (await a.params.read()).get('fc.weight')!;
  assert.deepEqual(wa, (await b.params.read()).get('fc.weight'));
  assert.notDeepEqual(wa, (await c.params.read()).get('fc.weight'));
  for (const m of [a, b, c]) m.dispose();
});

test('generator FLOPs per image match the reference (0.894 G at 64, 14.97 G at 256, nf 32)', async () => {
  const { generatorFlops } = await import('../../src/model/flops.js');
  assert.equal(Math.round(generatorFlops(parseGeneratorConfig({ imageSize: 64 })) / 1e6), 894);
  assert.equal(Math.round(generatorFlops(parseGeneratorConfig({ imageSize: 256 })) / 1e7), 1497);
});

test('nearest upsampling equals resizeNearestNeighbor and its gradient is right (batch 2)', async () => {
  const { upsample2 } = await import('../../src/model/ops.js');
  tf.tidy(() => {
    const x = tf.randomNormal([2, 3, 4, 5], 0, 1, 'float32', 1) as tf.Tensor4D;
    const w = tf.randomNormal([2, 6, 8, 5], 0, 1, 'float32', 2);
    assert.deepEqual(upsample2(x).dataSync(), tf.image.resizeNearestNeighbor(x, [6, 8]).dataSync());
    const g = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(upsample2(t as tf.Tensor4D), w)))(x).dataSync();
    // Each input pixel's gradient is the sum of the 2x2 block of w it was copied to.
    const wv = w.arraySync() as number[][][][];
    const xv = x.shape;
    let k = 0;
    for (let b = 0; b < xv[0]; b++)
      for (let i = 0; i < xv[1]; i++)
        for (let j = 0; j < xv[2]; j++)
          for (let c = 0; c < xv[3]; c++, k++) {
            const e = wv[b][2 * i][2 * j][c] + wv[b][2 * i + 1][2 * j][c] + wv[b][2 * i][2 * j + 1][c] + wv[b][2 * i + 1][2 * j + 1][c];
            assert.ok(Math.abs(g[k] - e) < 1e-5, `grad at ${b},${i},${j},${c}: ${g[k]} vs ${e}`);
          }
  });
});

test('the projection head starts as the concat head and, once trained, reads caption x image bilinearly (twice differentiable)', async () => {
  const plainCfg = parseGeneratorConfig({ imageSize: 32, nf: 2, condDim: 6 });
  const projCfg = parseGeneratorConfig({ imageSize: 32, nf: 2, condDim: 6, headProjection: true });
  const plain = createConditionalHead(plainCfg);
  const proj = createConditionalHead(projCfg);
  assert.deepEqual(proj.params.get('proj.weight').shape, [6, 4 * 4 * 16]);
  const feat = tf.randomNormal([3, 4, 4, 16], 0, 1, 'float32', 1) as tf.Tensor4D;
  const s = tf.randomNormal([3, 6], 0, 1, 'float32', 2) as tf.Tensor2D;
  const [a, b] = [plain.apply(feat, s), proj.apply(feat, s)];
  assert.deepEqual(await b.data(), await a.data(), 'zero projection: the same logits as the reference head');
  const P = tf.randomNormal([6, 256], 0, 0.1, 'float32', 3);
  proj.params.get('proj.weight').assign(P);
  const c = proj.apply(feat, s);
  const expected = tf.tidy(() => tf.add(a, tf.sum(tf.mul(tf.reshape(feat, [3, 256]), tf.matMul(s, P)), 1)));
  const diff = tf.tidy(() => tf.max(tf.abs(tf.sub(c, expected))).dataSync()[0]);
  assert.ok(diff < 1e-4, `logit = concat head + <s P, flattened features> (max difference ${diff})`);
  // MA-GP differentiates D's gradient w.r.t. (features, sentence) again w.r.t. the weights.
  const before = tf.memory().numTensors;
  const g = tf.tidy(() => {
    const { grads } = tf.variableGrads(() => {
      const [gf, gs] = tf.grads((f: tf.Tensor, x: tf.Tensor) => tf.sum(proj.apply(f as tf.Tensor4D, x as tf.Tensor2D)))([feat, s]);
      return tf.add(tf.sum(tf.square(gf)), tf.sum(tf.square(gs))) as tf.Scalar;
    }, [proj.params.get('proj.weight')]);
    return tf.sum(tf.abs(grads[proj.params.get('proj.weight').name])).dataSync()[0];
  });
  assert.ok(g > 0, 'the penalty reaches the projection weights');
  assert.equal(tf.memory().numTensors, before, 'no tensors leak');
  tf.dispose([feat, s, a, b, c, P, expected]);
  plain.dispose();
  proj.dispose();
});
