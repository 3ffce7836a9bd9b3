// Start-up and graceful shutdown: in-process (readiness, drain, timeout) and as the real `dfgan serve` process.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import * as grpc from '@grpc/grpc-js';
import request from 'supertest';
import { FakeEngine } from '../helpers/fake-engine.js';
import { makeCheckpoint } from '../helpers/fixtures.js';
import { useTestBackend } from '../helpers/backend.js';
import { parseMetrics, valueOf } from '../helpers/prom.js';
import { parseServeConfig } from '../../src/server/config.js';
import { startServer } from '../../src/server/main.js';
import { grpcClient, silentLog, startTestServer, unary, waitFor } from '../helpers/server.js';
import { tempDir } from '../helpers/tmp.js';

let checkpoint: string | undefined;
async function ckpt(): Promise<string> {
  await useTestBackend();
  checkpoint ??= await makeCheckpoint(await tempDir(), { size: 32, nf: 4, discriminator: false });
  return checkpoint;
}

test('while the model loads the server is live but not ready, and generation answers MODEL_NOT_READY', async () => {
  const engine = new FakeEngine();
  const releaseLoad = engine.holdLoads();
  const config = parseServeConfig({ host: '127.0.0.1', httpPort: 0, grpcPort: 0, checkpoint: await ckpt() });
  const server = await startServer(config, { log: silentLog, engine });
  const url = `http://127.0.0.1:${server.httpPort}`;
  const client = grpcClient(server.grpcPort);
  try {
    await request(url).get('/v2/health/live').expect(200);
    await request(url).get('/v2/health/ready').expect(503);
    const res = await request(url).post('/generate').send({ text: 'a red bird' }).expect(503);
    assert.equal(res.body.error.code, 'MODEL_NOT_READY');
    assert.ok(Number(res.headers['retry-after']) > 0);
    await assert.rejects(unary(client, 'Generate', { text: 'a red bird' }), (e: unknown) => (e as grpc.ServiceError).code === grpc.status.UNAVAILABLE);
    releaseLoad();
    await server.loaded;
    await request(url).get('/v2/health/ready').expect(200);
    await request(url).post('/generate').send({ text: 'a red bird' }).expect(200);
    const m = parseMetrics((await request(url).get('/metrics')).text).samples;
    assert.equal(valueOf(m, 'dfgan_rejections_total', { reason: 'not_ready' }), 2);
  } finally {
    releaseLoad();
    client.close();
    await server.shutdown();
  }
});

test('shutdown reports not ready and refuses new work, but finishes every accepted request', async () => {
  const engine = new FakeEngine();
  const server = await startTestServer(await ckpt(), { maxBatchSize: 2, maxQueueDelayMs: 0 }, engine);
  const url = `http://127.0.0.1:${server.httpPort}`;
  const client = grpcClient(server.grpcPort);
  const release = engine.last.hold();
  try {
    const accepted = [
      ...[1, 2, 3, 4].map((seed) => request(url).post('/generate').send({ text: 'a red bird', seed, n: 2 }).then((r) => r.status)),
      ...[5, 6].map((seed) => unary(client, 'Generate', { text: 'a red bird', seed }).then(() => 200)),
    ];
    await waitFor(() => engine.last.batches.length === 1 && server.batcher.queueDepth === 8, 2000, 'the requests to be accepted');
    const stopped = server.shutdown();
    assert.equal(server.service.ready, false);
    await request(url).get('/v2/health/ready').expect(503, { ready: false });
    await request(url).get('/v2/health/live').expect(200);
    const refused = await request(url).post('/generate').send({ text: 'a red bird' }).expect(503);
    assert.equal(refused.body.error.code, 'DRAINING');
    assert.ok(Number(refused.headers['retry-after']) > 0);
    await assert.rejects(unary(client, 'Generate', { text: 'a red bird' }), (e: unknown) => {
      const err = e as grpc.ServiceError;
      return err.code === grpc.status.UNAVAILABLE && err.metadata.get('dfgan-error-code')[0] === 'DRAINING';
    });
    release();
    assert.deepEqual(await Promise.all(accepted), [200, 200, 200, 200, 200, 200]);
    assert.deepEqual(await stopped, { forced: false });
    assert.equal(engine.last.batches.flat().length, 10);
    assert.equal(engine.last.disposed, true);
    assert.equal(server.host.ready, false);
    await assert.rejects(request(url).get('/v2/health/live'), 'no longer listening');
  } finally {
    release();
    client.close();
    await server.shutdown();
  }
});

test('shutdown gives up after its timeout and still releases the model', async () => {
  const engine = new FakeEngine();
  const server = await startTestServer(await ckpt(), { maxBatchSize: 1, maxQueueDelayMs: 0, shutdownTimeoutMs: 150 }, engine);
  engine.last.hold(); // never released: the batch never ends
  const url = `http://127.0.0.1:${server.httpPort}`;
  const stuck = request(url).post('/generate').send({ text: 'a red bird', seed: 1 }).then(
    (r) => r.status,
    () => 'connection closed',
  );
  await waitFor(() => engine.last.batches.length === 1, 2000, 'the batch to start');
  const t0 = Date.now();
  assert.deepEqual(await server.shutdown(), { forced: true });
  assert.ok(Date.now() - t0 < 2000);
  assert.equal(engine.last.disposed, true);
  assert.equal(await stuck, 'connection closed');
  await assert.rejects(request(url).get('/v2/health/live'), 'no longer listening');
  assert.equal(server.batcher.queueDepth, 0);
});

