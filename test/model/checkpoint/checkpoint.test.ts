import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { cp, readFile, rm, truncate, writeFile, readdir, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { useTestBackend } from '../../helpers/backend.js';
import { tempDir } from '../../helpers/tmp.js';
import { makeCheckpoint } from '../../helpers/fixtures.js';
import { DfganError } from '../../../src/errors.js';
import { loadCheckpoint, resolveCheckpointDir, setLatest, verifyCheckpoint, writeCheckpoint } from '../../../src/model/checkpoint/index.js';

let root: string;
let source: string;

before(async () => {
  await useTestBackend();
  root = await tempDir();
  source = await makeCheckpoint(root, { size: 32, nf: 4, name: 'source' });
});

async function copyOf(name: string): Promise<string> {
  const dir = join(root, name);
  await cp(source, dir, { recursive: true });
  return dir;
}

async function rejectsWith(p: Promise<unknown>, code: string, pattern: RegExp): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof DfganError, `expected a DfganError, got ${err}`);
    assert.equal(err.code, code);
    assert.match(err.message, pattern);
    return true;
  });
}

test('round trip: every weight, the vocabulary and the configs come back equal', async () => {
  const a = await loadCheckpoint(source, { withDiscriminator: true });
  const out = join(root, 'copy');
  await writeCheckpoint(out, {
    name: a.manifest.name,
    step: 7,
    generatorConfig: a.generator.config,
    textEncoderConfig: a.textEncoder.config,
    vocab: a.vocab,
    networks: { generator: a.generator.params, textEncoder: a.textEncoder.params, discriminator: a.discriminator!.params, head: a.head!.params },
  });
  const b = await loadCheckpoint(out, { withDiscriminator: true });
  try {
    assert.equal(b.manifest.step, 7);
    assert.deepEqual(b.generator.config, a.generator.config);
    assert.deepEqual(b.vocab.words, a.vocab.words);
    for (const key of ['generator', 'textEncoder', 'discriminator', 'head'] as const) {
      const wa = await a[key]!.params.read();
      const wb = await b[key]!.params.read();
      assert.deepEqual([...wb.keys()], [...wa.keys()]);
      for (const [k, v] of wa) assert.deepEqual(wb.get(k), v, `${key} ${k}`);
    }
    assert.ok(!(await readdir(root)).some((n) => n.includes('.tmp-')), 'no temporary folder is left behind');
  } finally {
    a.dispose();
    b.dispose();
  }
});

test('a checkpoint loads without its discriminator by default and with it on request', async () => {
  const before = tf.memory().numTensors;
  const a = await loadCheckpoint(source);
  assert.equal(a.discriminator, undefined);
  a.dispose();
  assert.equal(tf.memory().numTensors, before, 'dispose() frees every weight');
});

test('writing over an existing checkpoint is refused unless asked', async () => {
  const a = await loadCheckpoint(source);
  try {
    await rejectsWith(
      writeCheckpoint(source, {
        step: 0,
        generatorConfig: a.generator.config,
        textEncoderConfig: a.textEncoder.config,
        vocab: a.vocab,
        networks: { generator: a.generator.params, textEncoder: a.textEncoder.params },
      }),
      'INVALID_ARGUMENT',
      /already exists/,
    );
  } finally {
    a.dispose();
  }
});

