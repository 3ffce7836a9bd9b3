// The wasm kernels registered by src/model/wasm-kernels.ts, checked against the pure-JS cpu backend.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { selectBackend } from '../../src/model/backend.js';
import { registerWasmKernels } from '../../src/model/wasm-kernels.js';
import { avgPool2, leakyRelu } from '../../src/model/ops.js';
import { Adam } from '../../src/training/adam.js';
import { CASES, assertClose, convGrads, convKernels, on, rand } from '../helpers/conv-cases.js';

function embeddingSetup() {
  const table = tf.tensor2d(rand(10 * 6, 4), [10, 6]);
  const ids = tf.tensor2d([[1, 3, 3, 0], [9, 1, 1, 1]], [2, 4], 'int32'); // repeats must accumulate
  const dy = tf.tensor3d(rand(2 * 4 * 6, 5), [2, 4, 6]);
  return { table, ids, dy };
}

function gatherGrad(): tf.Tensor[] {
  const { table, ids, dy } = embeddingSetup();
  return [tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.gather(t, ids), dy)))(table)];
}

/** What tfjs's GatherV2 gradient computes for axis 0: an UnsortedSegmentSum of dy rows by id. */
function gatherKernel(): tf.Tensor[] {
  const { ids, dy } = embeddingSetup();
  return [tf.unsortedSegmentSum(tf.reshape(dy, [8, 6]), tf.reshape(ids, [8]), 10)];
}


before(async () => {
  await selectBackend('wasm');
  assert.equal(tf.getBackend(), 'wasm');
  const names = ['Conv2DBackpropFilter', 'Conv2DBackpropInput', 'UnsortedSegmentSum'];
  const funcs = names.map((k) => tf.getKernel(k, 'wasm')?.kernelFunc);
  registerWasmKernels(); // idempotent: a second call changes nothing
  assert.deepEqual(names.map((k) => tf.getKernel(k, 'wasm')?.kernelFunc), funcs);
  assert.ok(funcs.every((f) => f != null));
});

for (const c of CASES) {
  test(`conv2d gradient kernels on wasm match cpu: ${c.name}`, async () => {
    const [dxCpu, dwCpu] = await on('cpu', convKernels(c));
    const [dxWasm, dwWasm] = await on('wasm', convKernels(c));
    assertClose(dxWasm, dxCpu, 'dx');
    assertClose(dwWasm, dwCpu, 'dw');
  });
  test(`tf.grads of conv2d on wasm match cpu: ${c.name}`, async () => {
    const [dxCpu, dwCpu] = await on('cpu', convGrads(c));
    const [dxWasm, dwWasm] = await on('wasm', convGrads(c));
    assertClose(dxWasm, dxCpu, 'dx');
    assertClose(dwWasm, dwCpu, 'dw');
  });
}

test('conv2dTranspose (Conv2DBackpropInput with an odd output shape) matches cpu', async () => {
  const run = () => {
    const dy = tf.tensor4d(rand(2 * 4 * 4 * 3, 6), [2, 4, 4, 3]);
    const w = tf.tensor4d(rand(3 * 3 * 5 * 3, 7), [3, 3, 5, 3]);
    return [tf.conv2dTranspose(dy, w, [2, 7, 8, 5], 2, 'same')];
  };
  const [cpu] = await on('cpu', run);
  const [wasm] = await on('wasm', run);
  assertClose(wasm, cpu, 'conv2dTranspose');
});

test('embedding gradient kernel (UnsortedSegmentSum) on wasm matches cpu', async () => {
  const [cpu] = await on('cpu', gatherKernel);
  const [wasm] = await on('wasm', gatherKernel);
  assertClose(wasm, cpu, 'dTable');
});

test('tf.grad of tf.gather w.r.t. the table on wasm matches cpu', async () => {
  const [cpu] = await on('cpu', gatherGrad);
  const [wasm] = await on('wasm', gatherGrad);
  assertClose(wasm, cpu, 'dTable');
});

