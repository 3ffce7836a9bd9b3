// The gRPC API on a real (tiny) model: unary and streaming generation, health, reflection, status codes.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import request from 'supertest';
import { protoPath as HEALTH_PROTO } from 'grpc-health-check';
import type { RunningServer } from '../../src/server/main.js';
import type { WorkerModel } from '../../src/server/engine/worker-engine.js';
import { useTestBackend } from '../helpers/backend.js';
import { makeCheckpoint } from '../helpers/fixtures.js';
import { parseMetrics, valueOf } from '../helpers/prom.js';
import { collectStream, grpcClient, startTestServer, unary, type GrpcClient } from '../helpers/server.js';
import { tempDir } from '../helpers/tmp.js';

let server: RunningServer;
let client: GrpcClient;
const CAPTION = 'a small bird with a red crown and blue wings';

interface Image {
  seed: number;
  png: Buffer;
}
interface StreamMessage extends Image {
  prompt: number;
  index: number;
  model: string;
  version: string;
}

before(async () => {
  await useTestBackend();
  const dir = await makeCheckpoint(await tempDir(), { size: 32, nf: 4, discriminator: false });
  server = await startTestServer(dir, { maxBatchSize: 8, maxQueueDelayMs: 40, maxTextLength: 200, maxBodyBytes: 2048, maxImagesPerRequest: 4, maxImagesPerStream: 12 });
  client = grpcClient(server.grpcPort);
});
after(async () => {
  client.close();
  await server.shutdown();
});

const generate = (req: unknown, opts?: grpc.CallOptions) => unary<{ model: string; version: string; images: Image[]; words: string[]; dropped: string[] }>(client, 'Generate', req, opts);

function isStatus(code: grpc.status, errorCode?: string) {
  return (e: unknown) => {
    const err = e as grpc.ServiceError;
    assert.equal(err.code, code, `${err.code} ${err.details}`);
    if (errorCode) assert.deepEqual(err.metadata.get('dfgan-error-code'), [errorCode]);
    return true;
  };
}

test('Generate: one caption, n images with their seeds, model and version', async () => {
  const r = await generate({ text: CAPTION + ' zzzq', n: 3, seed: 9 });
  assert.equal(r.model, 'test-model');
  assert.equal(r.version, server.host.info!.version);
  assert.deepEqual(r.images.map((i) => i.seed), [9, 10, 11]);
  assert.deepEqual(r.dropped, ['zzzq']);
  assert.equal(r.words.length, 10);
  for (const img of r.images) assert.equal(img.png.readUInt32BE(16), 32);
});

test('the same (caption, seed) gives the same PNG over gRPC and HTTP', async () => {
  const g = await generate({ text: CAPTION, seed: 77 });
  const h = await request(`http://127.0.0.1:${server.httpPort}`).post('/generate').send({ text: CAPTION, seed: 77 }).expect(200);
  assert.equal(g.images[0].png.toString('base64'), h.body.images[0].b64_png);
  const plain = await generate({ text: CAPTION, seed: 77, untruncated: true });
  const half = await generate({ text: CAPTION, seed: 77, truncation: 0.5 });
  assert.notDeepEqual(plain.images[0].png, g.images[0].png);
  assert.notDeepEqual(half.images[0].png, g.images[0].png);
});

test('GenerateStream: one message per image, each naming its prompt and index, equal to the unary images', async () => {
  const msgs = await collectStream<StreamMessage>(client, 'GenerateStream', {
    prompts: [
      { text: CAPTION, n: 3, seed: 20 },
      { text: 'a yellow bird with black wings', n: 2, seed: 5, truncation: 0.7 },
    ],
  });
  assert.equal(msgs.length, 5);
  const key = (m: StreamMessage) => `${m.prompt}/${m.index}/${m.seed}`;
  assert.deepEqual(msgs.map(key).sort(), ['0/0/20', '0/1/21', '0/2/22', '1/0/5', '1/1/6']);
  for (const m of msgs) assert.equal(m.version, server.host.info!.version);
  const u0 = await generate({ text: CAPTION, n: 3, seed: 20 });
  const u1 = await generate({ text: 'a yellow bird with black wings', n: 2, seed: 5, truncation: 0.7 });
  for (const m of msgs) assert.deepEqual(m.png, (m.prompt === 0 ? u0 : u1).images[m.index].png, key(m));
});