describe('damage is refused with a clear error', () => {
  test('missing weights file', async () => {
    const dir = await copyOf('missing');
    await rm(join(dir, 'generator.bin'));
    await rejectsWith(loadCheckpoint(dir), 'CHECKPOINT_INVALID', /missing file generator\.bin/);
  });
  test('truncated weights file', async () => {
    const dir = await copyOf('truncated');
    await truncate(join(dir, 'text-encoder.bin'), 1000);
    await rejectsWith(loadCheckpoint(dir), 'CHECKPOINT_INVALID', /text-encoder\.bin has 1000 bytes/);
  });
  test('altered byte in a weights file', async () => {
    const dir = await copyOf('altered');
    const buf = await readFile(join(dir, 'generator.bin'));
    buf[1234] ^= 0x40;
    await writeFile(join(dir, 'generator.bin'), buf);
    await rejectsWith(loadCheckpoint(dir), 'CHECKPOINT_INVALID', /generator\.bin fails its sha256 check/);
  });
  test('altered vocabulary', async () => {
    const dir = await copyOf('vocab');
    const v = JSON.parse(await readFile(join(dir, 'vocab.json'), 'utf8'));
    v.words[5] = 'zebra';
    await writeFile(join(dir, 'vocab.json'), JSON.stringify(v));
    await rejectsWith(loadCheckpoint(dir), 'CHECKPOINT_INVALID', /vocab\.json/);
  });
  test('manifest that is not JSON', async () => {
    const dir = await copyOf('badjson');
    await writeFile(join(dir, 'manifest.json'), '{"format": "dfgan-checkpoint", ');
    await rejectsWith(loadCheckpoint(dir), 'CHECKPOINT_INVALID', /not valid JSON/);
  });
  test('manifest whose config does not match the weights', async () => {
    const dir = await copyOf('config');
    const m = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8'));
    m.generator.nf = 8;
    await writeFile(join(dir, 'manifest.json'), JSON.stringify(m));
    await rejectsWith(loadCheckpoint(dir), 'CHECKPOINT_INVALID', /does not hold the generator its config describes/);
  });
  test('newer format version', async () => {
    const dir = await copyOf('future');
    const m = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8'));
    m.formatVersion = 99;
    await writeFile(join(dir, 'manifest.json'), JSON.stringify(m));
    await rejectsWith(loadCheckpoint(dir), 'CHECKPOINT_VERSION', /format version 99/);
  });
  test('a folder that is not a checkpoint (a half-written one has no manifest)', async () => {
    const dir = join(root, 'partial');
    await mkdir(dir);
    await writeFile(join(dir, 'generator.bin'), 'x');
    await rejectsWith(loadCheckpoint(dir), 'CHECKPOINT_NOT_FOUND', /neither manifest\.json nor a latest pointer/);
  });
  test('verifyCheckpoint also checks the weights that loading for serving skips', async () => {
    const dir = await copyOf('disc');
    await truncate(join(dir, 'discriminator.bin'), 10);
    await loadCheckpoint(dir).then((c) => c.dispose());
    await rejectsWith(verifyCheckpoint(dir), 'CHECKPOINT_INVALID', /discriminator\.bin/);
  });
});

test('latest pointer: resolves, moves atomically, refuses bad targets', async () => {
  const r = await tempDir();
  const a = await makeCheckpoint(r, { size: 32, nf: 2, name: 'step-1', discriminator: false });
  const b = await makeCheckpoint(r, { size: 32, nf: 2, name: 'step-2', discriminator: false, seed: 9 });
  await setLatest(r, 'step-1');
  assert.equal(await resolveCheckpointDir(r), a);
  await setLatest(r, 'step-2');
  assert.equal(await resolveCheckpointDir(r), b);
  assert.deepEqual((await readdir(r)).sort(), ['latest', 'step-1', 'step-2']);
  await rejectsWith(setLatest(r, 'nope'), 'CHECKPOINT_NOT_FOUND', /no manifest\.json/);
  await rejectsWith(setLatest(r, '../x'), 'INVALID_ARGUMENT', /plain folder name/);
  await writeFile(join(r, 'latest'), 'gone\n');
  await rejectsWith(resolveCheckpointDir(r), 'CHECKPOINT_NOT_FOUND', /points at gone/);
});

