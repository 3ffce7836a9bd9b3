import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DfganError } from '../../src/errors.js';
import { Batcher, type BatchJob } from '../../src/server/batcher.js';
import type { GenerateRow } from '../../src/server/engine/engine.js';
import { FakeModel, fakePng } from '../helpers/fake-engine.js';

const info = (version: string) => ({ name: 'fake', version, step: 0, dir: '/x', imageSize: 32, engine: 'tfjs' as const, backend: 'fake' });
const rows = (seeds: number[], ids = [1, 2]): GenerateRow[] => seeds.map((seed) => ({ ids, seed, truncation: 0.88 }));
const job = (model: FakeModel, seeds: number[], extra: Partial<BatchJob> = {}): BatchJob => ({
  model,
  rows: rows(seeds),
  deadline: performance.now() + 10_000,
  ...extra,
});
const isCode = (code: string) => (e: unknown) => e instanceof DfganError && e.code === code;
const tick = (ms = 0) => new Promise((r) => setTimeout(r, ms));

test('concurrent jobs share batches of at most maxBatchSize, in queue order, and each gets its own rows back', async () => {
  const m = new FakeModel(info('v1'));
  const b = new Batcher({ maxBatchSize: 4, maxQueueDelayMs: 50, maxQueueSize: 100 });
  const results = await Promise.all([b.submit(job(m, [1, 2])), b.submit(job(m, [3])), b.submit(job(m, [4, 5, 6])), b.submit(job(m, [7]))]);
  assert.deepEqual(
    m.batches.map((batch) => batch.map((r) => r.seed)),
    [
      [1, 2, 3, 4],
      [5, 6, 7],
    ],
  );
  assert.deepEqual(results[2], rows([4, 5, 6]).map(fakePng));
  assert.deepEqual(results[3], rows([7]).map(fakePng));
});

test('a partial batch runs once the oldest row has waited maxQueueDelayMs', async () => {
  const m = new FakeModel(info('v1'));
  const b = new Batcher({ maxBatchSize: 8, maxQueueDelayMs: 40, maxQueueSize: 100 });
  const t0 = performance.now();
  const p = b.submit(job(m, [1]));
  await tick(10);
  void b.submit(job(m, [2]));
  await p;
  const waited = performance.now() - t0;
  assert.ok(waited >= 35, `ran after ${waited} ms`);
  assert.deepEqual(m.batches.map((x) => x.length), [2]);
});

test('a full batch does not wait for the delay', async () => {
  const m = new FakeModel(info('v1'));
  const b = new Batcher({ maxBatchSize: 2, maxQueueDelayMs: 5_000, maxQueueSize: 100 });
  const t0 = performance.now();
  await b.submit(job(m, [1, 2]));
  assert.ok(performance.now() - t0 < 1000);
});

test('a job that would overflow the queue is refused whole with QUEUE_FULL; the queue keeps working', async () => {
  const m = new FakeModel(info('v1'));
  const release = m.hold();
  const depths: number[] = [];
  const b = new Batcher({ maxBatchSize: 2, maxQueueDelayMs: 0, maxQueueSize: 3 }, { queueDepth: (n) => depths.push(n) });
  const first = b.submit(job(m, [1, 2])); // runs at once (and blocks the model)
  await tick();
  const queued = b.submit(job(m, [3, 4, 5])); // fills the queue
  await assert.rejects(b.submit(job(m, [6])), isCode('QUEUE_FULL'));
  assert.equal(b.queueDepth, 3);
  release();
  await first;
  await queued;
  assert.equal(b.queueDepth, 0);
  assert.equal(depths[depths.length - 1], 0);
  await b.submit(job(m, [7]));
});

test('a job that times out in the queue fails with TIMEOUT and its rows never reach the model', async () => {
  const m = new FakeModel(info('v1'));
  const release = m.hold();
  const b = new Batcher({ maxBatchSize: 1, maxQueueDelayMs: 0, maxQueueSize: 100 });
  const busy = b.submit(job(m, [1]));
  await tick();
  const t0 = performance.now();
  await assert.rejects(b.submit(job(m, [2, 3], { deadline: performance.now() + 30 })), isCode('TIMEOUT'));
  assert.ok(performance.now() - t0 < 1000, 'failed at its deadline, not when the model got free');
  const after = b.submit(job(m, [4]));
  release();
  await busy;
  await after;
  assert.deepEqual(m.batches.map((x) => x.map((r) => r.seed)), [[1], [4]]);
  assert.equal(b.queueDepth, 0);
});

test('a job already past its deadline or cancelled is refused at submit', async () => {
  const m = new FakeModel(info('v1'));
  const b = new Batcher({ maxBatchSize: 1, maxQueueDelayMs: 0, maxQueueSize: 100 });
  await assert.rejects(b.submit(job(m, [1], { deadline: performance.now() - 1 })), isCode('TIMEOUT'));
  await assert.rejects(b.submit(job(m, [1], { signal: AbortSignal.abort() })), isCode('CANCELLED'));
  assert.equal(m.batches.length, 0);
});

