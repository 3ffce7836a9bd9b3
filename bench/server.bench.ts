// Inference server load test: throughput and p50/p95/p99 latency at concurrency 1, 4 and 16 over HTTP (PNG
// replies) and gRPC (one image per request, captions drawn from a small set), as ratios of the bare runtime
// measured in the same run: the generator alone on ONNX Runtime (or tfjs) at the server's batch size for
// throughput, and at batch 1 for latency. Clients run in this process, against a server on 127.0.0.1.
// Usage: npm run bench:server [-- --engine auto|onnx|tfjs] [--backend wasm] [--checkpoint DIR | --size 256 --nf 32]
//        [--batch 8] [--delay-ms 0] [--seconds 4]
import { parseArgs } from 'node:util';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { parseBackendChoice, selectBackend } from '../src/model/backend.js';
import { resolveCheckpointDir } from '../src/model/checkpoint/index.js';
import { createLogger } from '../src/logger.js';
import { runInit } from '../src/cli/init.js';
import { DEFAULT_CHECKPOINT, parseServeConfig } from '../src/server/config.js';
import { createWorkerEngine } from '../src/server/engine/worker-engine.js';
import { ENGINE_KINDS, type EngineKind } from '../src/server/engine/engine.js';
import { TextToImage } from '../src/model/text-to-image.js';
import { noiseForSeeds } from '../src/model/sampling.js';
import { exportGeneratorOnnx } from '../src/model/onnx/export-generator.js';
import { OnnxGenerator } from '../src/model/onnx/onnx-generator.js';
import * as tf from '@tensorflow/tfjs-core';
import { textToImageClient } from '../src/server/grpc/proto.js';
import { startServer } from '../src/server/main.js';

const { values } = parseArgs({
  options: {
    engine: { type: 'string', default: 'auto' },
    backend: { type: 'string', default: 'auto' },
    checkpoint: { type: 'string' },
    size: { type: 'string', default: '64' },
    nf: { type: 'string', default: '8' },
    batch: { type: 'string', default: '8' },
    'delay-ms': { type: 'string', default: '0' },
    seconds: { type: 'string', default: '4' },
  },
});
const backend = parseBackendChoice(values.backend!);
if (!(ENGINE_KINDS as readonly string[]).includes(values.engine!)) throw new Error(`--engine must be one of ${ENGINE_KINDS.join(', ')}`);
const engineKind = values.engine as EngineKind;
const batch = Number(values.batch);
const seconds = Number(values.seconds);
const CAPTIONS = [
  'a small bird with a red crown and blue wings',
  'this bird is yellow with black wings and a short beak',
  'a white bird with a long orange beak',
  'a brown bird with a spotted white belly',
];
const MAX_REQUESTS_PER_RUN = 100_000;

/** --checkpoint; else a fresh model when --size is given; else the bundled model. */
async function checkpoint(): Promise<{ dir: string; cleanup(): void; what: string }> {
  const sizeGiven = process.argv.includes('--size');
  if (values.checkpoint || !sizeGiven) {
    const given = values.checkpoint ?? DEFAULT_CHECKPOINT;
    return { dir: await resolveCheckpointDir(given), cleanup: () => undefined, what: given };
  }
  await selectBackend(backend);
  const tmp = mkdtempSync(join(tmpdir(), 'dfgan-bench-'));
  const dir = join(tmp, 'ckpt');
  await runInit({ size: Number(values.size), nf: Number(values.nf), out: dir, seed: 0, name: 'bench', discriminator: false, overwrite: false });
  return { dir, cleanup: () => rmSync(tmp, { recursive: true, force: true }), what: `a fresh ${values.size}x${values.size} nf ${values.nf} model` };
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/** `concurrency` closed-loop clients for `seconds`: images per second and latency percentiles (ms). */
async function load(concurrency: number, send: (seed: number, caption: string) => Promise<void>) {
  const latencies: number[] = [];
  let next = 0;
  let failures = 0;
  const reasons = new Set<string>();
  const end = performance.now() + seconds * 1000;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < end && next < MAX_REQUESTS_PER_RUN) {
        const k = next++;
        const s = performance.now();
        try {
          await send(k, CAPTIONS[k % CAPTIONS.length]);
          latencies.push(performance.now() - s);
        } catch (err) {
          failures++;
          const e = err as Error & { cause?: { code?: string } };
          reasons.add(e.cause?.code ?? e.message);
        }
      }
    }),
  );
  const elapsed = (performance.now() - t0) / 1000;
  latencies.sort((a, b) => a - b);
  return {
    rate: latencies.length / elapsed,
    p50: percentile(latencies, 50),
    p95: percentile(latencies, 95),
    p99: percentile(latencies, 99),
    failures: failures === 0 ? '0' : `${failures} (${[...reasons].join('; ')})`,
  };
}

