// Frechet distance between two Gaussians fitted to feature sets (the "FID" of Heusel et al. 2017), in float64:
//
//   d^2 = |mu1 - mu2|^2 + tr(S1) + tr(S2) - 2 tr((S1 S2)^(1/2))
//
// (S1 S2)^(1/2) is not symmetric, but it is similar to the symmetric PSD matrix M = S1^(1/2) S2 S1^(1/2)
// (S1 S2 = S1^(1/2) M S1^(-1/2)), so tr((S1 S2)^(1/2)) = tr(M^(1/2)) = sum of sqrt(eigenvalues of M). Both steps
// use symmetric eigendecompositions (cyclic Jacobi), which stay accurate for singular or ill-conditioned
// covariances, unlike scipy's general sqrtm of the product (which the reference FID code has to patch with an
// eps-offset retry and by dropping imaginary parts).
import { DfganError } from '../../errors.js';

/** A symmetric n x n matrix, row-major. */
export interface SymmetricMatrix {
  n: number;
  data: Float64Array;
}

export interface GaussianStats {
  /** Feature mean [d]. */
  mu: Float64Array;
  /** Feature covariance [d, d] row-major (unbiased, N - 1, as numpy.cov). */
  sigma: Float64Array;
  /** Feature size. */
  dim: number;
  /** Number of feature vectors behind the statistics. */
  count: number;
}

/**
 * Eigen decomposition of a symmetric matrix by cyclic Jacobi rotations. Returns eigenvalues (unordered) and
 * eigenvectors as the columns of `vectors` (row-major n x n: vectors[i * n + k] is component i of vector k).
 * The input is not modified. Converges quadratically; about 6-10 sweeps for n <= 512 in float64.
 */
export function symmetricEigen(a: Float64Array, n: number, opts: { maxSweeps?: number; tol?: number } = {}): { values: Float64Array; vectors: Float64Array } {
  if (a.length !== n * n) throw new DfganError('INVALID_ARGUMENT', `matrix has ${a.length} entries, expected ${n}x${n}`);
  const A = Float64Array.from(a);
  // Symmetrise (averages away rounding asymmetry of the caller's products).
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      const m = 0.5 * (A[i * n + j] + A[j * n + i]);
      A[i * n + j] = m;
      A[j * n + i] = m;
    }
  }
  const V = new Float64Array(n * n);
  for (let i = 0; i < n; i++) V[i * n + i] = 1;
  const maxSweeps = opts.maxSweeps ?? 60;
  const tol = opts.tol ?? 1e-15;
  let total = 0;
  for (let i = 0; i < n * n; i++) total += A[i] * A[i];
  for (let sweep = 0; sweep < maxSweeps; sweep++) {
    let off = 0;
    for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) off += A[i * n + j] * A[i * n + j];
    if (off <= tol * tol * total || off === 0) break;
    for (let p = 0; p < n - 1; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = A[p * n + q];
        if (apq === 0) continue;
        const app = A[p * n + p];
        const aqq = A[q * n + q];
        // Skip rotations that cannot change anything at this precision.
        if (Math.abs(apq) < 1e-300 || (Math.abs(apq) * 1e18 < Math.abs(app) && Math.abs(apq) * 1e18 < Math.abs(aqq))) {
          A[p * n + q] = 0;
          A[q * n + p] = 0;
          continue;
        }
        const theta = (aqq - app) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        // A <- J^T A J on rows/columns p and q.
        for (let k = 0; k < n; k++) {
          const akp = A[k * n + p];
          const akq = A[k * n + q];
          A[k * n + p] = c * akp - s * akq;
          A[k * n + q] = s * akp + c * akq;
        }
        for (let k = 0; k < n; k++) {
          const apk = A[p * n + k];
          const aqk = A[q * n + k];
          A[p * n + k] = c * apk - s * aqk;
          A[q * n + k] = s * apk + c * aqk;
        }
        A[p * n + q] = 0;
        A[q * n + p] = 0;
        for (let k = 0; k < n; k++) {
          const vkp = V[k * n + p];
          const vkq = V[k * n + q];
          V[k * n + p] = c * vkp - s * vkq;
          V[k * n + q] = s * vkp + c * vkq;
        }
      }
    }
  }
  const values = new Float64Array(n);
  for (let i = 0; i < n; i++) values[i] = A[i * n + i];
  return { values, vectors: V };
}

/**
 * Eigenvalues below this share of the largest are rounding noise of a singular matrix (float64 products leave
 * about 1e-15 relative); they count as 0, since sqrt() would magnify them (sqrt(1e-14) = 1e-7).
 */
const NOISE_EIGENVALUE = 1e-12;

function sqrtEigenvalues(values: Float64Array): Float64Array {
  let max = 0;
  for (const v of values) max = Math.max(max, Math.abs(v));
  const floor = max * NOISE_EIGENVALUE;
  return values.map((v) => (v > floor ? Math.sqrt(v) : 0));
}

