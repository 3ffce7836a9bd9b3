// Hot reload on the real engine while clients keep sending requests over both transports.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { basename, join } from 'node:path';
import { readFile, writeFile } from 'node:fs/promises';
import * as grpc from '@grpc/grpc-js';
import request from 'supertest';
import { setLatest } from '../../src/model/checkpoint/index.js';
import { useTestBackend } from '../helpers/backend.js';
import { makeCheckpoint } from '../helpers/fixtures.js';
import { parseMetrics, valueOf } from '../helpers/prom.js';
import { grpcClient, startTestServer, unary, waitFor } from '../helpers/server.js';
import { tempDir } from '../helpers/tmp.js';

test('new checkpoints are picked up with no failed request; a corrupt one is refused and the old version serves on', async () => {
  await useTestBackend();
  const root = await tempDir();
  const names: string[] = [];
  for (const seed of [0, 1, 2]) names.push(basename(await makeCheckpoint(root, { size: 32, nf: 4, seed, discriminator: false })));
  const corrupt = join(root, names[2], 'generator.bin');
  const bytes = await readFile(corrupt);
  bytes[64] ^= 0xff;
  await writeFile(corrupt, bytes);
  await setLatest(root, names[0]);

  const server = await startTestServer(root, { maxBatchSize: 4, maxQueueDelayMs: 5, watch: true, reloadPollMs: 200 });
  const url = `http://127.0.0.1:${server.httpPort}`;
  const client = grpcClient(server.grpcPort);
  const samples = async () => parseMetrics((await request(url).get('/metrics')).text).samples;
  const failures: string[] = [];
  const versions = new Map<string, number>();
  let stop = false;
  let sent = 0;
  const seen = (v: string) => versions.set(v, (versions.get(v) ?? 0) + 1);
  // A short pause between requests leaves the CPU to the loading checkpoint; traffic stays continuous.
  const pause = () => new Promise((r) => setTimeout(r, 5));

  // Bounded: each loop ends when told, or after 2,000 requests.
  const httpLoop = async (k: number) => {
    for (let i = 0; !stop && i < 2000; i++, sent++) {
      const res = await request(url).post('/generate').send({ text: 'a red bird with blue wings', seed: k * 10_000 + i });
      if (res.status !== 200) failures.push(`http ${res.status} ${res.text}`);
      else seen(res.body.model.version);
      await pause();
    }
  };
  const grpcLoop = async () => {
    for (let i = 0; !stop && i < 2000; i++, sent++) {
      try {
        seen((await unary<{ version: string }>(client, 'Generate', { text: 'a yellow bird', seed: i, n: 2 })).version);
      } catch (e) {
        failures.push(`grpc ${(e as grpc.ServiceError).code} ${(e as grpc.ServiceError).details}`);
      }
      await pause();
    }
  };
  const loops = Promise.all([httpLoop(1), httpLoop(2), grpcLoop()]);
  try {
    const v0 = server.host.info!.version;
    await waitFor(() => sent >= 10, 10_000, 'traffic');

    await setLatest(root, names[1]);
    await waitFor(() => server.host.info!.version !== v0, 15_000, 'the swap to the new checkpoint');
    const v1 = server.host.info!.version;
    await waitFor(() => (versions.get(v1) ?? 0) >= 10, 10_000, 'requests served by the new version');
    assert.equal((await request(url).get('/v2/models/test-model').expect(200)).body.version, v1);

    await setLatest(root, names[2]);
    await waitFor(async () => valueOf(await samples(), 'dfgan_model_reloads_total', { result: 'failure' }) === 1, 15_000, 'the corrupt checkpoint to be refused');
    const countBefore = versions.get(v1)!;
    await waitFor(() => versions.get(v1)! >= countBefore + 10, 10_000, 'more requests after the refusal');
    assert.equal(server.host.info!.version, v1, 'the old version keeps serving');
    await request(url).get('/v2/health/ready').expect(200);

    stop = true;
    await loops;
    assert.deepEqual(failures, []);
    assert.deepEqual([...versions.keys()].sort(), [v0, v1].sort());
    const m = await samples();
    assert.equal(valueOf(m, 'dfgan_model_reloads_total', { result: 'success' }), 1);
    assert.equal(m.filter((s) => s.name === 'dfgan_model_info')[0].labels.version, v1);
  } finally {
    stop = true;
    await loops;
    client.close();
    await server.shutdown();
  }
});
