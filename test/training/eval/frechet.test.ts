import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../../../src/model/sampling.js';
import {
  frechetDistance,
  frechetDistanceOfStats,
  frechetDistanceParts,
  gaussianStats,
  sqrtPsd,
  symmetricEigen,
  traceSqrtProduct,
} from '../../../src/training/eval/frechet.js';

function randn(rng: Rng, n: number): Float64Array {
  return Float64Array.from({ length: n }, () => rng.normal());
}

function matMul(a: Float64Array, b: Float64Array, n: number): Float64Array {
  const c = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let k = 0; k < n; k++) for (let j = 0; j < n; j++) c[i * n + j] += a[i * n + k] * b[k * n + j];
  return c;
}

function transpose(a: Float64Array, n: number): Float64Array {
  const t = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) t[j * n + i] = a[i * n + j];
  return t;
}

/** A random orthogonal matrix (Gram-Schmidt of a Gaussian matrix). */
function randomOrthogonal(rng: Rng, n: number): Float64Array {
  const q = randn(rng, n * n);
  for (let j = 0; j < n; j++) {
    for (let k = 0; k < j; k++) {
      let d = 0;
      for (let i = 0; i < n; i++) d += q[i * n + j] * q[i * n + k];
      for (let i = 0; i < n; i++) q[i * n + j] -= d * q[i * n + k];
    }
    let norm = 0;
    for (let i = 0; i < n; i++) norm += q[i * n + j] ** 2;
    norm = Math.sqrt(norm);
    for (let i = 0; i < n; i++) q[i * n + j] /= norm;
  }
  return q;
}

/** Q diag(d) Q^T */
function withEigen(q: Float64Array, d: ArrayLike<number>, n: number): Float64Array {
  const qd = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) qd[i * n + j] = q[i * n + j] * d[j];
  return matMul(qd, transpose(q, n), n);
}

function diag(d: ArrayLike<number>): Float64Array {
  const n = d.length;
  const m = new Float64Array(n * n);
  for (let i = 0; i < n; i++) m[i * n + i] = d[i];
  return m;
}

/** The closed form for commuting covariances with eigenvalues a, b in the same basis. */
function closedForm(mu1: ArrayLike<number>, mu2: ArrayLike<number>, a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < mu1.length; i++) s += (mu1[i] - mu2[i]) ** 2;
  for (let i = 0; i < a.length; i++) s += a[i] + b[i] - 2 * Math.sqrt(a[i] * b[i]);
  return s;
}

function close(actual: number, expected: number, rel: number, abs = 1e-9, what = ''): void {
  assert.ok(Math.abs(actual - expected) <= abs + rel * Math.abs(expected), `${what} ${actual} vs ${expected}`);
}

describe('symmetric eigen decomposition and square root', () => {
  test('reconstructs a random symmetric matrix and its PSD square root squares back', () => {
    const rng = new Rng(3);
    const n = 24;
    const g = randn(rng, n * n);
    const a = matMul(g, transpose(g, n), n); // PSD
    const { values, vectors } = symmetricEigen(a, n);
    const back = withEigen(vectors, values, n);
    for (let i = 0; i < n * n; i++) close(back[i], a[i], 1e-10, 1e-9, 'A');
    const r = sqrtPsd(a, n);
    const r2 = matMul(r, r, n);
    for (let i = 0; i < n * n; i++) close(r2[i], a[i], 1e-9, 1e-8, 'sqrt^2');
  });

  test('2x2 non-commuting: tr((S1 S2)^1/2) = sqrt(tr(S1 S2) + 2 sqrt(det(S1 S2)))', () => {
    const s1 = Float64Array.of(2, 0.7, 0.7, 1);
    const s2 = Float64Array.of(0.5, -0.2, -0.2, 3);
    const p = matMul(s1, s2, 2);
    const expected = Math.sqrt(p[0] + p[3] + 2 * Math.sqrt(p[0] * p[3] - p[1] * p[2]));
    close(traceSqrtProduct(s1, s2, 2), expected, 1e-12);
  });
});