test('float16 weights: half the bytes, every weight within half precision of the float32 one, the same images; the optimizer stays float32', async () => {
  const a = await loadCheckpoint(source, { withDiscriminator: true });
  const out = join(root, 'half');
  const optimizer = { specs: () => [{ name: 'g/m', shape: [3] }], read: async () => new Map([['g/m', new Float32Array([1e-7, 2, 3])]]) };
  const contents = {
    name: a.manifest.name,
    step: 7,
    generatorConfig: a.generator.config,
    textEncoderConfig: a.textEncoder.config,
    vocab: a.vocab,
    networks: { generator: a.generator.params, textEncoder: a.textEncoder.params, discriminator: a.discriminator!.params, head: a.head!.params, optimizer },
  };
  const m = await writeCheckpoint(out, contents, { weightDtype: 'float16' });
  const b = await loadCheckpoint(out, { withDiscriminator: true });
  try {
    assert.equal(m.networks.generator.dtype, 'float16');
    assert.equal(m.networks.optimizer!.dtype, 'float32');
    assert.equal(m.files['generator.bin'].bytes, a.manifest.files['generator.bin'].bytes / 2);
    for (const key of ['generator', 'textEncoder', 'discriminator', 'head'] as const) {
      const wa = await a[key]!.params.read();
      const wb = await b[key]!.params.read();
      for (const [k, v] of wa) {
        const w = wb.get(k)!;
        // Half precision keeps 11 significant bits: relative error at most 2^-11 (subnormals: absolute 2^-25).
        for (let i = 0; i < v.length; i++) assert.ok(Math.abs(w[i] - v[i]) <= Math.max(Math.abs(v[i]) * 2 ** -11, 2 ** -25), `${key} ${k}[${i}]: ${w[i]} vs ${v[i]}`);
      }
    }
    const z = tf.randomNormal([2, a.generator.config.zDim], 0, 1, 'float32', 1) as tf.Tensor2D;
    const s = tf.randomNormal([2, a.generator.config.condDim], 0, 1, 'float32', 2) as tf.Tensor2D;
    const diff = tf.tidy(() => tf.max(tf.abs(tf.sub(a.generator.apply(z, s), b.generator.apply(z, s)))).arraySync() as number);
    assert.ok(diff > 0 && diff < 0.02, `images differ by ${diff} at most (pixels in [-1, 1])`);
    tf.dispose([z, s]);
  } finally {
    a.dispose();
    b.dispose();
  }
  await truncate(join(out, 'generator.bin'), m.files['generator.bin'].bytes - 2);
  await rejectsWith(loadCheckpoint(out), 'CHECKPOINT_INVALID', /generator\.bin/);
});

test('float16: values round to nearest (ties to even), specials survive, a weight beyond its range is refused', async () => {
  const { encodeWeights, decodeWeights } = await import('../../../src/model/checkpoint/weights-file.js');
  const x = new Float32Array([0, -0, 1, -2.5, 65504, 1 + 2 ** -11, 1 + 3 * 2 ** -11, 2 ** -24, 2 ** -26, Infinity, -Infinity, 0.1]);
  const spec = [{ name: 'x', shape: [x.length] }];
  const bytes = encodeWeights(new Map([['x', x]]), spec, 'float16');
  assert.equal(bytes.byteLength, 2 * x.length);
  const y = decodeWeights(bytes, { file: 'x.bin', dtype: 'float16', params: spec }, 'x.bin').get('x')!;
  assert.deepEqual(Array.from(y.slice(0, 5)), [0, -0, 1, -2.5, 65504]);
  assert.equal(y[5], 1, 'a tie rounds to the even neighbour (1)');
  assert.equal(y[6], 1 + 4 * 2 ** -11, 'a tie rounds to the even neighbour (1 + 2^-9)');
  assert.equal(y[7], 2 ** -24, 'the smallest subnormal');
  assert.equal(y[8], 0, 'below half of it: zero');
  assert.deepEqual([y[9], y[10]], [Infinity, -Infinity]);
  assert.ok(Math.abs(y[11] - 0.1) < 0.1 * 2 ** -11);
  assert.throws(() => encodeWeights(new Map([['x', new Float32Array([7e4])]]), [{ name: 'x', shape: [1] }], 'float16'), (e: unknown) => e instanceof DfganError && e.code === 'INVALID_ARGUMENT');
});
