import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { useTestBackend } from '../helpers/backend.js';
import { tempDir } from '../helpers/tmp.js';
import { makeCub } from './data/fixtures.js';
import { DfganError } from '../../src/errors.js';
import { createLogger } from '../../src/logger.js';
import { Rng } from '../../src/model/sampling.js';
import { openDataset } from '../../src/training/data/open.js';
import { attributesOf, composeCaptions, imageRng, writeSynthBirds } from '../../src/training/data/synth-birds/index.js';
import { parseCaptionAttributes } from '../../src/training/data/synth-birds/caption-attributes.js';
import { counterfactualOf } from '../../src/training/data/synth-birds/counterfactuals.js';
import { CounterfactualNegatives } from '../../src/training/counterfactual-negatives.js';
import { parseTrainConfig } from '../../src/training/train-config.js';
import { train } from '../../src/training/train-loop.js';

const log = createLogger('silent');
let data: string;

before(async () => {
  await useTestBackend();
  data = join(await tempDir('dfgan-cf-'), 'birds');
  await writeSynthBirds({ out: data, seed: 4, count: 24, size: 32, testFraction: 0.25 });
});

test('counterfactualOf: the caption with one of the attributes it names changed; nearly every caption has one; deterministic', () => {
  let captions = 0;
  let found = 0;
  const changed = new Set<string>();
  for (let index = 0; index < 60; index++) {
    for (const c of composeCaptions(attributesOf(9, index), imageRng(9, index, 'captions'))) {
      captions++;
      const p = counterfactualOf(9, index, c.text, new Rng(index));
      assert.deepEqual(counterfactualOf(9, index, c.text, new Rng(index)), p, 'the same draw from the same stream');
      if (!p) continue;
      found++;
      changed.add(p.name);
      assert.equal(p.truth, c.text);
      assert.ok(c.mentions.includes(p.name), 'an attribute the caption names');
      const truth = parseCaptionAttributes(p.truth);
      const other = parseCaptionAttributes(p.other);
      assert.notEqual(other[p.name], truth[p.name], `"${p.truth}" vs "${p.other}"`);
      assert.deepEqual({ ...other, [p.name]: truth[p.name] }, truth, `only ${p.name} differs`);
    }
  }
  assert.ok(found > 0.9 * captions, `${found} of ${captions} captions have a counterfactual`);
  assert.ok(changed.size >= 8, `many attributes are changed (${[...changed].join(', ')})`);
  assert.equal(counterfactualOf(9, 0, 'a caption of another bird', new Rng(1)), undefined, 'not one of the image’s captions');
});

test('CounterfactualNegatives: one per batch image; a caption not of the image falls back to the next one', async () => {
  const ds = await openDataset(data, 'train');
  const cf = await CounterfactualNegatives.open(data, ds);
  const indices = [0, 1, 2];
  const captions = await Promise.all(indices.map(async (i) => (await ds.captions(i))[0]));
  const a = cf.pick(indices, captions, new Rng(5));
  assert.deepEqual(cf.pick(indices, captions, new Rng(5)), a);
  assert.equal(a.fallbacks, 0);
  a.captions.forEach((c, i) => assert.notEqual(c, captions[i]));
  const b = cf.pick(indices, ['not a caption of image 0', captions[1], captions[2]], new Rng(5));
  assert.equal(b.fallbacks, 1);
  assert.equal(b.captions[0], captions[1], 'the next image’s caption');
  const c = cf.pick(indices, captions, new Rng(5), (x) => x !== a.captions[2]);
  assert.equal(c.fallbacks, 1, 'an unusable counterfactual falls back too');
  assert.equal(c.captions[2], captions[0]);
});

test('train --counterfactual-pairs: logs the term and trains; refused on data not written by dfgan synth', async () => {
  const out = join(await tempDir(), 'run');
  const cfg = (d: string, o: string, extra: Record<string, unknown> = {}) =>
    parseTrainConfig({ data: d, out: o, steps: 3, imageSize: 32, nf: 2, batchSize: 4, workers: 1, checkpointEvery: 100, sampleEvery: 100, logEvery: 1, progress: false, ...extra });
  const before = tf.memory().numTensors;
  await train(cfg(data, out, { counterfactualPairs: 0.5 }), { log });
  assert.equal(tf.memory().numTensors, before, 'nothing leaks');
  const lines = (await readFile(join(out, 'logs', 'losses.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as Record<string, number>);
  assert.equal(lines.length, 3);
  for (const l of lines) {
    assert.ok(Number.isFinite(l.dCounterfactual) && l.dCounterfactual >= 0, `dCounterfactual ${l.dCounterfactual}`);
    assert.ok(l.dTotal >= l.dReal + 0.5 * l.dCounterfactual - 1e-4, 'in the total');
    assert.ok(l.counterfactualFallbacks >= 0 && l.counterfactualFallbacks < 0.5, `fallback share ${l.counterfactualFallbacks}`);
  }
  const plain = join(await tempDir(), 'run');
  await train(cfg(data, plain), { log });
  const plainLog = await readFile(join(plain, 'logs', 'losses.jsonl'), 'utf8');
  assert.ok(!plainLog.includes('dCounterfactual') && !plainLog.includes('counterfactualFallbacks'), 'off by default');

  const cub = join(await tempDir(), 'cub');
  await makeCub(cub);
  await assert.rejects(
    train(cfg(cub, join(cub, 'run'), { counterfactualPairs: 0.5, batchSize: 2 }), { log }),
    (e: unknown) => e instanceof DfganError && e.code === 'INVALID_ARGUMENT' && /counterfactual-pairs/.test(e.message),
  );
});