describe('Frechet distance', () => {
  test('identical feature sets give ~0', () => {
    const rng = new Rng(1);
    const n = 400;
    const d = 32;
    const f = new Float32Array(n * d).map(() => rng.normal() * 2 + 1);
    const s = gaussianStats(f, n, d);
    const r = frechetDistanceOfStats(s, s);
    assert.ok(r.distance >= 0 && r.distance < 1e-6, `got ${r.distance}`);
    assert.equal(r.meanTerm, 0);
  });

  test('diagonal covariances match the closed form', () => {
    const rng = new Rng(2);
    const n = 64;
    const mu1 = randn(rng, n);
    const mu2 = randn(rng, n);
    const a = Float64Array.from({ length: n }, () => 0.1 + 3 * rng.uniform());
    const b = Float64Array.from({ length: n }, () => 0.1 + 3 * rng.uniform());
    close(frechetDistance(mu1, diag(a), mu2, diag(b)), closedForm(mu1, mu2, a, b), 1e-10);
  });

  test('commuting (jointly diagonalisable) full covariances match the closed form', () => {
    const rng = new Rng(4);
    const n = 40;
    const q = randomOrthogonal(rng, n);
    const mu1 = randn(rng, n);
    const mu2 = Float64Array.from(mu1, (x) => x + 0.3 * rng.normal());
    const a = Float64Array.from({ length: n }, () => 0.05 + 2 * rng.uniform());
    const b = Float64Array.from({ length: n }, () => 0.05 + 2 * rng.uniform());
    const parts = frechetDistanceParts(mu1, withEigen(q, a, n), mu2, withEigen(q, b, n));
    const expected = closedForm(mu1, mu2, a, b);
    close(parts.distance, expected, 1e-9);
    close(parts.meanTerm, closedForm(mu1, mu2, [], []), 1e-12);
  });

  test('symmetric in its arguments, and finite for singular covariances', () => {
    const rng = new Rng(5);
    const n = 12;
    const g1 = randn(rng, n * 3); // rank 3
    const g2 = randn(rng, n * n);
    const lowRank = new Float64Array(n * n);
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) for (let k = 0; k < 3; k++) lowRank[i * n + j] += g1[i * 3 + k] * g1[j * 3 + k];
    const full = matMul(g2, transpose(g2, n), n);
    const mu = new Float64Array(n);
    const d1 = frechetDistance(mu, lowRank, mu, full);
    const d2 = frechetDistance(mu, full, mu, lowRank);
    assert.ok(Number.isFinite(d1) && d1 > 0);
    close(d1, d2, 1e-9);
    // A singular covariance against itself: 0 (no sqrt of a negative rounding error leaks through).
    assert.ok(frechetDistance(mu, lowRank, mu, lowRank) < 1e-8);
  });

  test('statistics of samples from two Gaussians approach the closed form', () => {
    const rng = new Rng(6);
    const d = 4;
    const n = 20000;
    const sa = [1, 2, 0.5, 1];
    const sb = [1.5, 1, 0.5, 2];
    const shift = [1, 0, -1, 0];
    const fa = new Float32Array(n * d);
    const fb = new Float32Array(n * d);
    for (let r = 0; r < n; r++) {
      for (let j = 0; j < d; j++) {
        fa[r * d + j] = Math.sqrt(sa[j]) * rng.normal();
        fb[r * d + j] = shift[j] + Math.sqrt(sb[j]) * rng.normal();
      }
    }
    const got = frechetDistanceOfStats(gaussianStats(fa, n, d), gaussianStats(fb, n, d)).distance;
    close(got, closedForm([0, 0, 0, 0], shift, sa, sb), 0.05);
  });

  test('gaussianStats: mean and unbiased covariance', () => {
    const s = gaussianStats(Float32Array.of(1, 2, 3, 6), 2, 2);
    assert.deepEqual([...s.mu], [2, 4]);
    assert.deepEqual([...s.sigma], [2, 4, 4, 8]);
    assert.throws(() => gaussianStats([1, 2], 1, 2), /at least 2/);
  });
});
