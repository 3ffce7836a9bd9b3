import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { DfganError } from '../../../src/errors.js';
import { openCoco } from '../../../src/training/data/coco.js';
import { openDataset } from '../../../src/training/data/open.js';
import { tempDir } from '../../helpers/tmp.js';
import { cocoCaption, makeCoco } from './fixtures.js';

function invalid(pattern: RegExp) {
  return (e: unknown) => {
    assert.ok(e instanceof DfganError, `expected DfganError, got ${e}`);
    assert.equal(e.code, 'INVALID_ARGUMENT');
    assert.match(e.message, pattern);
    return true;
  };
}

test('COCO train split from filenames.pickle: keys, uncropped images, 5 captions', async () => {
  const fx = await makeCoco(await tempDir());
  const ds = await openCoco(fx.root, 'train');
  assert.equal(ds.kind, 'coco');
  assert.equal(ds.size, 3);
  assert.equal(ds.splitSource, join(fx.root, 'train', 'filenames.pickle'));
  assert.deepEqual([0, 1, 2].map((i) => ds.key(i)), fx.train);
  for (let i = 0; i < ds.size; i++) {
    const key = fx.train[i];
    assert.equal(ds.imagePath(i), join(fx.root, 'images', 'train2014', `${key}.jpg`));
    const im = await ds.image(i);
    assert.deepEqual([im.width, im.height], [fx.size[key].w, fx.size[key].h], 'no crop');
    assert.deepEqual(await ds.captions(i), Array.from({ length: 5 }, (_, c) => cocoCaption(key, c)));
  }
});

test('COCO test split from filenames.txt, val2014 images (also under val2014/jpg/)', async () => {
  const fx = await makeCoco(await tempDir());
  const ds = await openCoco(fx.root, 'test');
  assert.deepEqual([ds.key(0), ds.key(1)], fx.test);
  assert.equal(ds.imagePath(0), join(fx.root, 'images', 'val2014', `${fx.test[0]}.jpg`));
  assert.equal(ds.imagePath(1), join(fx.root, 'images', 'val2014', 'jpg', `${fx.test[1]}.jpg`));
  const im = await ds.image(1);
  assert.deepEqual([im.width, im.height], [fx.size[fx.test[1]].w, fx.size[fx.test[1]].h]);
});

test('COCO: missing caption file, missing image and missing split list are named', async () => {
  const fx = await makeCoco(await tempDir());
  const text = join(fx.root, 'text', `${fx.train[1]}.txt`);
  await rm(text);
  await assert.rejects(openCoco(fx.root, 'train'), invalid(new RegExp(`missing caption file ${text.replace(/[.]/g, '\\.')}`)));
  const img = join(fx.root, 'images', 'val2014', `${fx.test[0]}.jpg`);
  await rm(img);
  await assert.rejects(openCoco(fx.root, 'test'), invalid(new RegExp(`missing image file ${img.replace(/[.]/g, '\\.')}`)));
  await rm(join(fx.root, 'train'), { recursive: true });
  await assert.rejects(openCoco(fx.root, 'train'), invalid(/no train split list for COCO .*filenames\.pickle or .*filenames\.txt/));
});

test('openDataset detects the COCO layout', async () => {
  const fx = await makeCoco(await tempDir());
  const ds = await openDataset(fx.root, 'test');
  assert.equal(ds.kind, 'coco');
  assert.equal(ds.size, 2);
});
