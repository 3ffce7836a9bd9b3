import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { useTestBackend } from '../../helpers/backend.js';
import { tempDir } from '../../helpers/tmp.js';
import { createLogger } from '../../../src/logger.js';
import { Rng } from '../../../src/model/sampling.js';
import { openDataset } from '../../../src/training/data/open.js';
import { ATTRIBUTE_NAMES, attributeRecord, attributesOf, composeCaptions, imageRng, sampleAttributes, writeSynthBirds } from '../../../src/training/data/synth-birds/index.js';
import {
  CLASSIFIER_FILE,
  accuracyReport,
  classifierLearningRate,
  labelSourceOf,
  loadClassifier,
  loadLabelledImages,
  runClassifierOn,
  trainAttributeClassifier,
  type LabelledImages,
} from '../../../src/training/eval/attribute-classifier.js';
import { MentionResolver, freshBirds, parseCaptionAttributes, trainClassifierFor } from '../../../src/training/eval/evaluate.js';
import { parseClassifierTrainConfig } from '../../../src/training/eval/eval-config.js';

const log = createLogger('silent');
const STEPS = Number(process.env.CLF_TEST_STEPS ?? 300);
let root: string;

before(async () => {
  await useTestBackend();
  root = join(await tempDir('dfgan-eval-clf-'), 'birds');
  await writeSynthBirds({ out: root, seed: 11, count: 600, size: 32, testFraction: 0.25 });
});

/** The same images with only the heads named `keep`. */
function onlyHeads<T extends { name: string }>(heads: T[], data: LabelledImages, keep: string[]): { heads: T[]; data: LabelledImages } {
  const idx = heads.map((h, k) => (keep.includes(h.name) ? k : -1)).filter((k) => k >= 0);
  return { heads: idx.map((k) => heads[k]), data: { ...data, labels: idx.map((k) => data.labels[k]) } };
}

