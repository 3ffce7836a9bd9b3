// Where a training step's time goes: per-kernel wall time of one DF-GAN step (D update with MA-GP, G update) on
// the backend in use, summed by kernel name and by kernel + shape class, from tf.profile after a warm-up.
// Usage: npm run bench:profile [-- --backend wasm --conv-runtime auto|onnx|backend --size 64 --batch 16 --nf 8 --top 25]
import * as tf from '@tensorflow/tfjs-core';
import { parseArgs } from 'node:util';
import { parseBackendChoice, selectBackend } from '../src/model/backend.js';
import { parseConvRuntimeChoice, useConvRuntime } from '../src/model/conv-runtime.js';
import { Rng } from '../src/model/sampling.js';
import { stepFixture } from './step-fixture.js';

const { values } = parseArgs({
  options: {
    backend: { type: 'string', default: 'auto' },
    'conv-runtime': { type: 'string', default: 'auto' },
    size: { type: 'string', default: '64' },
    batch: { type: 'string', default: '16' },
    nf: { type: 'string', default: '8' },
    top: { type: 'string', default: '25' },
    shapes: { type: 'boolean', default: false },
  },
});
const info = await selectBackend(parseBackendChoice(values.backend!));
const convs = await useConvRuntime(parseConvRuntimeChoice(values['conv-runtime']!));
const size = Number(values.size);
const batch = Number(values.batch);
const nf = Number(values.nf);
const { step, images, s, z, dispose } = stepFixture(size, nf, batch);
const rng = new Rng(0);
step.run(images, s, z, rng); // warm-up

const t0 = performance.now();
const prof = await tf.profile(() => {
  step.run(images, s, z, rng);
});
const wall = performance.now() - t0;
const byName = new Map<string, { ms: number; n: number }>();
for (const k of prof.kernels) {
  const shape = (k.inputShapes ?? []).map((x) => `[${x?.join(',')}]`).join(' ');
  const key = values.shapes ? `${k.name} ${shape}` : k.name;
  const e = byName.get(key) ?? { ms: 0, n: 0 };
  e.ms += k.kernelTimeMs as number;
  e.n += 1;
  byName.set(key, e);
}
const total = [...byName.values()].reduce((a, e) => a + e.ms, 0);
console.log(`# one training step, backend ${info.name}, convolutions on ${convs.name === 'onnx' ? 'ONNX Runtime' : info.name}, ${size}x${size}, batch ${batch}, nf ${nf}: ${(wall / 1000).toFixed(2)} s wall under the profiler, ${(total / 1000).toFixed(2)} s in ${prof.kernels.length} kernels`);
console.log('| kernel | ms | share | calls |');
console.log('|---|---|---|---|');
for (const [k, e] of [...byName].sort((a, b) => b[1].ms - a[1].ms).slice(0, Number(values.top))) {
  console.log(`| ${k} | ${e.ms.toFixed(1)} | ${((100 * e.ms) / total).toFixed(1)}% | ${e.n} |`);
}
dispose();
