// The HTTP API on a real (tiny) model.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import request from 'supertest';
import { MAX_SEED } from '../../src/model/sampling.js';
import type { RunningServer } from '../../src/server/main.js';
import type { WorkerModel } from '../../src/server/engine/worker-engine.js';
import { useTestBackend } from '../helpers/backend.js';
import { makeCheckpoint } from '../helpers/fixtures.js';
import { parseMetrics, valueOf } from '../helpers/prom.js';
import { startTestServer } from '../helpers/server.js';
import { tempDir } from '../helpers/tmp.js';

let server: RunningServer;
let url: string;
const CAPTION = 'a small bird with a red crown and blue wings';
const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

before(async () => {
  await useTestBackend();
  const dir = await makeCheckpoint(await tempDir(), { size: 32, nf: 4, discriminator: false });
  server = await startTestServer(dir, { maxBatchSize: 8, maxQueueDelayMs: 40, maxTextLength: 200, maxBodyBytes: 2048, maxImagesPerRequest: 10 });
  url = `http://127.0.0.1:${server.httpPort}`;
});
after(() => server.shutdown());

const generate = (body: unknown) => request(url).post('/generate').send(body as object);
const pngWidth = (png: Buffer) => png.readUInt32BE(16);

async function metrics() {
  const res = await request(url).get('/metrics').expect(200);
  assert.match(res.headers['content-type'], /^text\/plain/);
  return parseMetrics(res.text).samples;
}

test('POST /generate answers JSON: model version, words read, and per image its seed and base64 PNG', async () => {
  const res = await generate({ text: CAPTION + ' zzzq', n: 2, seed: 42 }).expect(200).expect('Content-Type', /json/);
  assert.equal(res.body.model.name, 'test-model');
  assert.equal(res.body.model.version, server.host.info!.version);
  assert.equal(res.headers['x-dfgan-model-version'], server.host.info!.version);
  assert.deepEqual(res.body.words, ['a', 'small', 'bird', 'with', 'a', 'red', 'crown', 'and', 'blue', 'wings']);
  assert.deepEqual(res.body.dropped, ['zzzq']);
  assert.deepEqual(res.body.images.map((i: { seed: number }) => i.seed), [42, 43]);
  for (const img of res.body.images) {
    const png = Buffer.from(img.b64_png, 'base64');
    assert.deepEqual(png.subarray(0, 8), PNG_SIGNATURE);
    assert.equal(pngWidth(png), 32);
  }
  assert.notEqual(res.body.images[0].b64_png, res.body.images[1].b64_png);
});

test('with Accept: image/png and n = 1 the reply is the PNG itself, seed and version in headers', async () => {
  const res = await generate({ text: CAPTION, seed: 7 }).set('Accept', 'image/png').buffer(true).expect(200).expect('Content-Type', 'image/png');
  assert.deepEqual(res.body.subarray(0, 8), PNG_SIGNATURE);
  assert.equal(res.headers['x-dfgan-seed'], '7');
  assert.equal(res.headers['x-dfgan-model-version'], server.host.info!.version);
  const json = await generate({ text: CAPTION, seed: 7 }).expect(200);
  assert.equal(json.body.images[0].b64_png, res.body.toString('base64'), 'same image either way');
  const many = await generate({ text: CAPTION, seed: 7, n: 2 }).set('Accept', 'image/png').expect(406);
  assert.equal(many.body.error.code, 'NOT_ACCEPTABLE');
});

test('the same (caption, seed) gives the same image, alone or as image i of a larger request', async () => {
  const three = await generate({ text: CAPTION, seed: 100, n: 3 }).expect(200);
  const second = await generate({ text: CAPTION, seed: 101 }).expect(200);
  const again = await generate({ text: CAPTION, seed: 100, n: 3 }).expect(200);
  assert.equal(second.body.images[0].b64_png, three.body.images[1].b64_png);
  assert.deepEqual(again.body.images, three.body.images);
});

test('a seed is drawn when none is given and returned; truncation null draws plain normal noise', async () => {
  const a = await generate({ text: CAPTION, n: 2 }).expect(200);
  const [s0, s1] = a.body.images.map((i: { seed: number }) => i.seed);
  assert.ok(Number.isInteger(s0) && s0 >= 0 && s1 === s0 + 1 && s1 <= MAX_SEED);
  const plain = await generate({ text: CAPTION, seed: 5, truncation: null }).expect(200);
  const trunc = await generate({ text: CAPTION, seed: 5, truncation: 0.88 }).expect(200);
  const dflt = await generate({ text: CAPTION, seed: 5 }).expect(200);
  assert.notEqual(plain.body.images[0].b64_png, trunc.body.images[0].b64_png);
  assert.equal(dflt.body.images[0].b64_png, trunc.body.images[0].b64_png);
});