test('bad inputs get INVALID_ARGUMENT (or RESOURCE_EXHAUSTED) with the precise code; the server keeps answering', async () => {
  const cases: Array<[string, () => Promise<unknown>, grpc.status, string | undefined]> = [
    ['empty text', () => generate({ text: '' }), grpc.status.INVALID_ARGUMENT, 'EMPTY_TEXT'],
    ['no text at all', () => generate({}), grpc.status.INVALID_ARGUMENT, 'EMPTY_TEXT'],
    ['unknown words only', () => generate({ text: 'qwerty uiop' }), grpc.status.INVALID_ARGUMENT, 'NO_KNOWN_WORDS'],
    ['text too long', () => generate({ text: 'a bird '.repeat(40) }), grpc.status.INVALID_ARGUMENT, 'TEXT_TOO_LONG'],
    ['message too large', () => generate({ text: 'a'.repeat(5000) }), grpc.status.RESOURCE_EXHAUSTED, undefined],
    ['n zero', () => generate({ text: CAPTION, n: 0 }), grpc.status.INVALID_ARGUMENT, 'INVALID_ARGUMENT'],
    ['n too large', () => generate({ text: CAPTION, n: 5 }), grpc.status.INVALID_ARGUMENT, 'INVALID_ARGUMENT'],
    ['truncation above one', () => generate({ text: CAPTION, truncation: 2 }), grpc.status.INVALID_ARGUMENT, 'INVALID_ARGUMENT'],
    ['seeds past the end', () => generate({ text: CAPTION, seed: 0xffffffff, n: 2 }), grpc.status.INVALID_ARGUMENT, 'INVALID_ARGUMENT'],
    ['stream without prompts', () => collectStream(client, 'GenerateStream', { prompts: [] }), grpc.status.INVALID_ARGUMENT, 'INVALID_ARGUMENT'],
    ['stream over its image limit', () => collectStream(client, 'GenerateStream', { prompts: [{ text: CAPTION, n: 8 }, { text: CAPTION, n: 5 }] }), grpc.status.INVALID_ARGUMENT, 'INVALID_ARGUMENT'],
    ['stream with one bad prompt', () => collectStream(client, 'GenerateStream', { prompts: [{ text: CAPTION }, { text: 'qwerty' }] }), grpc.status.INVALID_ARGUMENT, 'NO_KNOWN_WORDS'],
  ];
  for (const [what, call, status, code] of cases) await assert.rejects(call(), isStatus(status, code), what);
  await assert.rejects(collectStream(client, 'GenerateStream', { prompts: [{ text: CAPTION }, { text: '' }] }), (e: unknown) => /prompts\[1\]/.test((e as grpc.ServiceError).details));
  assert.equal((await generate({ text: CAPTION, seed: 1 })).images.length, 1);
});

test('requests from HTTP and gRPC share batches', async () => {
  const http = request(`http://127.0.0.1:${server.httpPort}`);
  const samples = async () => parseMetrics((await http.get('/metrics')).text).samples;
  const before = valueOf(await samples(), 'dfgan_batch_size_images_count');
  await Promise.all([
    generate({ text: CAPTION, seed: 1 }),
    generate({ text: 'a yellow bird', seed: 2 }),
    http.post('/generate').send({ text: CAPTION, seed: 3 }).expect(200),
    http.post('/generate').send({ text: 'a black bird', seed: 4 }).expect(200),
  ]);
  const after = await samples();
  assert.ok(valueOf(after, 'dfgan_batch_size_images_count') - before < 4, 'four requests in fewer than four batches');
  assert.ok(valueOf(after, 'dfgan_requests_total', { transport: 'grpc', method: 'generate', code: 'OK' }) > 0);
  assert.ok(valueOf(after, 'dfgan_requests_total', { transport: 'grpc', method: 'generate', code: 'NO_KNOWN_WORDS' }) >= 1);
});

test('grpc.health.v1 reports SERVING for the server and the service', async () => {
  const Health = (grpc.loadPackageDefinition(protoLoader.loadSync(HEALTH_PROTO, { enums: String })) as any).grpc.health.v1.Health;
  const health = new Health(`127.0.0.1:${server.grpcPort}`, grpc.credentials.createInsecure());
  try {
    for (const service of ['', 'dfgan.v1.TextToImage']) assert.equal((await unary<{ status: string }>(health, 'Check', { service })).status, 'SERVING');
    await assert.rejects(unary(health, 'Check', { service: 'nope' }), isStatus(grpc.status.NOT_FOUND));
  } finally {
    health.close();
  }
});

test('server reflection lists the services', async () => {
  const require = createRequire(import.meta.url);
  const reflectionProto = join(dirname(require.resolve('@grpc/reflection')), '../proto/grpc/reflection/v1/reflection.proto');
  const Reflection = (grpc.loadPackageDefinition(protoLoader.loadSync(reflectionProto)) as any).grpc.reflection.v1.ServerReflection;
  const c = new Reflection(`127.0.0.1:${server.grpcPort}`, grpc.credentials.createInsecure());
  try {
    const names = await new Promise<string[]>((resolve, reject) => {
      const call = c.ServerReflectionInfo();
      call.on('data', (m: any) => {
        resolve(m.listServicesResponse.service.map((s: { name: string }) => s.name));
        call.end();
      });
      call.on('error', reject);
      call.write({ listServices: '' });
    });
    assert.ok(names.includes('dfgan.v1.TextToImage'), names.join());
    assert.ok(names.includes('grpc.health.v1.Health'), names.join());
  } finally {
    c.close();
  }
});

test('no tensors leak in the engine across unary, streaming and refused calls', async () => {
  const lease = server.host.acquire();
  try {
    const model = lease.model as WorkerModel;
    await generate({ text: CAPTION, seed: 1 });
    const before = await model.tensorCount();
    for (let i = 0; i < 2; i++) {
      await generate({ text: `${CAPTION} ${i}`, seed: i, n: 2 });
      await collectStream(client, 'GenerateStream', { prompts: [{ text: 'a yellow bird', n: 3, seed: i }, { text: CAPTION, seed: i }] });
      await assert.rejects(generate({ text: 'qwerty' }));
    }
    assert.equal(await model.tensorCount(), before);
  } finally {
    lease.release();
  }
});
