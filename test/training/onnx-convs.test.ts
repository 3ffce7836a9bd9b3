// Training with the convolutions on ONNX Runtime (src/model/conv-runtime.ts): the choice, replicas that select
// what their main thread selected and stay bit-identical, and the same maths as one replica.
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { selectBackend } from '../../src/model/backend.js';
import { DfganError } from '../../src/errors.js';
import { activeConvRuntime, parseConvRuntimeChoice, useConvRuntime } from '../../src/model/conv-runtime.js';
import { parseGeneratorConfig } from '../../src/model/config.js';
import { createGenerator } from '../../src/model/generator.js';
import { createConditionalHead, createDiscriminator } from '../../src/model/discriminator.js';
import { Rng } from '../../src/model/sampling.js';
import { DFGANStep, type StepOptions } from '../../src/training/dfgan-step.js';
import { ParallelStep } from '../../src/training/parallel/index.js';
import { parseTrainConfig } from '../../src/training/train-config.js';

before(async () => {
  await selectBackend('wasm');
});

const cfg = parseGeneratorConfig({ imageSize: 32, nf: 4, condDim: 16 });
const B = 4;
const OPTS: StepOptions = { lrG: 1e-4, lrD: 4e-4, beta1: 0, beta2: 0.9, eps: 1e-3 };
const nets = () => ({ g: createGenerator(cfg, { seed: 1 }), d: createDiscriminator(cfg, { seed: 2 }), c: createConditionalHead(cfg, { seed: 3 }) });

test('choices are validated; onnx is selected on wasm and cannot be switched away from in the thread', async () => {
  assert.throws(() => parseConvRuntimeChoice('cuda'), (e: unknown) => e instanceof DfganError && /valid choices: auto, onnx, backend/.test(e.message));
  assert.throws(() => parseTrainConfig({ data: 'd', out: 'o', steps: 1, convRuntime: 'gpu' }), /convRuntime/);
  assert.equal(parseTrainConfig({ data: 'd', out: 'o', steps: 1 }).convRuntime, 'auto');
  assert.equal(activeConvRuntime(), 'backend');
  assert.deepEqual(await useConvRuntime('onnx'), { name: 'onnx' });
  assert.equal(activeConvRuntime(), 'onnx');
  assert.deepEqual(await useConvRuntime('auto'), { name: 'onnx' });
  await assert.rejects(useConvRuntime('backend'), /cannot switch/);
});

test('2 replicas on ONNX Runtime convolutions stay identical and equal 1 replica with mismatchGroups 2', async () => {
  assert.equal(activeConvRuntime(), 'onnx');
  const a = nets();
  const b = nets();
  const single = new DFGANStep(a.g, a.d, a.c, { ...OPTS, mismatchGroups: 2 });
  const par = new ParallelStep(b.g, b.d, b.c, OPTS, undefined, undefined, undefined, { workers: 2 });
  try {
    for (let i = 0; i < 2; i++) {
      const images = tf.randomUniform([B, 32, 32, 3], -1, 1, 'float32', 10 + i) as tf.Tensor4D;
      const s = tf.randomNormal([B, cfg.condDim], 0, 1, 'float32', 20 + i) as tf.Tensor2D;
      const z = tf.randomNormal([B, cfg.zDim], 0, 1, 'float32', 30 + i) as tf.Tensor2D;
      const la = single.run(images, s, z, new Rng(i));
      const lb = await par.run(images, s, z, new Rng(i));
      tf.dispose([images, s, z]);
      for (const k of Object.keys(la) as Array<keyof typeof la>) {
        const [x, y] = [la[k]!, lb[k]!];
        assert.ok(Math.abs(x - y) <= 1e-5 * Math.max(1, Math.abs(x)), `step ${i} ${k}: ${x} vs ${y}`);
      }
      const [main, worker] = await par.replicaStates();
      for (const [k, v] of main) assert.deepEqual(worker.get(k), v, `replicas differ in ${k} after step ${i}`);
    }
  } finally {
    await par.dispose();
    single.dispose();
    for (const n of [a, b]) for (const m of [n.g, n.d, n.c]) m.dispose();
  }
});
