import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { encode as encodePng, type ImageData } from 'fast-png';
import jpeg from 'jpeg-js';
import { DfganError } from '../../../src/errors.js';
import type { RgbImage } from '../../../src/model/image.js';
import { crop, decodeImage, flipHorizontal, readImage, resizeBilinear } from '../../../src/training/data/image-io.js';
import { rgbData } from './fixtures.js';

function img(w: number, h: number, fn: (x: number, y: number) => [number, number, number]): RgbImage {
  return { width: w, height: h, data: rgbData(w, h, fn) };
}

function pixel(im: RgbImage, x: number, y: number): number[] {
  const o = (y * im.width + x) * 3;
  return Array.from(im.data.subarray(o, o + 3));
}

test('PNG: RGB, RGBA, grey, grey+alpha and 16-bit decode to 8-bit RGB', () => {
  const w = 3;
  const h = 2;
  const n = w * h;
  const rgb = decodeImage(encodePng({ width: w, height: h, channels: 3, depth: 8, data: Uint8Array.from({ length: n * 3 }, (_, i) => i * 7) }));
  assert.deepEqual(Array.from(rgb.data), Array.from({ length: n * 3 }, (_, i) => i * 7));
  const rgba = decodeImage(encodePng({ width: w, height: h, channels: 4, depth: 8, data: Uint8Array.from({ length: n * 4 }, (_, i) => (i % 4 === 3 ? 0 : i)) }));
  assert.deepEqual(pixel(rgba, 1, 0), [4, 5, 6], 'alpha dropped, colour kept');
  const grey = decodeImage(encodePng({ width: w, height: h, channels: 1, depth: 8, data: Uint8Array.from({ length: n }, (_, i) => i * 40) }));
  assert.deepEqual(pixel(grey, 2, 1), [200, 200, 200]);
  const ga = decodeImage(encodePng({ width: w, height: h, channels: 2, depth: 8, data: Uint8Array.from({ length: n * 2 }, (_, i) => (i % 2 ? 9 : i * 10)) }));
  assert.deepEqual(pixel(ga, 1, 0), [20, 20, 20]);
  const deep = decodeImage(encodePng({ width: w, height: h, channels: 3, depth: 16, data: Uint16Array.from({ length: n * 3 }, (_, i) => i * 3000) }));
  assert.deepEqual(pixel(deep, 0, 1), [(9 * 3000) >> 8, (10 * 3000) >> 8, (11 * 3000) >> 8]);
  assert.equal(deep.data.length, n * 3);
});

test('PNG: palette (8-bit and packed 4-bit) and 1-bit grey', () => {
  const palette = [
    [255, 0, 0],
    [0, 255, 0],
    [0, 0, 255],
  ];
  const p8 = decodeImage(encodePng({ width: 3, height: 1, channels: 1, depth: 8, palette, data: Uint8Array.of(2, 1, 0) } as ImageData));
  assert.deepEqual(Array.from(p8.data), [0, 0, 255, 0, 255, 0, 255, 0, 0]);
  // 3x2 at 4 bits: each row padded to 2 bytes. Row 0: 0,1,2 ; row 1: 2,2,1.
  const p4 = decodeImage(encodePng({ width: 3, height: 2, channels: 1, depth: 4, palette, data: Uint8Array.of(0x01, 0x20, 0x22, 0x10) } as ImageData));
  assert.deepEqual([pixel(p4, 0, 0), pixel(p4, 1, 0), pixel(p4, 2, 0), pixel(p4, 0, 1), pixel(p4, 2, 1)], [palette[0], palette[1], palette[2], palette[2], palette[1]]);
  // 1-bit grey 10 pixels wide: rows padded to 2 bytes.
  const g1 = decodeImage(encodePng({ width: 10, height: 1, channels: 1, depth: 1, data: Uint8Array.of(0b10100000, 0b01000000) }));
  assert.deepEqual(Array.from({ length: 10 }, (_, x) => pixel(g1, x, 0)[0]), [255, 0, 255, 0, 0, 0, 0, 0, 0, 255]);
});

test('JPEG: colour decodes close to what was encoded', () => {
  const w = 16;
  const h = 8;
  const rgba = new Uint8Array(w * h * 4);
  for (let i = 0; i < w * h; i++) rgba.set([200, 100, 50, 255], i * 4);
  const dec = decodeImage(new Uint8Array(jpeg.encode({ width: w, height: h, data: rgba }, 95).data));
  assert.equal(dec.width, w);
  assert.equal(dec.height, h);
  assert.equal(dec.data.length, w * h * 3);
  for (let i = 0; i < dec.data.length; i += 3) {
    assert.ok(Math.abs(dec.data[i] - 200) <= 3 && Math.abs(dec.data[i + 1] - 100) <= 3 && Math.abs(dec.data[i + 2] - 50) <= 3, `pixel ${pixel(dec, (i / 3) % w, 0)}`);
  }
});

