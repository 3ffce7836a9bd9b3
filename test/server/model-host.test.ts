import { test } from 'node:test';
import assert from 'node:assert/strict';
import { basename, join } from 'node:path';
import { readFile, writeFile } from 'node:fs/promises';
import { DfganError } from '../../src/errors.js';
import { setLatest } from '../../src/model/checkpoint/index.js';
import { ModelHost, type ModelHostOptions } from '../../src/server/model-host.js';
import { useTestBackend } from '../helpers/backend.js';
import { FakeEngine } from '../helpers/fake-engine.js';
import { makeCheckpoint } from '../helpers/fixtures.js';
import { silentLog, waitFor } from '../helpers/server.js';
import { tempDir } from '../helpers/tmp.js';

async function rootWith(seeds: number[]): Promise<{ root: string; names: string[] }> {
  await useTestBackend();
  const root = await tempDir();
  const names: string[] = [];
  for (const seed of seeds) names.push(basename(await makeCheckpoint(root, { size: 32, nf: 4, seed, discriminator: false })));
  await setLatest(root, names[0]);
  return { root, names };
}

function hostFor(checkpoint: string, opts: Partial<ModelHostOptions> = {}) {
  const engine = new FakeEngine();
  const reloads: string[] = [];
  const host = new ModelHost(engine, { checkpoint, warmupBatchSizes: [1, 2, 4], watch: false, pollMs: 0, ...opts }, silentLog, {
    reload: (r) => reloads.push(r),
  });
  return { engine, host, reloads };
}

async function corrupt(dir: string): Promise<void> {
  const f = join(dir, 'generator.bin');
  const b = await readFile(f);
  b[10] ^= 0xff;
  await writeFile(f, b);
}

test('serves the checkpoint `latest` names, warmed up; MODEL_NOT_READY before that', async () => {
  const { root, names } = await rootWith([0]);
  const { engine, host } = hostFor(root);
  assert.equal(host.ready, false);
  assert.throws(() => host.acquire(), (e: unknown) => e instanceof DfganError && e.code === 'MODEL_NOT_READY');
  await host.start();
  assert.equal(host.ready, true);
  assert.equal(basename(host.info!.dir), names[0]);
  assert.deepEqual(engine.last.warmedUp, [1, 2, 4]);
  await host.close();
  assert.equal(host.ready, false);
  assert.equal(engine.last.disposed, true);
});

test('a missing checkpoint fails start with CHECKPOINT_NOT_FOUND', async () => {
  const { host } = hostFor(join(await tempDir(), 'nothing-here'));
  await assert.rejects(host.start(), (e: unknown) => e instanceof DfganError && e.code === 'CHECKPOINT_NOT_FOUND');
});

test('a new checkpoint is swapped in; the old model is disposed only after its last lease', async () => {
  const { root, names } = await rootWith([0, 1]);
  const { engine, host, reloads } = hostFor(root);
  await host.start();
  const v1 = host.info!.version;
  const old = engine.last;
  const lease = host.acquire();
  let changes = 0;
  host.on('change', () => changes++);
  await setLatest(root, names[1]);
  assert.equal(await host.checkForUpdate(), 'loaded');
  assert.notEqual(host.info!.version, v1);
  assert.equal(changes, 1);
  assert.deepEqual(engine.last.warmedUp, [1, 2, 4], 'warmed up before it was swapped in');
  assert.equal(old.disposed, false, 'a request still holds the old model');
  assert.equal(lease.model, old);
  lease.release();
  lease.release(); // a second release is a no-op
  await waitFor(() => old.disposed, 1000, 'old model disposed');
  assert.equal(engine.last.disposed, false);
  assert.equal(await host.checkForUpdate(), 'unchanged');
  assert.deepEqual(reloads, ['success']);
  await host.close();
});

test('a corrupt checkpoint is refused and counted once; the old model keeps serving; a good one follows', async () => {
  const { root, names } = await rootWith([0, 1, 2]);
  await corrupt(join(root, names[1]));
  const { host, reloads } = hostFor(root);
  await host.start();
  const v1 = host.info!.version;
  await setLatest(root, names[1]);
  assert.equal(await host.checkForUpdate(), 'failed');
  assert.equal(host.info!.version, v1);
  assert.equal(host.ready, true);
  assert.equal(await host.checkForUpdate(), 'unchanged', 'not retried until latest changes');
  await setLatest(root, names[2]);
  assert.equal(await host.checkForUpdate(), 'loaded');
  assert.notEqual(host.info!.version, v1);
  assert.deepEqual(reloads, ['failure', 'success']);
  await host.close();
});

test('fs.watch notices a new `latest` on its own', async () => {
  const { root, names } = await rootWith([0, 1]);
  const { host } = hostFor(root, { watch: true, pollMs: 0 });
  await host.start();
  const v1 = host.info!.version;
  await setLatest(root, names[1]);
  await waitFor(() => host.info!.version !== v1, 5000, 'the watcher to swap');
  await host.close();
});

test('polling notices a new `latest` without fs.watch', async () => {
  const { root, names } = await rootWith([0, 1]);
  const { host } = hostFor(root, { watch: false, pollMs: 30 });
  await host.start();
  const v1 = host.info!.version;
  await setLatest(root, names[1]);
  await waitFor(() => host.info!.version !== v1, 5000, 'the poller to swap');
  await host.close();
});

test('a checkpoint folder given directly is served as is (no pointer to follow)', async () => {
  const { root, names } = await rootWith([0]);
  const { host } = hostFor(join(root, names[0]));
  await host.start();
  assert.equal(await host.checkForUpdate(), 'unchanged');
  await host.close();
});

test('a model that fails is taken out of service and reloaded', async () => {
  const { root } = await rootWith([0]);
  const { engine, host } = hostFor(root);
  await host.start();
  const first = engine.last;
  const readiness: boolean[] = [];
  host.on('change', () => readiness.push(host.ready));
  first.crash();
  assert.equal(host.ready, false);
  await waitFor(() => host.ready, 5000, 'the reload after a crash');
  assert.notEqual(engine.last, first);
  assert.equal(host.info!.version, first.info.version);
  assert.deepEqual(readiness, [false, true]);
  await waitFor(() => first.disposed, 1000, 'the failed model disposed');
  await host.close();
});
