// `dfgan import` end to end: the official-layout fixtures (tools/make_torch_fixtures.py) become a checkpoint that
// `dfgan generate` loads and that reproduces PyTorch's images; hostile or damaged files stop it with exit code 2.
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { decode } from 'fast-png';
import { tempDir } from '../helpers/tmp.js';
import { formatNpy, parseNpy } from '../../src/model/npy.js';
import { verifyCheckpoint } from '../../src/model/checkpoint/index.js';

const run = promisify(execFile);
const BIN = join(import.meta.dirname, '../../bin/dfgan.mjs');
const FIX = join(import.meta.dirname, '..', 'fixtures', 'torch');
const fx = (name: string) => join(FIX, name);
const index = JSON.parse(readFileSync(fx('index.json'), 'utf8'));

async function dfgan(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await run(process.execPath, [BIN, '--log-level', 'warn', ...args], { maxBuffer: 1 << 24 });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

let dir: string;
let ckpt: string;

before(async () => {
  dir = await tempDir('dfgan-cli-import-');
  ckpt = join(dir, 'cub64');
  const r = await dfgan(
    'import',
    '--generator', fx('state_epoch_064.pth'),
    '--text-encoder', fx('text_encoder.pth'),
    '--captions', fx('captions_DAMSM.pickle'),
    '--size', '64',
    '--name', 'df-gan-test',
    '--out', ckpt,
  );
  assert.equal(r.code, 0, r.stderr);
  const res = JSON.parse(r.stdout);
  assert.equal(res.name, 'df-gan-test');
  assert.deepEqual(res.generator, { imageSize: 64, nf: index.nf, zDim: index.zDim, condDim: index.condDim, headProjection: false, fcSentence: false });
  assert.deepEqual(res.networks, ['generator', 'textEncoder', 'discriminator', 'head']);
});

test('the imported checkpoint is a normal one: manifest, checksums', async () => {
  const m = await verifyCheckpoint(ckpt);
  assert.equal(m.name, 'df-gan-test');
  assert.ok(m.files['generator.bin'] && m.files['text-encoder.bin'] && m.files['vocab.json']);
});

test('generate --text with the noise PyTorch used reproduces its image; the PNG is written', async () => {
  const z = parseNpy(new Uint8Array(readFileSync(fx(index.g64.z))));
  await writeFile(join(dir, 'z0.npy'), formatNpy([1, index.zDim], z.data.slice(0, index.zDim)));
  const png = join(dir, 'bird.png');
  const raw = join(dir, 'bird.npy');
  const r = await dfgan('generate', '--checkpoint', ckpt, '--text', index.g64.caption, '--z', join(dir, 'z0.npy'), '--out', png, '--raw-out', raw);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout).words, ['this', 'bird', 'has', 'a', 'red', 'crown', 'and', 'blue', 'wings']);
  const got = parseNpy(await readFile(raw));
  assert.deepEqual(got.shape, [1, 3, 64, 64]);
  const want = parseNpy(new Uint8Array(readFileSync(fx(index.g64.captionImage))));
  assert.ok(maxAbsDiff(got.data, want.data) <= 1e-4);
  const img = decode(await readFile(png));
  assert.equal(img.width, 64);
});

test('generate --z --sentence reproduces the PyTorch generator output', async () => {
  const raw = join(dir, 'g.npy');
  const r = await dfgan('generate', '--checkpoint', ckpt, '--z', fx(index.g64.z), '--sentence', fx(index.g64.sentence), '--out', join(dir, 'g.png'), '--raw-out', raw);
  assert.equal(r.code, 0, r.stderr);
  const want = parseNpy(new Uint8Array(readFileSync(fx(index.g64.image))));
  assert.ok(maxAbsDiff(parseNpy(await readFile(raw)).data, want.data) <= 1e-4);
});

test('a hostile pickle stops the import with exit code 2, naming the global; nothing runs, nothing is written', async () => {
  const out = join(dir, 'evil');
  const r = await dfgan('import', '--generator', fx('evil_legacy.pth'), '--text-from', ckpt, '--size', '64', '--out', out);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /dfgan: error \[INVALID_ARGUMENT\]: .*evil_legacy\.pth: refusing pickle global posix\.system/);
  assert.equal(existsSync(out), false);
  assert.equal(existsSync(index.evil.marker), false);
});

test('a truncated file stops the import with a message that says so', async () => {
  const cut = join(dir, 'cut.pth');
  const bytes = readFileSync(fx('netG_256_module.pth'));
  await writeFile(cut, bytes.subarray(0, bytes.length >> 1));
  const r = await dfgan('import', '--generator', cut, '--text-from', ckpt, '--size', '256', '--out', join(dir, 'cut'));
  assert.equal(r.code, 2);
  assert.match(r.stderr, /cut\.pth: not a complete zip archive: no end-of-central-directory record \(the file is truncated or not a zip\)/);
});
