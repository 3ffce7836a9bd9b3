// The engine: each loaded checkpoint lives in its own worker thread (text encoder on tfjs, generator on tfjs or
// ONNX Runtime), so generation never blocks the event loop, a new checkpoint loads and warms up beside the serving
// one off the request path, and disposing a model ends its thread (and frees everything it held).
import { Worker } from 'node:worker_threads';
import { DfganError, ERROR_CODES } from '../../errors.js';
import type { BackendChoice } from '../../model/backend.js';
import { Vocabulary, type EncodedCaption } from '../../model/text/vocab.js';
import { encodePng } from '../../model/png.js';
import type { BatchOutput, Engine, EngineKind, GenerateRow, LoadedModel, ModelInfo } from './engine.js';
import type { FromWorker, LoadedReply, ToWorker, WireError, WorkerInit } from './worker-protocol.js';

const WORKER_URL = new URL('./engine-worker.mjs', import.meta.url);

export interface WorkerEngineOptions {
  engine: EngineKind;
  backend: BackendChoice;
  /** ONNX Runtime intra-op threads (0: all cores). */
  onnxThreads: number;
  /** Module ONNX Runtime loads from (default onnxruntime-node; tests name a missing one to see the fallback). */
  onnxRuntimeModule?: string;
  embeddingCacheSize: number;
}

export function createWorkerEngine(opts: WorkerEngineOptions): Engine {
  return { kind: opts.engine, load: (dir) => WorkerModel.start({ dir, ...opts }) };
}

function fromWire(e: WireError): DfganError {
  return new DfganError(e.code in ERROR_CODES ? e.code : 'INTERNAL', e.message);
}

/** A message to the worker before it gets its id (Omit applied to each member of the union). */
type WithoutId<T> = T extends unknown ? Omit<T, 'id'> : never;
type Request = WithoutId<ToWorker>;
type Reply = Exclude<FromWorker, { type: 'loaded' } | { type: 'load-failed' }>;

export class WorkerModel implements LoadedModel {
  readonly info: ModelInfo;
  private readonly vocab: Vocabulary;
  private readonly maxWords: number;
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (m: Reply) => void; reject: (e: Error) => void }>();
  private failure: Error | undefined;
  private readonly failureListeners: Array<(err: Error) => void> = [];
  private disposing: Promise<void> | undefined;

  /** Starts a worker and resolves once it has loaded (and verified) the checkpoint. */
  static start(init: WorkerInit): Promise<WorkerModel> {
    return new Promise((resolve, reject) => {
      const worker = new Worker(WORKER_URL, { workerData: init });
      const settle = (fn: () => void) => {
        worker.off('message', onMessage).off('error', onError).off('exit', onExit);
        fn();
      };
      const onMessage = (msg: FromWorker) => {
        if (msg.type === 'loaded') settle(() => resolve(new WorkerModel(worker, msg)));
        else if (msg.type === 'load-failed') settle(() => void worker.terminate().finally(() => reject(fromWire(msg.error))));
      };
      const onError = (err: Error) =>
        settle(() => void worker.terminate().finally(() => reject(new DfganError('INTERNAL', `engine worker failed while loading: ${err.message}`, { cause: err }))));
      const onExit = (code: number) => settle(() => reject(new DfganError('INTERNAL', `engine worker exited with code ${code} while loading`)));
      worker.on('message', onMessage).on('error', onError).on('exit', onExit);
    });
  }

  private constructor(
    private readonly worker: Worker,
    loaded: LoadedReply,
  ) {
    this.info = Object.freeze({
      name: loaded.name,
      version: loaded.version,
      step: loaded.step,
      dir: loaded.dir,
      imageSize: loaded.imageSize,
      engine: loaded.runtime,
      backend: loaded.backend,
      ...(loaded.fallback ? { fallback: loaded.fallback } : {}),
    });
    this.vocab = Vocabulary.fromWords(loaded.words);
    this.maxWords = loaded.maxWords;
    worker.on('message', (msg: FromWorker) => this.onReply(msg));
    worker.on('error', (err) => this.fail(new DfganError('INTERNAL', `engine worker crashed: ${err.message}`, { cause: err })));
    worker.on('exit', (code) => {
      if (!this.disposing) this.fail(new DfganError('INTERNAL', `engine worker exited unexpectedly with code ${code}`));
    });
  }

  tokenize(text: string): EncodedCaption {
    return this.vocab.encode(text, this.maxWords);
  }

  async warmup(batchSizes: readonly number[]): Promise<void> {
    await this.call({ type: 'warmup', batchSizes: [...batchSizes] });
  }

  async generate(rows: readonly GenerateRow[]): Promise<BatchOutput> {
    const r = await this.call({ type: 'generate', rows: rows.map((row) => ({ ids: [...row.ids], seed: row.seed, truncation: row.truncation })) });
    if (r.type !== 'generated') throw new DfganError('INTERNAL', `engine worker answered ${r.type} to generate`);
    // PNGs are encoded here, on libuv's pool (sharp), the batch's images in parallel and off the event loop.
    const t0 = performance.now();
    const pngs = await Promise.all(r.images.map(encodePng));
    return { pngs, cacheHits: r.cacheHits, cacheMisses: r.cacheMisses, seconds: r.seconds + (performance.now() - t0) / 1000 };
  }

  /** Tensors alive in the worker (for leak checks). */
  async tensorCount(): Promise<number> {
    const r = await this.call({ type: 'tensors' });
    return r.type === 'done' ? r.tensors : -1;
  }

  onFailure(listener: (err: Error) => void): void {
    this.failureListeners.push(listener);
  }

  dispose(): Promise<void> {
    this.disposing ??= (async () => {
      // The worker handles messages in order, so this runs after every batch already sent.
      if (!this.failure) await this.call({ type: 'dispose' }, true).catch(() => undefined);
      await this.worker.terminate();
    })();
    return this.disposing;
  }

  private call(req: Request, internal = false): Promise<Reply> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.disposing && !internal) return Promise.reject(new DfganError('INTERNAL', `model ${this.info.version} was disposed`));
    const id = this.nextId++;
    return new Promise<Reply>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ ...req, id } as ToWorker);
    });
  }

  private onReply(msg: FromWorker): void {
    if (!('id' in msg)) return;
    const p = this.pending.get(msg.id);
    if (!p) return;
    this.pending.delete(msg.id);
    if (msg.type === 'failed') p.reject(fromWire(msg.error));
    else p.resolve(msg);
  }

  private fail(err: Error): void {
    if (this.failure) return;
    this.failure = err;
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
    for (const l of this.failureListeners) l(err);
  }
}
