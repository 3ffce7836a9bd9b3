// D's caption check: counterfactual captions change exactly one attribute; a sentence-blind head scores chance
// exactly; figures are deterministic and nothing leaks.
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { useTestBackend } from '../../helpers/backend.js';
import { tempDir } from '../../helpers/tmp.js';
import { makeCub } from '../data/fixtures.js';
import { parseGeneratorConfig, parseTextEncoderConfig } from '../../../src/model/config.js';
import { createConditionalHead, createDiscriminator } from '../../../src/model/discriminator.js';
import { createTextEncoder } from '../../../src/model/text/encoder.js';
import { Vocabulary } from '../../../src/model/text/vocab.js';
import { allCaptions } from '../../../src/training/data/dataset.js';
import { openDataset } from '../../../src/training/data/open.js';
import { writeSynthBirds } from '../../../src/training/data/synth-birds/index.js';
import { ATTRIBUTE_NAMES, attributesOf, imageRng } from '../../../src/training/data/synth-birds/attributes.js';
import { composeCaptions } from '../../../src/training/data/synth-birds/captions.js';
import { parseCaptionAttributes } from '../../../src/training/data/synth-birds/caption-attributes.js';
import { Rng } from '../../../src/model/sampling.js';
import { checkDiscriminator } from '../../../src/training/eval/discriminator-check.js';
import { counterfactualPairs } from '../../../src/training/data/synth-birds/counterfactuals.js';

let data: string;
before(async () => {
  await useTestBackend();
  data = join(await tempDir('dfgan-dcheck-'), 'birds');
  await writeSynthBirds({ out: data, seed: 3, count: 40, size: 32, testFraction: 0.25 });
});

test('a counterfactual caption names what the true one names but the changed attribute; most captions have one', () => {
  const rng = new Rng(1);
  let pairs = 0;
  let naming = 0;
  let unchanged = 0;
  for (let index = 0; index < 100; index++) {
    const attrs = attributesOf(7, index);
    naming += composeCaptions(attrs, imageRng(7, index, 'captions')).reduce((n, c) => n + c.mentions.length, 0);
    for (const p of counterfactualPairs(7, index, rng)) {
      pairs++;
      const truth = parseCaptionAttributes(p.truth);
      const other = parseCaptionAttributes(p.other);
      assert.equal(truth[p.name], attrs[p.name], 'the true caption names the true value');
      assert.notEqual(other[p.name], truth[p.name], `${p.name}: "${p.truth}" vs "${p.other}"`);
      assert.deepEqual({ ...other, [p.name]: truth[p.name] }, truth, `only ${p.name} differs: "${p.truth}" vs "${p.other}"`);
      if (p.truth.split(' ').length === p.other.split(' ').length) unchanged++;
    }
  }
  assert.ok(pairs > 0.8 * naming, `${pairs} of ${naming} (caption, attribute) mentions have a counterfactual`);
  assert.ok(unchanged > 0.5 * pairs, 'mostly the same sentence with a word swapped');
});

test('a sentence-blind D scores exactly chance; the check is deterministic, covers every attribute, leaks nothing', async () => {
  const ds = await openDataset(data, 'test');
  const vocab = Vocabulary.buildFromCaptions([...(await allCaptions(await openDataset(data, 'train'))), ...(await allCaptions(ds))]);
  const text = createTextEncoder(parseTextEncoderConfig({ vocabSize: vocab.size, embeddingDim: 8, hiddenPerDirection: 8 }), { seed: 1 });
  const cfg = parseGeneratorConfig({ imageSize: 32, nf: 2, condDim: 16, headProjection: true });
  const d = createDiscriminator(cfg, { seed: 2 });
  const c = createConditionalHead(cfg, { seed: 3 });
  c.params.get('proj.weight').assign(tf.randomNormal([16, 4 * 4 * 16], 0, 1, 'float32', 4));
  const nets = { d, c, text, vocab };
  const before = tf.memory().numTensors;
  const a = await checkDiscriminator(nets, ds, 3, { images: 10, seed: 1, imageSize: 32, batch: 4 });
  const b = await checkDiscriminator(nets, ds, 3, { images: 10, seed: 1, imageSize: 32, batch: 7 });
  assert.equal(tf.memory().numTensors, before, 'no tensors leak');
  assert.deepEqual(b, a, 'the same figures whatever the batch');
  assert.equal(a.images, 10);
  assert.deepEqual(Object.keys(a.pairs).sort(), [...ATTRIBUTE_NAMES].sort(), 'every attribute is checked');
  for (const v of Object.values(a.accuracy)) assert.ok(v >= 0 && v <= 1);
  assert.ok(Object.values(a.accuracy).some((v) => v !== 0.5), 'a head that reads the sentence is not at exactly 0.5');
  // Blind to the sentence: zero the sentence channels of the first conv and the projection.
  const w = c.params.get('joint_conv.0.weight');
  const feat = cfg.nf * 8;
  const out = w.shape[3]!;
  w.assign(tf.tidy(() => tf.concat([tf.slice(w, [0, 0, 0, 0], [3, 3, feat, out]), tf.zeros([3, 3, cfg.condDim, out])], 2)));
  c.params.get('proj.weight').assign(tf.zeros([16, 4 * 4 * feat]));
  const blind = await checkDiscriminator(nets, ds, 3, { images: 10, seed: 1, imageSize: 32 });
  for (const [name, v] of Object.entries(blind.accuracy)) assert.equal(v, 0.5, `${name}: ties count half`);
  [text, d, c].forEach((m) => m.dispose());
});

test('data that synth did not write is refused with INVALID_ARGUMENT', async () => {
  const cub = await openDataset((await makeCub(await tempDir())).root, 'test');
  const vocab = Vocabulary.buildFromCaptions(await allCaptions(cub));
  const text = createTextEncoder(parseTextEncoderConfig({ vocabSize: vocab.size, embeddingDim: 8, hiddenPerDirection: 8 }), { seed: 1 });
  const cfg = parseGeneratorConfig({ imageSize: 32, nf: 2, condDim: 16 });
  const d = createDiscriminator(cfg);
  const c = createConditionalHead(cfg);
  await assert.rejects(checkDiscriminator({ d, c, text, vocab }, cub, 3, { images: 2, seed: 0, imageSize: 32 }), (e: Error & { code?: string }) => {
    assert.equal(e.code, 'INVALID_ARGUMENT');
    assert.match(e.message, /not a synth-birds image/);
    return true;
  });
  [text, d, c].forEach((m) => m.dispose());
});
