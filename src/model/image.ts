// Generator output -> 8-bit RGB (PNG encoding is in png.ts).
import * as tf from '@tensorflow/tfjs-core';

export interface RgbImage {
  width: number;
  height: number;
  /** Interleaved RGB, row-major. */
  data: Uint8Array;
}

/**
 * Images NHWC in [-1, 1] -> 8-bit RGB, mapped as torchvision's save_image(normalize, value_range=(-1, 1)) does:
 * round(clamp((x + 1) / 2, 0, 1) * 255).
 */
export async function toRgbImages(images: tf.Tensor4D): Promise<RgbImage[]> {
  const [b, h, w, c] = images.shape;
  if (c !== 3) throw new Error(`expected 3 channels, got ${c}`);
  return rgbImagesFromFloats((await images.data()) as Float32Array, b, h, w);
}

/** Round half to even, as tf.round does, so both engines map a value on a tie the same way. */
function roundHalfEven(v: number): number {
  const r = Math.round(v);
  return r - v === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** toRgbImages for images NHWC in [-1, 1] already on the host ([n * h * w * 3]), in float32 maths (one mapping for both engines). */
export function rgbImagesFromFloats(data: Float32Array, n: number, h: number, w: number): RgbImage[] {
  const per = h * w * 3;
  if (data.length !== n * per) throw new Error(`expected ${n * per} values for ${n} images of ${w}x${h}, got ${data.length}`);
  const f = Math.fround;
  return Array.from({ length: n }, (_, i) => {
    const out = new Uint8Array(per);
    for (let k = 0; k < per; k++) {
      const v = f(f(data[i * per + k] * 0.5) + 0.5);
      out[k] = roundHalfEven(f((v < 0 ? 0 : v > 1 ? 1 : v) * 255));
    }
    return { width: w, height: h, data: out };
  });
}

/** Tiles images into a grid with `cols` columns and a `pad`-pixel white gutter (for sample sheets). */
export function gridOf(images: RgbImage[], cols: number, pad = 2): RgbImage {
  const { width: w, height: h } = images[0];
  const rows = Math.ceil(images.length / cols);
  const W = cols * w + (cols + 1) * pad;
  const H = rows * h + (rows + 1) * pad;
  const data = new Uint8Array(W * H * 3).fill(255);
  images.forEach((img, k) => {
    const x0 = pad + (k % cols) * (w + pad);
    const y0 = pad + Math.floor(k / cols) * (h + pad);
    for (let y = 0; y < h; y++) data.set(img.data.subarray(y * w * 3, (y + 1) * w * 3), ((y0 + y) * W + x0) * 3);
  });
  return { width: W, height: H, data };
}
