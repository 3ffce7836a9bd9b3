// Overload, timeouts and cancellation on both transports, with a stand-in engine the test can hold busy.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import * as grpc from '@grpc/grpc-js';
import request from 'supertest';
import type { RunningServer } from '../../src/server/main.js';
import { FakeEngine } from '../helpers/fake-engine.js';
import { makeCheckpoint } from '../helpers/fixtures.js';
import { useTestBackend } from '../helpers/backend.js';
import { parseMetrics, valueOf } from '../helpers/prom.js';
import { grpcClient, startTestServer, unary, waitFor } from '../helpers/server.js';
import { tempDir } from '../helpers/tmp.js';

let checkpoint: string | undefined;

async function start(options: Record<string, unknown>): Promise<{ server: RunningServer; engine: FakeEngine; url: string }> {
  await useTestBackend();
  checkpoint ??= await makeCheckpoint(await tempDir(), { size: 32, nf: 4, discriminator: false });
  const engine = new FakeEngine();
  const server = await startTestServer(checkpoint, { maxQueueDelayMs: 0, ...options }, engine);
  return { server, engine, url: `http://127.0.0.1:${server.httpPort}` };
}

const seedsRun = (engine: FakeEngine) => engine.last.batches.flat().map((r) => r.seed);
const rejections = async (url: string, reason: string) => valueOf(parseMetrics((await request(url).get('/metrics')).text).samples, 'dfgan_rejections_total', { reason });

test('a full queue answers 503 QUEUE_FULL with Retry-After (HTTP) and UNAVAILABLE (gRPC) at once', async () => {
  const { server, engine, url } = await start({ maxBatchSize: 1, maxQueueSize: 3, maxImagesPerRequest: 3, maxImagesPerStream: 3 });
  const client = grpcClient(server.grpcPort);
  const release = engine.last.hold();
  try {
    const running = request(url).post('/generate').send({ text: 'a red bird', seed: 1 });
    const runningDone = running.then((r) => r);
    await waitFor(() => engine.last.batches.length === 1, 2000, 'the first batch to start');
    const queued = request(url).post('/generate').send({ text: 'a red bird', seed: 2, n: 3 }).then((r) => r);
    await waitFor(() => server.batcher.queueDepth === 3, 2000, 'the queue to fill');
    const t0 = Date.now();
    const full = await request(url).post('/generate').send({ text: 'a red bird', seed: 9 });
    assert.equal(full.status, 503);
    assert.equal(full.body.error.code, 'QUEUE_FULL');
    assert.equal(full.headers['retry-after'], '1');
    await assert.rejects(unary(client, 'Generate', { text: 'a red bird', seed: 9 }), (e: unknown) => {
      const err = e as grpc.ServiceError;
      return err.code === grpc.status.UNAVAILABLE && err.metadata.get('dfgan-error-code')[0] === 'QUEUE_FULL' && err.metadata.get('retry-after')[0] === '1';
    });
    assert.ok(Date.now() - t0 < 1000, 'refused without waiting');
    release();
    assert.equal((await runningDone).status, 200);
    assert.equal((await queued).status, 200);
    assert.deepEqual(seedsRun(engine), [1, 2, 3, 4]);
    assert.equal(await rejections(url, 'queue_full'), 2);
  } finally {
    release();
    client.close();
    await server.shutdown();
  }
});

test('a request that runs out of time answers 504 TIMEOUT / DEADLINE_EXCEEDED and never reaches the model', async () => {
  const { server, engine, url } = await start({ maxBatchSize: 1, requestTimeoutMs: 150 });
  const client = grpcClient(server.grpcPort);
  const release = engine.last.hold();
  try {
    const first = request(url).post('/generate').send({ text: 'a red bird', seed: 1 }).then((r) => r);
    await waitFor(() => engine.last.batches.length === 1, 2000, 'the first batch to start');
    const late = await request(url).post('/generate').send({ text: 'a red bird', seed: 2 });
    assert.equal(late.status, 504);
    assert.equal(late.body.error.code, 'TIMEOUT');
    // The client's own, shorter deadline.
    await assert.rejects(unary(client, 'Generate', { text: 'a red bird', seed: 3 }, { deadline: Date.now() + 60 }), (e: unknown) => (e as grpc.ServiceError).code === grpc.status.DEADLINE_EXCEEDED);
    // The client enforces its deadline itself: free the model only once the server has dropped the call too
    // (as timed out, or as cancelled when the client's cancellation arrives first), after the two HTTP timeouts.
    await waitFor(async () => (await rejections(url, 'timeout')) + (await rejections(url, 'cancelled')) === 3, 2000, 'the server to drop all three');
    release();
    // The first request itself outlived the server timeout while the model was held: it times out too.
    assert.equal((await first).status, 504);
    await request(url).post('/generate').send({ text: 'a red bird', seed: 4 }).expect(200);
    assert.deepEqual(seedsRun(engine), [1, 4], 'expired requests were never run');
    assert.ok((await rejections(url, 'timeout')) >= 2);
  } finally {
    release();
    client.close();
    await server.shutdown();
  }
});

test('a cancelled gRPC call and a disconnected HTTP client are dropped before they reach the model', async () => {
  const { server, engine, url } = await start({ maxBatchSize: 1 });
  const client = grpcClient(server.grpcPort);
  const release = engine.last.hold();
  try {
    const first = request(url).post('/generate').send({ text: 'a red bird', seed: 1 }).then((r) => r);
    await waitFor(() => engine.last.batches.length === 1, 2000, 'the first batch to start');

    const call = (client.Generate as (r: unknown, cb: (e: grpc.ServiceError | null) => void) => grpc.ClientUnaryCall)({ text: 'a red bird', seed: 2 }, () => undefined);
    const body = JSON.stringify({ text: 'a red bird', seed: 3 });
    const req = http.request(`${url}/generate`, { method: 'POST', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } });
    req.on('error', () => undefined);
    req.end(body);
    await waitFor(() => server.batcher.queueDepth === 2, 2000, 'both to be queued');
    call.cancel();
    req.destroy();
    await waitFor(() => server.batcher.queueDepth === 0, 2000, 'both to leave the queue');
    release();
    assert.equal((await first).status, 200);
    await request(url).post('/generate').send({ text: 'a red bird', seed: 4 }).expect(200);
    assert.deepEqual(seedsRun(engine), [1, 4]);
    await waitFor(async () => (await rejections(url, 'cancelled')) === 2, 2000, 'two cancellations counted');
  } finally {
    release();
    client.close();
    await server.shutdown();
  }
});
