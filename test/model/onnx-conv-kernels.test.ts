// Convolutions on ONNX Runtime in front of the wasm backend (src/model/onnx/conv-kernels.ts): every case of the
// kernel matrix against the pure-JS cpu backend, forward and both gradients, and what falls back.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { selectBackend } from '../../src/model/backend.js';
import { OrtConvolutions, loadOrtConvRuntime } from '../../src/model/onnx/conv-kernels.js';
import { CASES, assertClose, convGrads, convKernels, makeConv, on } from '../helpers/conv-cases.js';

let convs: OrtConvolutions;
before(async () => {
  await selectBackend('wasm');
  convs = new OrtConvolutions(loadOrtConvRuntime());
  convs.register();
});
after(() => convs.dispose());

for (const c of CASES) {
  test(`ONNX Runtime conv kernels match cpu: ${c.name}`, async () => {
    const forward = () => {
      const { x, w } = makeConv(c);
      return [tf.conv2d(x, w, c.stride, c.pad)];
    };
    const before = { ...convs.counts };
    const [yCpu] = await on('cpu', forward);
    const [yOrt] = await on('wasm', forward);
    assertClose(yOrt, yCpu, 'y');
    const [dxCpu, dwCpu] = await on('cpu', convKernels(c));
    const [dxOrt, dwOrt] = await on('wasm', convKernels(c));
    assertClose(dxOrt, dxCpu, 'dx');
    assertClose(dwOrt, dwCpu, 'dw');
    const [gxCpu, gwCpu] = await on('cpu', convGrads(c));
    const [gxOrt, gwOrt] = await on('wasm', convGrads(c));
    assertClose(gxOrt, gxCpu, 'tf.grads dx');
    assertClose(gwOrt, gwCpu, 'tf.grads dw');
    assert.ok(convs.counts.onnx + convs.counts.fallback - before.onnx - before.fallback >= 5, 'the kernels ran');
  });
}

test('most cases run on ONNX Runtime; the rest fall back to XNNPACK; nothing leaks', async () => {
  await tf.setBackend('wasm');
  const c0 = { ...convs.counts };
  for (const c of CASES) tf.dispose(tf.tidy(convGrads(c)));
  const ran = convs.counts.onnx - c0.onnx, fell = convs.counts.fallback - c0.fallback;
  assert.ok(ran >= 2 * CASES.length - 2, `ONNX Runtime ran ${ran} of ${ran + fell}`);
  const m0 = tf.memory();
  for (let i = 0; i < 2; i++) for (const c of CASES) tf.dispose(tf.tidy(convGrads(c)));
  const m1 = tf.memory();
  assert.equal(m1.numTensors, m0.numTensors);
  assert.equal(m1.numBytes, m0.numBytes);
});

test('dispose() puts the wasm backend\'s own kernels back', async () => {
  const mine = tf.getKernel('Conv2D', 'wasm')!.kernelFunc;
  const other = new OrtConvolutions(loadOrtConvRuntime());
  convs.dispose();
  const stock = tf.getKernel('Conv2D', 'wasm')!.kernelFunc;
  assert.notEqual(stock, mine);
  other.register();
  assert.notEqual(tf.getKernel('Conv2D', 'wasm')!.kernelFunc, stock);
  other.dispose();
  assert.equal(tf.getKernel('Conv2D', 'wasm')!.kernelFunc, stock);
  convs = new OrtConvolutions(loadOrtConvRuntime());
});

test('a graph ONNX Runtime refuses falls back to XNNPACK, for good, with the same results', async () => {
  convs.dispose();
  let loads = 0;
  // A runtime whose sessions refuse every model (the real one accepts all of the matrix above).
  const refusing = {
    binding: {
      binding: {
        InferenceSession: class {
          loadModel(): Promise<void> {
            loads++;
            throw new Error('refused');
          }
          get inputMetadata(): unknown[] {
            throw new Error('not loaded');
          }
          run(): never {
            throw new Error('not loaded');
          }
          dispose(): void {}
        },
      },
      initOrt: () => undefined,
    },
    Tensor: loadOrtConvRuntime().Tensor,
  };
  const fallback = new OrtConvolutions(refusing as unknown as ReturnType<typeof loadOrtConvRuntime>);
  fallback.register();
  try {
    const c = CASES[0];
    const [yCpu] = await on('cpu', convGrads(c));
    const loadsAfter: number[] = [];
    for (let i = 0; i < 2; i++) {
      const [yWasm] = await on('wasm', convGrads(c));
      assertClose(yWasm, yCpu, 'dx');
      loadsAfter.push(loads);
    }
    assert.equal(fallback.counts.onnx, 0);
    assert.ok(fallback.counts.fallback >= 6);
    // The forward conv, both gradients, and the convolutions the XNNPACK gradient kernels run inside.
    assert.ok(loadsAfter[0] >= 3, `${loadsAfter[0]} signatures tried`);
    assert.equal(loadsAfter[1], loadsAfter[0], 'a refused signature is not tried again');
  } finally {
    fallback.dispose();
    convs = new OrtConvolutions(loadOrtConvRuntime());
    convs.register();
  }
});
