// Copies a checkpoint without its optimizer state (Adam moments: more than half the bytes of a small model), for
// the copy committed under models/. Generator, text encoder, discriminator and head stay, so the copy serves and
// can be fine-tuned (`train --from`, with fresh Adam moments). Usage:
//   node --import tsx scripts/slim-checkpoint.ts SRC_CHECKPOINT DEST_ROOT
// writes DEST_ROOT/<the checkpoint's folder name> and points DEST_ROOT/latest at it.
import { basename, join } from 'node:path';
import { selectBackend } from '../src/model/backend.js';
import { loadCheckpoint, resolveCheckpointDir, setLatest, writeCheckpoint } from '../src/model/checkpoint/index.js';

const [src, destRoot] = process.argv.slice(2);
if (!src || !destRoot) {
  console.error('usage: slim-checkpoint.ts SRC_CHECKPOINT DEST_ROOT');
  process.exit(2);
}
await selectBackend('cpu');
const dir = await resolveCheckpointDir(src);
const ck = await loadCheckpoint(dir, { withDiscriminator: true });
try {
  const name = basename(dir);
  const m = await writeCheckpoint(
    join(destRoot, name),
    {
      name: ck.manifest.name,
      step: ck.manifest.step,
      generatorConfig: ck.generator.config,
      textEncoderConfig: ck.textEncoder.config,
      vocab: ck.vocab,
      networks: { generator: ck.generator.params, textEncoder: ck.textEncoder.params, discriminator: ck.discriminator?.params, head: ck.head?.params },
      info: { ...ck.manifest.info, slimmedFrom: { checkpoint: dir, version: ck.version, dropped: ['optimizer'] } },
    },
    { overwrite: true },
  );
  await setLatest(destRoot, name);
  console.log(JSON.stringify({ out: join(destRoot, name), step: m.step, files: Object.keys(m.files) }));
} finally {
  ck.dispose();
}
