import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile, readdir, stat } from 'node:fs/promises';
import { promisify } from 'node:util';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { useTestBackend } from '../helpers/backend.js';
import { tempDir } from '../helpers/tmp.js';
import { createLogger } from '../../src/logger.js';
import { parseTextEncoderConfig } from '../../src/model/config.js';
import { createTextEncoder } from '../../src/model/text/encoder.js';
import { tokenize } from '../../src/model/text/tokenizer.js';
import { Vocabulary } from '../../src/model/text/vocab.js';
import { Rng } from '../../src/model/sampling.js';
import { loadCheckpoint, readManifest, readWeightSet, resolveCheckpointDir } from '../../src/model/checkpoint/index.js';
import { openDataset } from '../../src/training/data/open.js';
import { evalTransform } from '../../src/training/data/transform.js';
import { SynthBirdsDataset, writeSynthBirds } from '../../src/training/data/synth-birds/index.js';
import { createImageEncoder } from '../../src/training/damsm/image-encoder.js';
import { matchingLoss, retrievalAccuracy, sentenceLoss, wordLoss, wordSimilarity } from '../../src/training/damsm/losses.js';
import { DamsmStep, captionIds, sameCaptionIds } from '../../src/training/damsm/pretrain.js';
import { parsePretrainConfig } from '../../src/training/damsm/pretrain-config.js';
import { pretrainText } from '../../src/training/damsm/pretrain.js';

before(async () => {
  await useTestBackend();
});

const BIN = join(import.meta.dirname, '../../bin/dfgan.mjs');

