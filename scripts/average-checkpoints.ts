// Averages the generator weights of several checkpoints of one run (Polyak averaging over the last stretch of
// training: GAN generators oscillate around what they learn, and their average samples better than any single
// iterate; Yazici et al., ICLR 2019). D, head, text encoder and vocabulary come from the last checkpoint; no
// optimizer state is written (the result is for serving and `train --from`); given one checkpoint, it writes a
// slim copy of it (the Adam moments are more than half the bytes of a small model). Usage:
//   node --import tsx scripts/average-checkpoints.ts [--dtype float16] DEST_ROOT CHECKPOINT...
// writes DEST_ROOT/<the last checkpoint's folder name> and points DEST_ROOT/latest at it; --dtype float16 stores the
// weights in half precision (half the bytes; the bundled model is stored so).
import { basename, join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { selectBackend } from '../src/model/backend.js';
import { WEIGHT_DTYPES, loadCheckpoint, setLatest, writeCheckpoint, type LoadedCheckpoint, type WeightDtype } from '../src/model/checkpoint/index.js';
import { sameGeneratorConfig } from '../src/model/config.js';

const args = process.argv.slice(2);
let weightDtype: WeightDtype = 'float32';
if (args[0] === '--dtype') {
  const d = args[1] as WeightDtype;
  if (!WEIGHT_DTYPES.includes(d)) {
    console.error(`--dtype: one of ${WEIGHT_DTYPES.join(', ')}, got ${args[1]}`);
    process.exit(2);
  }
  weightDtype = d;
  args.splice(0, 2);
}
const [destRoot, ...sources] = args;
if (!destRoot || sources.length < 1) {
  console.error('usage: average-checkpoints.ts [--dtype float16] DEST_ROOT CHECKPOINT...');
  process.exit(2);
}
await selectBackend('cpu');
const cks: LoadedCheckpoint[] = [];
try {
  for (const s of sources) cks.push(await loadCheckpoint(s, { withDiscriminator: true }));
  const last = cks[cks.length - 1];
  for (const ck of cks) {
    if (!sameGeneratorConfig(ck.generator.config, last.generator.config)) throw new Error(`${ck.dir}: another generator configuration than ${last.dir}`);
  }
  for (const name of last.generator.params.names()) {
    tf.tidy(() => last.generator.params.get(name).assign(tf.div(tf.addN(cks.map((c) => c.generator.params.get(name))), cks.length)));
  }
  const m = last.manifest;
  const name = basename(last.dir);
  await writeCheckpoint(
    join(destRoot, name),
    {
      name: m.name,
      step: m.step,
      generatorConfig: last.generator.config,
      textEncoderConfig: last.textEncoder.config,
      vocab: last.vocab,
      networks: { generator: last.generator.params, textEncoder: last.textEncoder.params, discriminator: last.discriminator?.params, head: last.head?.params },
      info: { ...m.info, generatorAveragedOver: cks.map((c) => ({ checkpoint: c.dir, step: c.manifest.step, version: c.version })) },
    },
    { overwrite: true, weightDtype },
  );
  await setLatest(destRoot, name);
  console.log(JSON.stringify({ out: join(destRoot, name), step: m.step, averaged: cks.length, dtype: weightDtype }));
} finally {
  for (const ck of cks) ck.dispose();
}
