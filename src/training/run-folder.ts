// Shared by the training loops (DF-GAN, DAMSM): checkpoint folder names, rotation, the per-step generator
// whose draws make a resumed run equal the uninterrupted one, and reading back a run's JSON-lines logs.
import { readFile, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Rng } from '../model/sampling.js';

/** `ckpt-0001234`: zero-padded so names sort by step. */
export function checkpointName(step: number): string {
  return `ckpt-${String(step).padStart(7, '0')}`;
}

/** Removes all but the newest `keep` ckpt-* folders of `root`, never `latest`. */
export async function pruneCheckpoints(root: string, keep: number, latest: string): Promise<void> {
  const names = (await readdir(root)).filter((n) => /^ckpt-\d+$/.test(n)).sort();
  const old = names.slice(0, Math.max(0, names.length - keep)).filter((n) => n !== latest);
  for (const n of old) await rm(join(root, n), { recursive: true, force: true });
}

/** The random stream of one training step, a function of (seed, step) only. */
export function stepRng(seed: number, step: number): Rng {
  return new Rng((Math.imul(seed + 1, 0x9e3779b1) ^ Math.imul(step + 1, 0x85ebca6b)) >>> 0);
}

/**
 * The lines of a run's JSON-lines log (logs/*.jsonl) with a numeric `step` of at most `upTo`, in file order;
 * none when the log does not exist yet. A resumed run keeps these: later lines, written after the last checkpoint
 * of an interrupted run, are about to be computed again. Blank or torn lines are skipped.
 */
export async function readLogLines(path: string, upTo: number): Promise<Array<Record<string, unknown> & { step: number }>> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    return [];
  }
  const out: Array<Record<string, unknown> & { step: number }> = [];
  for (const line of text.split('\n')) {
    let row: Record<string, unknown>;
    try {
      row = JSON.parse(line) as Record<string, unknown>;
    } catch {
      continue;
    }
    if (typeof row.step === 'number' && row.step <= upTo) out.push(row as Record<string, unknown> & { step: number });
  }
  return out;
}
