import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { decode } from 'fast-png';
import { tempDir } from '../helpers/tmp.js';
import { formatNpy, parseNpy } from '../../src/model/npy.js';
import { noiseForSeeds } from '../../src/model/sampling.js';

const run = promisify(execFile);
const BIN = join(import.meta.dirname, '../../bin/dfgan.mjs');

async function dfgan(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await run(process.execPath, [BIN, '--log-level', 'warn', ...args], { maxBuffer: 1 << 24 });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

let dir: string;
let ckpt: string;

before(async () => {
  dir = await tempDir();
  ckpt = join(dir, 'ckpt');
  const r = await dfgan('init', '--size', '32', '--nf', '4', '--out', ckpt, '--seed', '3');
  assert.equal(r.code, 0, r.stderr);
  assert.equal(JSON.parse(r.stdout).generator.imageSize, 32);
});

test('generate writes one PNG per image and reports seeds, words and model version', async () => {
  const out = join(dir, 'img.png');
  const r = await dfgan('generate', '--checkpoint', ckpt, '--text', 'A small bird with RED wings', '--seed', '7', '--n', '2', '--out', out);
  assert.equal(r.code, 0, r.stderr);
  const res = JSON.parse(r.stdout);
  assert.deepEqual(res.seeds, [7, 8]);
  assert.deepEqual(res.words, ['a', 'small', 'bird', 'with', 'red', 'wings']);
  assert.match(res.model.version, /^[0-9a-f]{12}$/);
  assert.deepEqual(res.files, [join(dir, 'img-0.png'), join(dir, 'img-1.png')]);
  const png = decode(await readFile(res.files[0]));
  assert.equal(png.width, 32);
  assert.equal(png.channels, 3);
});

test('--z and --sentence bypass seeds and text; --raw-out equals the same run through seeds', async () => {
  // The same noise as seeds 5 and 6 (truncated, the default): raw outputs must agree exactly.
  const z = join(dir, 'z.npy');
  await writeFile(z, formatNpy([2, 100], noiseForSeeds([5, 6], 100, 0.88)));
  const viaSeeds = await dfgan('generate', '--checkpoint', ckpt, '--text', 'a blue bird', '--seed', '5', '--n', '2', '--out', join(dir, 'a.png'), '--raw-out', join(dir, 'a.npy'));
  const viaZ = await dfgan('generate', '--checkpoint', ckpt, '--text', 'a blue bird', '--z', z, '--out', join(dir, 'b.png'), '--raw-out', join(dir, 'b.npy'));
  assert.equal(viaSeeds.code, 0, viaSeeds.stderr);
  assert.equal(viaZ.code, 0, viaZ.stderr);
  const a = parseNpy(await readFile(join(dir, 'a.npy')));
  const b = parseNpy(await readFile(join(dir, 'b.npy')));
  assert.deepEqual(a.shape, [2, 3, 32, 32]);
  assert.deepEqual(b.data, a.data);
  assert.ok(a.data.every((v) => v >= -1 && v <= 1));

  const s = join(dir, 's.npy');
  await writeFile(s, formatNpy([2, 256], new Float32Array(512).map((_, i) => Math.sin(i))));
  const viaS = await dfgan('generate', '--checkpoint', ckpt, '--sentence', s, '--z', z, '--out', join(dir, 'c.png'), '--raw-out', join(dir, 'c.npy'));
  assert.equal(viaS.code, 0, viaS.stderr);
  assert.equal(JSON.parse(viaS.stdout).words, null);
  assert.deepEqual(parseNpy(await readFile(join(dir, 'c.npy'))).shape, [2, 3, 32, 32]);
});

describe('bad input: a coded error on stderr, exit status 2, no output written', () => {
  const cases: Array<[string, () => string[], RegExp]> = [
    ['seed out of range', () => ['generate', '--checkpoint', ckpt, '--text', 'a bird', '--seed', '-3', '--out', join(dir, 'x.png')], /\[INVALID_ARGUMENT\].*--seed/],
    ['n out of range', () => ['generate', '--checkpoint', ckpt, '--text', 'a bird', '--n', '1000', '--out', join(dir, 'x.png')], /\[INVALID_ARGUMENT\].*--n/],
    ['unknown words only', () => ['generate', '--checkpoint', ckpt, '--text', 'xyzzy plugh', '--out', join(dir, 'x.png')], /\[NO_KNOWN_WORDS\].*xyzzy/],
    ['unknown backend', () => ['--backend', 'tpu', 'generate', '--checkpoint', ckpt, '--text', 'a bird', '--out', join(dir, 'x.png')], /\[UNKNOWN_BACKEND\].*auto, node-gpu, node, wasm, cpu/],
    ['missing checkpoint', () => ['generate', '--checkpoint', join(dir, 'nope'), '--text', 'a bird', '--out', join(dir, 'x.png')], /\[CHECKPOINT_NOT_FOUND\]/],
    ['noise of the wrong width', () => ['generate', '--checkpoint', ckpt, '--text', 'a bird', '--z', join(dir, 'bad.npy'), '--out', join(dir, 'x.png')], /\[BAD_NPY\].*expected \[n, 100\]/],
    ['not a .npy file', () => ['generate', '--checkpoint', ckpt, '--text', 'a bird', '--z', join(dir, 'notnpy.npy'), '--out', join(dir, 'x.png')], /\[BAD_NPY\].*bad magic/],
  ];
  before(async () => {
    await writeFile(join(dir, 'bad.npy'), formatNpy([1, 99], new Float32Array(99)));
    await writeFile(join(dir, 'notnpy.npy'), 'hello');
  });
  for (const [name, args, pattern] of cases) {
    test(name, async () => {
      const r = await dfgan(...args());
      assert.equal(r.code, 2, `exit status (stderr: ${r.stderr})`);
      assert.match(r.stderr, pattern);
      assert.equal(r.stdout, '');
    });
  }
  test('after all of them no x.png was written', async () => {
    await assert.rejects(readFile(join(dir, 'x.png')));
  });
});
