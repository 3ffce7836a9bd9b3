import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFile, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { useTestBackend } from '../helpers/backend.js';
import { tempDir } from '../helpers/tmp.js';
import { makeCub } from './data/fixtures.js';
import { createLogger } from '../../src/logger.js';
import { loadCheckpoint } from '../../src/model/checkpoint/index.js';
import { parseTrainConfig } from '../../src/training/train-config.js';
import { train } from '../../src/training/train-loop.js';
import { allCaptions } from '../../src/training/data/dataset.js';
import { openDataset } from '../../src/training/data/open.js';
import { measureSentenceScale } from '../../src/training/damsm/sentence-scale.js';
import type { StepLosses } from '../../src/training/dfgan-step.js';

const log = createLogger('silent');
let data: string;

before(async () => {
  await useTestBackend();
  data = (await makeCub(await tempDir())).root;
});

const tiny = (out: string, steps: number, extra: Record<string, unknown> = {}) =>
  parseTrainConfig({ data, out, steps, imageSize: 32, nf: 2, batchSize: 2, checkpointEvery: 2, sampleEvery: 2, logEvery: 1, progress: false, ...extra });

async function weights(dir: string): Promise<Map<string, Float32Array>> {
  const ck = await loadCheckpoint(dir, { withDiscriminator: true });
  const all = new Map([...(await ck.generator.params.read()), ...[...(await ck.discriminator!.params.read())].map(([k, v]) => [`d/${k}`, v] as const)]);
  ck.dispose();
  return all;
}

