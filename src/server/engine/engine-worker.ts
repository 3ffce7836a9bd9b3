// The engine's worker thread: selects the tfjs backend, loads one checkpoint, puts its generator on the runtime
// asked for, and turns batches of (caption ids, seed, truncation) rows into PNG bytes, off the server's event loop.
import { parentPort, workerData } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs-core';
import { toDfganError } from '../../errors.js';
import { selectBackend } from '../../model/backend.js';
import { TextToImage } from '../../model/text-to-image.js';
import { noiseForSeed } from '../../model/sampling.js';
import { EmbeddingCache } from '../embedding-cache.js';
import { createGeneratorRunner, type GeneratorRunner } from './generator-runner.js';
import type { GenerateRow } from './engine.js';
import type { FromWorker, ToWorker, WireError, WorkerInit } from './worker-protocol.js';

const port = parentPort!;
const init = workerData as WorkerInit;

function wire(err: unknown): WireError {
  const e = toDfganError(err);
  return { code: e.code, message: e.message };
}

function post(msg: FromWorker, transfer: ArrayBuffer[] = []): void {
  port.postMessage(msg, transfer);
}

/**
 * Sentence vectors of every row, [rows * condDim]. Captions not cached are encoded together in one call: the
 * encoder treats rows independently (masked LSTM), so a caption's vector does not depend on its batch-mates (the
 * engine test checks the resulting PNGs byte for byte).
 */
async function sentencesFor(model: TextToImage, cache: EmbeddingCache, rows: readonly GenerateRow[]) {
  const dim = model.config.condDim;
  const keys = rows.map((r) => EmbeddingCache.keyOf(r.ids));
  const found = new Map<string, Float32Array>();
  const missing = new Map<string, readonly number[]>();
  let cacheHits = 0;
  rows.forEach((r, i) => {
    const k = keys[i];
    if (!found.has(k) && !missing.has(k)) {
      const v = cache.get(k);
      if (v) found.set(k, v);
      else missing.set(k, r.ids);
    }
    if (found.has(k)) cacheHits++;
  });
  const cacheMisses = rows.length - cacheHits;
  if (missing.size > 0) {
    const enc = model.encode([...missing.values()].map((ids) => ({ ids: [...ids], words: [], dropped: [] })));
    let data: Float32Array;
    try {
      data = (await enc.data()) as Float32Array;
    } finally {
      enc.dispose();
    }
    [...missing.keys()].forEach((k, j) => {
      const v = data.slice(j * dim, (j + 1) * dim);
      found.set(k, v);
      cache.set(k, v);
    });
  }
  const out = new Float32Array(rows.length * dim);
  keys.forEach((k, i) => out.set(found.get(k)!, i * dim));
  return { sentences: out, cacheHits, cacheMisses };
}

async function generate(model: TextToImage, runner: GeneratorRunner, cache: EmbeddingCache, rows: readonly GenerateRow[]) {
  const t0 = performance.now();
  const { zDim } = model.config;
  const { sentences, cacheHits, cacheMisses } = await sentencesFor(model, cache, rows);
  const noise = new Float32Array(rows.length * zDim);
  rows.forEach((r, i) => noise.set(noiseForSeed(r.seed, zDim, r.truncation), i * zDim));
  const images = await runner.run(noise, sentences, rows.length);
  return { images, cacheHits, cacheMisses, seconds: (performance.now() - t0) / 1000 };
}

async function handle(model: TextToImage, runner: GeneratorRunner, cache: EmbeddingCache, msg: ToWorker): Promise<void> {
  try {
    switch (msg.type) {
      case 'generate': {
        const r = await generate(model, runner, cache, msg.rows);
        // Hand the pixel buffers over instead of copying them (each image owns its buffer).
        const buffers = [...new Set(r.images.map((im) => im.data.buffer as ArrayBuffer))];
        post({ type: 'generated', id: msg.id, ...r }, buffers);
        return;
      }
      case 'warmup': {
        // A throwaway cache: warm-up captions must not take places of real ones.
        const ids = [1];
        for (const b of msg.batchSizes) {
          await generate(model, runner, new EmbeddingCache(0), Array.from({ length: b }, (_, i) => ({ ids, seed: i, truncation: null })));
        }
        break;
      }
      case 'tensors':
        break;
      case 'dispose':
        await runner.dispose();
        model.dispose();
        break;
    }
    post({ type: 'done', id: msg.id, tensors: tf.memory().numTensors });
  } catch (err) {
    post({ type: 'failed', id: msg.id, error: wire(err) });
  }
}

async function main(): Promise<void> {
  let model: TextToImage | undefined;
  let runner: GeneratorRunner;
  try {
    const backend = (await selectBackend(init.backend)).name;
    model = await TextToImage.load(init.dir);
    runner = await createGeneratorRunner(model, { engine: init.engine, backend, onnxThreads: init.onnxThreads, onnxRuntimeModule: init.onnxRuntimeModule });
  } catch (err) {
    model?.dispose();
    // The engine terminates this worker when it reads the reply.
    post({ type: 'load-failed', error: wire(err) });
    return;
  }
  const cache = new EmbeddingCache(init.embeddingCacheSize);
  post({
    type: 'loaded',
    name: model.name,
    version: model.version,
    step: model.step,
    dir: model.dir,
    imageSize: model.config.imageSize,
    runtime: runner.runtime,
    backend: runner.device,
    ...(runner.fallback ? { fallback: runner.fallback } : {}),
    words: [...model.checkpoint.vocab.words],
    maxWords: model.checkpoint.textEncoder.config.maxWords,
  });

  // One message at a time, in arrival order: a dispose queued behind a batch runs after that batch.
  let chain = Promise.resolve();
  port.on('message', (msg: ToWorker) => {
    chain = chain.then(() => handle(model, runner, cache, msg));
  });
}

await main();
