// One DF-GAN training step (D update with MA-GP, then G update) at 64x64, batch 8, nf 16 and 32, on the backend
// in use. The generator's forward pass alone is timed beside it as the baseline the step is a multiple of.
// Usage: npm run bench:train [-- --backend wasm|cpu|... --reps N --batch B --nfs 16,32]
import { parseArgs } from 'node:util';
import { parseBackendChoice, selectBackend } from '../src/model/backend.js';
import { Rng } from '../src/model/sampling.js';
import { stepFixture } from './step-fixture.js';

const { values } = parseArgs({
  options: {
    backend: { type: 'string', default: 'auto' },
    reps: { type: 'string', default: '3' },
    batch: { type: 'string', default: '8' },
    nfs: { type: 'string', default: '16,32' },
    size: { type: 'string', default: '64' },
  },
});
const info = await selectBackend(parseBackendChoice(values.backend!));
const reps = Number(values.reps);
const batch = Number(values.batch);
const size = Number(values.size);
console.log(`# training step benchmark: backend ${info.name}, ${size}x${size}, batch ${batch}, median of ${reps} after a warm-up`);
console.log('| nf | step s | images/s | G forward s | step / G forward |');
console.log('|---|---|---|---|---|');

async function median(f: () => void | Promise<void>): Promise<number> {
  await f();
  const t: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    await f();
    t.push((performance.now() - t0) / 1000);
  }
  return t.sort((a, b) => a - b)[Math.floor(t.length / 2)];
}

for (const nf of values.nfs!.split(',').map(Number)) {
  const { g, step, images, s, z, dispose } = stepFixture(size, nf, batch);
  const rng = new Rng(0);
  const tStep = await median(() => {
    step.run(images, s, z, rng);
  });
  const tG = await median(async () => {
    const y = g.apply(z, s);
    await y.data();
    y.dispose();
  });
  console.log(`| ${nf} | ${tStep.toFixed(3)} | ${(batch / tStep).toFixed(1)} | ${tG.toFixed(3)} | ${(tStep / tG).toFixed(1)}x |`);
  dispose();
}
