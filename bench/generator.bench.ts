// Generator speed on the backend in use: ms per image and GFLOP/s at 64 and 256 (nf 32), batch 1 and 8.
// Batch 1 is the baseline each batch-8 row is compared against, measured in the same run.
// Usage: npm run bench [-- --backend wasm|cpu|node|node-gpu|auto] [--reps N]
import * as tf from '@tensorflow/tfjs-core';
import { parseArgs } from 'node:util';
import { parseBackendChoice, selectBackend } from '../src/model/backend.js';
import { parseGeneratorConfig } from '../src/model/config.js';
import { createGenerator } from '../src/model/generator.js';
import { generatorFlops } from '../src/model/flops.js';
import { noiseForSeeds } from '../src/model/sampling.js';

const { values } = parseArgs({
  options: { backend: { type: 'string', default: 'auto' }, reps: { type: 'string', default: '3' }, sizes: { type: 'string', default: '64,256' } },
});
const info = await selectBackend(parseBackendChoice(values.backend!));
const reps = Number(values.reps);
console.log(`# generator benchmark: backend ${info.name} (tfjs '${info.tfBackend}'), ${reps} timed runs after a warm-up`);
console.log('| size | nf | batch | ms/image | GFLOP/s | speed-up vs batch 1 |');
console.log('|---|---|---|---|---|---|');

for (const size of values.sizes!.split(',').map(Number)) {
  const cfg = parseGeneratorConfig({ imageSize: size, nf: 32 });
  const g = createGenerator(cfg, { seed: 0 });
  const flops = generatorFlops(cfg);
  let base = 0;
  for (const batch of [1, 8]) {
    const seeds = Array.from({ length: batch }, (_, i) => i);
    const z = tf.tensor2d(noiseForSeeds(seeds, cfg.zDim, 0.88), [batch, cfg.zDim]);
    const s = tf.randomNormal([batch, cfg.condDim]) as tf.Tensor2D;
    const run = async () => {
      const y = g.apply(z, s);
      await y.data();
      y.dispose();
    };
    await run(); // warm-up: kernel setup and first-call allocations
    const times: number[] = [];
    for (let r = 0; r < reps; r++) {
      const t0 = performance.now();
      await run();
      times.push(performance.now() - t0);
    }
    times.sort((a, b) => a - b);
    const msPerImage = times[Math.floor(times.length / 2)] / batch;
    if (batch === 1) base = msPerImage;
    const gflops = flops / (msPerImage / 1000) / 1e9;
    console.log(`| ${size} | 32 | ${batch} | ${msPerImage.toFixed(1)} | ${gflops.toFixed(1)} | ${(base / msPerImage).toFixed(2)}x |`);
    tf.dispose([z, s]);
  }
  g.dispose();
}
