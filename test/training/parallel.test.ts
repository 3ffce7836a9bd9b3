import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { useTestBackend } from '../helpers/backend.js';
import { tempDir } from '../helpers/tmp.js';
import { makeCub } from './data/fixtures.js';
import { DfganError } from '../../src/errors.js';
import { createLogger } from '../../src/logger.js';
import { loadCheckpoint } from '../../src/model/checkpoint/index.js';
import { parseGeneratorConfig } from '../../src/model/config.js';
import { createGenerator } from '../../src/model/generator.js';
import { createConditionalHead, createDiscriminator } from '../../src/model/discriminator.js';
import { Rng } from '../../src/model/sampling.js';
import { DFGANStep, groupSizes, type StepLosses, type StepOptions } from '../../src/training/dfgan-step.js';
import { HingeLoss } from '../../src/training/losses/hinge.js';
import { ParallelStep, usableWorkers } from '../../src/training/parallel/index.js';
import { weightedSumInto } from '../../src/training/parallel/flat.js';
import type { FaultInjection } from '../../src/training/parallel/protocol.js';
import { parseTrainConfig } from '../../src/training/train-config.js';
import { train } from '../../src/training/train-loop.js';

before(async () => {
  await useTestBackend();
});

const cfg = parseGeneratorConfig({ imageSize: 32, nf: 2, condDim: 16 });
const B = 4;
// Adam's epsilon is raised so that its update is close to linear in the gradient: with PyTorch's 1e-8, Adam's
// first steps are about lr * sign(g) and turn gradients that are zero up to roundoff (e.g. D's conv biases at
// initialisation) into +-lr, so no two summation orders agree. Here the comparison measures the gradients.
const OPTS: StepOptions = { lrG: 1e-4, lrD: 4e-4, beta1: 0, beta2: 0.9, eps: 1e-3 };

const nets = () => ({ g: createGenerator(cfg, { seed: 1 }), d: createDiscriminator(cfg, { seed: 2 }), c: createConditionalHead(cfg, { seed: 3 }) });
const batch = (i: number) => ({
  images: tf.randomUniform([B, 32, 32, 3], -1, 1, 'float32', 10 + i) as tf.Tensor4D,
  s: tf.randomNormal([B, cfg.condDim], 0, 1, 'float32', 20 + i) as tf.Tensor2D,
  z: tf.randomNormal([B, cfg.zDim], 0, 1, 'float32', 30 + i) as tf.Tensor2D,
});

function relDiff(a: Float32Array, b: Float32Array): number {
  let d = 0;
  let n = 0;
  for (let j = 0; j < a.length; j++) {
    d += (a[j] - b[j]) ** 2;
    n += a[j] ** 2;
  }
  return n === 0 ? Math.sqrt(d) : Math.sqrt(d / n);
}

function assertSameLosses(a: StepLosses, b: StepLosses, tol: number, what: string): void {
  assert.deepEqual(Object.keys(b).sort(), Object.keys(a).sort(), `${what}: the same terms`);
  for (const k of Object.keys(a) as Array<keyof StepLosses>) {
    const [x, y] = [a[k]!, b[k]!];
    assert.ok(Math.abs(x - y) <= tol * Math.max(1, Math.abs(x)), `${what}: ${k} ${x} vs ${y}`);
  }
}

test('groups, shard weights and the fixed-order weighted sum', () => {
  assert.deepEqual(groupSizes(4, 2), [2, 2]);
  assert.deepEqual(groupSizes(7, 3), [3, 2, 2]);
  assert.throws(() => groupSizes(4, 0), RangeError);
  assert.equal(usableWorkers(8, 16, 'wasm'), 8);
  assert.equal(usableWorkers(8, 6, 'wasm'), 3, 'at least 2 images per shard');
  assert.equal(usableWorkers(4, 3, 'wasm'), 1);
  assert.equal(usableWorkers(4, 16, 'tensorflow'), 1, 'native TensorFlow threads by itself');
  const out = Float32Array.of(9, 9, 9);
  const present = weightedSumInto([Float32Array.of(1, 2, 0), Float32Array.of(3, 0, 5)], [Uint8Array.of(1, 1, 0), Uint8Array.of(1, 0, 1)], [0.25, 0.75], out);
  assert.deepEqual([...out], [2.5, 0.5, 3.75]);
  assert.deepEqual([...present], [1, 1, 1]);
});

for (const counterfactual of [false, true]) test(`2 replicas equal 1 replica with mismatchGroups 2${counterfactual ? ', with counterfactual pairs' : ''}; replicas stay identical; nothing leaks`, async () => {
  const a = nets();
  const b = nets();
  const before = tf.memory().numTensors;
  const hinge = new HingeLoss({ counterfactualWeight: 0.6 });
  const single = new DFGANStep(a.g, a.d, a.c, { ...OPTS, mismatchGroups: 2 }, hinge);
  const par = new ParallelStep(b.g, b.d, b.c, OPTS, hinge, undefined, undefined, { workers: 2 });
  const withOptimizer = tf.memory().numTensors;
  let workerTensors: number[] | undefined;
  try {
    for (let i = 0; i < 3; i++) {
      const x = batch(i);
      const cf = counterfactual ? (tf.randomNormal([B, cfg.condDim], 0, 1, 'float32', 40 + i) as tf.Tensor2D) : undefined;
      const la = single.run(x.images, x.s, x.z, new Rng(i), cf);
      const lb = await par.run(x.images, x.s, x.z, new Rng(i), cf);
      tf.dispose([x.images, x.s, x.z, ...(cf ? [cf] : [])]);
      assertSameLosses(la, lb, 1e-5, `step ${i}`);
      assert.equal(la.dCounterfactual !== undefined, counterfactual);
      assert.equal(tf.memory().numTensors, withOptimizer, `no tensors leak on the main thread (step ${i})`);

      const [main, worker] = await par.replicaStates();
      assert.equal(main.size, worker.size);
      for (const [k, v] of main) assert.deepEqual(worker.get(k), v, `replicas differ in ${k} after step ${i}`);
      const t = await par.workerTensors();
      if (workerTensors) assert.deepEqual(t, workerTensors, `no tensors leak in the workers (step ${i})`);
      workerTensors = t;
    }
    assert.equal(par.optG.step, 3);
    for (const [sa, sb] of [[a.g.params, b.g.params], [a.d.params, b.d.params], [a.c.params, b.c.params]] as const) {
      const wa = await sa.read();
      const wb = await sb.read();
      for (const [k, v] of wa) assert.ok(relDiff(v, wb.get(k)!) <= 1e-5, `${k}: relative difference ${relDiff(v, wb.get(k)!)}`);
    }
  } finally {
    await par.dispose();
    single.dispose();
  }
  assert.equal(tf.memory().numTensors, before, 'dispose frees the steps');
  for (const n of [a, b]) for (const m of [n.g, n.d, n.c]) m.dispose();
});