test('training moves the losses, writes checkpoints, samples, a loss log and plot; no tensors leak', async () => {
  const out = join(await tempDir(), 'run');
  const seen: StepLosses[] = [];
  const before = tf.memory().numTensors;
  const r = await train(tiny(out, 3), { log, onStep: (_, l) => seen.push(l) });
  assert.equal(tf.memory().numTensors, before, 'everything the run created is disposed');
  assert.equal(r.step, 3);
  assert.equal(seen.length, 3);
  assert.notEqual(seen[0].dTotal, seen[2].dTotal, 'the losses move');
  assert.equal((await readFile(join(out, 'latest'), 'utf8')).trim(), 'ckpt-0000003');
  const ck = await loadCheckpoint(out, { withDiscriminator: true });
  assert.equal(ck.manifest.step, 3);
  assert.ok(ck.manifest.networks.optimizer, 'optimizer state saved for resumption');
  ck.dispose();
  const samples = (await readdir(join(out, 'samples'))).sort();
  assert.deepEqual(samples.filter((f) => f.endsWith('.png')), ['step-0000000.png', 'step-0000002.png']);
  const lines = (await readFile(join(out, 'logs', 'losses.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
  assert.deepEqual(lines.map((l) => l.step), [1, 2, 3]);
  assert.ok(lines.every((l) => Number.isFinite(l.maGP) && l.imagesPerSecond > 0));
  assert.match(await readFile(join(out, 'losses.svg'), 'utf8'), /<svg[\s\S]*<path/);
});

test('resuming continues the step count and equals an uninterrupted run', async () => {
  const root = await tempDir();
  const straight = join(root, 'straight');
  const resumed = join(root, 'resumed');
  await train(tiny(straight, 4), { log });
  await train(tiny(resumed, 2), { log });
  const steps: number[] = [];
  const r = await train(tiny(resumed, 4), { log, onStep: (s) => steps.push(s) });
  assert.deepEqual(steps, [3, 4], 'the second run starts at step 3');
  assert.equal(r.step, 4);
  const a = await weights(straight);
  const b = await weights(resumed);
  for (const [k, v] of a) assert.deepEqual(b.get(k), v, `${k} differs between a resumed and an uninterrupted run`);
  // The resumed run's loss plot covers the steps before the resume too: it is the uninterrupted run's plot.
  assert.equal(await readFile(join(resumed, 'losses.svg'), 'utf8'), await readFile(join(straight, 'losses.svg'), 'utf8'));
});

test('an abort (Ctrl-C) stops after the current step and leaves a loadable latest', async () => {
  const out = join(await tempDir(), 'run');
  const stop = new AbortController();
  const r = await train(tiny(out, 1000, { checkpointEvery: 1000 }), { log, signal: stop.signal, onStep: (s) => s === 2 && stop.abort() });
  assert.equal(r.stoppedEarly, true);
  assert.equal(r.step, 2);
  const ck = await loadCheckpoint(out);
  assert.equal(ck.manifest.step, 2);
  ck.dispose();
});

test('SIGINT to `dfgan train` saves a checkpoint and exits cleanly', async () => {
  const out = join(await tempDir(), 'run');
  const bin = join(import.meta.dirname, '../../bin/dfgan.mjs');
  const child = spawn(process.execPath, [bin, '--log-level', 'info', 'train', '--data', data, '--out', out, '--steps', '100000', '--size', '32', '--nf', '2', '--batch-size', '2', '--checkpoint-every', '100000', '--log-every', '1', '--no-progress'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  let stdout = '';
  child.stdout.on('data', (d) => (stdout += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    child.stderr.on('data', (d) => {
      stderr += d;
      if (/"step":2[,}]/.test(stderr)) resolve();
    });
    child.on('exit', () => reject(new Error(`exited early: ${stderr}`)));
  });
  child.kill('SIGINT');
  assert.equal(await exited, 0, stderr);
  const result = JSON.parse(stdout);
  assert.equal(result.stoppedEarly, true);
  const ck = await loadCheckpoint(out);
  assert.ok(ck.manifest.step >= 2);
  assert.equal(ck.manifest.step, result.step);
  ck.dispose();
  assert.ok((await stat(join(out, 'losses.svg'))).size > 0);
});

test('--text-from swaps in another checkpoint\'s text encoder and --sentence-spread rescales it; G/D stay those of --from', async () => {
  const root = await tempDir();
  const a = join(root, 'a');
  const b = join(root, 'b');
  await train(tiny(a, 2), { log });
  await train(tiny(b, 1, { seed: 5 }), { log }); // another (randomly initialised, frozen) text encoder
  const c = join(root, 'c');
  const before = tf.memory().numTensors;
  await train(tiny(c, 1, { from: a, textFrom: b, sentenceSpread: 0.5, lrG: 1e-9, lrD: 1e-9 }), { log });
  assert.equal(tf.memory().numTensors, before, 'nothing leaks');
  const [ckA, ckB, ckC] = await Promise.all([a, b, c].map((d) => loadCheckpoint(d)));
  try {
    const textB = await ckB.textEncoder.params.read();
    const textC = await ckC.textEncoder.params.read();
    for (const [k, v] of textB) assert.deepEqual(textC.get(k), v, `text encoder weight ${k} is --text-from's`);
    assert.equal(ckC.vocab.hash(), ckB.vocab.hash());
    // The spread is what was asked: the scale for a spread of 1 is twice C's.
    const captions = await allCaptions(await openDataset(data, 'train'));
    const forOne = await measureSentenceScale(ckC.textEncoder, ckC.vocab, captions, { spread: 1, sample: 1024 });
    assert.ok(Math.abs(forOne / ckC.textEncoder.config.sentenceScale - 2) < 1e-3, `spread ${ckC.textEncoder.config.sentenceScale / forOne}`);
    const gA = await ckA.generator.params.read();
    const gC = await ckC.generator.params.read();
    let maxDiff = 0;
    for (const [k, v] of gA) for (let i = 0; i < v.length; i++) maxDiff = Math.max(maxDiff, Math.abs(v[i] - gC.get(k)![i]));
    assert.ok(maxDiff < 1e-6, `G continues from --from (max change ${maxDiff} at a learning rate of 1e-9)`);
  } finally {
    [ckA, ckB, ckC].forEach((ck) => ck.dispose());
  }
});

test('--whiten-sentences, --head-projection and --fc-sentence: G of --from draws what it drew, the head starts unchanged, all are saved', async () => {
  const root = await tempDir();
  const a = join(root, 'a');
  const b = join(root, 'b');
  await train(tiny(a, 2), { log });
  const before = tf.memory().numTensors;
  await train(tiny(b, 1, { from: a, whitenSentences: 0.04, headProjection: true, fcSentence: true, lrG: 1e-9, lrD: 1e-9 }), { log });
  assert.equal(tf.memory().numTensors, before, 'nothing leaks');
  const [ckA, ckB] = await Promise.all([a, b].map((d) => loadCheckpoint(d, { withDiscriminator: true })));
  try {
    assert.equal(ckB.textEncoder.config.whitenSentences, true);
    assert.equal(ckB.generator.config.headProjection, true);
    assert.equal(ckB.manifest.generator.headProjection, true);
    assert.equal(ckB.manifest.generator.fcSentence, true);
    const { zDim, condDim, nf } = ckB.generator.config;
    const fc = await ckB.generator.params.get('fc.weight').data();
    assert.equal(fc.length, (zDim + condDim) * nf * 128);
    assert.ok(fc.subarray(zDim * nf * 128).every((v) => Math.abs(v) < 1e-6), "fc's sentence rows start at zero");
    const proj = await ckB.head!.params.get('proj.weight').data();
    assert.ok(proj.every((v) => Math.abs(v) < 1e-6), 'the projection starts at zero');
    const captions = (await allCaptions(await openDataset(data, 'train'))).slice(0, 4);
    const ids = (ck: typeof ckA) => captions.map((c) => ck.vocab.encode(c, ck.textEncoder.config.maxWords).ids);
    const z = tf.randomNormal([captions.length, ckA.generator.config.zDim], 0, 1, 'float32', 1) as tf.Tensor2D;
    const diff = tf.tidy(() => {
      const imgA = ckA.generator.apply(z, ckA.textEncoder.encodeIds(ids(ckA)).sentence);
      const imgB = ckB.generator.apply(z, ckB.textEncoder.encodeIds(ids(ckB)).sentence);
      return tf.max(tf.abs(tf.sub(imgA, imgB))).dataSync()[0];
    });
    z.dispose();
    assert.ok(diff < 1e-3, `the same images from the same captions (max difference ${diff})`);
  } finally {
    [ckA, ckB].forEach((ck) => ck.dispose());
  }
  // An encoder is whitened once: a run from B may not whiten it again, nor rescale it.
  for (const extra of [{ whitenSentences: 0.04 }, { sentenceSpread: 0.5 }]) {
    await assert.rejects(train(tiny(join(root, `c${Object.keys(extra)[0]}`), 1, { from: b, ...extra }), { log }), (e: Error & { code?: string }) => e.code === 'INVALID_ARGUMENT');
  }
});

test('--widen grows G, D and the head of --from to --nf: the same images at first, nf saved; refused without --from or a larger nf', async () => {
  const root = await tempDir();
  const a = join(root, 'a');
  const b = join(root, 'b');
  await train(tiny(a, 2), { log });
  const before = tf.memory().numTensors;
  await train(tiny(b, 1, { from: a, nf: 3, widen: true, lrG: 1e-9, lrD: 1e-9 }), { log });
  assert.equal(tf.memory().numTensors, before, 'nothing leaks');
  const [ckA, ckB] = await Promise.all([a, b].map((d) => loadCheckpoint(d, { withDiscriminator: true })));
  try {
    assert.equal(ckB.manifest.generator.nf, 3);
    const captions = (await allCaptions(await openDataset(data, 'train'))).slice(0, 4);
    const ids = captions.map((c) => ckA.vocab.encode(c, ckA.textEncoder.config.maxWords).ids);
    const z = tf.randomNormal([captions.length, ckA.generator.config.zDim], 0, 1, 'float32', 1) as tf.Tensor2D;
    const diff = tf.tidy(() => {
      const s = ckA.textEncoder.encodeIds(ids).sentence;
      return tf.max(tf.abs(tf.sub(ckA.generator.apply(z, s), ckB.generator.apply(z, s)))).dataSync()[0];
    });
    z.dispose();
    assert.ok(diff < 1e-3, `the widened generator draws what the narrow one drew (max difference ${diff})`);
  } finally {
    [ckA, ckB].forEach((ck) => ck.dispose());
  }
  assert.throws(() => tiny(join(root, 'c'), 1, { widen: true }), (e: Error & { code?: string }) => e.code === 'INVALID_CONFIG' && /--from/.test(e.message));
  await assert.rejects(train(tiny(join(root, 'd'), 1, { from: a, widen: true }), { log }), (e: Error & { code?: string }) => e.code === 'INVALID_ARGUMENT' && /not below --nf/.test(e.message));
});
