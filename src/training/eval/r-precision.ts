// R-precision (AttnGAN, Xu et al. 2018): for each generated image, rank its true caption among itself and
// `mismatched` (99) captions drawn from other images by cosine similarity of the DAMSM image encoder's global
// feature and the DAMSM text encoder's sentence vectors; with R = 1 true caption, R-precision is the share of
// images whose true caption ranks first. AttnGAN reports the mean and standard deviation over 10 folds.
import { DfganError } from '../../errors.js';
import { Rng } from '../../model/sampling.js';

export const R_PRECISION_MISMATCHED = 99;

/**
 * One image's candidate captions: index 0 is the true one, 1.. the mismatched ones (indices into a caption pool).
 * Mismatched candidates are drawn uniformly without replacement from pool entries whose `owner` differs from
 * the image's and whose text differs from the true caption's.
 */
export function drawCandidates(
  trueCaption: number,
  owner: number,
  pool: { owners: readonly number[]; texts: readonly string[] },
  mismatched: number,
  rng: Rng,
): number[] {
  const { owners, texts } = pool;
  const eligible = (j: number) => owners[j] !== owner && texts[j] !== texts[trueCaption];
  const out = [trueCaption];
  const picked = new Set<number>();
  // Rejection sampling: cheap when eligible entries dominate (the usual case); exhaustive fallback otherwise.
  let tries = 0;
  while (out.length <= mismatched && tries < mismatched * 50) {
    tries++;
    const j = Math.min(owners.length - 1, Math.floor(rng.uniform() * owners.length));
    if (picked.has(j) || !eligible(j)) continue;
    picked.add(j);
    out.push(j);
  }
  if (out.length <= mismatched) {
    const rest = owners.map((_, j) => j).filter((j) => !picked.has(j) && eligible(j));
    for (let i = rest.length - 1; i > 0; i--) {
      const k = Math.min(i, Math.floor(rng.uniform() * (i + 1)));
      [rest[i], rest[k]] = [rest[k], rest[i]];
    }
    for (const j of rest) {
      if (out.length > mismatched) break;
      out.push(j);
    }
  }
  if (out.length <= mismatched) {
    throw new DfganError('INVALID_ARGUMENT', `only ${out.length - 1} mismatched captions available, R-precision needs ${mismatched}`);
  }
  return out;
}

/**
 * Credit of one ranking: 1 when the true candidate (index 0) scores strictly highest; when it ties with t
 * others for the top, 1 / (t + 1) (the expected hit of a random tie break), so a constant scorer gets
 * 1 / candidates, like a random one.
 */
export function topOneCredit(scores: ArrayLike<number>): number {
  const own = scores[0];
  if (!Number.isFinite(own)) return 0;
  let ties = 0;
  for (let i = 1; i < scores.length; i++) {
    if (scores[i] > own) return 0;
    if (scores[i] === own) ties++;
  }
  return 1 / (ties + 1);
}

export interface RPrecision {
  /** Mean over all images of topOneCredit. */
  value: number;
  /** Mean and standard deviation over `folds` equal folds (AttnGAN: 10). */
  foldMean: number;
  foldStd: number;
  folds: number;
  images: number;
  /** Candidates per image (1 true + mismatched). */
  candidates: number;
}

/** R-precision (R = 1) from per-image candidate scores (true caption first in each row). */
export function rPrecisionFromScores(rows: ArrayLike<number>[], folds = 10): RPrecision {
  const n = rows.length;
  if (n === 0) throw new DfganError('INVALID_ARGUMENT', 'R-precision of no images');
  const candidates = rows[0].length;
  if (candidates < 2 || rows.some((r) => r.length !== candidates)) {
    throw new DfganError('INVALID_ARGUMENT', 'every image needs the same number (>= 2) of candidate scores');
  }
  const credits = rows.map(topOneCredit);
  const value = credits.reduce((a, b) => a + b, 0) / n;
  const k = Math.max(1, Math.min(folds, n));
  const foldValues: number[] = [];
  for (let f = 0; f < k; f++) {
    const a = Math.floor((f * n) / k);
    const b = Math.floor(((f + 1) * n) / k);
    if (b > a) foldValues.push(credits.slice(a, b).reduce((s, x) => s + x, 0) / (b - a));
  }
  const foldMean = foldValues.reduce((a, b) => a + b, 0) / foldValues.length;
  const foldStd = Math.sqrt(foldValues.reduce((s, x) => s + (x - foldMean) ** 2, 0) / foldValues.length);
  return { value, foldMean, foldStd, folds: foldValues.length, images: n, candidates };
}

/** Cosine similarity of a and b (AttnGAN's cosine_similarity: dot / max(|a| |b|, 1e-8)). */
export function cosine(a: ArrayLike<number>, aOff: number, b: ArrayLike<number>, bOff: number, dim: number): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < dim; i++) {
    const x = a[aOff + i];
    const y = b[bOff + i];
    dot += x * y;
    na += x * x;
    nb += y * y;
  }
  return dot / Math.max(Math.sqrt(na) * Math.sqrt(nb), 1e-8);
}

/**
 * Scores rows for R-precision: image k's global feature (row k of `imageFeatures` [N, dim]) against the sentence
 * vectors (rows of `sentences` [P, dim]) of its candidates (`candidates[k]`, indices into the pool).
 */
export function candidateScores(imageFeatures: ArrayLike<number>, sentences: ArrayLike<number>, dim: number, candidates: readonly number[][]): Float64Array[] {
  return candidates.map((cands, k) => {
    const row = new Float64Array(cands.length);
    cands.forEach((c, i) => (row[i] = cosine(imageFeatures, k * dim, sentences, c * dim, dim)));
    return row;
  });
}
