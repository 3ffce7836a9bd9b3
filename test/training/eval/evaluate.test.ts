import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { join } from 'node:path';
import { useTestBackend } from '../../helpers/backend.js';
import { tempDir } from '../../helpers/tmp.js';
import { createLogger } from '../../../src/logger.js';
import { parseGeneratorConfig, parseTextEncoderConfig } from '../../../src/model/config.js';
import { createGenerator } from '../../../src/model/generator.js';
import { createTextEncoder } from '../../../src/model/text/encoder.js';
import { Vocabulary } from '../../../src/model/text/vocab.js';
import { loadCheckpoint, readManifest, writeCheckpoint } from '../../../src/model/checkpoint/index.js';
import { openDataset } from '../../../src/training/data/open.js';
import { writeSynthBirds } from '../../../src/training/data/synth-birds/index.js';
import { createImageEncoder } from '../../../src/training/damsm/image-encoder.js';
import { evalSummary, evaluate, formatReport, recordEvalInCheckpoint, trainClassifierFor } from '../../../src/training/eval/evaluate.js';
import { defaultClassifierDir, parseClassifierTrainConfig, parseEvalConfig } from '../../../src/training/eval/eval-config.js';

const log = createLogger('silent');
const BIN = join(import.meta.dirname, '../../../bin/dfgan.mjs');
let root: string;
let plain: string;
let withDamsm: string;

async function allCaptions(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const split of ['train', 'test'] as const) {
    const ds = await openDataset(dir, split);
    for (let i = 0; i < ds.size; i++) out.push(...(await ds.captions(i)));
  }
  return out;
}

/** A tiny fresh checkpoint (32px, nf 2, 16-d sentences), optionally with a (random) DAMSM image encoder. */
async function tinyCheckpoint(dir: string, vocab: Vocabulary, damsm: boolean): Promise<void> {
  const g = createGenerator(parseGeneratorConfig({ imageSize: 32, nf: 2, condDim: 16 }), { seed: 1 });
  const t = createTextEncoder(parseTextEncoderConfig({ vocabSize: vocab.size, embeddingDim: 8, hiddenPerDirection: 8 }), { seed: 2 });
  const img = damsm ? createImageEncoder({ workingSize: 16, nf: 4, embedDim: 16 }, { seed: 3 }) : undefined;
  try {
    await writeCheckpoint(dir, {
      name: 'tiny',
      step: 0,
      generatorConfig: g.config,
      textEncoderConfig: t.config,
      vocab,
      networks: { generator: g.params, textEncoder: t.params, imageEncoder: img?.params },
      info: img ? { damsm: { imageEncoder: { ...img.config } } } : {},
    });
  } finally {
    for (const m of [g, t, img]) m?.dispose();
  }
}

before(async () => {
  await useTestBackend();
  const tmp = await tempDir('dfgan-eval-');
  root = join(tmp, 'birds');
  await writeSynthBirds({ out: root, seed: 3, count: 400, size: 32, testFraction: 0.25 });
  const vocab = Vocabulary.buildFromCaptions(await allCaptions(root));
  plain = join(tmp, 'plain');
  withDamsm = join(tmp, 'damsm');
  await tinyCheckpoint(plain, vocab, false);
  await tinyCheckpoint(withDamsm, vocab, true);
  // The classifier eval finds in the data set's cache folder (a few steps: only the plumbing is under test).
  const r = await trainClassifierFor(parseClassifierTrainConfig({ data: root, steps: 3, inputSize: 32, nf: 4, featureDim: 8 }), { log });
  r.classifier.dispose();
});