test('a cancelled job fails with CANCELLED (or the abort reason) and its rows never reach the model', async () => {
  const m = new FakeModel(info('v1'));
  const release = m.hold();
  const b = new Batcher({ maxBatchSize: 1, maxQueueDelayMs: 0, maxQueueSize: 100 });
  const busy = b.submit(job(m, [1]));
  await tick();
  const a1 = new AbortController();
  const a2 = new AbortController();
  const cancelled = b.submit(job(m, [2], { signal: a1.signal }));
  const expired = b.submit(job(m, [3], { signal: a2.signal }));
  a1.abort();
  a2.abort(new DfganError('TIMEOUT', 'deadline'));
  await assert.rejects(cancelled, isCode('CANCELLED'));
  await assert.rejects(expired, isCode('TIMEOUT'));
  release();
  await busy;
  assert.deepEqual(m.batches.map((x) => x.map((r) => r.seed)), [[1]]);
});

test('rows of a job can finish in several batches; onRow reports each as its batch ends', async () => {
  const m = new FakeModel(info('v1'));
  const b = new Batcher({ maxBatchSize: 2, maxQueueDelayMs: 0, maxQueueSize: 100 });
  const seen: number[] = [];
  const out = await b.submit(job(m, [1, 2, 3, 4, 5], { onRow: (i) => seen.push(i) }));
  assert.deepEqual(seen, [0, 1, 2, 3, 4]);
  assert.equal(out.length, 5);
  assert.deepEqual(m.batches.map((x) => x.length), [2, 2, 1]);
});

test('a batch never mixes two models (a request stays on the version it was accepted on)', async () => {
  const m1 = new FakeModel(info('v1'));
  const m2 = new FakeModel(info('v2'));
  const release = m1.hold();
  const b = new Batcher({ maxBatchSize: 8, maxQueueDelayMs: 0, maxQueueSize: 100 });
  const busy = b.submit(job(m1, [0]));
  await tick();
  const all = Promise.all([b.submit(job(m1, [1])), b.submit(job(m2, [2])), b.submit(job(m1, [3])), b.submit(job(m2, [4]))]);
  release();
  await busy;
  await all;
  assert.deepEqual(m1.batches.map((x) => x.map((r) => r.seed)), [[0], [1, 3]]);
  assert.deepEqual(m2.batches.map((x) => x.map((r) => r.seed)), [[2, 4]]);
});

test('an engine error fails the jobs of that batch only', async () => {
  const m = new FakeModel(info('v1'));
  const b = new Batcher({ maxBatchSize: 1, maxQueueDelayMs: 0, maxQueueSize: 100 });
  const orig = m.generate.bind(m);
  let calls = 0;
  m.generate = async (r) => {
    if (calls++ === 0) throw new DfganError('INTERNAL', 'boom');
    return orig(r);
  };
  const [a, c] = await Promise.allSettled([b.submit(job(m, [1])), b.submit(job(m, [2]))]);
  assert.equal(a.status, 'rejected');
  assert.equal(c.status, 'fulfilled');
});

test('drain refuses new jobs with DRAINING and resolves when the accepted ones are done', async () => {
  const m = new FakeModel(info('v1'));
  const release = m.hold();
  const b = new Batcher({ maxBatchSize: 1, maxQueueDelayMs: 1000, maxQueueSize: 100 });
  const accepted = [b.submit(job(m, [1])), b.submit(job(m, [2])), b.submit(job(m, [3]))];
  let drained = false;
  const d = b.drain().then(() => (drained = true));
  await assert.rejects(b.submit(job(m, [4])), isCode('DRAINING'));
  await tick(20);
  assert.equal(drained, false);
  release();
  await d;
  assert.equal((await Promise.all(accepted)).length, 3);
  assert.deepEqual(m.batches.map((x) => x.map((r) => r.seed)), [[1], [2], [3]]);
});

test('hooks see queue waits, batch sizes and durations', async () => {
  const m = new FakeModel(info('v1'));
  const sizes: number[] = [];
  const waits: number[] = [];
  const b = new Batcher({ maxBatchSize: 3, maxQueueDelayMs: 20, maxQueueSize: 100 }, { batch: ({ size }) => sizes.push(size), queueWait: (s) => waits.push(s) });
  await Promise.all([b.submit(job(m, [1, 2])), b.submit(job(m, [3, 4]))]);
  assert.deepEqual(sizes, [3, 1]);
  assert.equal(waits.length, 4);
  assert.ok(waits.every((w) => w >= 0 && w < 5));
});
