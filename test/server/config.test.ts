import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { DfganError } from '../../src/errors.js';
import { DEFAULT_CHECKPOINT, SERVE_OPTIONS, envOf, flagOf, parseServeConfig, warmupBatchSizes, type ServeOptionKey } from '../../src/server/config.js';

test('defaults: documented ports, the bundled model, frozen', () => {
  const c = parseServeConfig({});
  assert.equal(c.httpPort, 8080);
  assert.equal(c.grpcPort, 8081);
  assert.equal(c.checkpoint, DEFAULT_CHECKPOINT);
  assert.match(c.checkpoint, /models[\\/]synth-birds-64$/);
  assert.equal(c.engine, 'auto');
  assert.equal(c.onnxThreads, 0);
  assert.equal(c.backend, 'auto');
  assert.equal(c.watch, true);
  assert.ok(Object.isFrozen(c));
  assert.throws(() => {
    (c as { httpPort: number }).httpPort = 1;
  }, TypeError);
});

test('string values from flags and the environment are coerced', () => {
  const c = parseServeConfig({ httpPort: '9000', maxBatchSize: '4', watch: 'false', reloadPollMs: '0', backend: 'cpu' });
  assert.equal(c.httpPort, 9000);
  assert.equal(c.maxBatchSize, 4);
  assert.equal(c.watch, false);
  assert.equal(c.reloadPollMs, 0);
  assert.equal(c.backend, 'cpu');
});

test('bad values are refused with INVALID_CONFIG naming the flag and the variable', () => {
  const cases: Array<[Partial<Record<ServeOptionKey, unknown>>, RegExp]> = [
    [{ httpPort: 'abc' }, /--http-port \(DFGAN_HTTP_PORT\)/],
    [{ httpPort: '' }, /--http-port/],
    [{ grpcPort: 70000 }, /--grpc-port/],
    [{ maxBatchSize: 0 }, /--max-batch-size/],
    [{ maxBatchSize: 2.5 }, /--max-batch-size/],
    [{ watch: 'maybe' }, /--watch \(DFGAN_WATCH\)/],
    [{ engine: 'tensorrt' }, /--engine/],
    [{ onnxThreads: -1 }, /--onnx-threads \(DFGAN_ONNX_THREADS\)/],
    [{ backend: 'gpu' }, /--backend \(DFGAN_BACKEND\)/],
    [{ maxQueueSize: 10, maxImagesPerStream: 20, maxImagesPerRequest: 5 }, /--max-images-per-stream.*maxQueueSize/],
    [{ unknownThing: 1 } as never, /unrecognized|unknown/i],
  ];
  for (const [input, message] of cases) {
    assert.throws(
      () => parseServeConfig(input),
      (e: unknown) => e instanceof DfganError && e.code === 'INVALID_CONFIG' && message.test(e.message),
      JSON.stringify(input),
    );
  }
});

test('flag and environment names follow the keys', () => {
  assert.equal(flagOf('maxQueueDelayMs'), '--max-queue-delay-ms');
  assert.equal(envOf('maxQueueDelayMs'), 'DFGAN_MAX_QUEUE_DELAY_MS');
});

test('the README documents every server option by flag and variable', () => {
  const doc = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  for (const key of Object.keys(SERVE_OPTIONS) as ServeOptionKey[]) {
    assert.ok(doc.includes(envOf(key)), `${envOf(key)} missing from README.md`);
    if (key !== 'backend') assert.ok(doc.includes(flagOf(key)), `${flagOf(key)} missing from README.md`);
  }
});

test('warm-up covers powers of two and the largest batch', () => {
  assert.deepEqual(warmupBatchSizes(1), [1]);
  assert.deepEqual(warmupBatchSizes(8), [1, 2, 4, 8]);
  assert.deepEqual(warmupBatchSizes(12), [1, 2, 4, 8, 12]);
});
