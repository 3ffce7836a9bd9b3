import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { cp, readFile, writeFile } from 'node:fs/promises';
import { pino } from 'pino';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { useTestBackend } from '../helpers/backend.js';
import { tempDir } from '../helpers/tmp.js';
import { createLogger } from '../../src/logger.js';
import { parseTextEncoderConfig } from '../../src/model/config.js';
import { createTextEncoder } from '../../src/model/text/encoder.js';
import { Vocabulary } from '../../src/model/text/vocab.js';
import { writeCheckpoint } from '../../src/model/checkpoint/index.js';
import { createGenerator } from '../../src/model/generator.js';
import { parseGeneratorConfig } from '../../src/model/config.js';
import { allCaptions } from '../../src/training/data/dataset.js';
import { openDataset } from '../../src/training/data/open.js';
import { writeSynthBirds } from '../../src/training/data/synth-birds/index.js';
import { createImageEncoder } from '../../src/training/damsm/image-encoder.js';
import { evaluate, formatReport, trainClassifierFor } from '../../src/training/eval/evaluate.js';
import { parseClassifierTrainConfig, parseEvalConfig } from '../../src/training/eval/eval-config.js';
import { parseTrainConfig } from '../../src/training/train-config.js';
import { train } from '../../src/training/train-loop.js';
import type { EvalLine } from '../../src/training/train-eval.js';

const log = createLogger('silent');
let data: string;
let damsm: string;

before(async () => {
  await useTestBackend();
  const tmp = await tempDir('dfgan-train-eval-');
  data = join(tmp, 'birds');
  await writeSynthBirds({ out: data, seed: 5, count: 120, size: 32, testFraction: 0.25 });
  // The classifier evaluations use, cached where eval looks (a few steps: the plumbing is under test here).
  (await trainClassifierFor(parseClassifierTrainConfig({ data, steps: 3, inputSize: 32, nf: 4, featureDim: 8 }), { log })).classifier.dispose();
  // A checkpoint with (random) DAMSM encoders for R-precision.
  const captions = [...(await allCaptions(await openDataset(data, 'train'))), ...(await allCaptions(await openDataset(data, 'test')))];
  const vocab = Vocabulary.buildFromCaptions(captions);
  const g = createGenerator(parseGeneratorConfig({ imageSize: 32, nf: 2, condDim: 16 }), { seed: 1 });
  const t = createTextEncoder(parseTextEncoderConfig({ vocabSize: vocab.size, embeddingDim: 8, hiddenPerDirection: 8 }), { seed: 2 });
  const img = createImageEncoder({ workingSize: 16, nf: 4, embedDim: 16 }, { seed: 3 });
  damsm = join(tmp, 'damsm');
  await writeCheckpoint(damsm, {
    name: 'damsm',
    step: 0,
    generatorConfig: g.config,
    textEncoderConfig: t.config,
    vocab,
    networks: { generator: g.params, textEncoder: t.params, imageEncoder: img.params },
    info: { damsm: { imageEncoder: { ...img.config } } },
  });
  for (const m of [g, t, img]) m.dispose();
});

const tiny = (out: string, steps: number, extra: Record<string, unknown> = {}) =>
  parseTrainConfig({
    data, out, steps, imageSize: 32, nf: 2, batchSize: 2, checkpointEvery: 100, sampleEvery: 100, logEvery: 1, progress: false,
    evalEvery: 2, evalImages: 12, ...extra,
  });