/**
 * The runtime alone, in this thread: images/s at `batch` rows and the median ms of a batch of 1, from noise and
 * sentence vectors already on the host (no text encoder, no PNG, no queue, no transport).
 */
async function bareRuntime(dir: string, runtime: 'onnx' | 'tfjs') {
  await selectBackend(backend);
  const model = await TextToImage.load(dir);
  const cfg = model.config;
  const inputs = (n: number) => ({
    noise: noiseForSeeds(Array.from({ length: n }, (_, i) => i), cfg.zDim, 0.88),
    sentences: Float32Array.from({ length: n * cfg.condDim }, (_, i) => Math.sin(i)),
  });
  let run: (n: number) => Promise<void>;
  let close: () => Promise<void>;
  if (runtime === 'onnx') {
    const onnx = await OnnxGenerator.create(exportGeneratorOnnx(cfg, await model.checkpoint.generator.params.read(), { name: 'bench', step: 0, version: 'bench' }), cfg);
    run = async (n) => {
      const { noise, sentences } = inputs(n);
      await onnx.run(noise, sentences, n);
    };
    close = () => onnx.dispose();
  } else {
    run = async (n) => {
      const { noise, sentences } = inputs(n);
      const y = tf.tidy(() => model.generateRaw(tf.tensor2d(noise, [n, cfg.zDim]), tf.tensor2d(sentences, [n, cfg.condDim])));
      await y.data();
      y.dispose();
    };
    close = async () => undefined;
  }
  try {
    await run(batch);
    await run(1);
    let images = 0;
    const t0 = performance.now();
    while (performance.now() - t0 < seconds * 1000) {
      await run(batch);
      images += batch;
    }
    const rate = images / ((performance.now() - t0) / 1000);
    const singles: number[] = [];
    const t1 = performance.now();
    while (performance.now() - t1 < seconds * 1000 || singles.length < 5) {
      const s = performance.now();
      await run(1);
      singles.push(performance.now() - s);
    }
    singles.sort((a, b) => a - b);
    return { rate, p50: percentile(singles, 50) };
  } finally {
    await close();
    model.dispose();
  }
}

