// Sentence whitening for the GAN: equal variance along every direction (without shrinkage), the spread kept, a
// generator folded to draw from whitened sentences what it drew from raw ones, and the encoder's own forward.
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { parseGeneratorConfig, parseTextEncoderConfig } from '../../../src/model/config.js';
import { createGenerator } from '../../../src/model/generator.js';
import { createTextEncoder, type TextEncoder } from '../../../src/model/text/encoder.js';
import { Vocabulary } from '../../../src/model/text/vocab.js';
import { symmetricEigen } from '../../../src/training/eval/frechet.js';
import { fitSentenceWhitening, foldWhiteningIntoGenerator, whitenedTextEncoder } from '../../../src/training/damsm/sentence-whitening.js';
import { useTestBackend } from '../../helpers/backend.js';

before(() => useTestBackend());

const COLOURS = ['red', 'blue', 'green', 'yellow', 'black', 'white', 'brown', 'grey'];
const PARTS = ['crown', 'wings', 'belly', 'breast'];
const SIDES = ['left', 'right'];
const CAPTIONS = COLOURS.flatMap((c) => PARTS.flatMap((p) => SIDES.map((s) => `a small bird with a ${c} ${p} facing ${s}`)));
const vocab = Vocabulary.buildFromCaptions(CAPTIONS);
const D = 12;
const encoder = (seed = 4) => createTextEncoder(parseTextEncoderConfig({ vocabSize: vocab.size, hiddenPerDirection: D / 2, sentenceScale: 3 }), { seed });

async function sentences(text: TextEncoder): Promise<Float64Array> {
  const e = text.encodeIds(CAPTIONS.map((c) => vocab.encode(c, 18).ids));
  const out = Float64Array.from(await e.sentence.data());
  tf.dispose([e.sentence, e.words]);
  return out;
}

/** Mean and eigenvalues of the covariance of n x D rows. */
function moments(rows: Float64Array): { mean: number[]; eig: number[] } {
  const n = rows.length / D;
  const mean = Array.from({ length: D }, (_, d) => {
    let s = 0;
    for (let r = 0; r < n; r++) s += rows[r * D + d];
    return s / n;
  });
  const cov = new Float64Array(D * D);
  for (let r = 0; r < n; r++) for (let i = 0; i < D; i++) for (let j = 0; j < D; j++) cov[i * D + j] += ((rows[r * D + i] - mean[i]) * (rows[r * D + j] - mean[j])) / n;
  return { mean, eig: Array.from(symmetricEigen(cov, D).values).sort((a, b) => a - b) };
}

test('without shrinkage the whitened sentences vary equally in every direction, centred, with the spread kept', async () => {
  const text = encoder();
  const before = tf.memory().numTensors;
  const w = await fitSentenceWhitening(text, vocab, CAPTIONS, { shrinkage: 0 });
  const white = await whitenedTextEncoder(text, w);
  assert.equal(white.config.whitenSentences, true);
  const raw = moments(await sentences(text));
  const out = moments(await sentences(white));
  assert.ok(raw.eig[D - 1] / raw.eig[0] > 10, `the raw sentences are far from white (condition ${raw.eig[D - 1] / raw.eig[0]})`);
  const meanEig = raw.eig.reduce((a, b) => a + b) / D;
  for (const e of out.eig) assert.ok(Math.abs(e / meanEig - 1) < 1e-3, `whitened eigenvalue ${e} vs the raw mean ${meanEig}`);
  for (const m of out.mean) assert.ok(Math.abs(m) < 1e-4, `centred (mean ${m})`);
  white.dispose();
  assert.equal(tf.memory().numTensors, before, 'fitting leaks no tensors');
  text.dispose();
});

test('shrinkage keeps the spread and whitens less; a whitened encoder is refused a second whitening', async () => {
  const text = encoder(6);
  const raw = moments(await sentences(text));
  const meanEig = raw.eig.reduce((a, b) => a + b) / D;
  const conditions: number[] = [];
  for (const shrinkage of [0.01, 0.1, 1]) {
    const white = await whitenedTextEncoder(text, await fitSentenceWhitening(text, vocab, CAPTIONS, { shrinkage }));
    const out = moments(await sentences(white));
    assert.ok(Math.abs(out.eig.reduce((a, b) => a + b) / D / meanEig - 1) < 1e-3, `shrinkage ${shrinkage}: the spread is kept`);
    conditions.push(out.eig[D - 1] / out.eig[0]);
    await assert.rejects(fitSentenceWhitening(white, vocab, CAPTIONS, { shrinkage }), (e: Error & { code?: string }) => e.code === 'INVALID_ARGUMENT');
    white.dispose();
  }
  assert.ok(conditions[0] < conditions[1] && conditions[1] < conditions[2], `more shrinkage, less whitening: ${conditions}`);
  assert.ok(conditions[2] < raw.eig[D - 1] / raw.eig[0]);
  await assert.rejects(fitSentenceWhitening(text, vocab, CAPTIONS.slice(0, D), { shrinkage: 0 }), /without shrinkage needs at least 13/);
  text.dispose();
});

for (const fcSentence of [false, true]) {
  test(`a folded generator draws from whitened sentences what it drew from raw ones${fcSentence ? ' (fc reads the sentence too)' : ''}`, async () => {
    const text = encoder(8);
    const w = await fitSentenceWhitening(text, vocab, CAPTIONS, { shrinkage: 0.04 });
    const white = await whitenedTextEncoder(text, w);
    const cfg = parseGeneratorConfig({ imageSize: 32, nf: 2, condDim: D, fcSentence });
    const g = createGenerator(cfg, { seed: 1 });
    // Non-identity affines, so that the sentence actually steers the image.
    const values = await g.params.read();
    for (const [k, v] of values) if (k.includes('linear2')) v.forEach((_, i) => (v[i] = Math.sin(i + k.length) * 0.3));
    // With fcSentence, only fc carries the sentence (affines at identity), so an unfolded fc would show.
    if (fcSentence) for (const [k, v] of values) if (k.includes('linear2.weight')) v.fill(0);
    g.params.assign(values);
    const ids = CAPTIONS.slice(0, 6).map((c) => vocab.encode(c, 18).ids);
    const z = tf.randomNormal([6, cfg.zDim], 0, 1, 'float32', 3) as tf.Tensor2D;
    const a = tf.tidy(() => g.apply(z, text.encodeIds(ids).sentence));
    const before = tf.memory().numTensors;
    await foldWhiteningIntoGenerator(g, w);
    assert.equal(tf.memory().numTensors, before, 'folding leaks no tensors');
    const b = tf.tidy(() => g.apply(z, white.encodeIds(ids).sentence));
    const unfolded = tf.tidy(() => g.apply(z, text.encodeIds(ids).sentence));
    const diff = tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);
    const moved = tf.tidy(() => tf.max(tf.abs(tf.sub(a, unfolded))).dataSync()[0]);
    assert.ok(diff < 1e-4, `same images (max difference ${diff})`);
    assert.ok(moved > 1e-2, `the fold did change G: raw sentences now give other images (${moved})`);
    tf.dispose([z, a, b, unfolded]);
    [text, white, g].forEach((m) => m.dispose());
  });
}
