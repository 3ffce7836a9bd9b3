import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DfganError } from '../../../src/errors.js';
import type { RgbImage } from '../../../src/model/image.js';
import type { Dataset } from '../../../src/training/data/dataset.js';
import { openCub } from '../../../src/training/data/cub.js';
import { BatchLoader, type Batch } from '../../../src/training/data/loader.js';
import { tempDir } from '../../helpers/tmp.js';
import { makeCub } from './fixtures.js';

/** In-memory data set: image i is a constant colour (i * 10, 255 - i * 10, x-ramp), captions 'i:c'. Loads take random time. */
function fakeDataset(size: number, opts: { jitterMs?: number; jitterSeed?: number; failAt?: number } = {}): Dataset & { loads: number } {
  let j = opts.jitterSeed ?? 1;
  const delay = () => {
    j = (j * 1103515245 + 12345) % 2147483648;
    const ms = opts.jitterMs ? j % opts.jitterMs : 0;
    return new Promise((r) => setTimeout(r, ms));
  };
  const ds = {
    kind: 'fake',
    root: '/fake',
    split: 'train' as const,
    size,
    loads: 0,
    key: (i: number) => `k${i}`,
    async image(i: number): Promise<RgbImage> {
      ds.loads++;
      await delay();
      if (i === opts.failAt) throw new DfganError('INVALID_ARGUMENT', `cannot read image /fake/${i}.jpg`);
      const w = 20;
      const h = 18;
      const data = new Uint8Array(w * h * 3);
      for (let p = 0; p < w * h; p++) data.set([i * 10, 255 - i * 10, (p % w) * 12], p * 3);
      return { width: w, height: h, data };
    },
    async captions(i: number): Promise<string[]> {
      await delay();
      return [0, 1, 2, 3].map((c) => `${i}:${c}`);
    },
  };
  return ds;
}

async function take(loader: BatchLoader, n: number): Promise<Batch[]> {
  const out: Batch[] = [];
  for (let i = 0; i < n; i++) out.push(await loader.next());
  return out;
}

const S = 16;
const PER = S * S * 3;

test('batches have the fixed shape; images and captions belong to the listed indices', async () => {
  const loader = new BatchLoader(fakeDataset(10), { batchSize: 3, imageSize: S, seed: 1 });
  assert.equal(loader.batchesPerEpoch, 3);
  for (const b of await take(loader, 4)) {
    assert.equal(b.images.length, 3 * PER);
    assert.equal(b.captions.length, 3);
    assert.equal(b.indices.length, 3);
    b.indices.forEach((idx, k) => {
      assert.match(b.captions[k], new RegExp(`^${idx}:[0-3]$`));
      assert.ok(Math.abs(b.images[k * PER] - ((idx * 10) / 127.5 - 1)) < 1e-6, `red channel of slot ${k} is image ${idx}`);
      assert.ok(Math.abs(b.images[k * PER + 1] - ((255 - idx * 10) / 127.5 - 1)) < 1e-6);
    });
  }
  loader.close();
});

test('every index appears exactly once per epoch; order differs between epochs', async () => {
  const loader = new BatchLoader(fakeDataset(12), { batchSize: 4, imageSize: S, seed: 7, prefetch: 3 });
  const epochs: number[][] = [];
  for (let e = 0; e < 3; e++) {
    const idx: number[] = [];
    for (const b of await take(loader, loader.batchesPerEpoch)) {
      assert.equal(b.epoch, e);
      idx.push(...b.indices);
    }
    assert.deepEqual([...idx].sort((a, b) => a - b), Array.from({ length: 12 }, (_, i) => i), `epoch ${e}`);
    epochs.push(idx);
  }
  assert.notDeepEqual(epochs[0], epochs[1]);
  // With a partial last batch dropped: 10 images, batches of 3 -> 9 distinct indices per epoch.
  const l2 = new BatchLoader(fakeDataset(10), { batchSize: 3, imageSize: S, seed: 7 });
  const seen = (await take(l2, 3)).flatMap((b) => b.indices);
  assert.equal(new Set(seen).size, 9);
  assert.deepEqual((await l2.next()).epoch, 1);
  loader.close();
  l2.close();
});

