// Inference server load test: throughput and p50/p95/p99 latency at concurrency 1, 4 and 16 over HTTP and gRPC
// (one image per request, captions drawn from a small set), beside the bare engine's throughput at the same batch
// size measured in the same run. Clients run in this process, against a server on 127.0.0.1.
// Usage: npm run bench:server [-- --backend wasm] [--checkpoint DIR] [--size 64 --nf 8] [--batch 8]
//        [--delay-ms 5] [--seconds 4]
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
import { textToImageClient } from '../src/server/grpc/proto.js';
import { startServer } from '../src/server/main.js';

const { values } = parseArgs({
  options: {
    backend: { type: 'string', default: 'auto' },
    checkpoint: { type: 'string' },
    size: { type: 'string', default: '64' },
    nf: { type: 'string', default: '8' },
    batch: { type: 'string', default: '8' },
    'delay-ms': { type: 'string', default: '5' },
    seconds: { type: 'string', default: '4' },
  },
});
const backend = parseBackendChoice(values.backend!);
const batch = Number(values.batch);
const seconds = Number(values.seconds);
const CAPTIONS = [
  'a small bird with a red crown and blue wings',
  'this bird is yellow with black wings and a short beak',
  'a white bird with a long orange beak',
  'a brown bird with a spotted white belly',
];
const MAX_REQUESTS_PER_RUN = 100_000;

/** The bundled model when it is there, else a freshly initialised one of the given size. */
async function checkpoint(): Promise<{ dir: string; cleanup(): void; what: string }> {
  const given = values.checkpoint ?? DEFAULT_CHECKPOINT;
  try {
    return { dir: await resolveCheckpointDir(given), cleanup: () => undefined, what: given };
  } catch {
    if (values.checkpoint) throw new Error(`no checkpoint at ${values.checkpoint}`);
  }
  await selectBackend(backend);
  const tmp = mkdtempSync(join(tmpdir(), 'dfgan-bench-'));
  const dir = join(tmp, 'ckpt');
  await runInit({ size: Number(values.size), nf: Number(values.nf), out: dir, seed: 0, name: 'bench', discriminator: false, overwrite: false });
  return { dir, cleanup: () => rmSync(tmp, { recursive: true, force: true }), what: `a fresh ${values.size}x${values.size} nf ${values.nf} model (no bundled model found)` };
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

const ckpt = await checkpoint();
try {
  // The bare engine: full batches straight into the worker, no queue, no transport. Measured before and after the
  // server rows, and their mean is the reference, so that a change in the machine's load shows.
  const engine = createWorkerEngine({ engine: 'tfjs', backend, onnxThreads: 0, embeddingCacheSize: 1024 });
  const model = await engine.load(ckpt.dir);
  await model.warmup([batch]);
  const ids = CAPTIONS.map((c) => model.tokenize(c).ids);
  const bareRate = async () => {
    let images = 0;
    const t0 = performance.now();
    while (performance.now() - t0 < seconds * 1000) {
      await model.generate(Array.from({ length: batch }, (_, i) => ({ ids: ids[(images + i) % ids.length], seed: images + i, truncation: 0.88 })));
      images += batch;
    }
    return images / ((performance.now() - t0) / 1000);
  };
  const bareBefore = await bareRate();
  const { info } = model;

  const config = parseServeConfig({
    host: '127.0.0.1',
    httpPort: 0,
    grpcPort: 0,
    checkpoint: ckpt.dir,
    backend,
    maxBatchSize: batch,
    maxQueueDelayMs: Number(values['delay-ms']),
    maxQueueSize: 4096,
    watch: false,
    reloadPollMs: 0,
  });
  const server = await startServer(config, { log: createLogger('warn') });
  await server.loaded;
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

  const rows: string[] = [];
  const results: Array<{ transport: string; concurrency: number; r: Awaited<ReturnType<typeof load>> }> = [];
  for (const transport of ['http', 'grpc'] as const) {
    await load(2, senders[transport]); // warm-up: connections, JIT
    for (const concurrency of [1, 4, 16]) results.push({ transport, concurrency, r: await load(concurrency, senders[transport]) });
  }
  (client as unknown as grpc.Client).close();
  await server.shutdown();
  const bareAfter = await bareRate();
  await model.dispose();
  const bare = (bareBefore + bareAfter) / 2;
  for (const { transport, concurrency, r } of results) {
    rows.push(
      `| ${transport} | ${concurrency} | ${r.rate.toFixed(1)} | ${(r.rate / bare).toFixed(2)} | ${r.p50.toFixed(1)} | ${r.p95.toFixed(1)} | ${r.p99.toFixed(1)} | ${r.failures} |`,
    );
  }
  console.log(`# inference server benchmark: ${info.name} ${info.imageSize}x${info.imageSize} (${ckpt.what}), engine ${info.engine} on ${info.backend}`);
  console.log(`# max batch ${batch}, queue delay ${config.maxQueueDelayMs} ms, ${seconds} s per row, 1 image per request, clients in-process`);
  console.log(`# bare engine at batch ${batch}: ${bareBefore.toFixed(1)} images/s before the server rows, ${bareAfter.toFixed(1)} after; ratios use the mean`);
  console.log('| transport | concurrency | images/s | vs bare engine | p50 ms | p95 ms | p99 ms | failures |');
  console.log('|---|---|---|---|---|---|---|---|');
  for (const row of rows) console.log(row);
} finally {
  ckpt.cleanup();
}
