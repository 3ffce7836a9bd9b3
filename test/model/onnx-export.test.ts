// The generator exported to ONNX gives the tfjs generator's images, from memory and from a file on disk.
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { TextToImage } from '../../src/model/text-to-image.js';
import { exportGeneratorOnnx, ONNX_OPSET } from '../../src/model/onnx/export-generator.js';
import { loadOnnxRuntime, OnnxGenerator } from '../../src/model/onnx/onnx-generator.js';
import { runExportOnnx } from '../../src/cli/export-onnx.js';
import { DfganError } from '../../src/errors.js';
import { DEFAULT_CHECKPOINT } from '../../src/server/config.js';
import { useTestBackend } from '../helpers/backend.js';
import { makePerturbedCheckpoint } from '../helpers/fixtures.js';
import { tempDir } from '../helpers/tmp.js';

before(() => useTestBackend());

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

async function compare(dir: string) {
  const model = await TextToImage.load(dir);
  try {
    const weights = await model.checkpoint.generator.params.read();
    const onnx = await OnnxGenerator.create(exportGeneratorOnnx(model.config, weights, { name: model.name, step: model.step, version: model.version }), model.config, { threads: 2 });
    try {
      const { imageSize: size, nf } = model.config;
      for (const n of [1, 5]) {
        const z = tf.randomNormal([n, model.config.zDim], 0, 1, 'float32', 11 + n) as tf.Tensor2D;
        const s = tf.randomNormal([n, model.config.condDim], 0, 1, 'float32', 17 + n) as tf.Tensor2D;
        const out = model.generateRaw(z, s);
        const ref = (await out.data()) as Float32Array;
        const got = await onnx.run((await z.data()) as Float32Array, (await s.data()) as Float32Array, n);
        tf.dispose([z, s, out]);
        const d = maxAbsDiff(got, ref);
        assert.ok(d <= 1e-4, `size ${size} nf ${nf} batch ${n}: max abs diff ${d}`);
        // The images must not be trivial (a broken graph could agree on a constant).
        let lo = Infinity, hi = -Infinity;
        for (const v of ref) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
        assert.ok(hi - lo > 0.1, `size ${size}: the reference image is flat`);
      }
    } finally {
      await onnx.dispose();
    }
  } finally {
    model.dispose();
  }
}

test('ONNX Runtime equals tfjs at 64x64 (nf 32), batch 1 and 5, within 1e-4', async () => compare(await makePerturbedCheckpoint(await tempDir(), { size: 64, nf: 32, seed: 3 })));
test('ONNX Runtime equals tfjs at 256x256 (nf 8), batch 1 and 5, within 1e-4', async () => compare(await makePerturbedCheckpoint(await tempDir(), { size: 256, nf: 8, seed: 3 })));
test('ONNX Runtime equals tfjs when G\'s first layer reads the sentence (fcSentence), within 1e-4', async () =>
  compare(await makePerturbedCheckpoint(await tempDir(), { size: 64, nf: 8, seed: 4, fcSentence: true })));
test('ONNX Runtime equals tfjs on the bundled (trained) model', () => compare(DEFAULT_CHECKPOINT));

test('export-onnx writes a file that loads in ONNX Runtime from disk, with a dynamic batch and metadata', async () => {
  const root = await tempDir();
  const dir = await makePerturbedCheckpoint(root, { size: 32, nf: 4, seed: 1 });
  const file = join(root, 'g.onnx');
  const r = await runExportOnnx({ checkpoint: dir, out: file, overwrite: false });
  assert.equal(r.file, file);
  const ort = await loadOnnxRuntime();
  const session = await ort.InferenceSession.create(file);
  try {
    assert.deepEqual(session.inputNames, ['z', 'sentence']);
    assert.deepEqual(session.outputNames, ['image']);
    for (const n of [1, 3]) {
      const out = await session.run({ z: new ort.Tensor('float32', new Float32Array(n * 100).fill(0.1), [n, 100]), sentence: new ort.Tensor('float32', new Float32Array(n * 256).fill(-0.2), [n, 256]) });
      assert.deepEqual(out.image.dims, [n, 32, 32, 3]);
    }
  } finally {
    await session.release();
  }
  const bytes = await readFile(file);
  const text = bytes.toString('latin1');
  assert.ok(text.includes('dfgan.checkpoint_version'), 'metadata names the checkpoint');
  assert.ok(bytes.length > 1000);
  // A second export to the same path is refused unless asked to overwrite.
  await assert.rejects(runExportOnnx({ checkpoint: dir, out: file, overwrite: false }), (e: unknown) => e instanceof DfganError && e.code === 'INVALID_ARGUMENT' && /exists/.test(e.message));
  await runExportOnnx({ checkpoint: dir, out: file, overwrite: true });
  assert.equal(ONNX_OPSET, 17);
});

test('export refuses weights that do not fit the graph', async () => {
  const dir = await makePerturbedCheckpoint(await tempDir(), { size: 32, nf: 4, seed: 2 });
  const model = await TextToImage.load(dir);
  try {
    const weights = await model.checkpoint.generator.params.read();
    const info = { name: 'x', step: 0, version: 'v' };
    const missing = new Map(weights);
    missing.delete('GBlocks.0.c1.weight');
    assert.throws(() => exportGeneratorOnnx(model.config, missing, info), /GBlocks\.0\.c1\.weight is missing/);
    const extra = new Map(weights).set('stray.weight', new Float32Array(3));
    assert.throws(() => exportGeneratorOnnx(model.config, extra, info), /not used by the graph: stray\.weight/);
    const short = new Map(weights).set('fc.bias', new Float32Array(5));
    assert.throws(() => exportGeneratorOnnx(model.config, short, info), /fc\.bias: 5 values/);
  } finally {
    model.dispose();
  }
});

test('a missing ONNX Runtime module is ENGINE_UNAVAILABLE, naming the module', async () => {
  await assert.rejects(loadOnnxRuntime('onnxruntime-node-not-installed'), (e: unknown) => e instanceof DfganError && e.code === 'ENGINE_UNAVAILABLE' && /onnxruntime-node-not-installed/.test(e.message));
});
