import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { useTestBackend } from '../../helpers/backend.js';
import { Rng } from '../../../src/model/sampling.js';
import { textProbe, type ProbeSet } from '../../../src/training/eval/text-probe.js';

before(useTestBackend);

const heads = [
  { name: 'colour', values: ['red', 'green', 'blue', 'white'] },
  { name: 'size', values: ['small', 'large'] },
  { name: 'pose', values: ['perched', 'flying'] },
];

/**
 * n captions of 8-d vectors: dims 0-3 one-hot of the colour (plus noise), the rest noise; size is named but not
 * encoded; pose is never named.
 */
function set(n: number, seed: number): ProbeSet {
  const rng = new Rng(seed);
  const dim = 8;
  const vectors = new Float32Array(n * dim);
  const named: Record<string, string>[] = [];
  for (let i = 0; i < n; i++) {
    const c = Math.floor(rng.uniform() * 4);
    for (let d = 0; d < dim; d++) vectors[i * dim + d] = (d === c ? 1 : 0) + 0.1 * (rng.uniform() - 0.5);
    const entry: Record<string, string> = { size: rng.uniform() < 0.5 ? 'small' : 'large' };
    if (i % 3 !== 0) entry.colour = heads[0].values[c]; // a third of the captions do not name the colour
    named.push(entry);
  }
  return { vectors, dim, named };
}

test('the probe reads what the vectors carry, finds chance in what they do not, and counts only captions that name the attribute', async () => {
  const before = tf.memory().numTensors;
  const r = await textProbe(heads, set(300, 1), set(150, 2), { epochs: 100 });
  assert.equal(tf.memory().numTensors, before, 'no tensors leak');
  assert.equal(r.perAttribute.colour.accuracy, 1, 'a linearly encoded attribute is read exactly');
  assert.equal(r.perAttribute.colour.train, 200);
  assert.equal(r.perAttribute.colour.test, 100);
  assert.equal(r.perAttribute.colour.chance, 0.25);
  assert.ok(r.perAttribute.size.accuracy < 0.65, `an attribute the vectors do not carry stays near chance (${r.perAttribute.size.accuracy})`);
  assert.equal(r.perAttribute.size.test, 150);
  assert.ok(Number.isNaN(r.perAttribute.pose.accuracy), 'never named: no accuracy');
  assert.equal(r.perAttribute.pose.test, 0);
  assert.ok(Math.abs(r.mean.accuracy - (1 + r.perAttribute.size.accuracy) / 2) < 1e-12, 'the mean is over named attributes');
  assert.equal(r.mean.chance, (0.25 + 0.5) / 2);
  // Deterministic.
  assert.deepEqual(await textProbe(heads, set(300, 1), set(150, 2), { epochs: 100 }), r);
});

test('probe sets of different dimensions are refused', async () => {
  const a = set(10, 1);
  await assert.rejects(textProbe(heads, a, { ...a, dim: 4 }), /dimension/);
});
