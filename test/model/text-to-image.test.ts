import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { useTestBackend } from '../helpers/backend.js';
import { tempDir } from '../helpers/tmp.js';
import { makeCheckpoint } from '../helpers/fixtures.js';
import { DfganError } from '../../src/errors.js';
import { TextToImage } from '../../src/model/text-to-image.js';

let model: TextToImage;
const CAPTION = 'this bird has a red crown, blue wings and a white belly';

before(async () => {
  await useTestBackend();
  model = await TextToImage.load(await makeCheckpoint(await tempDir(), { size: 64, nf: 8, discriminator: false }));
});

test('same seed -> same pixels whether the image rides alone or in a batch of 8', async () => {
  const seeds = [11, 12, 13, 14, 15, 16, 17, 18];
  const batch = await model.generate({ text: CAPTION, seeds });
  for (const i of [0, 3, 7]) {
    const alone = await model.generate({ text: CAPTION, seeds: [seeds[i]] });
    assert.deepEqual(alone.images[0].data, batch.images[i].data, `seed ${seeds[i]}`);
  }
  assert.notDeepEqual(batch.images[0].data, batch.images[1].data, 'different seeds give different images');
});

test('a caption batched with longer and shorter captions gets the same sentence vector', () => {
  const captions = model.tokenize([CAPTION, 'a bird', 'this small bird has a long pointed beak, yellow breast and black wings with white wingbars']);
  const together = model.encode(captions);
  const alone = model.encode([captions[1]]);
  const d = tf.tidy(() => tf.max(tf.abs(tf.sub(tf.slice(together, [1, 0], [1, -1]), alone))).dataSync()[0]);
  together.dispose();
  alone.dispose();
  assert.ok(d < 1e-6, `max diff ${d}`);
});

test('generate returns 8-bit RGB of the configured size and reports the words read', async () => {
  const r = await model.generate({ text: 'A RED bird with zzzunknown wings!', seeds: [1], truncation: null });
  assert.equal(r.images[0].width, 64);
  assert.equal(r.images[0].data.length, 64 * 64 * 3);
  assert.deepEqual(r.caption.words, ['a', 'red', 'bird', 'with', 'wings']);
  assert.deepEqual(r.caption.dropped, ['zzzunknown']);
});

test('captions with no known word and empty captions are user errors', async () => {
  await assert.rejects(model.generate({ text: 'qwerty uiop', seeds: [1] }), (e: unknown) => e instanceof DfganError && e.code === 'NO_KNOWN_WORDS');
  await assert.rejects(model.generate({ text: ' ?! ', seeds: [1] }), (e: unknown) => e instanceof DfganError && e.code === 'EMPTY_TEXT');
  await assert.rejects(model.generate({ text: 'a bird', seeds: [] }), (e: unknown) => e instanceof DfganError && e.code === 'INVALID_ARGUMENT');
});

test('no tensor leaks on generate, on success or on a user error', async () => {
  await model.generate({ text: CAPTION, seeds: [1, 2] }); // warm-up
  const before = tf.memory().numTensors;
  for (let i = 0; i < 3; i++) {
    await model.generate({ text: CAPTION, seeds: [i, i + 1, i + 2] });
    await model.generate({ text: 'nothing known here', seeds: [1] }).catch(() => undefined);
  }
  assert.equal(tf.memory().numTensors, before);
});

test('dispose() frees every tensor the model holds', async () => {
  const before = tf.memory().numTensors;
  const m = await TextToImage.load(model.dir);
  assert.ok(tf.memory().numTensors > before);
  m.dispose();
  assert.equal(tf.memory().numTensors, before);
});
