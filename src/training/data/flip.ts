// Whether training flips images: `auto` turns flips off for synth-birds data, whose captions name the direction
// the bird faces ("facing left"): a mirrored image contradicts its caption half the time, which made facing
// unlearnable (D checked it at chance, 0.45-0.52, however long it trained; without flips 0.60 after 500 steps of D
// alone and 0.75 after 1,500 more of joint training, `dfgan eval --discriminator-check`).
import { isSynthBirdsData } from './synth-birds/write.js';

export type FlipMode = 'auto' | 'on' | 'off';

export async function resolveFlip(mode: FlipMode, dataRoot: string): Promise<boolean> {
  if (mode !== 'auto') return mode === 'on';
  return !(await isSynthBirdsData(dataRoot));
}
