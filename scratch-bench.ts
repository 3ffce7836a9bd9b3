import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import { getThreadsCount } from '@tensorflow/tfjs-backend-wasm';
const builtinCfg = tf.getKernel('Conv2DBackpropInput', 'wasm')!;
const builtinInput = builtinCfg.kernelFunc;
const { selectBackend } = await import('./src/model/backend.js');
await selectBackend('wasm');
console.log('threads', getThreadsCount(), 'simd', await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT'));
const backend = tf.engine().backend as any;
builtinCfg.setupFunc!(backend);
function time(fn: () => void, reps = 10): number {
  fn(); fn();
  const t0 = performance.now();
  for (let i = 0; i < reps; i++) fn();
  return (performance.now() - t0) / reps;
}
const cfgs: Array<{ x: [number, number, number, number]; w: [number, number, number, number]; s: number; pad: any }> = [
  { x: [8, 32, 32, 64], w: [3, 3, 64, 64], s: 1, pad: [[0, 0], [1, 1], [1, 1], [0, 0]] },
  { x: [8, 32, 32, 64], w: [4, 4, 64, 128], s: 2, pad: [[0, 0], [1, 1], [1, 1], [0, 0]] },
];
for (const c of cfgs) {
  const x = tf.randomNormal(c.x) as tf.Tensor4D, w = tf.randomNormal(c.w) as tf.Tensor4D;
  const y = tf.conv2d(x, w, c.s, c.pad);
  const dy = tf.randomNormal(y.shape) as tf.Tensor4D;
  const attrs = { strides: c.s, pad: c.pad, dataFormat: 'NHWC', inputShape: c.x };
  const run = (k: tf.KernelFunc) => () => { const o = k({ inputs: { dy, filter: w }, backend, attrs }) as tf.TensorInfo; backend.disposeData(o.dataId); };
  const a = tf.engine().makeTensorFromTensorInfo(builtinInput({ inputs: { dy, filter: w }, backend, attrs }) as tf.TensorInfo);
  const b = tf.conv2dTranspose(dy, w, c.x, c.s, c.pad);
  const diff = tf.max(tf.abs(tf.sub(a, b))).dataSync()[0], mag = tf.max(tf.abs(a)).dataSync()[0];
  const tOld = time(run(builtinInput), 3);
  const tNew = time(() => tf.dispose(tf.conv2dTranspose(dy, w, c.x, c.s, c.pad)));
  const tFilt = time(() => tf.dispose(tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, { strides: c.s, pad: c.pad, dataFormat: 'NHWC', filterShape: c.w } as any) as tf.Tensor));
  const tFwd = time(() => tf.dispose(tf.conv2d(x, w, c.s, c.pad)));
  console.log(JSON.stringify({ x: c.x, w: c.w, s: c.s, builtinInputMs: +tOld.toFixed(1), newInputMs: +tNew.toFixed(1), speedup: +(tOld / tNew).toFixed(1), filterMs: +tFilt.toFixed(1), forwardMs: +tFwd.toFixed(1), maxAbsDiff: diff, maxAbs: mag }));
  tf.dispose([x, w, y, dy, a, b]);
}
{
  const dy = tf.randomNormal([2, 6, 6, 4]) as tf.Tensor4D, w = tf.randomNormal([3, 3, 5, 4]) as tf.Tensor4D;
  const attrs = { strides: 1, pad: 'same', dataFormat: 'NHWC', inputShape: [2, 6, 6, 5] };
  const a = tf.engine().makeTensorFromTensorInfo(builtinInput({ inputs: { dy, filter: w }, backend, attrs }) as tf.TensorInfo);
  const b = tf.conv2dTranspose(dy, w, [2, 6, 6, 5], 1, 'same');
  console.log(Array.from(a.dataSync().slice(0, 4)), Array.from(b.dataSync().slice(0, 4)), tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);
}
