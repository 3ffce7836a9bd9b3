// Floating-point operations of one generated image (2 x multiply-adds of fc, affine MLPs and convolutions),
// to report achieved GFLOP/s in benchmarks.
import { type GeneratorConfig, generatorPairs } from './config.js';

export function generatorFlops(cfg: GeneratorConfig): number {
  const cond = cfg.zDim + cfg.condDim;
  let macs = cfg.zDim * cfg.nf * 8 * 16;
  let side = 4;
  const affine = (c: number) => 2 * (cond * c + c * c); // gamma and beta MLPs
  for (const [inC, outC] of generatorPairs(cfg)) {
    side *= 2;
    const px = side * side;
    macs += 2 * affine(inC) + 2 * affine(outC);
    macs += px * 9 * inC * outC + px * 9 * outC * outC;
    if (inC !== outC) macs += px * inC * outC;
  }
  const last = generatorPairs(cfg).at(-1)![1];
  macs += side * side * 9 * last * 3;
  return 2 * macs;
}
