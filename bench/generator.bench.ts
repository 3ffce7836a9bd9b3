// Generator speed, tfjs beside ONNX Runtime, in one run: ms per image and achieved GFLOP/s at 64 and 256 (nf 32),
// batch 1 and 8, for the same weights (the ONNX graph is exported from the tfjs generator). Each ONNX Runtime row
// is given as a ratio of the tfjs row measured just before it.
// Usage: npm run bench [-- --backend wasm|cpu|node|node-gpu|auto] [--reps N] [--sizes 64,256] [--threads N]
import * as tf from '@tensorflow/tfjs-core';
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import { parseBackendChoice, selectBackend } from '../src/model/backend.js';
import { parseGeneratorConfig } from '../src/model/config.js';
import { createGenerator } from '../src/model/generator.js';
import { generatorFlops } from '../src/model/flops.js';
import { noiseForSeeds } from '../src/model/sampling.js';
import { exportGeneratorOnnx } from '../src/model/onnx/export-generator.js';
import { OnnxGenerator } from '../src/model/onnx/onnx-generator.js';

const { values } = parseArgs({
  options: {
    backend: { type: 'string', default: 'auto' },
    reps: { type: 'string', default: '3' },
    sizes: { type: 'string', default: '64,256' },
    threads: { type: 'string', default: '0' },
  },
});
const info = await selectBackend(parseBackendChoice(values.backend!));
const reps = Number(values.reps);
const threads = Number(values.threads) || availableParallelism();

/** Median ms of `reps` timed calls after one warm-up call. */
async function median(run: () => Promise<void>): Promise<number> {
  await run();
  const times: number[] = [];
  for (let r = 0; r < reps; r++) {
    const t0 = performance.now();
    await run();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}

console.log(`# generator benchmark: tfjs on ${info.name} (single-threaded) vs ONNX Runtime CPU with ${threads} threads; median of ${reps} runs after a warm-up`);
console.log('| size | nf | batch | runtime | ms/image | GFLOP/s | vs tfjs |');
console.log('|---|---|---|---|---|---|---|');

for (const size of values.sizes!.split(',').map(Number)) {
  const cfg = parseGeneratorConfig({ imageSize: size, nf: 32 });
  const g = createGenerator(cfg, { seed: 0 });
  const flops = generatorFlops(cfg);
  const weights = await g.params.read();
  const onnx = await OnnxGenerator.create(exportGeneratorOnnx(cfg, weights, { name: 'bench', step: 0, version: 'bench' }), cfg, { threads, device: 'cpu' });
  for (const batch of [1, 8]) {
    const seeds = Array.from({ length: batch }, (_, i) => i);
    const noise = noiseForSeeds(seeds, cfg.zDim, 0.88);
    const sentences = Float32Array.from({ length: batch * cfg.condDim }, (_, i) => Math.sin(i));
    const z = tf.tensor2d(noise, [batch, cfg.zDim]);
    const s = tf.tensor2d(sentences, [batch, cfg.condDim]);
    const tfjsMs =
      (await median(async () => {
        const y = g.apply(z, s);
        await y.data();
        y.dispose();
      })) / batch;
    const onnxMs = (await median(async () => void (await onnx.run(noise, sentences, batch)))) / batch;
    const gflops = (ms: number) => (flops / (ms / 1000) / 1e9).toFixed(1);
    console.log(`| ${size} | 32 | ${batch} | tfjs ${info.name} | ${tfjsMs.toFixed(1)} | ${gflops(tfjsMs)} | 1.00x |`);
    console.log(`| ${size} | 32 | ${batch} | ONNX Runtime cpu | ${onnxMs.toFixed(1)} | ${gflops(onnxMs)} | ${(tfjsMs / onnxMs).toFixed(2)}x |`);
    tf.dispose([z, s]);
  }
  await onnx.dispose();
  g.dispose();
}