test('UnsortedSegmentSum drops out-of-range ids and keeps int32', async () => {
  await tf.setBackend('wasm');
  const out = tf.tidy(() => tf.unsortedSegmentSum(tf.tensor1d([1, 2, 3, 4], 'int32'), tf.tensor1d([0, 2, -1, 0], 'int32'), 3));
  assert.equal(out.dtype, 'int32');
  assert.deepEqual(Array.from(out.dataSync()), [5, 0, 2]);
  out.dispose();
});

test('no tensors or wasm buffers leak over repeated gradient calls', async () => {
  await tf.setBackend('wasm');
  const step = () => {
    for (const c of CASES) tf.dispose(tf.tidy(convGrads(c)));
    tf.dispose(tf.tidy(gatherGrad));
    tf.dispose(tf.tidy(secondOrder(leakyRelu)));
    tf.dispose(tf.tidy(secondOrder(avgPool2)));
    tf.dispose(tf.tidy(gatherRows));
  };
  step(); // warm-up
  const before = tf.memory();
  for (let i = 0; i < 3; i++) step();
  const after = tf.memory();
  assert.equal(after.numTensors, before.numTensors);
  assert.equal((after as { numDataBuffers: number }).numDataBuffers, (before as { numDataBuffers: number }).numDataBuffers);
  assert.equal(after.numBytes, before.numBytes);
});

test('matMul with transposed operands (as in every matMul gradient) matches cpu, and its gradients too', async () => {
  const run = () => {
    const a = tf.randomNormal([7, 5], 0, 1, 'float32', 11);
    const b = tf.randomNormal([5, 3], 0, 1, 'float32', 12);
    const out: tf.Tensor[] = [];
    out.push(tf.matMul(a, b));
    out.push(tf.matMul(tf.transpose(a), tf.transpose(b), true, true));
    out.push(tf.matMul(a, tf.transpose(b), false, true));
    out.push(tf.matMul(tf.transpose(a), b, true, false));
    out.push(tf.matMul(tf.randomNormal([2, 7, 5], 0, 1, 'float32', 13), tf.randomNormal([2, 3, 5], 0, 1, 'float32', 14), false, true));
    const [ga, gb] = tf.grads((x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.square(tf.matMul(x as tf.Tensor2D, y as tf.Tensor2D))))([a, b]);
    return [...out, ga, gb];
  };
  const cpu = await on('cpu', run);
  const wasm = await on('wasm', run);
  cpu.forEach((c, i) => assertClose(wasm[i], c, `result ${i}`));
});

/**
 * Value, gradient and gradient-of-gradient of f, as the discriminator's penalty uses them: y = f(x * w), the
 * gradient g of sum(y * u) w.r.t. x, then the gradient of sum(g^2) w.r.t. w.
 */
function secondOrder(f: (x: tf.Tensor4D) => tf.Tensor): () => tf.Tensor[] {
  return () => {
    const x = tf.tensor4d(rand(2 * 6 * 4 * 3, 21), [2, 6, 4, 3]);
    const w = tf.tensor1d(rand(3, 22));
    const u = tf.tensor(rand(f(x).size, 23), f(x).shape);
    const y = f(tf.mul(x, w) as tf.Tensor4D);
    const g = tf.grad((a: tf.Tensor) => tf.sum(tf.mul(f(tf.mul(a, w) as tf.Tensor4D), u)))(x);
    const gw = tf.grad((v: tf.Tensor) => {
      const gx = tf.grad((a: tf.Tensor) => tf.sum(tf.mul(f(tf.mul(a, v) as tf.Tensor4D), u)))(x);
      return tf.sum(tf.square(gx));
    })(w);
    return [y, g, gw];
  };
}