describe('dfgan eval', () => {
  test('a checkpoint without a DAMSM image encoder: FID and attribute accuracy, R-precision unavailable with the reason', async () => {
    const r = await evaluate(parseEvalConfig({ checkpoint: plain, data: root, nImages: 40, batchSize: 20 }), { log });
    assert.equal(r.featureNetwork.origin, 'cached');
    assert.equal(r.featureNetwork.dir, defaultClassifierDir(root));
    assert.match(r.featureNetwork.name, /attribute-classifier penultimate layer \(8-d/);
    assert.equal(r.sampling.images, 40);
    assert.deepEqual(r.sampling.seeds, [0, 39]);
    assert.equal(r.sampling.truncation, 0.88);
    assert.equal(r.fid.real, 100);
    assert.equal(r.fid.generated, 40);
    assert.ok(Number.isFinite(r.fid.value) && r.fid.value > 0);
    assert.ok(Math.abs(r.fid.value - r.fid.meanTerm - r.fid.covarianceTerm) < 1e-9);
    assert.ok(r.fid.realFloor && Number.isFinite(r.fid.realFloor.value) && r.fid.realFloor.trainImages === 40);
    assert.equal(r.rPrecision.available, false);
    assert.match((r.rPrecision as { reason: string }).reason, /no DAMSM image encoder.*--damsm/);
    assert.ok(r.attributes.available);
    if (r.attributes.available) {
      assert.equal(r.attributes.mentionSource.recomputed, 40);
      const counts = Object.values(r.attributes.perAttribute).reduce((s, a) => s + a.count, 0);
      // Every caption names 2 to 4 attributes.
      assert.ok(counts >= 80 && counts <= 160, `${counts} scored pairs`);
      for (const a of Object.values(r.attributes.perAttribute)) {
        if (a.count > 0) assert.ok(a.generated >= 0 && a.generated <= 1 && a.real >= 0 && a.real <= 1);
      }
    }
    const table = formatReport(r);
    assert.match(table, /FID/);
    assert.match(table, /R-precision\s+unavailable/);
    assert.match(table, /beakColour/);
  });

  test('with a DAMSM image encoder R-precision is scored over 1 + 99 captions; the same seeds give the same figures', async () => {
    const cfg = parseEvalConfig({ checkpoint: withDamsm, data: root, nImages: 30, realFloor: false });
    const a = await evaluate(cfg, { log });
    assert.ok(a.rPrecision.available);
    if (a.rPrecision.available) {
      assert.equal(a.rPrecision.candidates, 100);
      assert.equal(a.rPrecision.images, 30);
      assert.ok(a.rPrecision.value >= 0 && a.rPrecision.value <= 1);
    }
    assert.equal(a.fid.realFloor, null);
    const b = await evaluate(cfg, { log });
    assert.equal(b.fid.value, a.fid.value);
    assert.deepEqual(b.rPrecision, a.rPrecision);
    // The encoders of another checkpoint through --damsm.
    const c = await evaluate(parseEvalConfig({ checkpoint: plain, data: root, nImages: 30, realFloor: false, damsm: withDamsm }), { log });
    assert.ok(c.rPrecision.available);
  });

  test('--text-probe reports per attribute how well the sentence vectors carry it, beside the other figures', async () => {
    const r = await evaluate(parseEvalConfig({ checkpoint: plain, data: root, nImages: 20, realFloor: false, textProbe: true, textProbeImages: 60 }), { log });
    assert.ok(r.textProbe?.available);
    if (r.textProbe?.available) {
      assert.deepEqual(Object.keys(r.textProbe.perAttribute), ['body', 'wing', 'crown', 'belly', 'beakLength', 'beakColour', 'size', 'facing', 'background', 'pose']);
      const rows = Object.values(r.textProbe.perAttribute);
      // 60 train images and 20 test images, 10 captions each, each naming 2 to 4 attributes.
      const train = rows.reduce((s, a) => s + a.train, 0);
      const tested = rows.reduce((s, a) => s + a.test, 0);
      assert.ok(train >= 1200 && train <= 2400, `${train} train pairs`);
      assert.ok(tested >= 400 && tested <= 800, `${tested} test pairs`);
      for (const a of rows) if (a.test > 0) assert.ok(a.accuracy >= 0 && a.accuracy <= 1);
    }
    assert.match(formatReport(r), /Text probe: linear softmax probe[\s\S]*crown/);
    assert.equal(evalSummary(r).textProbeAccuracy, r.textProbe?.available ? r.textProbe.mean.accuracy : undefined);
    const without = await evaluate(parseEvalConfig({ checkpoint: plain, data: root, nImages: 20, realFloor: false }), { log });
    assert.equal(without.textProbe, undefined, 'only when asked');
  });

  test('a missing classifier is trained and cached in the given folder', async () => {
    const dir = join(await tempDir('dfgan-eval-lazy-'), 'clf');
    const r = await evaluate(parseEvalConfig({ checkpoint: plain, data: root, nImages: 10, classifier: dir, classifierSteps: 2, realFloor: false }), { log });
    assert.equal(r.featureNetwork.origin, 'trained');
    const again = await evaluate(parseEvalConfig({ checkpoint: plain, data: root, nImages: 10, classifier: dir, realFloor: false }), { log });
    assert.equal(again.featureNetwork.origin, 'cached');
    assert.equal(again.fid.value, r.fid.value);
  });

  test('--write-manifest: info.eval in a rewritten checkpoint (new version, same weights)', async () => {
    const dir = join(await tempDir('dfgan-eval-rec-'), 'ck');
    const vocab = (await loadCheckpoint(plain)).vocab;
    await tinyCheckpoint(dir, vocab, false);
    const before = await readManifest(dir);
    const r = await evaluate(parseEvalConfig({ checkpoint: dir, data: root, nImages: 10, realFloor: false }), { log });
    const rec = await recordEvalInCheckpoint(dir, evalSummary(r));
    const after = await readManifest(dir);
    assert.notEqual(after.version, before.version);
    assert.equal(rec.version, after.version);
    assert.deepEqual(after.manifest.files, before.manifest.files);
    const info = after.manifest.info.eval as Record<string, unknown>;
    assert.equal(info.fid, r.fid.value);
    assert.equal(info.rPrecision, null);
    const ck = await loadCheckpoint(dir);
    ck.dispose();
  });

  test('the command line prints the table and writes the JSON report', async () => {
    const out = join(await tempDir('dfgan-eval-cli-'), 'report.json');
    const r = await promisify(execFile)(
      process.execPath,
      [BIN, '--log-level', 'warn', 'eval', '--checkpoint', withDamsm, '--data', root, '--n-images', '12', '--no-real-floor', '--out', out],
      { maxBuffer: 1 << 24 },
    );
    assert.match(r.stdout, /FID\s+\d/);
    assert.match(r.stdout, /R-precision\s+\d/);
    assert.match(r.stdout, /mean\s/);
    const report = JSON.parse(await readFile(out, 'utf8'));
    assert.equal(report.format, 'dfgan-eval-report');
    assert.equal(report.sampling.images, 12);
  });
});
