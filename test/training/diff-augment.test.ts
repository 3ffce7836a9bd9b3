// DiffAugment against a plain-JS reference of its definition: a zero-padded shift per sample, then a zeroed
// square (clipped at the border); its gradient is the same moves run backwards.
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { useTestBackend } from '../helpers/backend.js';
import { DiffAugment, type AugmentDraw } from '../../src/training/diff-augment.js';
import { Rng } from '../../src/model/sampling.js';

before(async () => {
  await useTestBackend();
});

const [B, S, C] = [3, 8, 2];

function reference(x: Float32Array, draw: AugmentDraw, cutFrac: number): Float32Array {
  const out = new Float32Array(x.length);
  const cut = Math.floor(S * cutFrac + 0.5);
  for (let i = 0; i < B; i++) {
    const [dy, dx] = draw.shifts[i];
    const [cy, cx] = draw.cutouts[i];
    for (let y = 0; y < S; y++) {
      for (let xx = 0; xx < S; xx++) {
        const sy = y - dy, sx = xx - dx;
        const inCut = y >= cy - Math.floor(cut / 2) && y < cy - Math.floor(cut / 2) + cut && xx >= cx - Math.floor(cut / 2) && xx < cx - Math.floor(cut / 2) + cut;
        for (let c = 0; c < C; c++) {
          const inside = sy >= 0 && sy < S && sx >= 0 && sx < S;
          out[((i * S + y) * S + xx) * C + c] = inside && !inCut ? x[((i * S + sy) * S + sx) * C + c] : 0;
        }
      }
    }
  }
  return out;
}

const values = (n: number, seed: number) => Float32Array.from({ length: n }, (_, k) => Math.sin(seed * 7.1 + k * 1.37));

test('apply() equals the shift-then-cutout definition, sample by sample (shifts both ways, cutouts at borders)', () => {
  const aug = new DiffAugment({ translation: 0.25, cutout: 0.5 });
  const draw: AugmentDraw = { shifts: [[2, -1], [-2, 0], [0, 2]], cutouts: [[0, 0], [7, 3], [4, 8]] };
  const x = values(B * S * S * C, 1);
  const got = tf.tidy(() => aug.apply(tf.tensor4d(x, [B, S, S, C]), draw).dataSync());
  assert.deepEqual(Array.from(got, (v) => v + 0), Array.from(reference(x, draw, 0.5))); // +0 folds -0 into 0
});

test('its gradient is the adjoint: <apply(x), u> = <x, grad>, for random draws', () => {
  const aug = new DiffAugment();
  const draw = aug.draw(B, S, new Rng(5));
  const x = tf.tensor4d(values(B * S * S * C, 2), [B, S, S, C]);
  const u = tf.tensor4d(values(B * S * S * C, 3), [B, S, S, C]);
  const g = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(aug.apply(t as tf.Tensor4D, draw), u)))(x);
  const lhs = tf.tidy(() => tf.sum(tf.mul(aug.apply(x, draw), u)).dataSync()[0]);
  const rhs = tf.tidy(() => tf.sum(tf.mul(x, g)).dataSync()[0]);
  assert.ok(Math.abs(lhs - rhs) < 1e-4 * Math.max(1, Math.abs(lhs)), `${lhs} vs ${rhs}`);
  assert.ok(g.dataSync().some((v) => v === 0) && g.dataSync().some((v) => v !== 0), 'cut and moved pixels both appear');
  tf.dispose([x, u, g]);
});

test('disabled augmentation returns its input; translation alone and cutout alone work; nothing leaks', () => {
  const x = tf.tensor4d(values(B * S * S * C, 4), [B, S, S, C]);
  assert.equal(new DiffAugment({ translation: 0, cutout: 0 }).apply(x, { shifts: [], cutouts: [] }), x);
  const draw: AugmentDraw = { shifts: [[1, 1], [0, 0], [-1, 3]], cutouts: [[2, 2], [5, 5], [0, 7]] };
  const before = tf.memory().numTensors;
  for (const [t, c] of [[0.25, 0], [0, 0.5]]) {
    const aug = new DiffAugment({ translation: t, cutout: c });
    const got = tf.tidy(() => aug.apply(x, draw).dataSync());
    const d = t > 0 ? draw : { shifts: draw.shifts.map(() => [0, 0] as [number, number]), cutouts: draw.cutouts };
    const expected = c > 0 ? reference(x.dataSync() as Float32Array, d, c) : reference(x.dataSync() as Float32Array, { ...d, cutouts: d.cutouts.map(() => [-100, -100] as [number, number]) }, 0.5);
    assert.deepEqual(Array.from(got, (v) => v + 0), Array.from(expected));
  }
  assert.equal(tf.memory().numTensors, before);
  x.dispose();
});