async function evalLines(out: string): Promise<EvalLine[]> {
  return (await readFile(join(out, 'logs', 'eval.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as EvalLine);
}

test('--eval-every scores the checkpoint saved at each multiple: eval.jsonl, eval.svg, fid.svg; no tensors leak', async () => {
  const out = join(await tempDir(), 'run');
  const before = tf.memory().numTensors;
  await train(tiny(out, 4, { evalDamsm: damsm }), { log });
  assert.equal(tf.memory().numTensors, before, 'the evaluations dispose what they load');
  const lines = await evalLines(out);
  assert.deepEqual(lines.map((l) => l.step), [2, 4]);
  for (const l of lines) {
    assert.equal(l.images, 12);
    assert.ok(Number.isFinite(l.fid) && l.fid >= 0);
    assert.ok(l.attributeAccuracy! >= 0 && l.attributeAccuracy! <= 1);
    assert.ok(l.attributeAccuracyReal! >= 0 && l.attributeAccuracyReal! <= 1);
    assert.ok(l.rPrecision! >= 0 && l.rPrecision! <= 1, 'R-precision with the --eval-damsm encoders');
    assert.ok(Object.keys(l.perAttribute).length > 0);
  }
  // The evaluated checkpoints are kept as saved: an eval step is also a checkpoint step.
  assert.equal((await readFile(join(out, 'latest'), 'utf8')).trim(), 'ckpt-0000004');
  assert.match(await readFile(join(out, 'eval.svg'), 'utf8'), /<svg[\s\S]*<path[\s\S]*attribute accuracy/);
  assert.match(await readFile(join(out, 'fid.svg'), 'utf8'), /<svg[\s\S]*<path[\s\S]*FID/);
});

test('without --eval-damsm R-precision is left out; a resumed run plots the earlier evaluations too', async () => {
  const out = join(await tempDir(), 'run');
  await train(tiny(out, 2), { log });
  await train(tiny(out, 4), { log });
  const lines = await evalLines(out);
  assert.deepEqual(lines.map((l) => l.step), [2, 4]);
  assert.ok(lines.every((l) => l.rPrecision === null));
  // Both evaluations are points of the plot: the attribute-accuracy path has two vertices (M + one L).
  const svg = await readFile(join(out, 'eval.svg'), 'utf8');
  const first = /<path d="(M[^"]*)"/.exec(svg)![1];
  assert.equal((first.match(/L/g) ?? []).length, 1);
});

test('--eval-every needs a test split', async () => {
  const tmp = await tempDir();
  const noTest = join(tmp, 'birds');
  await writeSynthBirds({ out: noTest, seed: 5, count: 8, size: 32, testFraction: 0 });
  await assert.rejects(train(tiny(join(tmp, 'run'), 2, { data: noTest }), { log }), (e: Error & { code?: string }) => {
    assert.equal(e.code, 'INVALID_ARGUMENT');
    assert.match(e.message, /--eval-every needs a test split/);
    return true;
  });
});

test('a --eval-damsm without a DAMSM image encoder is refused before training starts', async () => {
  const tmp = await tempDir();
  const first = join(tmp, 'first');
  await train(tiny(first, 1, { evalEvery: 0 }), { log }); // a training checkpoint: no image encoder
  const out = join(tmp, 'run');
  await assert.rejects(train(tiny(out, 2, { evalDamsm: first }), { log }), (e: Error & { code?: string }) => {
    assert.equal(e.code, 'INVALID_ARGUMENT');
    assert.match(e.message, /has no DAMSM image encoder/);
    return true;
  });
  await assert.rejects(readFile(join(out, 'latest'), 'utf8'), 'nothing was trained');
});

test('an evaluation that fails is logged and training goes on', async () => {
  const tmp = await tempDir();
  // DAMSM encoders whose manifest is fine (so the run starts) but whose image-encoder weights are corrupt (so each
  // evaluation fails when it loads them).
  const broken = join(tmp, 'damsm');
  await cp(damsm, broken, { recursive: true });
  const bin = join(broken, 'image-encoder.bin');
  const bytes = await readFile(bin);
  bytes[0] ^= 0xff;
  await writeFile(bin, bytes);
  const lines: string[] = [];
  const spy = pino({ level: 'error' }, { write: (line: string) => void lines.push(line) });
  const before = tf.memory().numTensors;
  const r = await train(tiny(join(tmp, 'run'), 4, { evalDamsm: broken }), { log: spy });
  assert.equal(r.step, 4, 'the run finished');
  assert.equal(tf.memory().numTensors, before, 'a failed evaluation leaves no tensors behind');
  assert.deepEqual(
    lines.map((l) => JSON.parse(l).msg).filter((m: string) => /evaluation at step/.test(m)),
    ['evaluation at step 2 failed; training goes on', 'evaluation at step 4 failed; training goes on'],
  );
});

test("--eval-discriminator-check logs D's caption check per attribute; a checkpoint without D reports why there is none", async () => {
  const out = join(await tempDir(), 'run');
  await train(tiny(out, 2, { evalDiscriminatorCheck: 6 }), { log });
  const [line] = await evalLines(out);
  assert.ok(line.discriminatorCheck! >= 0 && line.discriminatorCheck! <= 1, `D check ${line.discriminatorCheck}`);
  assert.ok(Object.keys(line.discriminatorCheckPerAttribute).length >= 5);
  assert.match(await readFile(join(out, 'eval.svg'), 'utf8'), /D caption check/);
  const withD = await evaluate(parseEvalConfig({ checkpoint: out, data, nImages: 4, realFloor: false, discriminatorCheck: 4 }), { log });
  assert.ok(withD.discriminatorCheck?.available && withD.discriminatorCheck.images === 4);
  assert.match(formatReport(withD), /Discriminator check: P\(D prefers[\s\S]*facing/);
  const report = await evaluate(parseEvalConfig({ checkpoint: damsm, data, nImages: 4, realFloor: false, discriminatorCheck: 4 }), { log });
  assert.deepEqual(report.discriminatorCheck, { available: false, reason: 'the checkpoint holds no discriminator' });
  assert.match(formatReport(report), /Discriminator check unavailable: the checkpoint holds no discriminator/);
});
