import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rm, writeFile, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DfganError } from '../../../src/errors.js';
import { cubCropBox, openCub } from '../../../src/training/data/cub.js';
import { openDataset } from '../../../src/training/data/open.js';
import { tempDir } from '../../helpers/tmp.js';
import { cubCaption, makeCub } from './fixtures.js';

function invalid(pattern: RegExp) {
  return (e: unknown) => {
    assert.ok(e instanceof DfganError, `expected DfganError, got ${e}`);
    assert.equal(e.code, 'INVALID_ARGUMENT');
    assert.match(e.message, pattern);
    return true;
  };
}

const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

test('crop box as AttnGAN get_imgs computes it (worked by hand)', () => {
  // bbox (10, 5, 30, 20) in 70x55: r = int(30 * 0.75) = 22; centre (int(50 / 2), int(30 / 2)) = (25, 15);
  // x1 = 25 - 22 = 3, x2 = 47; y1 = max(0, 15 - 22) = 0, y2 = 37.
  assert.deepEqual(cubCropBox({ x: 10, y: 5, w: 30, h: 20 }, 70, 55), { x: 3, y: 0, w: 44, h: 37 });
  // bbox (0, 0, 40, 50) in 80x60: r = int(37.5) = 37; centre (20, 25); x in [0, 57), y in [0, min(60, 62)).
  assert.deepEqual(cubCropBox({ x: 0, y: 0, w: 40, h: 50 }, 80, 60), { x: 0, y: 0, w: 57, h: 60 });
  // bbox (3, 3, 5, 5): r = int(3.75) = 3; centre int((2 * 3 + 5) / 2) = int(5.5) = 5; [2, 8)
  assert.deepEqual(cubCropBox({ x: 3, y: 3, w: 5, h: 5 }, 100, 100), { x: 2, y: 2, w: 6, h: 6 });
});

test('train split from filenames.pickle: keys in list order, cropped images, 10 captions', async () => {
  const fx = await makeCub(await tempDir());
  const ds = await openCub(fx.root, 'train');
  assert.equal(ds.kind, 'cub');
  assert.equal(ds.split, 'train');
  assert.equal(ds.size, 4);
  assert.equal(ds.splitSource, join(fx.root, 'train', 'filenames.pickle'));
  assert.deepEqual(Array.from({ length: ds.size }, (_, i) => ds.key(i)), fx.trainOrder.map((id) => fx.keyOf[id]));

  // Image 1 (position 1 in the list) is stored as .png although images.txt says .jpg; pixels encode (x, y).
  const i1 = fx.trainOrder.indexOf(1);
  assert.ok(ds.imagePath(i1).endsWith('.png'));
  const im1 = await ds.image(i1);
  assert.deepEqual([im1.width, im1.height], [44, 37]);
  assert.deepEqual(Array.from(im1.data.subarray(0, 3)), [3, 0, 101]);
  const last = ((im1.height - 1) * im1.width + im1.width - 1) * 3;
  assert.deepEqual(Array.from(im1.data.subarray(last, last + 3)), [46, 36, 101]);

  // Image 2: PNG bytes under a .jpg name (decoders go by signature).
  const im2 = await ds.image(fx.trainOrder.indexOf(2));
  assert.deepEqual([im2.width, im2.height], [57, 60]);
  assert.deepEqual(Array.from(im2.data.subarray(0, 3)), [0, 0, 102]);

  // JPEG images: size of the crop only (lossy pixels).
  for (const id of [3, 4]) {
    const im = await ds.image(fx.trainOrder.indexOf(id));
    const b = cubCropBox(fx.bbox[id], fx.size[id].w, fx.size[id].h);
    assert.deepEqual([im.width, im.height], [b.w, b.h]);
  }

  for (const id of fx.trainOrder) {
    const caps = await ds.captions(fx.trainOrder.indexOf(id));
    assert.deepEqual(caps, Array.from({ length: 10 }, (_, c) => cubCaption(id, c)), `captions of ${id}`);
  }
});

test('test split from filenames.txt, CRLF caption file', async () => {
  const fx = await makeCub(await tempDir());
  const ds = await openCub(fx.root, 'test');
  assert.equal(ds.splitSource, join(fx.root, 'test', 'filenames.txt'));
  assert.deepEqual([ds.key(0), ds.key(1)], fx.testOrder.map((id) => fx.keyOf[id]));
  assert.deepEqual(await ds.captions(1), Array.from({ length: 10 }, (_, c) => cubCaption(5, c)));
});

