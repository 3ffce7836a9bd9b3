import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DfganError } from '../../src/errors.js';
import { MAX_SEED, noiseForSeed, noiseForSeeds, Rng } from '../../src/model/sampling.js';

test('the same seed gives the same noise; different seeds differ', () => {
  assert.deepEqual(noiseForSeed(42, 100, 0.88), noiseForSeed(42, 100, 0.88));
  assert.notDeepEqual(noiseForSeed(42, 100, 0.88), noiseForSeed(43, 100, 0.88));
  assert.deepEqual(noiseForSeed(0, 10, null), noiseForSeed(0, 10, null));
  assert.equal(noiseForSeed(MAX_SEED, 5, null).length, 5);
});

test('a row of a batch equals the noise of its seed alone', () => {
  const batch = noiseForSeeds([7, 8, 9], 100, 0.88);
  assert.deepEqual(batch.subarray(100, 200), noiseForSeed(8, 100, 0.88));
});

test('the noise stream is pinned (changing it would change the image of every published seed)', () => {
  const r = new Rng(1);
  assert.deepEqual([r.nextUint32(), r.nextUint32(), r.nextUint32()], [2442144158, 3238099751, 3819917871]);
  const z = noiseForSeed(42, 3, null);
  [0.6362302303314209, 0.8308019042015076, 2.2217392921447754].forEach((v, i) => assert.ok(Math.abs(z[i] - v) < 1e-7));
});

test('plain noise is standard normal; truncated noise stays in [-2t, 2t] with the truncated variance', () => {
  const n = 200_000;
  const plain = noiseForSeeds(Array.from({ length: n / 100 }, (_, i) => i), 100, null);
  const mean = plain.reduce((a, b) => a + b, 0) / n;
  const variance = plain.reduce((a, b) => a + (b - mean) ** 2, 0) / n;
  assert.ok(Math.abs(mean) < 0.01, `mean ${mean}`);
  assert.ok(Math.abs(variance - 1) < 0.02, `variance ${variance}`);
  const t = noiseForSeeds(Array.from({ length: n / 100 }, (_, i) => i), 100, 0.88);
  assert.ok(t.every((v) => Math.abs(v) <= 2 * 0.88 + 1e-6));
  // Var of N(0,1) truncated to [-2, 2] = 1 - 2*2*phi(2)/(2*Phi(2)-1) = 0.7737413; times 0.88^2.
  const tv = t.reduce((a, b) => a + b * b, 0) / n;
  assert.ok(Math.abs(tv - 0.7737413 * 0.88 ** 2) < 0.01, `truncated variance ${tv}`);
});

test('bad seeds and truncations are user errors', () => {
  for (const s of [-1, 1.5, MAX_SEED + 1, Number.NaN]) {
    assert.throws(() => noiseForSeed(s, 3, null), (e: unknown) => e instanceof DfganError && e.code === 'INVALID_ARGUMENT');
  }
  for (const t of [0, -0.5, 1.5, Number.NaN]) {
    assert.throws(() => noiseForSeed(1, 3, t), (e: unknown) => e instanceof DfganError && e.code === 'INVALID_ARGUMENT');
  }
});
