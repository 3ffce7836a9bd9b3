// The reference's image pipeline for an output size S:
//   train: Resize(int(S * 76 / 64)) (shorter side, aspect kept, as torchvision's Resize(int)), RandomCrop(S),
//          RandomHorizontalFlip(0.5), ToTensor, Normalize(0.5, 0.5) -> HWC float in [-1, 1];
//   eval:  resize straight to S x S, same scaling.
// Randomness comes from the caller's Rng (one per sample in the loader), drawn in a fixed order:
// crop row, crop column, flip.
import { DfganError } from '../../errors.js';
import type { RgbImage } from '../../model/image.js';
import type { Rng } from '../../model/sampling.js';
import { crop, flipHorizontal, resizeBilinear } from './image-io.js';

/** Integer in [0, n). */
export function randInt(rng: Rng, n: number): number {
  return Math.min(n - 1, Math.floor(rng.uniform() * n));
}

/** floor(S * 76 / 64): 304 for 256, 152 for 128, 76 for 64. */
export function trainResizeSize(size: number): number {
  return Math.floor((size * 76) / 64);
}

function assertSize(size: number): void {
  if (!(Number.isInteger(size) && size > 0)) throw new DfganError('INVALID_ARGUMENT', `image size must be a positive integer, got ${size}`);
}

/** torchvision Resize(int): the shorter side becomes `size`, the longer int(size * long / short). */
export function resizeShorterSide(img: RgbImage, size: number): RgbImage {
  const { width: w, height: h } = img;
  if ((w <= h && w === size) || (h <= w && h === size)) return img;
  return w < h ? resizeBilinear(img, size, Math.trunc((size * h) / w)) : resizeBilinear(img, Math.trunc((size * w) / h), size);
}

/** Options of the training augmentation. */
export interface AugmentOptions {
  /**
   * Random horizontal flip (default true, as AttnGAN and DF-GAN train on CUB). Off where captions name the
   * direction a bird faces: a mirrored bird contradicts "facing left", and neither D nor G can then learn it.
   */
  flip?: boolean;
}

/** Training augmentation as 8-bit RGB of size S x S: resize, random crop, random flip. */
export function augment(img: RgbImage, size: number, rng: Rng, opts: AugmentOptions = {}): RgbImage {
  assertSize(size);
  const big = resizeShorterSide(img, trainResizeSize(size));
  const top = randInt(rng, big.height - size + 1);
  const left = randInt(rng, big.width - size + 1);
  let out = big.width === size && big.height === size ? big : crop(big, left, top, size, size);
  // Drawn either way: the flip setting does not change the crops a seed gives.
  if (rng.uniform() < 0.5 && (opts.flip ?? true)) out = flipHorizontal(out);
  return out;
}

/** Evaluation: resize straight to S x S. */
export function evalResize(img: RgbImage, size: number): RgbImage {
  assertSize(size);
  return img.width === size && img.height === size ? img : resizeBilinear(img, size, size);
}

/** 8-bit RGB -> HWC float x / 127.5 - 1 in [-1, 1], written into `out` at `offset` (allocated when omitted). */
export function toSignedUnit(img: RgbImage, out?: Float32Array, offset = 0): Float32Array {
  const n = img.width * img.height * 3;
  const dst = out ?? new Float32Array(n);
  if (offset + n > dst.length) throw new DfganError('INVALID_ARGUMENT', `output buffer too small: need ${offset + n}, have ${dst.length}`);
  const src = img.data;
  for (let i = 0; i < n; i++) dst[offset + i] = src[i] / 127.5 - 1;
  return dst;
}

/** Train transform to [S, S, 3] floats in [-1, 1]. */
export function trainTransform(img: RgbImage, size: number, rng: Rng, out?: Float32Array, offset = 0, opts: AugmentOptions = {}): Float32Array {
  return toSignedUnit(augment(img, size, rng, opts), out, offset);
}

/** Eval transform to [S, S, 3] floats in [-1, 1]. */
export function evalTransform(img: RgbImage, size: number, out?: Float32Array, offset = 0): Float32Array {
  return toSignedUnit(evalResize(img, size), out, offset);
}

/** One caption chosen uniformly, as the reference does per sample. */
export function pickCaption(captions: readonly string[], rng: Rng): string {
  if (captions.length === 0) throw new DfganError('INVALID_ARGUMENT', 'no captions to pick from');
  return captions[randInt(rng, captions.length)];
}
