// The engine on the tfjs runtime: a worker thread per loaded checkpoint.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { cp, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DfganError } from '../../src/errors.js';
import { BACKEND_CHOICES, type BackendChoice } from '../../src/model/backend.js';
import { TextToImage } from '../../src/model/text-to-image.js';
import { encodePng } from '../../src/model/png.js';
import { createWorkerEngine, WorkerModel } from '../../src/server/engine/worker-engine.js';
import { useTestBackend } from '../helpers/backend.js';
import { makeCheckpoint } from '../helpers/fixtures.js';
import { tempDir } from '../helpers/tmp.js';
import { assertNoWorkerLeaks } from '../helpers/engine-leaks.js';

const backend = (process.env.DFGAN_TEST_BACKEND ?? 'auto') as BackendChoice;
assert.ok(BACKEND_CHOICES.includes(backend));
const engine = createWorkerEngine({ engine: 'tfjs', backend, onnxThreads: 0, embeddingCacheSize: 8 });
const RED = 'this bird has a red crown, blue wings and a white belly';
let dir: string;
let model: WorkerModel;

before(async () => {
  await useTestBackend();
  dir = await makeCheckpoint(await tempDir(), { size: 32, nf: 4, discriminator: false });
  model = (await engine.load(dir)) as WorkerModel;
});
after(() => Promise.all([model, mixed, big].map((m) => m?.dispose())));

test('load reports the checkpoint and the backend the worker chose', () => {
  assert.equal(model.info.name, 'test-model');
  assert.match(model.info.version, /^[0-9a-f]{12}$/);
  assert.equal(model.info.imageSize, 32);
  assert.equal(model.info.engine, 'tfjs');
  assert.ok(BACKEND_CHOICES.includes(model.info.backend as BackendChoice));
  assert.equal(model.info.dir, dir);
});

test('tokenize runs on the calling thread with the checkpoint vocabulary and its user errors', () => {
  assert.deepEqual(model.tokenize('A RED bird, zzzq!').words, ['a', 'red', 'bird']);
  assert.throws(() => model.tokenize('qwerty uiop'), (e: unknown) => e instanceof DfganError && e.code === 'NO_KNOWN_WORDS');
  assert.throws(() => model.tokenize(' !? '), (e: unknown) => e instanceof DfganError && e.code === 'EMPTY_TEXT');
});

let mixed: WorkerModel | undefined;

test('PNG bytes equal the in-process pipeline, whatever captions and seeds share the batch', async () => {
  const local = await TextToImage.load(dir);
  const expected = await encodePng((await local.generate({ text: RED, seeds: [7], truncation: 0.88 })).images[0]);
  local.dispose();
  // The caption's embedding is computed alone in `model`, and together with other captions in a fresh worker.
  mixed = (await engine.load(dir)) as WorkerModel;
  const ids = model.tokenize(RED).ids;
  const a = await model.generate([{ ids, seed: 7, truncation: 0.88 }]);
  const m = await mixed.generate([
    { ids: mixed.tokenize('a small yellow bird').ids, seed: 1, truncation: null },
    { ids, seed: 7, truncation: 0.88 },
    { ids: mixed.tokenize('a black bird with a long beak').ids, seed: 7, truncation: 0.5 },
    { ids, seed: 8, truncation: 0.88 },
  ]);
  assert.deepEqual(Buffer.from(a.pngs[0]), Buffer.from(expected));
  assert.deepEqual(Buffer.from(m.pngs[1]), Buffer.from(expected));
  assert.notDeepEqual(Buffer.from(m.pngs[3]), Buffer.from(expected), 'another seed gives another image');
  assert.notDeepEqual(Buffer.from(m.pngs[2]), Buffer.from(expected), 'another caption gives another image');
});

test('repeated captions hit the embedding cache (keyed by word ids, so spelling variants share it)', async () => {
  const ids1 = model.tokenize('A blue bird!').ids;
  const ids2 = model.tokenize('a blue bird').ids;
  const first = await model.generate([{ ids: ids1, seed: 1, truncation: 0.88 }]);
  const second = await model.generate([
    { ids: ids2, seed: 1, truncation: 0.88 },
    { ids: ids1, seed: 2, truncation: 0.88 },
  ]);
  assert.deepEqual([first.cacheHits, first.cacheMisses], [0, 1]);
  assert.deepEqual([second.cacheHits, second.cacheMisses], [2, 0]);
  assert.deepEqual(Buffer.from(second.pngs[0]), Buffer.from(first.pngs[0]));
});

test('no tensors leak in the worker across generate, warm-up and failed calls', () => assertNoWorkerLeaks(model, RED));

let big: WorkerModel | undefined;

test('the event loop stays free while the worker generates', async () => {
  big = (await engine.load(await makeCheckpoint(await tempDir(), { size: 64, nf: 16, discriminator: false }))) as WorkerModel;
  const ids = big.tokenize(RED).ids;
  const rows = Array.from({ length: 16 }, (_, i) => ({ ids, seed: i, truncation: 0.88 }));
  let ticks = 0;
  let maxGap = 0;
  let last = performance.now();
  const timer = setInterval(() => {
    const now = performance.now();
    maxGap = Math.max(maxGap, now - last);
    last = now;
    ticks++;
  }, 5);
  const t0 = performance.now();
  await big.generate(rows);
  const took = performance.now() - t0;
  clearInterval(timer);
  assert.ok(took > 50, `the batch took ${took.toFixed(0)} ms, too short to tell`);
  assert.ok(ticks >= took / 5 / 3, `${ticks} timer ticks in ${took.toFixed(0)} ms`);
  assert.ok(maxGap < Math.max(60, took / 2), `the loop stalled for ${maxGap.toFixed(0)} ms of ${took.toFixed(0)}`);
});

test('a corrupt checkpoint is refused with CHECKPOINT_INVALID', async () => {
  const bad = join(await tempDir(), 'bad');
  await cp(dir, bad, { recursive: true });
  const f = join(bad, 'generator.bin');
  const bytes = await readFile(f);
  bytes[100] ^= 0xff;
  await writeFile(f, bytes);
  await assert.rejects(engine.load(bad), (e: unknown) => e instanceof DfganError && e.code === 'CHECKPOINT_INVALID' && /sha256/.test(e.message));
});

test('dispose waits for calls already made, then refuses new ones', async () => {
  const m = mixed!;
  const ids = m.tokenize(RED).ids;
  const inflight = m.generate([{ ids, seed: 1, truncation: 0.88 }]);
  const disposed = m.dispose();
  assert.equal((await inflight).pngs.length, 1);
  await disposed;
  await assert.rejects(m.generate([{ ids, seed: 1, truncation: 0.88 }]), /disposed/);
});

test('a worker that dies fails its pending calls and tells the listeners', async () => {
  const m = big!;
  const failures: Error[] = [];
  m.onFailure((e) => failures.push(e));
  const pending = m.generate([{ ids: m.tokenize(RED).ids, seed: 1, truncation: 0.88 }]);
  // Reach into the worker only to simulate a crash.
  await (m as unknown as { worker: { terminate(): Promise<number> } }).worker.terminate();
  await assert.rejects(pending, (e: unknown) => e instanceof DfganError && e.code === 'INTERNAL');
  assert.equal(failures.length, 1);
  await m.dispose();
});