test('without split lists the official train_test_split.txt decides, in images.txt order', async () => {
  const fx = await makeCub(await tempDir());
  await rm(join(fx.root, 'train'), { recursive: true });
  await rm(join(fx.root, 'test'), { recursive: true });
  const train = await openCub(fx.root, 'train');
  assert.equal(train.splitSource, join(fx.root, 'CUB_200_2011', 'train_test_split.txt'));
  assert.deepEqual(Array.from({ length: train.size }, (_, i) => train.key(i)), [1, 2, 3, 4].map((id) => fx.keyOf[id]));
  const testDs = await openCub(fx.root, 'test');
  assert.deepEqual([testDs.key(0), testDs.key(1)], [fx.keyOf[5], fx.keyOf[6]]);

  await rm(join(fx.root, 'CUB_200_2011', 'train_test_split.txt'));
  await assert.rejects(openCub(fx.root, 'train'), invalid(/no train split list for CUB.*filenames\.pickle.*filenames\.txt.*train_test_split\.txt/));
});

test('a missing caption file is named at open', async () => {
  const fx = await makeCub(await tempDir());
  const path = join(fx.root, 'text', `${fx.keyOf[4]}.txt`);
  await rm(path);
  await assert.rejects(openCub(fx.root, 'train'), invalid(new RegExp(`missing caption file ${esc(path)}$`)));
  // The other split does not need it.
  assert.equal((await openCub(fx.root, 'test')).size, 2);
});

test('a caption file removed after open is named when read', async () => {
  const fx = await makeCub(await tempDir());
  const ds = await openCub(fx.root, 'test');
  const path = join(fx.root, 'text', `${fx.keyOf[6]}.txt`);
  await rm(path);
  await assert.rejects(ds.captions(0), invalid(new RegExp(`missing caption file ${esc(path)}`)));
});

test('a missing image file is named at open', async () => {
  const fx = await makeCub(await tempDir());
  const path = join(fx.root, 'CUB_200_2011', 'images', `${fx.keyOf[3]}.jpg`);
  await rm(path);
  await assert.rejects(openCub(fx.root, 'train'), invalid(new RegExp(`missing image file ${esc(path)}`)));
});

test('damaged lists name the file and line', async () => {
  const fx = await makeCub(await tempDir());
  const bb = join(fx.root, 'CUB_200_2011', 'bounding_boxes.txt');
  const text = await readFile(bb, 'utf8');
  await writeFile(bb, text.replace(/^3 .*$/m, '3 20.0 thirty 25.0 15.0'));
  await assert.rejects(openCub(fx.root, 'train'), invalid(new RegExp(`${esc(bb)} line 3: expected`)));

  const fx2 = await makeCub(await tempDir());
  const list = join(fx2.root, 'test', 'filenames.txt');
  await writeFile(list, `${fx2.keyOf[5]}\n004.No_Such_Bird/nope_1\n`);
  await assert.rejects(openCub(fx2.root, 'test'), invalid(new RegExp(`${esc(list)} line 2: key "004.No_Such_Bird/nope_1" is not in`)));

  const fx3 = await makeCub(await tempDir());
  const pkl = join(fx3.root, 'train', 'filenames.pickle');
  await writeFile(pkl, Uint8Array.of(0x80, 2, 0x7d, 0x2e)); // {} instead of a list
  await assert.rejects(openCub(fx3.root, 'train'), invalid(/filenames\.pickle: expected a pickled list of keys, got a dict/));

  const fx4 = await makeCub(await tempDir());
  await rm(join(fx4.root, 'CUB_200_2011', 'images.txt'));
  await assert.rejects(openCub(fx4.root, 'train'), invalid(/missing CUB image list .*CUB_200_2011\/images\.txt/));
});

test('openDataset detects the CUB layout', async () => {
  const fx = await makeCub(await tempDir());
  const ds = await openDataset(fx.root, 'train');
  assert.equal(ds.kind, 'cub');
  assert.equal(ds.size, 4);
});

test('openDataset names the expected layouts when it finds neither', async () => {
  const root = await tempDir();
  await assert.rejects(openDataset(root, 'train'), invalid(/no known data set layout .*CUB_200_2011.*train2014.*val2014/));
  await assert.rejects(openDataset(join(root, 'nope'), 'train'), invalid(/does not exist/));
});
