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
