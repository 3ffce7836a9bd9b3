// Convolution cases and helpers shared by the kernel tests: every case runs on cpu and on wasm, results compared.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import assert from 'node:assert/strict';

type Shape4 = [number, number, number, number];
type ConvPad = 'same' | 'valid' | [[0, 0], [number, number], [number, number], [0, 0]];

/** Deterministic values in [-1, 1). */
export function rand(n: number, seed: number): number[] {
  let s = seed >>> 0;
  return Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 31 - 1;
  });
}

export function assertClose(actual: Float32Array | number[], expected: Float32Array | number[], what: string, tol = 1e-4): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  let scale = 0;
  for (const v of expected) scale = Math.max(scale, Math.abs(v));
  for (let i = 0; i < expected.length; i++) {
    const err = Math.abs(actual[i] - expected[i]);
    assert.ok(err <= tol * Math.max(1, scale), `${what}[${i}]: wasm ${actual[i]} vs cpu ${expected[i]}`);
  }
}

/** Runs `fn` on one backend; its results come back as plain arrays and its tensors are freed. */
export async function on(backend: 'cpu' | 'wasm', fn: () => tf.Tensor[]): Promise<Float32Array[]> {
  await tf.setBackend(backend);
  const outs = tf.tidy(fn);
  const data = outs.map((t) => t.dataSync() as Float32Array);
  tf.dispose(outs);
  return data;
}

export interface ConvCase { name: string; x: Shape4; w: Shape4; stride: number | [number, number]; pad: ConvPad }

export const CASES: ConvCase[] = [
  { name: '3x3 s1 explicit pad 1', x: [2, 8, 8, 3], w: [3, 3, 3, 5], stride: 1, pad: [[0, 0], [1, 1], [1, 1], [0, 0]] },
  { name: '3x3 same', x: [2, 7, 6, 4], w: [3, 3, 4, 3], stride: 1, pad: 'same' },
  { name: '3x3 s2 same, odd input (asymmetric pads)', x: [2, 7, 9, 3], w: [3, 3, 3, 4], stride: 2, pad: 'same' },
  { name: '4x4 s2 pad 1', x: [2, 8, 8, 3], w: [4, 4, 3, 6], stride: 2, pad: [[0, 0], [1, 1], [1, 1], [0, 0]] },
  { name: '4x4 s2 pad 1, odd input', x: [1, 9, 7, 2], w: [4, 4, 2, 3], stride: 2, pad: [[0, 0], [1, 1], [1, 1], [0, 0]] },
  { name: '4x4 valid, 4x4 -> 1x1', x: [3, 4, 4, 5], w: [4, 4, 5, 7], stride: 1, pad: 'valid' },
  { name: '4x4 s2 valid, unused last row/col', x: [2, 5, 5, 2], w: [4, 4, 2, 3], stride: 2, pad: 'valid' },
  { name: '1x1', x: [2, 5, 5, 6], w: [1, 1, 6, 4], stride: 1, pad: 'valid' },
  { name: '1x1 s2 on 5x5 (dx needs a cropped zero-inserted dy)', x: [2, 5, 5, 3], w: [1, 1, 3, 4], stride: 2, pad: 'valid' },
  { name: '3x3 s1 odd input 5x7', x: [1, 5, 7, 3], w: [3, 3, 3, 2], stride: 1, pad: [[0, 0], [1, 1], [1, 1], [0, 0]] },
  { name: '3x3 strides [2,1] explicit asymmetric', x: [2, 6, 5, 3], w: [3, 3, 3, 2], stride: [2, 1], pad: [[0, 0], [2, 0], [0, 1], [0, 0]] },
];

export function makeConv(c: ConvCase): { x: tf.Tensor4D; w: tf.Tensor4D; dy: tf.Tensor4D } {
  const x = tf.tensor4d(rand(c.x.reduce((a, b) => a * b), 1), c.x);
  const w = tf.tensor4d(rand(c.w.reduce((a, b) => a * b), 2), c.w);
  const yShape = tf.conv2d(x, w, c.stride, c.pad).shape;
  const dy = tf.tensor4d(rand(yShape.reduce((a, b) => a * b), 3), yShape); // non-uniform upstream gradient
  return { x, w, dy };
}

/** d/dx, d/dw of sum(conv2d(x, w) * dy) through tf.grads (needs tfjs's gradient registry). */
export function convGrads(c: ConvCase): () => tf.Tensor[] {
  return () => {
    const { x, w, dy } = makeConv(c);
    const f = (a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, c.stride, c.pad), dy));
    return tf.grads(f)([x, w]);
  };
}

/** The same two gradients through the kernels tfjs's Conv2D gradient runs (no registry needed). */
export function convKernels(c: ConvCase): () => tf.Tensor[] {
  return () => {
    const { x, w, dy } = makeConv(c);
    const dx = tf.conv2dTranspose(dy, w, c.x, c.stride, c.pad); // runs Conv2DBackpropInput
    const attrs = { strides: c.stride, pad: c.pad, dataFormat: 'NHWC', filterShape: c.w };
    const dw = tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor;
    return [dx, dw];
  };
}