test('bad inputs: each refused with its own code and status; the server keeps answering', async () => {
  const json = (body: string) => request(url).post('/generate').set('Content-Type', 'application/json').send(body);
  const cases: Array<[string, () => request.Test, number, string]> = [
    ['no text', () => generate({ n: 1 }), 400, 'INVALID_ARGUMENT'],
    ['empty text', () => generate({ text: '' }), 400, 'EMPTY_TEXT'],
    ['punctuation only', () => generate({ text: ' ?! ' }), 400, 'EMPTY_TEXT'],
    ['text too long', () => generate({ text: 'a bird '.repeat(40) }), 400, 'TEXT_TOO_LONG'],
    ['body too large', () => generate({ text: 'a'.repeat(5000) }), 413, 'PAYLOAD_TOO_LARGE'],
    ['text a number', () => generate({ text: 42 }), 400, 'INVALID_ARGUMENT'],
    ['text an array', () => generate({ text: ['a bird'] }), 400, 'INVALID_ARGUMENT'],
    ['n zero', () => generate({ text: CAPTION, n: 0 }), 400, 'INVALID_ARGUMENT'],
    ['n too large', () => generate({ text: CAPTION, n: 11 }), 400, 'INVALID_ARGUMENT'],
    ['n fractional', () => generate({ text: CAPTION, n: 1.5 }), 400, 'INVALID_ARGUMENT'],
    ['n a string', () => generate({ text: CAPTION, n: '2' }), 400, 'INVALID_ARGUMENT'],
    ['seed negative', () => generate({ text: CAPTION, seed: -1 }), 400, 'INVALID_ARGUMENT'],
    ['seed too large', () => generate({ text: CAPTION, seed: MAX_SEED + 1 }), 400, 'INVALID_ARGUMENT'],
    ['seeds run past the end', () => generate({ text: CAPTION, seed: MAX_SEED, n: 2 }), 400, 'INVALID_ARGUMENT'],
    ['truncation zero', () => generate({ text: CAPTION, truncation: 0 }), 400, 'INVALID_ARGUMENT'],
    ['truncation above one', () => generate({ text: CAPTION, truncation: 1.5 }), 400, 'INVALID_ARGUMENT'],
    ['unknown field', () => generate({ text: CAPTION, prompt: 'x' }), 400, 'INVALID_ARGUMENT'],
    ['array body', () => json('[1, 2]'), 400, 'INVALID_ARGUMENT'],
    ['bare JSON string', () => json('"a bird"'), 400, 'MALFORMED_REQUEST'],
    ['malformed JSON', () => json('{"text": "a bird"'), 400, 'MALFORMED_REQUEST'],
    ['text/plain', () => request(url).post('/generate').set('Content-Type', 'text/plain').send('a bird'), 415, 'UNSUPPORTED_MEDIA_TYPE'],
    ['form encoded', () => request(url).post('/generate').type('form').send({ text: 'a bird' }), 415, 'UNSUPPORTED_MEDIA_TYPE'],
    ['no body', () => request(url).post('/generate'), 415, 'UNSUPPORTED_MEDIA_TYPE'],
    ['unknown words only', () => generate({ text: 'qwerty uiop' }), 400, 'NO_KNOWN_WORDS'],
    ['unacceptable Accept', () => generate({ text: CAPTION }).set('Accept', 'text/html'), 406, 'NOT_ACCEPTABLE'],
    ['GET /generate', () => request(url).get('/generate'), 404, 'NOT_FOUND'],
    ['unknown route', () => request(url).get('/v1/whatever'), 404, 'NOT_FOUND'],
  ];
  for (const [what, send, status, code] of cases) {
    const res = await send();
    assert.equal(res.status, status, `${what}: ${res.text}`);
    assert.equal(res.body?.error?.code, code, what);
    assert.ok(typeof res.body.error.message === 'string' && res.body.error.message.length > 0, what);
  }
  const unknown = await generate({ text: 'qwerty uiop' });
  assert.deepEqual(unknown.body.error.details, { unknown: ['qwerty', 'uiop'] });
  await generate({ text: CAPTION, seed: 1 }).expect(200);
  const m = await metrics();
  assert.equal(valueOf(m, 'dfgan_requests_total', { transport: 'http', code: 'PAYLOAD_TOO_LARGE' }), 1);
  assert.equal(valueOf(m, 'dfgan_requests_total', { transport: 'http', code: 'UNSUPPORTED_MEDIA_TYPE' }), 3);
  assert.equal(valueOf(m, 'dfgan_requests_total', { transport: 'http', code: 'MALFORMED_REQUEST' }), 2);
  assert.equal(valueOf(m, 'dfgan_requests_total', { transport: 'http', code: 'NO_KNOWN_WORDS' }), 2);
});

