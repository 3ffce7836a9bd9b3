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