for (const [name, f] of [['leakyRelu', (x: tf.Tensor4D) => leakyRelu(x)], ['avgPool2', avgPool2]] as const) {
  test(`${name}: the wasm kernels' values and first and second derivatives match cpu's composite ops`, async () => {
    await tf.setBackend('wasm');
    assert.ok(tf.getKernel(name === 'leakyRelu' ? 'DfganLeakyRelu' : 'DfganAvgPool2', 'wasm'), 'the fast kernel is registered');
    const cpu = await on('cpu', secondOrder(f));
    const wasm = await on('wasm', secondOrder(f));
    ['value', 'gradient', 'gradient of gradient'].forEach((what, i) => assertClose(wasm[i], cpu[i], `${name} ${what}`));
    assert.ok(cpu[2].some((v) => v !== 0), 'the second derivative is not trivially zero');
  });
}

function gatherRows(): tf.Tensor[] {
  const x = tf.tensor2d(rand(9 * 3, 31), [9, 3]);
  const ids = tf.tensor1d([8, 0, 0, 4, 2], 'int32');
  return [tf.gather(x, ids), tf.gather(x, tf.tensor1d([2, 0], 'int32'), 1), tf.grad((t: tf.Tensor) => tf.sum(tf.square(tf.gather(t, ids))))(x)];
}

test('gather of rows (DiffAugment\'s pixel moves) on wasm matches cpu, other axes too, and refuses a bad index', async () => {
  const cpu = await on('cpu', gatherRows);
  const wasm = await on('wasm', gatherRows);
  cpu.forEach((c, i) => assertClose(wasm[i], c, `result ${i}`));
  await tf.setBackend('wasm');
  const before = tf.memory().numTensors;
  assert.throws(() => tf.tidy(() => tf.gather(tf.ones([3, 2]), tf.tensor1d([0, 3], 'int32'))), /gather index 3 is outside \[0, 3\)/);
  assert.equal(tf.memory().numTensors, before);
});

test('Adam: the fused wasm update is bit for bit the tf-op update (run on cpu)', async () => {
  const run = () => {
    const p = tf.variable(tf.tensor2d(rand(40, 41), [8, 5]));
    const opt = new Adam(new Map([['w', p]]), { lr: 4e-4, beta1: 0, beta2: 0.9 });
    for (let t = 0; t < 3; t++) {
      const g = tf.tensor2d(rand(40, 50 + t).map((x) => x * 10 ** (t - 2)), [8, 5]);
      opt.apply(new Map([['w', g]]));
      g.dispose();
    }
    const out = [p.clone()];
    opt.dispose();
    p.dispose();
    return out;
  };
  await tf.setBackend('wasm');
  assert.ok(tf.getKernel('DfganAdamUpdate', 'wasm'), 'the fused kernel is registered');
  const [cpu] = await on('cpu', run);
  const [wasm] = await on('wasm', run);
  assert.deepEqual(wasm, cpu);
});

test('sums over adjacent axes (bias and scale gradients) on wasm match cpu, keepDims too; other sums as before', async () => {
  const run = () => {
    const x = tf.tensor4d(rand(3 * 4 * 5 * 6, 61), [3, 4, 5, 6]);
    return [
      tf.sum(x, [0, 1, 2]), tf.sum(x, [1, 2]), tf.sum(x, [1, 2], true), tf.sum(x, 0), tf.sum(x, [2, 1]),
      tf.sum(x, [0, 2]), tf.sum(x, 3), tf.sum(x), tf.sum(tf.tensor1d([1, 2, 3], 'int32')),
    ];
  };
  const cpu = await on('cpu', run);
  const wasm = await on('wasm', run);
  cpu.forEach((c, i) => assertClose(wasm[i], c, `sum ${i}`, 1e-5));
  await tf.setBackend('wasm');
  assert.deepEqual(tf.tidy(() => tf.sum(tf.ones([2, 3, 4]), [1, 0], true).shape), [1, 1, 4]);
});
