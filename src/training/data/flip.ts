// Whether training flips images: `auto` turns flips off for synth-birds data, whose captions name the direction
// the bird faces ("facing left"): a mirrored image contradicts its caption half the time, which made facing
// unlearnable (D checked it at chance, 0.45-0.52, however long it trained; without flips 0.60 after 500 steps of D
// alone and 0.75 after 1,500 more of joint training, `dfgan eval --discriminator-check`).
// Light on purpose: the train and pretrain-text configs import the schema, and `dfgan serve` loads those.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';

/** The --flip option of train and pretrain-text. */
export const FlipModeSchema = z
  .enum(['auto', 'on', 'off'])
  .default('auto')
  .describe(
    'random horizontal flips of training images: auto (default) = off for data written by `dfgan synth`, whose captions name the ' +
      "direction the bird faces (a mirrored bird contradicts its caption), on otherwise (AttnGAN / DF-GAN's RandomHorizontalFlip)",
  );
export type FlipMode = z.infer<typeof FlipModeSchema>;

/** Whether `root` holds a data set `dfgan synth` wrote (any generator version): its synth-birds.json says so. */
async function isSynthBirdsData(root: string): Promise<boolean> {
  try {
    return (JSON.parse(await readFile(join(root, 'synth-birds.json'), 'utf8')) as { generator?: unknown }).generator === 'synth-birds';
  } catch {
    return false;
  }
}

export async function resolveFlip(mode: FlipMode, dataRoot: string): Promise<boolean> {
  if (mode !== 'auto') return mode === 'on';
  return !(await isSynthBirdsData(dataRoot));
}