async function dfgan(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await promisify(execFile)(process.execPath, [BIN, '--log-level', 'warn', ...args], { maxBuffer: 1 << 24 });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

// ------------------------------------------------------------------------------------------------
// Plain-JS reference (float64) of AttnGAN's losses.

type Mat = number[][];

function randn(rng: Rng, ...shape: number[]): number[] | Mat | Mat[] {
  if (shape.length === 1) return Array.from({ length: shape[0] }, () => rng.normal());
  return Array.from({ length: shape[0] }, () => randn(rng, ...shape.slice(1))) as Mat | Mat[];
}

const dot = (a: number[], b: number[]) => a.reduce((s, x, i) => s + x * b[i], 0);
const norm = (a: number[]) => Math.sqrt(dot(a, a));
const cosine = (a: number[], b: number[]) => dot(a, b) / Math.max(norm(a) * norm(b), 1e-8);
function softmax(xs: number[]): number[] {
  const m = Math.max(...xs);
  const e = xs.map((x) => Math.exp(x - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((x) => x / s);
}

/** Mean CE of rows (image -> text) and of columns (text -> image), masking same-class off-diagonal pairs. */
function ceBothWays(scores: Mat, classIds?: number[]): [number, number] {
  const B = scores.length;
  const masked = (j: number, i: number) => Boolean(classIds) && i !== j && classIds![i] === classIds![j];
  let l0 = 0;
  let l1 = 0;
  for (let j = 0; j < B; j++) {
    const row = scores[j].filter((_, i) => !masked(j, i));
    const own = scores[j][j];
    const m = Math.max(...row);
    l0 += -(own - m - Math.log(row.reduce((s, x) => s + Math.exp(x - m), 0)));
    const col = scores.map((r) => r[j]).filter((_, i) => !masked(i, j));
    const mc = Math.max(...col);
    l1 += -(own - mc - Math.log(col.reduce((s, x) => s + Math.exp(x - mc), 0)));
  }
  return [l0 / B, l1 / B];
}

function sentenceRef(sent: Mat, img: Mat, gamma3: number, classIds?: number[]): [number, number] {
  const scores = img.map((im) => sent.map((s) => cosine(im, s) * gamma3));
  return ceBothWays(scores, classIds);
}

/** AttnGAN's func_attention + words_loss similarity for one caption (its first len words) and one image. */
function wordScoreRef(words: Mat, len: number, regions: Mat, gamma1: number, gamma2: number): number {
  const w = words.slice(0, len);
  // s'[r][k]: softmax over words, per region
  const sw = regions.map((reg) => softmax(w.map((word) => dot(reg, word))));
  let sum = 0;
  for (let k = 0; k < len; k++) {
    const a = softmax(regions.map((_, r) => gamma1 * sw[r][k]));
    const ctx = regions[0].map((_, d) => regions.reduce((s, reg, r) => s + a[r] * reg[d], 0));
    sum += Math.exp(gamma2 * cosine(ctx, w[k]));
  }
  return Math.log(sum) / gamma2;
}

function wordRef(words: Mat[], lengths: number[], regions: Mat[], g1: number, g2: number, g3: number, classIds?: number[]): [number, number] {
  const scores = regions.map((reg) => words.map((w, i) => wordScoreRef(w, lengths[i], reg, g1, g2) * g3));
  return ceBothWays(scores, classIds);
}

function close(actual: number, expected: number, tol: number, what: string): void {
  assert.ok(Math.abs(actual - expected) <= tol * Math.max(1, Math.abs(expected)), `${what}: ${actual} vs ${expected}`);
}

/** Words zero-padded beyond each length (as the text encoder returns them). */
function paddedWords(rng: Rng, B: number, T: number, D: number, lengths: number[]): Mat[] {
  return (randn(rng, B, T, D) as Mat[]).map((ws, i) => ws.map((w, t) => (t < lengths[i] ? w : w.map(() => 0))));
}

describe('DAMSM losses against a plain-JS AttnGAN', () => {
  test('sentence loss, both directions, with and without class masking', async () => {
    const rng = new Rng(11);
    const sent = randn(rng, 5, 7) as Mat;
    const img = randn(rng, 5, 7) as Mat;
    for (const classIds of [undefined, [0, 1, 0, 2, 1]]) {
      const [e0, e1] = sentenceRef(sent, img, 10, classIds);
      const l = tf.tidy(() => sentenceLoss(tf.tensor2d(sent), tf.tensor2d(img), 10, { classIds }));
      close((await l.imageToText.data())[0], e0, 1e-4, 'image->text');
      close((await l.textToImage.data())[0], e1, 1e-4, 'text->image');
      close((await l.total.data())[0], e0 + e1, 1e-4, 'total');
      tf.dispose(l);
    }
  });

  test('word loss with padded captions, both directions, with and without class masking', async () => {
    const rng = new Rng(12);
    const B = 4, T = 5, R = 6, D = 8;
    const lengths = [5, 2, 4, 1];
    const words = paddedWords(rng, B, T, D, lengths);
    const regions = randn(rng, B, R, D) as Mat[];
    for (const classIds of [undefined, [3, 1, 3, 0]]) {
      const [e0, e1] = wordRef(words, lengths, regions, 4, 5, 10, classIds);
      const l = tf.tidy(() => wordLoss(tf.tensor3d(words), lengths, tf.tensor3d(regions), 4, 5, 10, { classIds }));
      close((await l.imageToText.data())[0], e0, 1e-4, 'image->text');
      close((await l.textToImage.data())[0], e1, 1e-4, 'text->image');
      tf.dispose(l);
    }
  });

  test('word similarity of more captions than images, and finite gradients through padded words', async () => {
    const rng = new Rng(13);
    const Bi = 3, Bj = 2, T = 4, R = 5, D = 6;
    const lengths = [4, 1, 3];
    const words = paddedWords(rng, Bi, T, D, lengths);
    const regions = randn(rng, Bj, R, D) as Mat[];
    const sim = tf.tidy(() => wordSimilarity(tf.tensor3d(words), lengths, tf.tensor3d(regions), 4, 5));
    assert.deepEqual(sim.shape, [Bj, Bi]);
    const got = await sim.array();
    sim.dispose();
    for (let j = 0; j < Bj; j++) for (let i = 0; i < Bi; i++) close(got[j][i], wordScoreRef(words[i], lengths[i], regions[j], 4, 5), 1e-4, `(${j}, ${i})`);

    const w3 = tf.tensor3d(paddedWords(rng, 3, T, D, lengths));
    const r3 = tf.tensor3d(randn(rng, 3, R, D) as Mat[]);
    const grads = tf.grads((w: tf.Tensor, r: tf.Tensor) => wordLoss(w as tf.Tensor3D, lengths, r as tf.Tensor3D, 4, 5, 10).total)([w3, r3]);
    for (const g of grads) assert.ok((await g.data()).every(Number.isFinite), 'finite gradient');
    const gw = (await grads[0].array()) as number[][][];
    assert.ok(gw[1][3].every((x) => x === 0), 'no gradient reaches padded positions');
    tf.dispose([w3, r3, ...grads]);
  });

  test('matching loss is ln(B) both ways for constant scores; retrieval accuracy counts ties as misses', async () => {
    const l = tf.tidy(() => matchingLoss(tf.zeros([4, 4]) as tf.Tensor2D));
    close((await l.imageToText.data())[0], Math.log(4), 1e-6, 'ln 4');
    close((await l.textToImage.data())[0], Math.log(4), 1e-6, 'ln 4');
    tf.dispose(l);
    const s = tf.tensor2d([
      [1, 0, 0],
      [2, 1, 0],
      [0, 0, 0],
    ]);
    assert.equal(await retrievalAccuracy(s), 1 / 3);
    assert.equal(await retrievalAccuracy(s, 3), 1);
    s.dispose();
  });
});

// ------------------------------------------------------------------------------------------------

describe('caption ids and encoder dropout', () => {
  test('long captions keep a random order-preserving subset of maxWords words; short ones all', () => {
    const words = Array.from({ length: 25 }, (_, i) => `w${String(i).padStart(2, '0')}`);
    const vocab = Vocabulary.buildFromCaptions([words.join(' ')]);
    const all = words.map((w) => vocab.indexOf(w)!);
    assert.deepEqual(captionIds(vocab, words.slice(0, 5).join(' '), 18, new Rng(1)), all.slice(0, 5));
    assert.deepEqual(captionIds(vocab, words.join(' '), 18), all.slice(0, 18), 'without rng: the first 18');
    const sub = captionIds(vocab, words.join(' '), 18, new Rng(2));
    assert.equal(sub.length, 18);
    const pos = sub.map((id) => all.indexOf(id));
    assert.deepEqual(pos, [...pos].sort((a, b) => a - b), 'order kept');
    assert.notDeepEqual(sub, all.slice(0, 18));
    assert.deepEqual(sameCaptionIds([[1, 2], [3], [1, 2], [2, 1]]), [0, 1, 0, 2]);
  });

  test('encodeIds: dropout only when asked, reproducible by seed; default output unchanged', async () => {
    const enc = createTextEncoder(parseTextEncoderConfig({ vocabSize: 20, embeddingDim: 16, hiddenPerDirection: 8 }), { seed: 4 });
    const ids = [
      [1, 2, 3],
      [4, 5, 0 + 6],
    ];
    const read = async (o?: { dropout?: number; seed?: number }) => {
      const e = enc.encodeIds(ids, o);
      const out = [...(await e.sentence.data())];
      tf.dispose([e.sentence, e.words]);
      return out;
    };
    const plain = await read();
    assert.deepEqual(await read({}), plain);
    assert.deepEqual(await read({ dropout: 0 }), plain);
    const d1 = await read({ dropout: 0.5, seed: 7 });
    assert.notDeepEqual(d1, plain);
    assert.deepEqual(await read({ dropout: 0.5, seed: 7 }), d1);
    assert.notDeepEqual(await read({ dropout: 0.5, seed: 8 }), d1);
    enc.dispose();
  });
});

// ------------------------------------------------------------------------------------------------

describe('DAMSM pretraining', () => {
  test('image encoder: 64 regions and a global feature for any input size', () => {
    const enc = createImageEncoder({ workingSize: 32, nf: 4 }, { seed: 1 });
    for (const S of [32, 48, 64]) {
      const f = tf.tidy(() => enc.apply(tf.zeros([2, S, S, 3]) as tf.Tensor4D));
      assert.deepEqual(f.regions.shape, [2, 64, 256]);
      assert.deepEqual(f.global.shape, [2, 256]);
      tf.dispose(f);
    }
    assert.equal(enc.regionCount, 64);
    enc.dispose();
  });

  test('a fixed batch: the loss drops clearly within 20 steps, with no tensor left behind per step', async () => {
    const B = 8, S = 32;
    const ds = new SynthBirdsDataset({ seed: 5, count: 40, size: S, split: 'train' });
    const images = new Float32Array(B * S * S * 3);
    const captions: string[] = [];
    for (let i = 0; i < B; i++) {
      evalTransform(await ds.image(i), S, images, i * S * S * 3);
      captions.push((await ds.captions(i))[0]);
    }
    const vocab = Vocabulary.buildFromCaptions(captions);
    // A narrower text encoder than the default (64-d features) keeps this quick.
    const text = createTextEncoder(parseTextEncoderConfig({ vocabSize: vocab.size, embeddingDim: 32, hiddenPerDirection: 32 }), { seed: 1 });
    const image = createImageEncoder({ workingSize: S, nf: 8, embedDim: 64 }, { seed: 2 });
    const step = new DamsmStep(text, image, { lr: 2e-3, dropout: 0.1 });
    const ids = captions.map((c) => captionIds(vocab, c, 18));
    const x = tf.tensor4d(images, [B, S, S, 3]);
    const totals: number[] = [];
    try {
      for (let k = 0; k < 20; k++) {
        const before = tf.memory().numTensors;
        const l = step.run(x, ids, { seed: k, classIds: sameCaptionIds(ids) });
        assert.equal(tf.memory().numTensors, before, `step ${k} leaves no tensor behind`);
        assert.ok(Number.isFinite(l.total) && l.textGradNorm > 0);
        close(l.total, l.word + l.sentence, 1e-5, 'total = word + sentence');
        totals.push(l.total);
      }
    } finally {
      x.dispose();
      step.dispose();
      text.dispose();
      image.dispose();
    }
    const first = totals[0];
    const last = (totals[17] + totals[18] + totals[19]) / 3;
    assert.ok(first > 3 * Math.log(B), `starts near chance (4 ln B = ${(4 * Math.log(B)).toFixed(2)}): ${first}`);
    assert.ok(last < 0.75 * first, `loss drops clearly: ${totals.map((t) => t.toFixed(2)).join(' ')}`);
  });

  test('pretrainText writes loadable checkpoints with a trained text encoder, a full vocabulary and R@1; resumes', async () => {
    const root = await tempDir('dfgan-damsm-');
    const data = join(root, 'data');
    await writeSynthBirds({ out: data, count: 30, size: 32, seed: 3, testFraction: 0.2 });
    const out = join(root, 'run');
    const log = createLogger('silent');
    const cfg = parsePretrainConfig({
      data,
      out,
      steps: 4,
      batchSize: 6,
      imageSize: 32,
      nf: 4,
      encoderNf: 8,
      checkpointEvery: 2,
      keepCheckpoints: 1,
      evalPairs: 6,
      logEvery: 1,
      progress: false,
      seed: 9,
    });
    const seen: number[] = [];
    const r = await pretrainText(cfg, { log, onStep: (s) => seen.push(s) });
    assert.deepEqual(seen, [1, 2, 3, 4]);
    assert.equal(r.step, 4);
    assert.equal(r.stoppedEarly, false);
    assert.equal(r.checkpoint, join(out, 'ckpt-0000004'));
    assert.equal(await resolveCheckpointDir(out), r.checkpoint);
    assert.deepEqual((await readdir(out)).filter((n) => n.startsWith('ckpt-')), ['ckpt-0000004'], 'older checkpoints pruned');
    for (const e of [r.evaluation.start, r.evaluation.end]) {
      assert.equal(e.pairs, 6);
      assert.equal(e.split, 'test');
      assert.ok(e.sentenceR1 >= 0 && e.sentenceR1 <= 1 && e.wordR1 >= 0 && e.wordR1 <= 1);
    }

    // The checkpoint: generation-ready (with D and head for `dfgan train --from`), image encoder and Adam state.
    const ck = await loadCheckpoint(out, { withDiscriminator: true });
    try {
      assert.equal(ck.manifest.step, 4);
      assert.deepEqual({ size: ck.generator.config.imageSize, nf: ck.generator.config.nf }, { size: 32, nf: 4 });
      assert.equal(ck.generator.config.condDim, 256);
      const info = ck.manifest.info as { evaluation: { sentenceR1: number; step: number }; damsm: { imageEncoder: unknown } };
      assert.equal(info.evaluation.step, 4);
      assert.equal(info.evaluation.sentenceR1, r.evaluation.end.sentenceR1);
      assert.deepEqual(info.damsm.imageEncoder, { workingSize: 32, nf: 8, embedDim: 256 });
      const imageW = await readWeightSet(ck.dir, ck.manifest, 'imageEncoder');
      const enc = createImageEncoder({ workingSize: 32, nf: 8 });
      enc.params.assign(imageW!); // names and shapes fit the encoder the info describes
      enc.dispose();
      const opt = await readWeightSet(ck.dir, ck.manifest, 'optimizer');
      assert.equal(opt!.get('step')![0], 4);

      // Every word of every caption (train and test) is in the vocabulary.
      for (const split of ['train', 'test'] as const) {
        const ds = await openDataset(data, split);
        for (let i = 0; i < ds.size; i++) for (const c of await ds.captions(i)) for (const t of tokenize(c)) assert.notEqual(ck.vocab.indexOf(t), undefined, t);
      }
      // The text encoder moved away from its initialisation (seed + 3).
      const init = createTextEncoder(ck.textEncoder.config, { seed: cfg.seed + 3 });
      const a = await init.params.read();
      const b = await ck.textEncoder.params.read();
      init.dispose();
      for (const name of ['encoder.weight', 'rnn.weight_ih_l0', 'rnn.weight_hh_l0_reverse']) {
        const d = a.get(name)!.reduce((m, x, k) => Math.max(m, Math.abs(x - b.get(name)![k])), 0);
        assert.ok(d > 1e-4, `${name} changed (max |delta| ${d})`);
      }
    } finally {
      ck.dispose();
    }

    const lines = (await readFile(join(out, 'logs', 'damsm.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
    assert.deepEqual(lines.filter((l) => l.kind === 'train').map((l) => l.step), [1, 2, 3, 4]);
    assert.deepEqual(lines.filter((l) => l.kind === 'eval').map((l) => l.step), [0, 2, 4]);
    assert.ok((await stat(join(out, 'damsm.svg'))).size > 0);

    // Resume from ckpt-4 towards step 10, interrupted (Ctrl-C) after step 5: a checkpoint of step 5, Adam's
    // counter going on from the stored state.
    const stop = new AbortController();
    const r2 = await pretrainText({ ...cfg, steps: 10 }, { log, signal: stop.signal, onStep: (s) => s === 5 && stop.abort() });
    assert.equal(r2.step, 5);
    assert.equal(r2.stoppedEarly, true);
    const { manifest } = await readManifest(await resolveCheckpointDir(out));
    assert.equal(manifest.step, 5);
    assert.equal((manifest.info as { startedFrom: string }).startedFrom, join(out, 'ckpt-0000004'));
    const opt = await readWeightSet(await resolveCheckpointDir(out), manifest, 'optimizer');
    assert.equal(opt!.get('step')![0], 5);
  });

  test('CLI: `dfgan pretrain-text`, then `dfgan train --from` its output', async () => {
    const root = await tempDir('dfgan-damsm-cli-');
    const data = join(root, 'data');
    await writeSynthBirds({ out: data, count: 12, size: 32, seed: 4, testFraction: 0.25 });
    const pre = join(root, 'pre');
    const r = await dfgan('pretrain-text', '--data', data, '--out', pre, '--steps', '2', '--batch-size', '4', '--size', '32', '--nf', '4',
      '--encoder-nf', '4', '--eval-pairs', '3', '--no-progress');
    assert.equal(r.code, 0, r.stderr);
    const res = JSON.parse(r.stdout);
    assert.equal(res.step, 2);
    assert.equal(res.checkpoint, join(pre, 'ckpt-0000002'));
    assert.equal(typeof res.evaluation.end.sentenceR1, 'number');
    const t = await dfgan('train', '--data', data, '--out', join(root, 'gan'), '--from', pre, '--steps', '1', '--batch-size', '4', '--size', '32', '--nf', '4', '--no-progress');
    assert.equal(t.code, 0, t.stderr);
    assert.equal(JSON.parse(t.stdout).step, 1);
    const bad = await dfgan('pretrain-text', '--data', data, '--out', pre, '--steps', '0');
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--steps must be an integer/);
  });
});