/** Square root of a symmetric positive semi-definite matrix (negative or noise-level eigenvalues count as 0). */
export function sqrtPsd(a: Float64Array, n: number): Float64Array {
  const { values, vectors: V } = symmetricEigen(a, n);
  const out = new Float64Array(n * n);
  const r = sqrtEigenvalues(values);
  // out = V diag(r) V^T
  for (let i = 0; i < n; i++) {
    for (let j = i; j < n; j++) {
      let s = 0;
      for (let k = 0; k < n; k++) s += V[i * n + k] * r[k] * V[j * n + k];
      out[i * n + j] = s;
      out[j * n + i] = s;
    }
  }
  return out;
}

/** C = A B for n x n row-major matrices. */
function matMul(a: Float64Array, b: Float64Array, n: number): Float64Array {
  const c = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < n; k++) {
      const aik = a[i * n + k];
      if (aik === 0) continue;
      for (let j = 0; j < n; j++) c[i * n + j] += aik * b[k * n + j];
    }
  }
  return c;
}

/** tr((S1 S2)^(1/2)) for symmetric PSD S1, S2, as tr((S1^(1/2) S2 S1^(1/2))^(1/2)). */
export function traceSqrtProduct(s1: Float64Array, s2: Float64Array, n: number): number {
  const r1 = sqrtPsd(s1, n);
  const m = matMul(matMul(r1, s2, n), r1, n);
  let t = 0;
  for (const r of sqrtEigenvalues(symmetricEigen(m, n).values)) t += r;
  return t;
}

/** Mean and unbiased covariance of `count` feature vectors of size `dim` (row-major [count, dim]). */
export function gaussianStats(features: ArrayLike<number>, count: number, dim: number): GaussianStats {
  if (!(Number.isInteger(count) && count >= 2)) throw new DfganError('INVALID_ARGUMENT', `need at least 2 feature vectors, got ${count}`);
  if (features.length !== count * dim) throw new DfganError('INVALID_ARGUMENT', `features hold ${features.length} values, expected ${count} x ${dim}`);
  const mu = new Float64Array(dim);
  for (let r = 0; r < count; r++) for (let j = 0; j < dim; j++) mu[j] += features[r * dim + j];
  for (let j = 0; j < dim; j++) mu[j] /= count;
  const sigma = new Float64Array(dim * dim);
  const row = new Float64Array(dim);
  for (let r = 0; r < count; r++) {
    for (let j = 0; j < dim; j++) row[j] = features[r * dim + j] - mu[j];
    for (let i = 0; i < dim; i++) {
      const x = row[i];
      if (x === 0) continue;
      for (let j = i; j < dim; j++) sigma[i * dim + j] += x * row[j];
    }
  }
  for (let i = 0; i < dim; i++) {
    for (let j = i; j < dim; j++) {
      const v = sigma[i * dim + j] / (count - 1);
      sigma[i * dim + j] = v;
      sigma[j * dim + i] = v;
    }
  }
  return { mu, sigma, dim, count };
}

export interface FrechetParts {
  /** The distance d^2 (what FID reports). */
  distance: number;
  /** |mu1 - mu2|^2. */
  meanTerm: number;
  /** tr(S1) + tr(S2) - 2 tr((S1 S2)^(1/2)). */
  covarianceTerm: number;
}

/** Frechet distance between N(mu1, S1) and N(mu2, S2) with its two parts. */
export function frechetDistanceParts(mu1: ArrayLike<number>, s1: ArrayLike<number>, mu2: ArrayLike<number>, s2: ArrayLike<number>): FrechetParts {
  const n = mu1.length;
  if (mu2.length !== n || s1.length !== n * n || s2.length !== n * n) {
    throw new DfganError('INVALID_ARGUMENT', `Gaussians of different sizes: mu [${mu1.length}] / [${mu2.length}], sigma ${s1.length} / ${s2.length} entries`);
  }
  let meanTerm = 0;
  for (let i = 0; i < n; i++) meanTerm += (mu1[i] - mu2[i]) ** 2;
  let tr = 0;
  for (let i = 0; i < n; i++) tr += s1[i * n + i] + s2[i * n + i];
  const cross = traceSqrtProduct(Float64Array.from(s1), Float64Array.from(s2), n);
  // Rounding can leave a tiny negative covariance term for identical inputs; the true value is >= 0.
  const covarianceTerm = Math.max(0, tr - 2 * cross);
  return { distance: meanTerm + covarianceTerm, meanTerm, covarianceTerm };
}

export function frechetDistance(mu1: ArrayLike<number>, s1: ArrayLike<number>, mu2: ArrayLike<number>, s2: ArrayLike<number>): number {
  return frechetDistanceParts(mu1, s1, mu2, s2).distance;
}

/** Frechet distance between the Gaussians fitted to two feature sets. */
export function frechetDistanceOfStats(a: GaussianStats, b: GaussianStats): FrechetParts {
  if (a.dim !== b.dim) throw new DfganError('INVALID_ARGUMENT', `feature sizes differ: ${a.dim} and ${b.dim}`);
  return frechetDistanceParts(a.mu, a.sigma, b.mu, b.sigma);
}
