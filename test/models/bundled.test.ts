// The checkpoint `npm start` serves: it must verify (every checksum) and generate.
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { useTestBackend } from '../helpers/backend.js';
import { verifyCheckpoint } from '../../src/model/checkpoint/index.js';
import { TextToImage } from '../../src/model/text-to-image.js';
import { SERVE_OPTIONS } from '../../src/server/config.js';

const BUNDLED = fileURLToPath(new URL('../../models/synth-birds-64', import.meta.url));

before(async () => {
  await useTestBackend();
});

test('the server serves the bundled model by default', () => {
  assert.equal(SERVE_OPTIONS.checkpoint.default, BUNDLED);
});

test('the bundled model verifies and turns a caption into a 64x64 image', async () => {
  const m = await verifyCheckpoint(BUNDLED);
  assert.equal(m.generator.imageSize, 64);
  assert.ok(m.step > 0, 'a trained checkpoint, not a fresh one');
  const model = await TextToImage.load(BUNDLED);
  try {
    const r = await model.generate({ text: 'this bird has a red crown, blue wings and a white belly', seeds: [1, 2] });
    assert.equal(r.images.length, 2);
    assert.equal(r.images[0].width, 64);
    assert.deepEqual(r.caption.dropped, []);
  } finally {
    model.dispose();
  }
});