test('JPEG: greyscale and CMYK files (made by Pillow) decode as PIL convert("RGB") does', async () => {
  const dir = join(import.meta.dirname, '..', '..', 'fixtures', 'images');
  const g = await readImage(join(dir, 'grey-16x8.jpg'));
  assert.equal(g.width, 16);
  assert.equal(g.height, 8);
  assert.deepEqual([0, 5, 10, 15].map((x) => pixel(g, x, 3)), [[0, 0, 0], [80, 80, 80], [160, 160, 160], [240, 240, 240]]);
  const c = await readImage(join(dir, 'cmyk-red-8x8.jpg'));
  assert.deepEqual(pixel(c, 3, 3), [255, 0, 0]);
});

test('undecodable bytes and missing files are INVALID_ARGUMENT naming the source', async () => {
  assert.throws(() => decodeImage(Uint8Array.of(1, 2, 3), 'x/y.jpg'), (e: unknown) => e instanceof DfganError && e.code === 'INVALID_ARGUMENT' && /x\/y\.jpg: not a JPEG or PNG/.test(e.message));
  assert.throws(() => decodeImage(Uint8Array.of(0xff, 0xd8, 0xff, 0, 0), 'bad.jpg'), (e: unknown) => e instanceof DfganError && /bad\.jpg: cannot decode image/.test(e.message));
  await assert.rejects(readImage('/nonexistent/dir/a.jpg'), (e: unknown) => e instanceof DfganError && /\/nonexistent\/dir\/a\.jpg/.test(e.message));
});

test('resizeBilinear matches Pillow Image.resize(BILINEAR) exactly', () => {
  const ref = JSON.parse(readFileSync(join(import.meta.dirname, '..', '..', 'fixtures', 'resize', 'pil-bilinear.json'), 'utf8')) as {
    width: number;
    height: number;
    resized: { width: number; height: number; data: number[] }[];
  };
  const src = img(ref.width, ref.height, (x, y) => [(x * 37 + y * 11) % 256, (x * x * 5 + y * 3) % 256, (((255 - x * 20 - y * 30) % 256) + 256) % 256]);
  for (const r of ref.resized) {
    const out = resizeBilinear(src, r.width, r.height);
    assert.equal(out.width, r.width);
    assert.equal(out.height, r.height);
    assert.deepEqual(Array.from(out.data), r.data, `${r.width}x${r.height}`);
  }
});

test('resize keeps a constant image constant, up and down', () => {
  const src = img(37, 23, () => [17, 128, 250]);
  for (const [w, h] of [[304, 304], [10, 7], [1, 1], [37, 100], [5, 23]]) {
    const out = resizeBilinear(src, w, h);
    for (let i = 0; i < out.data.length; i += 3) assert.deepEqual(Array.from(out.data.subarray(i, i + 3)), [17, 128, 250]);
  }
  const same = resizeBilinear(src, 37, 23);
  assert.deepEqual(same.data, src.data);
  assert.notEqual(same.data, src.data, 'a copy, not the input');
});

test('downscaling averages (antialiased) instead of picking pixels', () => {
  // 1-pixel vertical stripes 0/255: a 2x shrink must give mid grey in the interior, not 0 or 255.
  const src = img(64, 8, (x) => (x % 2 ? [255, 255, 255] : [0, 0, 0]));
  const out = resizeBilinear(src, 32, 4);
  for (let y = 0; y < 4; y++) for (let x = 1; x < 31; x++) assert.ok(Math.abs(pixel(out, x, y)[0] - 127.5) <= 1, `(${x},${y}) = ${pixel(out, x, y)}`);
  // 4x4 blocks shrunk 4x: each output pixel lies mostly on its block.
  const blocks = img(16, 16, (x, y) => [Math.floor(x / 4) * 60, Math.floor(y / 4) * 60, 0]);
  const small = resizeBilinear(blocks, 4, 4);
  for (let y = 0; y < 4; y++) for (let x = 0; x < 4; x++) {
    assert.ok(Math.abs(pixel(small, x, y)[0] - x * 60) <= 20, `${pixel(small, x, y)}`);
    assert.ok(Math.abs(pixel(small, x, y)[1] - y * 60) <= 20);
  }
});

test('crop takes the window and rejects one outside the image', () => {
  const src = img(10, 8, (x, y) => [x, y, 7]);
  const c = crop(src, 3, 2, 4, 5);
  assert.equal(c.width, 4);
  assert.equal(c.height, 5);
  assert.deepEqual(pixel(c, 0, 0), [3, 2, 7]);
  assert.deepEqual(pixel(c, 3, 4), [6, 6, 7]);
  assert.throws(() => crop(src, 8, 0, 3, 1), (e: unknown) => e instanceof DfganError && e.code === 'INVALID_ARGUMENT');
  assert.throws(() => crop(src, 0, 0, 0, 1), DfganError);
});

test('flipHorizontal mirrors rows; twice is the identity', () => {
  const src = img(5, 3, (x, y) => [x * 10, y * 10, x + y]);
  const f = flipHorizontal(src);
  assert.deepEqual(pixel(f, 0, 1), pixel(src, 4, 1));
  assert.deepEqual(pixel(f, 4, 2), pixel(src, 0, 2));
  assert.notDeepEqual(f.data, src.data);
  assert.deepEqual(flipHorizontal(f).data, src.data);
});
