// Copies a training checkpoint (weights and Adam state) into a new run root with its text encoder's
// sentenceScale multiplied by FACTOR, so that training resumed there sees sentence vectors that vary FACTOR times
// as much per dimension (see src/training/damsm/sentence-scale.ts). The bundled model's run used it once, at
// step 8,250, going from a spread of 0.25 to 0.5. Usage:
//   node --import tsx scripts/rescale-sentences.ts SRC_CHECKPOINT DEST_ROOT FACTOR
// writes DEST_ROOT/<the checkpoint's folder name> and points DEST_ROOT/latest at it.
import { basename, join } from 'node:path';
import { selectBackend } from '../src/model/backend.js';
import { loadCheckpoint, readWeightSet, resolveCheckpointDir, setLatest, writeCheckpoint } from '../src/model/checkpoint/index.js';

const [src, destRoot, factorArg] = process.argv.slice(2);
const factor = Number(factorArg);
if (!src || !destRoot || !(factor > 0)) {
  console.error('usage: rescale-sentences.ts SRC_CHECKPOINT DEST_ROOT FACTOR (FACTOR > 0)');
  process.exit(2);
}
await selectBackend('cpu');
const dir = await resolveCheckpointDir(src);
const ck = await loadCheckpoint(dir, { withDiscriminator: true });
try {
  const m = ck.manifest;
  const optimizer = m.networks.optimizer;
  const state = await readWeightSet(dir, m, 'optimizer');
  const name = basename(dir);
  const textEncoderConfig = { ...ck.textEncoder.config, sentenceScale: ck.textEncoder.config.sentenceScale * factor };
  await writeCheckpoint(
    join(destRoot, name),
    {
      name: m.name,
      step: m.step,
      generatorConfig: ck.generator.config,
      textEncoderConfig,
      vocab: ck.vocab,
      networks: {
        generator: ck.generator.params,
        textEncoder: ck.textEncoder.params,
        discriminator: ck.discriminator?.params,
        head: ck.head?.params,
        optimizer: optimizer && state ? { specs: () => optimizer.params, read: async () => state } : undefined,
      },
      info: { ...m.info, rescaledFrom: { checkpoint: dir, version: ck.version, sentenceScaleFactor: factor } },
    },
    { overwrite: true },
  );
  await setLatest(destRoot, name);
  console.log(JSON.stringify({ out: join(destRoot, name), step: m.step, sentenceScale: textEncoderConfig.sentenceScale }));
} finally {
  ck.dispose();
}