test('concurrent requests are served in fewer model calls, with the images they get alone', async () => {
  const seeds = [500, 501, 502, 503, 504, 505];
  const alone = [];
  for (const seed of seeds) alone.push((await generate({ text: seed % 2 ? CAPTION : 'a yellow bird', seed }).expect(200)).body.images[0].b64_png);
  const before = valueOf(await metrics(), 'dfgan_batch_size_images_count');
  const together = await Promise.all(seeds.map((seed) => generate({ text: seed % 2 ? CAPTION : 'a yellow bird', seed }).expect(200)));
  const batches = valueOf(await metrics(), 'dfgan_batch_size_images_count') - before;
  assert.ok(batches < seeds.length, `${seeds.length} requests took ${batches} model calls`);
  assert.deepEqual(together.map((r) => r.body.images[0].b64_png), alone);
});

test('KServe v2 health and metadata endpoints', async () => {
  const version = server.host.info!.version;
  assert.deepEqual((await request(url).get('/v2/health/live').expect(200)).body, { live: true });
  assert.deepEqual((await request(url).get('/v2/health/ready').expect(200)).body, { ready: true });
  const meta = (await request(url).get('/v2').expect(200)).body;
  assert.equal(meta.name, 'dfgan');
  assert.match(meta.version, /^\d+\.\d+\.\d+/);
  const model = (await request(url).get('/v2/models/test-model').expect(200)).body;
  assert.equal(model.name, 'test-model');
  assert.deepEqual(model.versions, [version]);
  assert.equal(model.version, version);
  assert.equal(model.imageSize, 32);
  assert.equal(model.engine, server.host.info!.engine);
  assert.ok(['onnx', 'tfjs'].includes(model.engine));
  assert.deepEqual((await request(url).get('/v2/models/test-model/ready').expect(200)).body, { name: 'test-model', version, ready: true });
  assert.equal((await request(url).get('/v2/models/other').expect(404)).body.error.code, 'NOT_FOUND');
  assert.equal((await request(url).get('/v2/models/other/ready').expect(404)).body.error.code, 'NOT_FOUND');
});

test('GET /metrics parses and carries the series of the server', async () => {
  const { samples, types } = parseMetrics((await request(url).get('/metrics').expect(200)).text);
  const expected: Record<string, string> = {
    dfgan_request_duration_seconds: 'histogram',
    dfgan_queue_wait_seconds: 'histogram',
    dfgan_batch_duration_seconds: 'histogram',
    dfgan_batch_size_images: 'histogram',
    dfgan_requests_total: 'counter',
    dfgan_rejections_total: 'counter',
    dfgan_queue_depth_images: 'gauge',
    dfgan_in_flight_requests: 'gauge',
    dfgan_model_info: 'gauge',
    dfgan_model_reloads_total: 'counter',
    dfgan_model_reload_duration_seconds: 'histogram',
    dfgan_embedding_cache_lookups_total: 'counter',
    dfgan_images_generated_total: 'counter',
    process_cpu_seconds_total: 'counter',
    nodejs_eventloop_lag_seconds: 'gauge',
  };
  for (const [name, type] of Object.entries(expected)) assert.equal(types.get(name), type, name);
  const info = samples.filter((s) => s.name === 'dfgan_model_info');
  assert.equal(info.length, 1);
  assert.deepEqual(info[0].labels, { name: 'test-model', version: server.host.info!.version, engine: server.host.info!.engine, backend: server.host.info!.backend });
  assert.ok(valueOf(samples, 'dfgan_requests_total', { transport: 'http', method: 'generate', code: 'OK' }) > 10);
  assert.ok(valueOf(samples, 'dfgan_embedding_cache_lookups_total', { result: 'hit' }) > 0);
  // Exported at zero from the start, before anything happened on them.
  for (const reason of ['queue_full', 'draining', 'not_ready', 'timeout', 'cancelled']) {
    assert.ok(samples.some((s) => s.name === 'dfgan_rejections_total' && s.labels.reason === reason), reason);
  }
  assert.equal(valueOf(samples, 'dfgan_requests_total', { transport: 'grpc', method: 'generate_stream', code: 'OK' }), 0);
  assert.ok(samples.some((s) => s.name === 'dfgan_requests_total' && s.labels.transport === 'grpc' && s.labels.code === 'QUEUE_FULL'));
  assert.equal(valueOf(samples, 'dfgan_model_reloads_total', { result: 'failure' }), 0);
  assert.equal(valueOf(samples, 'dfgan_in_flight_requests'), 0);
  assert.equal(valueOf(samples, 'dfgan_queue_depth_images'), 0);
  // Low cardinality: no caption, seed or free text in any label.
  for (const s of samples) for (const v of Object.values(s.labels)) assert.ok(!/bird|crown/.test(v), `${s.name} ${v}`);
});

test('no tensors leak in the engine across successful and refused requests', async () => {
  const lease = server.host.acquire();
  const model = lease.model as WorkerModel;
  try {
    await generate({ text: CAPTION, seed: 1, n: 3 }).expect(200);
    const before = await model.tensorCount();
    for (let i = 0; i < 3; i++) {
      await generate({ text: `${CAPTION} ${i}`, seed: i, n: 4 }).expect(200);
      await generate({ text: 'qwerty' }).expect(400);
    }
    assert.equal(await model.tensorCount(), before);
  } finally {
    lease.release();
  }
});
