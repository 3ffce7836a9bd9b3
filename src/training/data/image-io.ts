// Reading training images (JPEG, PNG) into 8-bit RGB, and the pixel operations the data pipeline needs:
// PIL-compatible bilinear resize (antialiased when shrinking), crop and horizontal flip.
import { readFile } from 'node:fs/promises';
import jpeg from 'jpeg-js';
import { decode as decodePngRaw, hasPngSignature } from 'fast-png';
import { DfganError } from '../../errors.js';
import type { RgbImage } from '../../model/image.js';

/** Decodes JPEG or PNG bytes (sniffed by signature, not by name) to RGB, as PIL's `Image.open(p).convert('RGB')`. */
export function decodeImage(bytes: Uint8Array, source = 'image'): RgbImage {
  try {
    if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return decodeJpeg(bytes);
    if (hasPngSignature(bytes)) return decodePng(bytes);
  } catch (err) {
    throw new DfganError('INVALID_ARGUMENT', `${source}: cannot decode image: ${(err as Error).message}`, { cause: err });
  }
  throw new DfganError('INVALID_ARGUMENT', `${source}: not a JPEG or PNG file`);
}

/** Reads and decodes an image file; a missing or damaged file is INVALID_ARGUMENT naming it. */
export async function readImage(path: string): Promise<RgbImage> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (err) {
    throw new DfganError('INVALID_ARGUMENT', `cannot read image ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
  }
  return decodeImage(bytes, path);
}

function decodeJpeg(bytes: Uint8Array): RgbImage {
  // Greyscale JPEGs come back replicated to RGB; CMYK ones converted by jpeg-js.
  const out = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: false, maxResolutionInMP: 200, maxMemoryUsageInMB: 1024 });
  return { width: out.width, height: out.height, data: out.data };
}

function decodePng(bytes: Uint8Array): RgbImage {
  const png = decodePngRaw(bytes);
  const { width, height, depth, channels } = png;
  const n = width * height;
  const out = new Uint8Array(n * 3);
  const src = png.data;
  if (channels === 1 && png.palette) {
    // Indexed colour, 1/2/4/8-bit indices, rows padded to whole bytes. Alpha (tRNS) is dropped as PIL's convert('RGB') does.
    const pal = png.palette;
    const idx = unpackRows(src, width, height, depth);
    for (let i = 0; i < n; i++) {
      const c = pal[idx[i]];
      if (c) {
        out[i * 3] = c[0];
        out[i * 3 + 1] = c[1];
        out[i * 3 + 2] = c[2];
      }
    }
    return { width, height, data: out };
  }
  if (depth < 8) {
    if (channels !== 1) throw new Error(`unsupported PNG: ${channels} channels at ${depth} bits`);
    const v = unpackRows(src, width, height, depth);
    const scale = 255 / ((1 << depth) - 1);
    for (let i = 0; i < n; i++) out[i * 3] = out[i * 3 + 1] = out[i * 3 + 2] = Math.round(v[i] * scale);
    return { width, height, data: out };
  }
  const shift = depth === 16 ? 8 : 0; // 16-bit keeps the high byte, as PIL does for RGB;16B
  if (src.length !== n * channels) throw new Error(`PNG data has ${src.length} samples, expected ${n * channels}`);
  for (let i = 0; i < n; i++) {
    const p = i * channels;
    if (channels <= 2) {
      // grey, grey+alpha
      out[i * 3] = out[i * 3 + 1] = out[i * 3 + 2] = src[p] >> shift;
    } else {
      // RGB, RGBA (alpha dropped)
      out[i * 3] = src[p] >> shift;
      out[i * 3 + 1] = src[p + 1] >> shift;
      out[i * 3 + 2] = src[p + 2] >> shift;
    }
  }
  return { width, height, data: out };
}

/** Unpacks 1/2/4/8-bit single-channel rows (each row starts on a byte) into one value per pixel. */
function unpackRows(src: ArrayLike<number>, width: number, height: number, depth: number): Uint8Array {
  const out = new Uint8Array(width * height);
  if (depth === 8) {
    for (let i = 0; i < out.length; i++) out[i] = src[i];
    return out;
  }
  const rowBytes = Math.ceil((width * depth) / 8);
  const perByte = 8 / depth;
  const mask = (1 << depth) - 1;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const byte = src[y * rowBytes + Math.floor(x / perByte)];
      const shift = 8 - depth * ((x % perByte) + 1);
      out[y * width + x] = (byte >> shift) & mask;
    }
  }
  return out;
}

function assertImage(img: RgbImage): void {
  if (!(img.width > 0 && img.height > 0) || img.data.length !== img.width * img.height * 3) {
    throw new DfganError('INVALID_ARGUMENT', `bad RGB image ${img.width}x${img.height} with ${img.data.length} bytes`);
  }
}

// PIL's fixed-point resampling (libImaging/Resample.c): coefficients in 22-bit fixed point, rounded per pass.
const PRECISION_BITS = 32 - 8 - 2;

interface Coeffs {
  ksize: number;
  bounds: Int32Array; // [xmin, count] per output pixel
  k: Int32Array; // ksize per output pixel
}

function bilinearCoeffs(inSize: number, outSize: number): Coeffs {
  const scale = inSize / outSize;
  const filterscale = Math.max(scale, 1);
  const support = 1 * filterscale; // bilinear (triangle) filter support 1
  const ksize = Math.ceil(support) * 2 + 1;
  const bounds = new Int32Array(outSize * 2);
  const k = new Int32Array(outSize * ksize);
  const w = new Float64Array(ksize);
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    const ss = 1 / filterscale;
    const xmin = Math.max(0, Math.trunc(center - support + 0.5));
    const xmax = Math.min(inSize, Math.trunc(center + support + 0.5)) - xmin;
    let ww = 0;
    for (let x = 0; x < xmax; x++) {
      const t = Math.abs((x + xmin - center + 0.5) * ss);
      w[x] = t < 1 ? 1 - t : 0;
      ww += w[x];
    }
    for (let x = 0; x < xmax; x++) {
      const v = ww !== 0 ? w[x] / ww : w[x];
      k[xx * ksize + x] = Math.trunc(v < 0 ? -0.5 + v * (1 << PRECISION_BITS) : 0.5 + v * (1 << PRECISION_BITS));
    }
    bounds[xx * 2] = xmin;
    bounds[xx * 2 + 1] = xmax;
  }
  return { ksize, bounds, k };
}

function clip8(v: number): number {
  if (v >= 1 << (PRECISION_BITS + 8)) return 255;
  if (v <= 0) return 0;
  return v >> PRECISION_BITS;
}

/**
 * Resizes to w x h like PIL's `img.resize((w, h), Image.BILINEAR)` (what torchvision's Resize does on PIL images):
 * a triangle filter widened by the shrink factor, so downscaling averages (antialiased) instead of aliasing.
 * Horizontal pass first, then vertical, each rounded to 8 bits, in PIL's fixed point; results match Pillow.
 */
export function resizeBilinear(img: RgbImage, w: number, h: number): RgbImage {
  assertImage(img);
  if (!(Number.isInteger(w) && Number.isInteger(h) && w > 0 && h > 0)) {
    throw new DfganError('INVALID_ARGUMENT', `resize target must be positive integers, got ${w}x${h}`);
  }
  let cur = img;
  if (w !== cur.width) cur = resampleHorizontal(cur, w);
  if (h !== cur.height) cur = resampleVertical(cur, h);
  return cur === img ? { width: img.width, height: img.height, data: Uint8Array.from(img.data) } : cur;
}

function resampleHorizontal(img: RgbImage, outW: number): RgbImage {
  const { width: inW, height: H, data } = img;
  const { ksize, bounds, k } = bilinearCoeffs(inW, outW);
  const out = new Uint8Array(outW * H * 3);
  const half = 1 << (PRECISION_BITS - 1);
  for (let y = 0; y < H; y++) {
    const row = y * inW * 3;
    for (let xx = 0; xx < outW; xx++) {
      const xmin = bounds[xx * 2];
      const cnt = bounds[xx * 2 + 1];
      const kk = xx * ksize;
      let r = half;
      let g = half;
      let b = half;
      for (let x = 0; x < cnt; x++) {
        const c = k[kk + x];
        const p = row + (xmin + x) * 3;
        r += data[p] * c;
        g += data[p + 1] * c;
        b += data[p + 2] * c;
      }
      const o = (y * outW + xx) * 3;
      out[o] = clip8(r);
      out[o + 1] = clip8(g);
      out[o + 2] = clip8(b);
    }
  }
  return { width: outW, height: H, data: out };
}

function resampleVertical(img: RgbImage, outH: number): RgbImage {
  const { width: W, height: inH, data } = img;
  const { ksize, bounds, k } = bilinearCoeffs(inH, outH);
  const out = new Uint8Array(W * outH * 3);
  const half = 1 << (PRECISION_BITS - 1);
  const stride = W * 3;
  for (let yy = 0; yy < outH; yy++) {
    const ymin = bounds[yy * 2];
    const cnt = bounds[yy * 2 + 1];
    const kk = yy * ksize;
    const o = yy * stride;
    for (let i = 0; i < stride; i++) {
      let s = half;
      for (let y = 0; y < cnt; y++) s += data[(ymin + y) * stride + i] * k[kk + y];
      out[o + i] = clip8(s);
    }
  }
  return { width: W, height: outH, data: out };
}

/** The w x h window whose top-left pixel is (x, y); it must lie inside the image. */
export function crop(img: RgbImage, x: number, y: number, w: number, h: number): RgbImage {
  assertImage(img);
  const ok = [x, y, w, h].every(Number.isInteger) && x >= 0 && y >= 0 && w > 0 && h > 0 && x + w <= img.width && y + h <= img.height;
  if (!ok) throw new DfganError('INVALID_ARGUMENT', `crop (${x}, ${y}, ${w}x${h}) does not fit in a ${img.width}x${img.height} image`);
  const out = new Uint8Array(w * h * 3);
  for (let r = 0; r < h; r++) {
    const s = ((y + r) * img.width + x) * 3;
    out.set(img.data.subarray(s, s + w * 3), r * w * 3);
  }
  return { width: w, height: h, data: out };
}

/** Mirror image (left <-> right). */
export function flipHorizontal(img: RgbImage): RgbImage {
  assertImage(img);
  const { width: W, height: H, data } = img;
  const out = new Uint8Array(data.length);
  for (let y = 0; y < H; y++) {
    const row = y * W * 3;
    for (let x = 0; x < W; x++) {
      const s = row + x * 3;
      const d = row + (W - 1 - x) * 3;
      out[d] = data[s];
      out[d + 1] = data[s + 1];
      out[d + 2] = data[s + 2];
    }
  }
  return { width: W, height: H, data: out };
}
