import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { RgbImage } from '../../../src/model/image.js';
import { Rng } from '../../../src/model/sampling.js';
import {
  augment,
  evalTransform,
  pickCaption,
  resizeShorterSide,
  toSignedUnit,
  trainResizeSize,
  trainTransform,
} from '../../../src/training/data/transform.js';
import { makeCub, rgbData } from './fixtures.js';
import { join } from 'node:path';
import { tempDir } from '../../helpers/tmp.js';
import { resolveFlip } from '../../../src/training/data/flip.js';
import { writeSynthBirds } from '../../../src/training/data/synth-birds/index.js';
import { parseTrainConfig } from '../../../src/training/train-config.js';

function img(w: number, h: number, fn: (x: number, y: number) => [number, number, number]): RgbImage {
  return { width: w, height: h, data: rgbData(w, h, fn) };
}

test('train resize sizes: floor(S * 76 / 64)', () => {
  assert.equal(trainResizeSize(256), 304);
  assert.equal(trainResizeSize(128), 152);
  assert.equal(trainResizeSize(64), 76);
  assert.equal(trainResizeSize(32), 38);
});

test('resize keeps the aspect ratio with the shorter side at the target (torchvision Resize(int))', () => {
  const wide = resizeShorterSide(img(100, 50, () => [1, 2, 3]), 76);
  assert.deepEqual([wide.width, wide.height], [152, 76]);
  const tall = resizeShorterSide(img(33, 70, () => [1, 2, 3]), 76);
  assert.deepEqual([tall.width, tall.height], [76, Math.trunc((76 * 70) / 33)]);
});

test('train transform: [S, S, 3] floats in [-1, 1], x / 127.5 - 1, reproducible from the rng', () => {
  const src = img(90, 70, (x, y) => [(x * 3) % 256, (y * 3) % 256, 255 - ((x + y) % 256)]);
  for (const S of [64, 32]) {
    const a = trainTransform(src, S, new Rng(5));
    assert.equal(a.length, S * S * 3);
    let lo = Infinity;
    let hi = -Infinity;
    for (const v of a) {
      lo = Math.min(lo, v);
      hi = Math.max(hi, v);
    }
    assert.ok(lo >= -1 && hi <= 1, `range [${lo}, ${hi}]`);
    assert.ok(hi - lo > 1, 'not degenerate');
    assert.deepEqual(trainTransform(src, S, new Rng(5)), a);
  }
  const c = trainTransform(img(50, 40, () => [0, 255, 51]), 32, new Rng(1));
  assert.deepEqual(Array.from(c.subarray(0, 3)), [-1, 1, Math.fround(51 / 127.5 - 1)]);
  const out = new Float32Array(2 * 32 * 32 * 3).fill(7);
  trainTransform(img(50, 40, () => [255, 255, 255]), 32, new Rng(1), out, 32 * 32 * 3);
  assert.equal(out[0], 7);
  assert.equal(out[32 * 32 * 3], 1);
});

test('augmentation: crops vary over the allowed range and about half the samples are flipped', () => {
  // A 76x76 image at S = 64 needs no resize: the crop offset is readable from the first pixel (x, y).
  const src = img(76, 76, (x, y) => [x, y, 0]);
  const tops = new Set<number>();
  const lefts = new Set<number>();
  let flips = 0;
  const n = 400;
  for (let s = 0; s < n; s++) {
    const out = augment(src, 64, new Rng(s));
    assert.deepEqual([out.width, out.height], [64, 64]);
    const [r0, g0] = out.data;
    const [r1] = out.data.subarray(3);
    const flipped = r1 < r0;
    if (flipped) flips++;
    const left = flipped ? r0 - 63 : r0;
    assert.ok(left >= 0 && left <= 12 && g0 >= 0 && g0 <= 12, `crop at (${left}, ${g0})`);
    lefts.add(left);
    tops.add(g0);
  }
  assert.equal(lefts.size, 13, 'every horizontal offset 0..12 occurs');
  assert.equal(tops.size, 13, 'every vertical offset 0..12 occurs');
  assert.ok(flips > n * 0.4 && flips < n * 0.6, `${flips} flips of ${n}`);
});

test('without flips the crops are those the same seeds give with flips, never mirrored', () => {
  const src = img(76, 76, (x, y) => [x, y, 0]);
  for (let s = 0; s < 100; s++) {
    const plain = augment(src, 64, new Rng(s), { flip: false });
    const [r0, g0] = plain.data;
    assert.ok(plain.data[3] > r0, 'left to right, as the source');
    const withFlip = augment(src, 64, new Rng(s));
    const flipped = withFlip.data[3] < withFlip.data[0];
    // The same crop: the flipped version's rightmost pixel of row 0 is the plain one's leftmost.
    assert.deepEqual([flipped ? withFlip.data[63 * 3] : withFlip.data[0], withFlip.data[1]], [r0, g0], `seed ${s}`);
  }
});

test('flips: auto is off for data written by synth (captions name the facing), on otherwise', async () => {
  const root = await tempDir();
  const synth = join(root, 'birds');
  await writeSynthBirds({ out: synth, seed: 1, count: 4, size: 32, testFraction: 0 });
  const cub = (await makeCub(join(root, 'cub'))).root;
  assert.equal(await resolveFlip('auto', synth), false);
  assert.equal(await resolveFlip('auto', cub), true);
  assert.equal(await resolveFlip('on', synth), true);
  assert.equal(await resolveFlip('off', cub), false);
  assert.equal(parseTrainConfig({ data: synth, out: root, steps: 1 }).flip, 'auto');
});

test('eval transform resizes straight to S x S', () => {
  const out = evalTransform(img(100, 50, () => [255, 0, 127]), 16);
  assert.equal(out.length, 16 * 16 * 3);
  assert.deepEqual(Array.from(out.subarray(0, 3)), [1, -1, Math.fround(127 / 127.5 - 1)]);
  assert.deepEqual(toSignedUnit(img(1, 1, () => [0, 128, 255])), Float32Array.from([-1, 128 / 127.5 - 1, 1]));
});

test('pickCaption: deterministic per rng, every caption reachable', () => {
  const caps = ['a', 'b', 'c', 'd', 'e'];
  assert.equal(pickCaption(caps, new Rng(9)), pickCaption(caps, new Rng(9)));
  const seen = new Map<string, number>();
  const rng = new Rng(3);
  for (let i = 0; i < 1000; i++) {
    const c = pickCaption(caps, rng);
    seen.set(c, (seen.get(c) ?? 0) + 1);
  }
  assert.equal(seen.size, 5);
  for (const n of seen.values()) assert.ok(n > 150 && n < 250, `${[...seen]}`);
  assert.throws(() => pickCaption([], rng));
});
