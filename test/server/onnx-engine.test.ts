// The engine on ONNX Runtime, and the choice between runtimes (auto falls back to tfjs when ONNX Runtime cannot load).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { decode } from 'fast-png';
import { DfganError } from '../../src/errors.js';
import { BACKEND_CHOICES, type BackendChoice } from '../../src/model/backend.js';
import { createWorkerEngine, WorkerModel } from '../../src/server/engine/worker-engine.js';
import type { EngineKind } from '../../src/server/engine/engine.js';
import { useTestBackend } from '../helpers/backend.js';
import { makePerturbedCheckpoint } from '../helpers/fixtures.js';
import { tempDir } from '../helpers/tmp.js';
import { assertNoWorkerLeaks } from '../helpers/engine-leaks.js';

const backend = (process.env.DFGAN_TEST_BACKEND ?? 'auto') as BackendChoice;
assert.ok(BACKEND_CHOICES.includes(backend));
const MISSING = 'onnxruntime-node-not-installed';
const engineOf = (engine: EngineKind, onnxRuntimeModule?: string) => createWorkerEngine({ engine, backend, onnxThreads: 2, embeddingCacheSize: 8, onnxRuntimeModule });
const RED = 'this bird has a red crown, blue wings and a white belly';
let dir: string;
let onnx: WorkerModel;
const others: WorkerModel[] = [];

before(async () => {
  await useTestBackend();
  dir = await makePerturbedCheckpoint(await tempDir(), { size: 32, nf: 8, seed: 5 });
  onnx = (await engineOf('onnx').load(dir)) as WorkerModel;
});
after(() => Promise.all([onnx, ...others].map((m) => m.dispose())));

async function load(engine: EngineKind, module?: string): Promise<WorkerModel> {
  const m = (await engineOf(engine, module).load(dir)) as WorkerModel;
  others.push(m);
  return m;
}

test('engine onnx runs the generator on ONNX Runtime on the CPU provider', () => {
  assert.equal(onnx.info.engine, 'onnx');
  assert.equal(onnx.info.backend, 'cpu');
  assert.equal(onnx.info.fallback, undefined);
  assert.equal(onnx.info.imageSize, 32);
});

test('auto picks ONNX Runtime where it loads', async () => {
  const m = await load('auto');
  assert.equal(m.info.engine, 'onnx');
});

test('auto falls back to tfjs when ONNX Runtime cannot load, and says why', async () => {
  const m = await load('auto', MISSING);
  assert.equal(m.info.engine, 'tfjs');
  assert.match(m.info.fallback ?? '', new RegExp(`${MISSING}.*using tfjs`));
  const r = await m.generate([{ ids: m.tokenize(RED).ids, seed: 1, truncation: 0.88 }]);
  assert.equal(r.pngs.length, 1);
});

test('engine onnx asked for by name fails to load without ONNX Runtime (ENGINE_UNAVAILABLE)', async () => {
  await assert.rejects(engineOf('onnx', MISSING).load(dir), (e: unknown) => e instanceof DfganError && e.code === 'ENGINE_UNAVAILABLE' && e.message.includes(MISSING));
});

test('the same (caption, seed) gives the same PNG whatever shares its batch', async () => {
  const ids = onnx.tokenize(RED).ids;
  const alone = await onnx.generate([{ ids, seed: 7, truncation: 0.88 }]);
  const mixed = await onnx.generate([
    { ids: onnx.tokenize('a small yellow bird').ids, seed: 1, truncation: null },
    { ids, seed: 7, truncation: 0.88 },
    { ids: onnx.tokenize('a black bird with a long beak').ids, seed: 7, truncation: 0.5 },
    { ids, seed: 8, truncation: 0.88 },
    ...Array.from({ length: 4 }, (_, i) => ({ ids, seed: 100 + i, truncation: 0.88 })),
  ]);
  assert.deepEqual(Buffer.from(mixed.pngs[1]), Buffer.from(alone.pngs[0]));
  assert.notDeepEqual(Buffer.from(mixed.pngs[3]), Buffer.from(alone.pngs[0]), 'another seed gives another image');
  assert.notDeepEqual(Buffer.from(mixed.pngs[2]), Buffer.from(alone.pngs[0]), 'another caption gives another image');
});

test('ONNX Runtime and tfjs engines give the same pixels (off by at most one level where float rounding differs)', async () => {
  const tfjs = await load('tfjs');
  assert.equal(tfjs.info.engine, 'tfjs');
  const rows = [RED, 'a small yellow bird', 'a black bird with a long beak'].map((t, i) => ({ ids: onnx.tokenize(t).ids, seed: 40 + i, truncation: 0.88 as const }));
  const [a, b] = await Promise.all([onnx.generate(rows), tfjs.generate(rows)]);
  let maxDiff = 0;
  let differing = 0;
  for (let i = 0; i < rows.length; i++) {
    const pa = decode(a.pngs[i]).data;
    const pb = decode(b.pngs[i]).data;
    assert.equal(pa.length, 32 * 32 * 3);
    for (let k = 0; k < pa.length; k++) {
      const d = Math.abs(pa[k] - pb[k]);
      maxDiff = Math.max(maxDiff, d);
      if (d) differing++;
    }
  }
  assert.ok(maxDiff <= 1, `max pixel difference ${maxDiff}`);
  assert.ok(differing < 0.01 * rows.length * 32 * 32 * 3, `${differing} values differ`);
});

test('no tfjs tensors leak in the ONNX engine worker (its text encoder runs on tfjs)', () => assertNoWorkerLeaks(onnx, RED));

test('dispose waits for calls already made, then refuses new ones', async () => {
  const m = await load('onnx');
  const ids = m.tokenize(RED).ids;
  const inflight = m.generate([{ ids, seed: 1, truncation: 0.88 }]);
  const disposed = m.dispose();
  assert.equal((await inflight).pngs.length, 1);
  await disposed;
  await assert.rejects(m.generate([{ ids, seed: 1, truncation: 0.88 }]), /disposed/);
});