describe('attribute classifier', () => {
  test('a short training tells background, pose, facing and body colour of held-out real images', async () => {
    const train = await openDataset(root, 'train');
    const test = await openDataset(root, 'test');
    const labels = await labelSourceOf(root, [train, test]);
    assert.equal(labels.kind, 'attributes');
    assert.deepEqual(
      labels.heads.map((h) => h.name),
      ATTRIBUTE_NAMES,
    );
    const keep = ['body', 'facing', 'background', 'pose'];
    const tr = onlyHeads(labels.heads, await loadLabelledImages(train, labels, 32), keep);
    const te = onlyHeads(labels.heads, await loadLabelledImages(test, labels, 32), keep);
    // Half of each batch: new birds of the same generator (another seed), as train-classifier does on synth-birds.
    const fresh = (await freshBirds(root, labels, 32, 0.5, 10_000))!;
    const picked = labels.heads.map((h, k) => (keep.includes(h.name) ? k : -1)).filter((k) => k >= 0);
    const extra = {
      share: 0.5,
      sample: async (n: number) => {
        const e = await fresh.extra.sample(n);
        return { image: e.image, labels: Int32Array.from(picked, (k) => e.labels[k]) };
      },
    };
    const t0 = performance.now();
    const trained = await trainAttributeClassifier(
      tr.data,
      tr.heads,
      { steps: STEPS, batchSize: 32, lr: 5e-3, inputSize: 32, nf: 8, featureDim: 32, jitter: 1 },
      { extra },
    );
    const seconds = (performance.now() - t0) / 1000;
    try {
      const run = await runClassifierOn(trained.classifier, te.data);
      assert.equal(run.featureDim, 32);
      assert.equal(run.features.length, te.data.count * 32);
      const acc = accuracyReport(tr.heads, run.predictions, te.data.labels);
      const shown = Object.fromEntries(Object.entries(acc.perHead).map(([k, v]) => [k, Number(v.accuracy.toFixed(3))]));
      console.log(`held-out accuracy after ${trained.steps} steps (${seconds.toFixed(1)} s) on ${te.data.count} real test images:`, shown, 'mean', acc.mean.toFixed(3));
      assert.ok(acc.perHead.background.accuracy > 0.9, `background ${acc.perHead.background.accuracy}`);
      assert.ok(acc.perHead.pose.accuracy > 0.9, `pose ${acc.perHead.pose.accuracy}`);
      assert.ok(acc.perHead.facing.accuracy > 0.8, `facing ${acc.perHead.facing.accuracy}`);
      // Body colour (11 values) learns more slowly; well above chance already.
      assert.ok(acc.perHead.body.accuracy > 4 * acc.perHead.body.chance, `body ${acc.perHead.body.accuracy} (chance ${acc.perHead.body.chance})`);
    } finally {
      trained.classifier.dispose();
    }
  });

  test('train-classifier saves the network with its held-out accuracy; loading gives the same outputs', async () => {
    const out = join(await tempDir('dfgan-eval-clf-out-'), 'clf');
    const cfg = parseClassifierTrainConfig({ data: root, out, steps: 3, inputSize: 32, nf: 4, featureDim: 8, limit: 64 });
    const r = await trainClassifierFor(cfg, { log });
    try {
      assert.equal(r.meta.heldOut.split, 'test');
      assert.equal(r.meta.heldOut.images, 150);
      assert.deepEqual(Object.keys(r.meta.heldOut.perHead), ATTRIBUTE_NAMES);
      assert.ok(Number.isFinite(r.meta.heldOut.mean));
      assert.equal(r.meta.training.stepsDone, 3);
      const file = JSON.parse(await readFile(join(out, CLASSIFIER_FILE), 'utf8'));
      assert.equal(file.meta.heldOut.mean, r.meta.heldOut.mean);
      const loaded = (await loadClassifier(out))!;
      try {
        const test = await openDataset(root, 'test');
        const labels = await labelSourceOf(root, [await openDataset(root, 'train'), test]);
        assert.equal(loaded.meta.data.fingerprint, labels.fingerprint);
        const imgs = await loadLabelledImages(test, labels, 32, 16);
        const a = await runClassifierOn(r.classifier, imgs);
        const b = await runClassifierOn(loaded.classifier, imgs);
        assert.deepEqual([...a.features], [...b.features]);
      } finally {
        loaded.classifier.dispose();
      }
      assert.equal(await loadClassifier(join(out, 'nothing-here')), undefined);
    } finally {
      r.classifier.dispose();
    }
  });

  test('learning rate decays from lr to lr / 20', () => {
    assert.equal(classifierLearningRate(1, 0, 100), 1);
    assert.ok(Math.abs(classifierLearningRate(1, 100, 100) - 0.05) < 1e-12);
  });
});

describe('attributes a caption names', () => {
  test('parsing the words finds exactly the attributes (and values) the caption composer named', () => {
    const rng = new Rng(5);
    for (let b = 0; b < 300; b++) {
      const a = sampleAttributes(rng);
      for (const c of composeCaptions(a, rng)) {
        const expected = Object.fromEntries(c.mentions.map((n) => [n, a[n]]));
        assert.deepEqual(parseCaptionAttributes(c.text), expected, c.text);
      }
    }
  });

  test('the resolver recomputes mentions of a written synth-birds set from its seed', async () => {
    const train = await openDataset(root, 'train');
    const test = await openDataset(root, 'test');
    const labels = await labelSourceOf(root, [train, test]);
    const resolver = await MentionResolver.create(root, labels);
    for (let i = 0; i < 20; i++) {
      const key = test.key(i);
      const index = Number(/synth_bird_(\d+)$/.exec(key)![1]) - 1;
      const attrs = attributesOf(11, index);
      assert.deepEqual(labels.recordOf(key), attributeRecord(attrs));
      const composed = composeCaptions(attrs, imageRng(11, index, 'captions'));
      const caps = await test.captions(i);
      caps.forEach((cap, j) => {
        assert.deepEqual(resolver.named(key, cap), Object.fromEntries(composed[j].mentions.map((n) => [n, attrs[n]])));
      });
    }
    assert.equal(resolver.counts.parsed, 0);
    assert.equal(resolver.counts.recomputed, 200);
    // A caption the composer did not write falls back to parsing its words.
    assert.deepEqual(resolver.named(test.key(0), 'a bird with a green crown'), { crown: 'green' });
    assert.equal(resolver.counts.parsed, 1);
  });
});
