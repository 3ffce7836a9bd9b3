// Differentiable augmentation (Zhao et al. 2020) applied to real and generated images alike before D: random
// translation and cutout, no colour changes (colours are what captions name). Without it, small DF-GANs trained
// on CPU collapsed within a few thousand steps (see the reference's CPU training note).
import * as tf from '@tensorflow/tfjs-core';
import type { Rng } from '../model/sampling.js';

export interface DiffAugmentOptions {
  /** Largest shift as a fraction of the side (0 disables). */
  translation: number;
  /** Side of the zeroed square as a fraction of the image side (0 disables). */
  cutout: number;
}

export const DIFF_AUGMENT_DEFAULTS: Readonly<DiffAugmentOptions> = Object.freeze({ translation: 0.125, cutout: 0.5 });

/** Per-sample random parameters, drawn on the host so the same draw can be replayed. */
export interface AugmentDraw {
  shifts: Array<[number, number]>;
  cutouts: Array<[number, number]>;
}

export class DiffAugment {
  constructor(readonly opts: Readonly<DiffAugmentOptions> = DIFF_AUGMENT_DEFAULTS) {}

  get enabled(): boolean {
    return this.opts.translation > 0 || this.opts.cutout > 0;
  }

  draw(batch: number, size: number, rng: Rng): AugmentDraw {
    const maxShift = Math.floor(size * this.opts.translation + 0.5);
    const shift = () => Math.floor(rng.uniform() * (2 * maxShift + 1)) - maxShift;
    const cut = Math.floor(size * this.opts.cutout + 0.5);
    const shifts: Array<[number, number]> = [];
    const cutouts: Array<[number, number]> = [];
    for (let i = 0; i < batch; i++) {
      shifts.push([shift(), shift()]);
      // Centre of the cutout square anywhere in the image (it may be clipped at the border), as DiffAugment does.
      cutouts.push([Math.floor(rng.uniform() * (size + (1 - (cut % 2)))), Math.floor(rng.uniform() * (size + (1 - (cut % 2))))]);
    }
    return { shifts, cutouts };
  }

  /**
   * Applies a draw to NHWC images; differentiable (twice) w.r.t. the images. Both transforms are one gather of
   * pixels (each output pixel's source after the shift) and one multiply by a mask (zero where the shift left
   * the image or the cutout falls): two kernels, where a per-sample pad / slice / concat took a hundred.
   */
  apply(images: tf.Tensor4D, draw: AugmentDraw): tf.Tensor4D {
    if (!this.enabled) return images;
    const [b, h, w, c] = images.shape;
    const hw = h * w;
    const mask = new Float32Array(b * hw).fill(1);
    const source = this.opts.translation > 0 ? new Int32Array(b * hw) : undefined;
    if (source) {
      draw.shifts.forEach(([dy, dx], i) => {
        for (let y = 0; y < h; y++) {
          for (let x = 0; x < w; x++) {
            const sy = y - dy, sx = x - dx, o = i * hw + y * w + x;
            const inside = sy >= 0 && sy < h && sx >= 0 && sx < w;
            source[o] = inside ? i * hw + sy * w + sx : i * hw; // any pixel of the sample; the mask zeroes it
            if (!inside) mask[o] = 0;
          }
        }
      });
    }
    if (this.opts.cutout > 0) {
      const cut = Math.floor(h * this.opts.cutout + 0.5);
      draw.cutouts.forEach(([cy, cx], i) => {
        const y0 = Math.max(0, cy - Math.floor(cut / 2));
        const x0 = Math.max(0, cx - Math.floor(cut / 2));
        const y1 = Math.min(h, cy - Math.floor(cut / 2) + cut);
        const x1 = Math.min(w, cx - Math.floor(cut / 2) + cut);
        for (let y = y0; y < y1; y++) mask.fill(0, i * hw + y * w + x0, i * hw + y * w + Math.max(x0, x1));
      });
    }
    return tf.tidy(() => {
      const moved = source
        ? tf.reshape(tf.gather(tf.reshape(images, [b * hw, c]), tf.tensor1d(source, 'int32')), [b, h, w, c])
        : images;
      return tf.mul(moved, tf.tensor4d(mask, [b, h, w, 1])) as tf.Tensor4D;
    });
  }
}
