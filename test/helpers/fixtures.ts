// A small real checkpoint written through the same code path as `dfgan init`.
import { join } from 'node:path';
import { runInit } from '../../src/cli/init.js';

export async function makeCheckpoint(root: string, opts: { size?: number; nf?: number; name?: string; seed?: number; discriminator?: boolean } = {}): Promise<string> {
  const dir = join(root, opts.name ?? `ckpt-${opts.size ?? 64}-${opts.nf ?? 4}-${opts.seed ?? 0}`);
  await runInit({
    size: opts.size ?? 64,
    nf: opts.nf ?? 4,
    out: dir,
    seed: opts.seed ?? 0,
    name: 'test-model',
    discriminator: opts.discriminator ?? true,
    overwrite: false,
  });
  return dir;
}

/**
 * A checkpoint like makeCheckpoint's whose generator weights are perturbed with seeded noise, so that every
 * layer matters (a fresh generator's affine layers are exact identities, which would hide mistakes in them).
 */
export async function makePerturbedCheckpoint(
  root: string,
  opts: { size: number; nf: number; seed?: number; scale?: number; fcSentence?: boolean },
): Promise<string> {
  const tf = await import('@tensorflow/tfjs-core');
  const { loadCheckpoint, writeCheckpoint } = await import('../../src/model/checkpoint/index.js');
  const { parseGeneratorConfig } = await import('../../src/model/config.js');
  const { createGenerator } = await import('../../src/model/generator.js');
  const base = await makeCheckpoint(root, { size: opts.size, nf: opts.nf, seed: opts.seed, discriminator: false, name: `base-${opts.size}-${opts.nf}` });
  const ckpt = await loadCheckpoint(base);
  // `fcSentence`: a generator whose first layer reads the sentence too (model/config.ts), in place of init's.
  const generator = opts.fcSentence ? createGenerator(parseGeneratorConfig({ ...ckpt.generator.config, fcSentence: true }), { seed: opts.seed }) : ckpt.generator;
  try {
    generator.params.variables().forEach((v, i) => {
      tf.tidy(() => v.assign(tf.add(v, tf.randomNormal(v.shape, 0, opts.scale ?? 0.02, 'float32', (opts.seed ?? 0) * 7919 + i))));
    });
    const dir = join(root, `perturbed-${opts.size}-${opts.nf}-${opts.seed ?? 0}${opts.fcSentence ? '-fcs' : ''}`);
    await writeCheckpoint(dir, {
      name: 'test-model',
      step: 1,
      generatorConfig: generator.config,
      textEncoderConfig: ckpt.textEncoder.config,
      vocab: ckpt.vocab,
      networks: { generator: generator.params, textEncoder: ckpt.textEncoder.params },
      info: { createdBy: 'test fixture (perturbed init)' },
    });
    return dir;
  } finally {
    ckpt.dispose();
    if (generator !== ckpt.generator) generator.dispose();
  }
}