test('deterministic given the seed, whatever the prefetch depth and load timing', async () => {
  const run = async (prefetch: number, jitterMs: number, jitterSeed: number, concurrency?: number) =>
    take(new BatchLoader(fakeDataset(11, { jitterMs, jitterSeed }), { batchSize: 4, imageSize: S, seed: 42, prefetch, concurrency }), 7);
  const a = await run(0, 0, 1);
  const b = await run(4, 5, 2);
  const c = await run(2, 7, 3, 1);
  for (const other of [b, c]) {
    assert.deepEqual(other.map((x) => x.indices), a.map((x) => x.indices));
    assert.deepEqual(other.map((x) => x.captions), a.map((x) => x.captions));
    other.forEach((x, i) => assert.deepEqual(x.images, a[i].images, `batch ${i} pixels`));
  }
  const d = await take(new BatchLoader(fakeDataset(11), { batchSize: 4, imageSize: S, seed: 43 }), 2);
  assert.notDeepEqual(d.map((x) => x.indices), a.slice(0, 2).map((x) => x.indices));
});

test('startBatch resumes the same stream without loading the skipped batches', async () => {
  const full = await take(new BatchLoader(fakeDataset(9), { batchSize: 2, imageSize: S, seed: 5 }), 10);
  const ds = fakeDataset(9);
  const resumed = await take(new BatchLoader(ds, { batchSize: 2, imageSize: S, seed: 5, startBatch: 6, prefetch: 0 }), 4);
  assert.equal(ds.loads, 4 * 2, 'only the batches asked for were loaded');
  resumed.forEach((b, i) => {
    assert.deepEqual(b.indices, full[6 + i].indices);
    assert.deepEqual(b.captions, full[6 + i].captions);
    assert.deepEqual(b.images, full[6 + i].images);
    assert.deepEqual([b.epoch, b.step], [full[6 + i].epoch, full[6 + i].step]);
  });
});

test('prefetch loads ahead while the consumer is busy', async () => {
  const ds = fakeDataset(20);
  const loader = new BatchLoader(ds, { batchSize: 2, imageSize: S, seed: 1, prefetch: 3 });
  await loader.next();
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(ds.loads, 4 * 2, 'the current batch and three more');
  loader.close();
  await assert.rejects(loader.next(), /closed/);
});

test('a failing load surfaces on the batch that needs it, not as an unhandled rejection', async () => {
  const loader = new BatchLoader(fakeDataset(4, { failAt: 2 }), { batchSize: 4, imageSize: S, seed: 1, prefetch: 2 });
  await assert.rejects(loader.next(), /cannot read image \/fake\/2\.jpg/);
  await new Promise((r) => setTimeout(r, 20));
  loader.close();
});

test('bad options are INVALID_ARGUMENT', () => {
  const ds = fakeDataset(3);
  assert.throws(() => new BatchLoader(ds, { batchSize: 4, imageSize: S, seed: 1 }), /fewer than one batch/);
  assert.throws(() => new BatchLoader(ds, { batchSize: 0, imageSize: S, seed: 1 }), DfganError);
  assert.throws(() => new BatchLoader(ds, { batchSize: 1, imageSize: S, seed: -1 }), DfganError);
  assert.throws(() => new BatchLoader(ds, { batchSize: 1, imageSize: S, seed: 1, prefetch: -1 }), DfganError);
});

test('end to end over a CUB folder: augmented train batches and eval batches', async () => {
  const fx = await makeCub(await tempDir());
  const ds = await openCub(fx.root, 'train');
  const train = new BatchLoader(ds, { batchSize: 2, imageSize: 32, seed: 3 });
  const [b1, b2] = await take(train, 2);
  assert.deepEqual([...b1.indices, ...b2.indices].sort(), [0, 1, 2, 3]);
  for (const b of [b1, b2]) {
    assert.equal(b.images.length, 2 * 32 * 32 * 3);
    for (const v of b.images) assert.ok(v >= -1 && v <= 1);
    b.indices.forEach((idx, k) => assert.match(b.captions[k], new RegExp(`^a small bird number ${fx.trainOrder[idx]} `)));
  }
  train.close();
  const evalLoader = new BatchLoader(ds, { batchSize: 4, imageSize: 32, seed: 3, augment: false, shuffle: false });
  const e = await evalLoader.next();
  assert.deepEqual(e.indices, [0, 1, 2, 3]);
  evalLoader.close();
});