const ckpt = await checkpoint();
try {
  const config = parseServeConfig({
    host: '127.0.0.1',
    httpPort: 0,
    grpcPort: 0,
    checkpoint: ckpt.dir,
    engine: engineKind,
    backend,
    maxBatchSize: batch,
    maxQueueDelayMs: Number(values['delay-ms']),
    maxQueueSize: 4096,
    watch: false,
    reloadPollMs: 0,
  });
  const server = await startServer(config, { log: createLogger('warn') });
  await server.loaded;
  const info = server.host.info!;
  // The bare runtime is measured before and after the server rows and their mean is the reference, so that a change
  // in the machine's load during the run shows (as the spread between the two) instead of skewing the ratios.
  const bareBefore = await bareRuntime(ckpt.dir, info.engine);
  const url = `http://127.0.0.1:${server.httpPort}/generate`;
  const Client = textToImageClient();
  const client = new Client(`127.0.0.1:${server.grpcPort}`, grpc.credentials.createInsecure()) as unknown as Record<string, Function>;
  const senders = {
    http: async (seed: number, text: string) => {
      const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'image/png' }, body: JSON.stringify({ text, seed }) });
      await res.arrayBuffer();
      if (res.status !== 200) throw new Error(`HTTP ${res.status}`);
    },
    grpc: (seed: number, text: string) =>
      new Promise<void>((resolve, reject) => client.Generate({ text, seed }, (err: Error | null) => (err ? reject(err) : resolve()))),
  };

  const results: Array<{ transport: string; concurrency: number; r: Awaited<ReturnType<typeof load>> }> = [];
  for (const transport of ['http', 'grpc'] as const) {
    await load(2, senders[transport]); // warm-up: connections, JIT
    for (const concurrency of [1, 4, 16]) results.push({ transport, concurrency, r: await load(concurrency, senders[transport]) });
  }
  (client as unknown as grpc.Client).close();
  await server.shutdown();

  // Also the engine (worker: text encoder, generator, PNG) without queue or transport, to show where time goes.
  const engine = createWorkerEngine({ engine: engineKind, backend, onnxThreads: 0, embeddingCacheSize: 1024 });
  const model = await engine.load(ckpt.dir);
  await model.warmup([batch]);
  const ids = CAPTIONS.map((c) => model.tokenize(c).ids);
  let images = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < seconds * 1000) {
    await model.generate(Array.from({ length: batch }, (_, i) => ({ ids: ids[(images + i) % ids.length], seed: images + i, truncation: 0.88 })));
    images += batch;
  }
  const engineRate = images / ((performance.now() - t0) / 1000);
  await model.dispose();
  const bareAfter = await bareRuntime(ckpt.dir, info.engine);
  const bare = { rate: (bareBefore.rate + bareAfter.rate) / 2, p50: (bareBefore.p50 + bareAfter.p50) / 2 };

  const runtimeName = info.engine === 'onnx' ? `ONNX Runtime (${info.backend})` : `tfjs (${info.backend})`;
  console.log(`# inference server benchmark: ${info.name} ${info.imageSize}x${info.imageSize} (${ckpt.what}), generator on ${runtimeName}`);
  console.log(`# max batch ${batch}, queue delay ${config.maxQueueDelayMs} ms, ${seconds} s per row, 1 image per request, clients in-process`);
  console.log(
    `# bare ${runtimeName}: ${bare.rate.toFixed(1)} images/s at batch ${batch} (${bareBefore.rate.toFixed(1)} before the server rows, ${bareAfter.rate.toFixed(1)} after), ` +
      `p50 ${bare.p50.toFixed(1)} ms at batch 1 (${bareBefore.p50.toFixed(1)} / ${bareAfter.p50.toFixed(1)})`,
  );
  console.log(`# engine worker (text encoder + generator + PNG, no queue or transport): ${engineRate.toFixed(1)} images/s at batch ${batch} (${(engineRate / bare.rate).toFixed(2)} of bare)`);
  console.log(`| transport | concurrency | images/s | vs bare batch ${batch} | p50 ms | p50 vs bare batch 1 | p95 ms | p99 ms | failures |`);
  console.log('|---|---|---|---|---|---|---|---|---|');
  for (const { transport, concurrency, r } of results) {
    console.log(
      `| ${transport} | ${concurrency} | ${r.rate.toFixed(1)} | ${(r.rate / bare.rate).toFixed(2)} | ${r.p50.toFixed(1)} | ${(r.p50 / bare.p50).toFixed(2)} | ${r.p95.toFixed(1)} | ${r.p99.toFixed(1)} | ${r.failures} |`,
    );
  }
} finally {
  ckpt.cleanup();
}