for (const kind of ['throw', 'exit', 'uncaught'] as FaultInjection['kind'][]) {
  test(`a worker failure (${kind}) rejects the step with an error naming the worker`, async () => {
    const n = nets();
    const before = tf.memory().numTensors;
    const par = new ParallelStep(n.g, n.d, n.c, OPTS, undefined, undefined, undefined, {
      workers: 2,
      faults: new Map([[1, { atStep: 1, kind }]]),
    });
    const x = batch(0);
    try {
      await par.run(x.images, x.s, x.z, new Rng(0));
      const err = await par.run(x.images, x.s, x.z, new Rng(1)).then(
        () => assert.fail('the step should fail'),
        (e: unknown) => e,
      );
      assert.ok(err instanceof DfganError, String(err));
      assert.equal(err.code, 'INTERNAL');
      assert.match(err.message, /training worker 1/);
      await assert.rejects(Promise.resolve().then(() => par.run(x.images, x.s, x.z, new Rng(2))), /training worker 1/, 'a broken step stays broken');
    } finally {
      tf.dispose([x.images, x.s, x.z]);
      await par.dispose();
    }
    assert.equal(tf.memory().numTensors, before, 'a failed step leaks nothing on the main thread');
    for (const m of [n.g, n.d, n.c]) m.dispose();
  });
}

test('a script using a ParallelStep exits by itself, disposed or not (idle workers do not hold the process)', () => {
  const script = `
    import * as tf from '@tensorflow/tfjs-core';
    const { selectBackend } = await import('./src/model/backend.ts');
    const { parseGeneratorConfig } = await import('./src/model/config.ts');
    const { createGenerator } = await import('./src/model/generator.ts');
    const { createConditionalHead, createDiscriminator } = await import('./src/model/discriminator.ts');
    const { Rng } = await import('./src/model/sampling.ts');
    const { ParallelStep } = await import('./src/training/parallel/index.ts');
    await selectBackend(process.env.DFGAN_TEST_BACKEND ?? 'auto');
    const cfg = parseGeneratorConfig({ imageSize: 32, nf: 2, condDim: 16 });
    const x = tf.randomUniform([4, 32, 32, 3], -1, 1), s = tf.randomNormal([4, 16]), z = tf.randomNormal([4, 100]);
    for (const dispose of [true, false]) {
      const step = new ParallelStep(createGenerator(cfg), createDiscriminator(cfg), createConditionalHead(cfg),
        { lrG: 1e-4, lrD: 4e-4, beta1: 0, beta2: 0.9 }, undefined, undefined, undefined, { workers: 2 });
      await step.run(x, s, z, new Rng(0));
      if (dispose) await step.dispose();
    }
    console.log('done');
  `;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, `exit status ${r.status} (13 = the event loop emptied while awaiting), stderr: ${r.stderr}`);
  assert.match(r.stdout, /done/);
});

test('train --workers 2: runs, checkpoints, and a resumed run equals an uninterrupted one', async () => {
  const root = await tempDir();
  const data = (await makeCub(root)).root;
  const log = createLogger('silent');
  const opts = (out: string, steps: number) =>
    parseTrainConfig({ data, out, steps, imageSize: 32, nf: 2, batchSize: 4, workers: 2, checkpointEvery: 100, sampleEvery: 100, logEvery: 1, progress: false });
  const before = tf.memory().numTensors;
  const seen: StepLosses[] = [];
  await train(opts(join(root, 'straight'), 3), { log, onStep: (_, l) => seen.push(l) });
  assert.equal(tf.memory().numTensors, before, 'everything the run created is disposed');
  assert.equal(seen.length, 3);
  assert.ok(seen.every((l) => Object.values(l).every(Number.isFinite)));
  await train(opts(join(root, 'resumed'), 2), { log });
  await train(opts(join(root, 'resumed'), 3), { log });
  const a = await loadCheckpoint(join(root, 'straight'), { withDiscriminator: true });
  const b = await loadCheckpoint(join(root, 'resumed'), { withDiscriminator: true });
  try {
    assert.equal(a.manifest.step, 3);
    assert.equal(b.manifest.step, 3);
    for (const [pa, pb] of [[a.generator.params, b.generator.params], [a.discriminator!.params, b.discriminator!.params]] as const) {
      const wa = await pa.read();
      const wb = await pb.read();
      for (const [k, v] of wa) assert.deepEqual(wb.get(k), v, `${k} differs between a resumed and an uninterrupted run`);
    }
  } finally {
    a.dispose();
    b.dispose();
  }
});
