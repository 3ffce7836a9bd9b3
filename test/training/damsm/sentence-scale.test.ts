// The sentence scale pretrain-text writes: it multiplies sentence vectors only, and brings their spread to 1.
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { parseTextEncoderConfig } from '../../../src/model/config.js';
import { createTextEncoder } from '../../../src/model/text/encoder.js';
import { Vocabulary } from '../../../src/model/text/vocab.js';
import { measureSentenceScale } from '../../../src/training/damsm/sentence-scale.js';
import { useTestBackend } from '../../helpers/backend.js';

before(() => useTestBackend());

const COLOURS = ['red', 'blue', 'green', 'yellow', 'black', 'white', 'brown', 'grey'];
const PARTS = ['crown', 'wings', 'belly', 'breast'];
const CAPTIONS = COLOURS.flatMap((c) => PARTS.map((p) => `a small bird with a ${c} ${p} and a short beak`));

function spread(values: Float32Array, n: number, d: number): number {
  let meanVar = 0;
  for (let j = 0; j < d; j++) {
    let s = 0;
    let ss = 0;
    for (let i = 0; i < n; i++) {
      s += values[i * d + j];
      ss += values[i * d + j] ** 2;
    }
    meanVar += (ss / n - (s / n) ** 2) / d;
  }
  return Math.sqrt(meanVar);
}

test('sentenceScale multiplies sentence vectors (not word features), and the measured scale gives unit spread', async () => {
  const vocab = Vocabulary.buildFromCaptions(CAPTIONS);
  const plain = createTextEncoder(parseTextEncoderConfig({ vocabSize: vocab.size }), { seed: 4 });
  const ids = CAPTIONS.map((c) => vocab.encode(c, 18).ids);
  const scale = await measureSentenceScale(plain, vocab, CAPTIONS, { spread: 1 });
  assert.ok(scale > 1, `a fresh encoder's sentences vary little, so the scale is large (got ${scale})`);
  const scaled = createTextEncoder(parseTextEncoderConfig({ vocabSize: vocab.size, sentenceScale: scale }), { seed: 4 });
  const a = plain.encodeIds(ids);
  const b = scaled.encodeIds(ids);
  const [sa, sb, wa, wb] = await Promise.all([a.sentence.data(), b.sentence.data(), a.words.data(), b.words.data()]);
  for (let k = 0; k < sa.length; k += 97) assert.ok(Math.abs(sb[k] - scale * sa[k]) <= 1e-5 * Math.max(1, Math.abs(sb[k])), `sentence value ${k}`);
  assert.deepEqual(wb, wa, 'word features are not scaled');
  const d = b.sentence.shape[1];
  assert.ok(Math.abs(spread(sb as Float32Array, ids.length, d) - 1) < 1e-3, 'unit spread per dimension');
  // Measuring the scaled encoder returns the same factor (it replaces the old one, it does not stack).
  assert.ok(Math.abs((await measureSentenceScale(scaled, vocab, CAPTIONS, { spread: 1 })) / scale - 1) < 1e-3);
  tf.dispose([a.sentence, a.words, b.sentence, b.words]);
  plain.dispose();
  scaled.dispose();
});

test('old configs without sentenceScale read as 1', () => {
  assert.equal(parseTextEncoderConfig({ vocabSize: 10 }).sentenceScale, 1);
  assert.throws(() => parseTextEncoderConfig({ vocabSize: 10, sentenceScale: 0 }), /sentenceScale/);
});

test('the scale is proportional to the spread asked for', async () => {
  const vocab = Vocabulary.buildFromCaptions(CAPTIONS);
  const text = createTextEncoder(parseTextEncoderConfig({ vocabSize: vocab.size }), { seed: 4 });
  const one = await measureSentenceScale(text, vocab, CAPTIONS, { spread: 1 });
  const quarter = await measureSentenceScale(text, vocab, CAPTIONS, { spread: 0.25 });
  assert.ok(Math.abs(quarter / one - 0.25) < 1e-9);
  text.dispose();
});