interface Proc {
  child: ReturnType<typeof spawn>;
  ports: { http: number; grpc: number };
  logs: string[];
  exit: Promise<number | null>;
}

async function spawnServe(args: string[]): Promise<Proc> {
  const child = spawn(process.execPath, ['bin/dfgan.mjs', '--log-level', 'info', 'serve', '--host', '127.0.0.1', '--http-port', '0', '--grpc-port', '0', ...args], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, DFGAN_BACKEND: process.env.DFGAN_TEST_BACKEND ?? 'auto' },
  });
  // Never leave a server behind, even if this test process dies first.
  const killChild = () => child.kill('SIGKILL');
  process.once('exit', killChild);
  const logs: string[] = [];
  const exit = new Promise<number | null>((resolve) =>
    child.on('exit', (code) => {
      process.off('exit', killChild);
      resolve(code);
    }),
  );
  const ports = await new Promise<{ http: number; grpc: number }>((resolve, reject) => {
    createInterface({ input: child.stderr! }).on('line', (line) => {
      logs.push(line);
      try {
        const j = JSON.parse(line);
        if (typeof j.http === 'number' && typeof j.grpc === 'number') resolve({ http: j.http, grpc: j.grpc });
      } catch {
        /* not a log line */
      }
    });
    void exit.then((code) => reject(new Error(`dfgan serve exited with ${code}: ${logs.join('\n')}`)));
  });
  // It listens before its model is loaded; wait until it is ready.
  await waitFor(async () => (await request(`http://127.0.0.1:${ports.http}`).get('/v2/health/ready')).status === 200, 20_000, 'dfgan serve to be ready');
  return { child, ports, logs, exit };
}

test('`dfgan serve` on SIGTERM loses no accepted request and exits 0; a second signal exits at once', async () => {
  const dir = await ckpt();
  const p = await spawnServe(['--checkpoint', dir, '--max-batch-size', '1', '--max-queue-delay-ms', '0']);
  const url = `http://127.0.0.1:${p.ports.http}`;
  const client = grpcClient(p.ports.grpc);
  try {
    const accepted = [
      ...[0, 1, 2].map((k) => request(url).post('/generate').send({ text: 'a red bird', seed: k * 100, n: 10 }).then((r) => [r.status, r.body.images?.length])),
      unary<{ images: unknown[] }>(client, 'Generate', { text: 'a blue bird', n: 10 }).then((r) => [200, r.images.length]),
    ];
    // Signal only once all four are accepted (in flight), so each of them must be answered.
    await waitFor(async () => {
      const m = parseMetrics((await request(url).get('/metrics')).text).samples;
      return valueOf(m, 'dfgan_in_flight_requests') === 4;
    }, 10_000, 'four requests in flight');
    p.child.kill('SIGTERM');
    assert.deepEqual(await Promise.all(accepted), [
      [200, 10],
      [200, 10],
      [200, 10],
      [200, 10],
    ]);
    assert.equal(await p.exit, 0);
    assert.ok(p.logs.some((l) => l.includes('"forced":false') && l.includes('stopped')), p.logs.join('\n'));
    await assert.rejects(request(url).get('/v2/health/live'), 'no longer listening');
  } finally {
    client.close();
    p.child.kill('SIGKILL');
  }

  // A second signal while work is still running exits without waiting for it.
  // A model big enough (64x64, nf 16) that 64 images one at a time take a second or more on tfjs (ONNX Runtime
  // would finish them before the second signal).
  const slow = await makeCheckpoint(await tempDir(), { size: 64, nf: 16, discriminator: false });
  const q = await spawnServe(['--checkpoint', slow, '--engine', 'tfjs', '--max-batch-size', '1', '--max-queue-delay-ms', '0', '--max-images-per-request', '64', '--shutdown-timeout-ms', '60000']);
  try {
    const big = request(`http://127.0.0.1:${q.ports.http}`).post('/generate').send({ text: 'a red bird', n: 64 }).then(
      (r) => r.status,
      () => 'connection closed',
    );
    await waitFor(async () => {
      const m = parseMetrics((await request(`http://127.0.0.1:${q.ports.http}`).get('/metrics')).text).samples;
      return valueOf(m, 'dfgan_in_flight_requests') === 1;
    }, 10_000, 'the request in flight');
    q.child.kill('SIGTERM');
    // Signals sent back to back can merge into one: send the second once the first has been seen.
    await waitFor(() => q.logs.some((l) => l.includes('signal received')), 5000, 'the first signal');
    q.child.kill('SIGTERM');
    assert.equal(await q.exit, 1);
    assert.ok(q.logs.some((l) => l.includes('second signal')), q.logs.join('\n'));
    assert.equal(await big, 'connection closed', 'the work was cut off');
  } finally {
    q.child.kill('SIGKILL');
  }
});

test('`dfgan serve` refuses a bad configuration before starting, naming the flag', async () => {
  const child = spawn(process.execPath, ['bin/dfgan.mjs', 'serve', '--http-port', 'eighty'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (c) => (err += c));
  const code = await new Promise((resolve) => child.on('exit', resolve));
  assert.equal(code, 2);
  assert.match(err, /INVALID_CONFIG.*--http-port \(DFGAN_HTTP_PORT\)/);
});
