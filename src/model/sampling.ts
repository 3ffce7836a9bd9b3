// Noise for the generator, drawn per image from its own seed so an image never depends on its batch-mates.
// xoshiro128** seeded through splitmix32: small, fast, identical on every platform.
import { DfganError } from '../errors.js';

export const MAX_SEED = 0xffffffff;
/** The reference's sampling truncation: normal truncated to [-2, 2], scaled by this. */
export const DEFAULT_TRUNCATION = 0.88;
const TRUNCATION_BOUND = 2;

export function assertSeed(seed: number): void {
  if (!Number.isInteger(seed) || seed < 0 || seed > MAX_SEED) {
    throw new DfganError('INVALID_ARGUMENT', `seed must be an integer in [0, ${MAX_SEED}], got ${seed}`);
  }
}

/** `null` draws plain N(0, 1) (as in training); a number t in (0, 1] draws truncnorm(-2, 2) * t. */
export type Truncation = number | null;

export function assertTruncation(t: Truncation): void {
  if (t !== null && !(Number.isFinite(t) && t > 0 && t <= 1)) {
    throw new DfganError('INVALID_ARGUMENT', `truncation must be in (0, 1] or null for none, got ${t}`);
  }
}

export class Rng {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;

  constructor(seed: number) {
    assertSeed(seed);
    let x = seed >>> 0;
    const next = () => {
      // splitmix32
      x = (x + 0x9e3779b9) >>> 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.s0 = next();
    this.s1 = next();
    this.s2 = next();
    this.s3 = next();
  }

  /** Next uint32 (xoshiro128**). */
  nextUint32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5) >>> 0, 7), 9) >>> 0;
    const t = (this.s1 << 9) >>> 0;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    this.s0 >>>= 0;
    this.s1 >>>= 0;
    this.s2 >>>= 0;
    return result;
  }

  /** Uniform in the open interval (0, 1). */
  uniform(): number {
    return (this.nextUint32() + 0.5) / 4294967296;
  }

  /** Standard normal (Box-Muller; one value per call keeps the stream simple to reproduce). */
  normal(): number {
    const u1 = this.uniform();
    const u2 = this.uniform();
    return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

/** One image's noise vector. */
export function noiseForSeed(seed: number, zDim: number, truncation: Truncation): Float32Array {
  assertTruncation(truncation);
  const rng = new Rng(seed);
  const out = new Float32Array(zDim);
  for (let i = 0; i < zDim; i++) {
    if (truncation === null) {
      out[i] = rng.normal();
    } else {
      let v: number;
      do v = rng.normal();
      while (Math.abs(v) > TRUNCATION_BOUND);
      out[i] = v * truncation;
    }
  }
  return out;
}

/** Noise for a batch, row i drawn from seeds[i]: [seeds.length * zDim], row-major. */
export function noiseForSeeds(seeds: readonly number[], zDim: number, truncation: Truncation): Float32Array {
  const out = new Float32Array(seeds.length * zDim);
  seeds.forEach((s, i) => out.set(noiseForSeed(s, zDim, truncation), i * zDim));
  return out;
}
