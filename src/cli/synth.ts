// `dfgan synth`: writes a synth-birds data set in the CUB-200-2011 layout.
import type { Command } from 'commander';
import { MAX_SEED } from '../model/sampling.js';
import { MAX_COUNT } from '../training/data/synth-birds/write.js';
import { MAX_SIZE, MIN_SIZE } from '../training/data/synth-birds/render.js';
import { floatArg, intArg } from './args.js';

export function registerSynthCommand(program: Command): Command {
  return program
    .command('synth')
    .description('write the synth-birds data set (procedural birds, 10 captions each) in the CUB-200-2011 layout')
    .requiredOption('--out <dir>', 'folder to create (must not exist or be empty, unless --overwrite)')
    .requiredOption('--count <n>', `number of images, both splits (1..${MAX_COUNT})`, intArg('--count', 1, MAX_COUNT))
    .option('--size <s>', `image width = height in pixels (${MIN_SIZE}..${MAX_SIZE})`, intArg('--size', MIN_SIZE, MAX_SIZE), 64)
    .option('--seed <n>', `data-set seed (0..${MAX_SEED})`, intArg('--seed', 0, MAX_SEED), 0)
    .option('--test-fraction <f>', 'share of images in the test split', floatArg('--test-fraction', 0, 1), 0.1)
    .option('--overwrite', 'replace an existing, non-empty folder', false)
    .option('--no-progress', 'no progress bar')
    .action(async (o) => {
      const { writeSynthBirds } = await import('../training/data/synth-birds/write.js');
      const result = await writeSynthBirds({
        out: o.out,
        count: o.count,
        size: o.size,
        seed: o.seed,
        testFraction: o.testFraction,
        overwrite: o.overwrite,
        progress: o.progress && Boolean(process.stderr.isTTY),
      });
      process.stdout.write(JSON.stringify(result, null, 2) + '\n');
    });
}
