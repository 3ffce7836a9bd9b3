// Data-parallel DF-GAN step over worker threads. tfjs's wasm backend runs single-threaded in Node, so one
// replica uses one core; W replicas (the main thread's models plus W-1 workers) each take a shard of the batch:
//
//   D: every replica computes D's gradients of its shard -> the main thread averages them (weighted by shard
//      size, float32, fixed order) -> every replica applies the same average with its own Adam;
//   G: every replica computes G's gradients of its shard through the updated D -> same averaging and update.
//
// Replicas start from the main thread's weights and optimizer state (sent before the first step), and apply
// bit-identical updates with identical code, so they stay identical. Noise and augmentation are drawn on the
// main thread for the whole batch and sliced, and mismatched pairs are formed within each shard (the
// single-replica equivalent is DFGANStep with mismatchGroups = W), so the result depends on W only through
// float summation order.
import { Worker } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs-core';
import { DfganError } from '../../errors.js';
import { activeBackend, type ConcreteBackend } from '../../model/backend.js';
import { activeConvRuntime, type ConvRuntime } from '../../model/conv-runtime.js';
import type { Generator } from '../../model/generator.js';
import type { ConditionalHead, Discriminator } from '../../model/discriminator.js';
import type { Rng } from '../../model/sampling.js';
import type { AugmentDraw } from '../diff-augment.js';
import { DiffAugment } from '../diff-augment.js';
import { HingeLoss } from '../losses/hinge.js';
import { MatchingAwareGradientPenalty } from '../losses/ma-gp.js';
import { DFGANStep, groupSizes, stepLosses, type StepDraws, type StepLosses, type StepOptions, type TrainStep } from '../dfgan-step.js';
import type { Adam } from '../adam.js';
import { layoutOf, packInto, sharedFloats, unpack, weightedSumInto, type ParamLayout } from './flat.js';
import type { DGradsReply, FaultInjection, GGradsReply, ReadReply, Reply, ReplicaSpec, Request, SharedBuffers } from './protocol.js';

export interface ParallelOptions {
  /** Replicas in all, the main thread's included (>= 1). */
  workers: number;
  /** Backend the workers select (default: the one this thread uses). */
  backend?: ConcreteBackend;
  /** Convolution runtime the workers select (default: the one this thread uses). */
  convRuntime?: ConvRuntime;
  /** Test hook: worker index (1..W-1) -> fault. */
  faults?: Map<number, FaultInjection>;
}

/** One replica's full state, keyed 'g/…', 'netD/…', 'netC/…' for weights and by Adam's names for its state. */
export type ReplicaState = Map<string, Float32Array>;

type Outgoing = Request extends infer R ? (R extends { id: number } ? Omit<R, 'id'> : never) : never;

const WORKER_URL = new URL(import.meta.url.endsWith('.ts') ? './worker-bootstrap.mjs' : './worker.js', import.meta.url);

/** Request/reply over one worker thread; any failure of the thread rejects everything pending, clearly. */
class WorkerClient {
  private readonly worker: Worker;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private nextId = 1;
  private failure: DfganError | undefined;
  private closing = false;

  constructor(readonly index: number) {
    // No inherited execArgv: the bootstrap registers what the worker needs itself.
    this.worker = new Worker(WORKER_URL, { execArgv: [] });
    this.worker.on('message', (m: Reply) => this.onReply(m));
    this.worker.on('error', (err) => this.fail(`training worker ${index} failed: ${err instanceof Error ? err.message : String(err)}`));
    this.worker.on('exit', (code) => {
      if (!this.closing) this.fail(`training worker ${index} exited unexpectedly (exit code ${code})`);
    });
    // An idle worker does not keep the process alive; one with a request in flight does.
    this.worker.unref();
  }

  get failed(): DfganError | undefined {
    return this.failure;
  }

  request<T>(msg: Outgoing, transfer: ArrayBuffer[] = []): Promise<T> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.closing) return Promise.reject(new DfganError('INTERNAL', `training worker ${this.index} is closed`));
    const id = this.nextId++;
    const p = new Promise<T>((resolve, reject) => this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject }));
    if (this.pending.size === 1) this.worker.ref();
    this.worker.postMessage({ ...msg, id } as Request, transfer);
    return p;
  }

  private settle(id: number): { resolve: (v: unknown) => void; reject: (e: Error) => void } | undefined {
    const p = this.pending.get(id);
    if (!p) return undefined;
    this.pending.delete(id);
    if (this.pending.size === 0 && !this.closing) this.worker.unref();
    return p;
  }

  private onReply(m: Reply): void {
    if (m.ok) {
      this.settle(m.id)?.resolve(m.value);
    } else {
      this.fail(`training worker ${this.index} failed: ${m.error}`);
    }
  }

  private fail(message: string): void {
    if (this.failure) return;
    this.failure = new DfganError('INTERNAL', message);
    for (const id of [...this.pending.keys()]) this.settle(id)?.reject(this.failure);
  }

  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    for (const id of [...this.pending.keys()]) this.settle(id)?.reject(new DfganError('INTERNAL', `training worker ${this.index} was closed`));
    // Held while it stops: an unreferenced worker's exit would not keep the process alive to resolve this.
    this.worker.ref();
    await this.worker.terminate();
  }
}

function sliceDraw(d: AugmentDraw, start: number, n: number): AugmentDraw {
  return { shifts: d.shifts.slice(start, start + n), cutouts: d.cutouts.slice(start, start + n) };
}

function sliceDraws(d: StepDraws, start: number, n: number): StepDraws {
  return { real: sliceDraw(d.real, start, n), fake: sliceDraw(d.fake, start, n) };
}

/** A promise that nobody may ever await must not surface as an unhandled rejection. */
function quiet<T>(p: Promise<T>): Promise<T> {
  p.catch(() => undefined);
  return p;
}

export class ParallelStep implements TrainStep {
  readonly workers: number;
  private readonly local: DFGANStep;
  private readonly clients: WorkerClient[];
  private readonly gLayout: ParamLayout;
  private readonly dLayout: ParamLayout;
  private readonly booted: Promise<void>;
  /** Gradient exchange: this thread's shard, each worker's (shared), and the averages (shared by all). */
  private readonly dLocal: Float32Array;
  private readonly gLocal: Float32Array;
  private readonly dAvg: Float32Array;
  private readonly gAvg: Float32Array;
  private readonly workerBuffers: SharedBuffers[];
  private synced = false;
  /** The last step's G update on the workers (not awaited by run(), so the next batch can be prepared). */
  private applying: Promise<unknown> = Promise.resolve();
  private broken: Error | undefined;
  private disposed = false;

  constructor(
    readonly g: Generator,
    readonly d: Discriminator,
    readonly c: ConditionalHead,
    opts: StepOptions,
    readonly hinge = new HingeLoss(),
    readonly maGP = new MatchingAwareGradientPenalty(),
    readonly augment = new DiffAugment(),
    par: ParallelOptions,
  ) {
    if (!Number.isInteger(par.workers) || par.workers < 1) throw new DfganError('INVALID_ARGUMENT', `workers must be a positive integer, got ${par.workers}`);
    if ((opts.mismatchGroups ?? 1) !== 1) throw new DfganError('INVALID_ARGUMENT', 'a ParallelStep groups mismatched pairs by shard; leave mismatchGroups unset');
    this.workers = par.workers;
    // The main thread's models are replica 0: sample grids and checkpoints read them as with one replica.
    this.local = new DFGANStep(g, d, c, opts, hinge, maGP, augment);
    this.gLayout = layoutOf(this.local.gParams());
    this.dLayout = layoutOf(this.local.dParams());
    const backend = par.backend ?? activeBackend();
    const convRuntime = par.convRuntime ?? activeConvRuntime();
    this.dLocal = new Float32Array(this.dLayout.total);
    this.gLocal = new Float32Array(this.gLayout.total);
    this.dAvg = sharedFloats(this.dLayout.total);
    this.gAvg = sharedFloats(this.gLayout.total);
    this.clients = [];
    this.workerBuffers = [];
    for (let i = 1; i < this.workers; i++) {
      this.clients.push(new WorkerClient(i));
      this.workerBuffers.push({ dGrads: sharedFloats(this.dLayout.total), gGrads: sharedFloats(this.gLayout.total), dAvg: this.dAvg, gAvg: this.gAvg });
    }
    const spec = (index: number): ReplicaSpec => ({
      index,
      backend,
      convRuntime,
      config: g.config,
      step: { lrG: opts.lrG, lrD: opts.lrD, beta1: opts.beta1, beta2: opts.beta2, eps: opts.eps },
      hinge: hinge.options,
      magp: { k: maGP.k, p: maGP.p },
      augment: { ...augment.opts },
      gNames: this.gLayout.names,
      dNames: this.dLayout.names,
      fault: par.faults?.get(index),
      buffers: this.workerBuffers[index - 1],
    });
    this.booted = quiet(Promise.all(this.clients.map((w) => w.request<null>({ type: 'init', spec: spec(w.index) }))).then(() => undefined));
  }

  get optG(): Adam {
    return this.local.optG;
  }

  get optD(): Adam {
    return this.local.optD;
  }

  /**
   * Sends the main thread's weights and optimizer state to every worker. run() does this before its first step;
   * call it again after changing the main thread's models or optimizers between steps (e.g. a restore).
   */
  async sync(): Promise<void> {
    this.check();
    await this.booted;
    await this.applying;
    const weights = { g: await this.g.params.read(), d: await this.d.params.read(), c: await this.c.params.read() };
    const optimizer = new Map([...(await this.optG.read()), ...(await this.optD.read())]);
    // Structured clone copies: the arrays may be a backend's own storage (cpu), so they are not transferred.
    await Promise.all(this.clients.map((w) => w.request<null>({ type: 'sync', weights, optimizer })));
    this.synced = true;
  }

  async run(images: tf.Tensor4D, sentences: tf.Tensor2D, z: tf.Tensor2D, rng: Rng, counterfactuals?: tf.Tensor2D): Promise<StepLosses> {
    this.check();
    const [b, size] = images.shape;
    const sizes = groupSizes(b, this.workers);
    if (sizes.some((n) => n < 2)) {
      throw new DfganError('INVALID_ARGUMENT', `a batch of ${b} cannot be split over ${this.workers} replicas (mismatched pairs need 2 images per shard)`);
    }
    try {
      if (!this.synced) await this.sync();
      await this.applying;
      return await this.step(images, sentences, z, rng, sizes, counterfactuals);
    } catch (err) {
      this.broken ??= err instanceof Error ? err : new Error(String(err));
      throw err;
    }
  }

  private async step(images: tf.Tensor4D, sentences: tf.Tensor2D, z: tf.Tensor2D, rng: Rng, sizes: number[], counterfactuals?: tf.Tensor2D): Promise<StepLosses> {
    const b = images.shape[0];
    const draws = this.local.drawAugment(b, images.shape[1], rng);
    const starts = sizes.map((_, k) => sizes.slice(0, k).reduce((a, n) => a + n, 0));
    const weights = sizes.map((n) => n / b);
    const perImage = images.size / b;
    const perSentence = sentences.size / b;
    const perZ = z.size / b;

    // Shards 1..W-1 go to the workers first, so they compute while this thread does shard 0.
    let dReplies: Promise<DGradsReply>[] = [];
    if (this.clients.length) {
      const [imgHost, sHost, zHost] = [images.dataSync(), sentences.dataSync(), z.dataSync()] as Float32Array[];
      const cfHost = counterfactuals?.dataSync() as Float32Array | undefined;
      dReplies = this.clients.map((w, i) => {
        const k = i + 1;
        const [s0, n] = [starts[k], sizes[k]];
        const msg = {
          type: 'dGrads' as const,
          batch: n,
          images: imgHost.slice(s0 * perImage, (s0 + n) * perImage),
          sentences: sHost.slice(s0 * perSentence, (s0 + n) * perSentence),
          ...(cfHost ? { counterfactuals: cfHost.slice(s0 * perSentence, (s0 + n) * perSentence) } : {}),
          z: zHost.slice(s0 * perZ, (s0 + n) * perZ),
          draws: sliceDraws(draws, s0, n),
        };
        const transfer = buffersOf(msg.images, msg.sentences, msg.z, ...(msg.counterfactuals ? [msg.counterfactuals] : []));
        return quiet(w.request<DGradsReply>(msg, transfer));
      });
    }
    const n0 = sizes[0];
    const shard = tf.tidy(() => ({
      images: tf.slice(images, 0, n0),
      sentences: tf.slice(sentences, 0, n0),
      counterfactuals: counterfactuals ? tf.slice(counterfactuals, 0, n0) : undefined,
      z: tf.slice(z, 0, n0),
    }));
    const draws0 = sliceDraws(draws, 0, n0);
    try {
      // D: local shard, then the average of all shards, applied here and (with G's gradients) in the workers.
      // The shared buffers are safe to reuse: a worker writes its gradients only after it has received the
      // message that follows the main thread's last read of them, and reads an average before it replies.
      const dLocal = this.local.dGrads(shard.images, shard.sentences, shard.z, draws0, shard.counterfactuals);
      const dPresent0 = packInto(this.dLayout, dLocal.grads, this.dLocal);
      const terms0 = Array.from(dLocal.terms.dataSync());
      tf.dispose([...dLocal.grads.values(), dLocal.terms]);
      const dOthers = await Promise.all(dReplies);
      const dPresent = weightedSumInto(
        [this.dLocal, ...this.workerBuffers.map((b) => b.dGrads)],
        [dPresent0, ...dOthers.map((r) => r.present)],
        weights,
        this.dAvg,
      );
      const gReplies = this.clients.map((w) => quiet(w.request<GGradsReply>({ type: 'applyD', present: dPresent })));
      this.applyLocal(this.dLayout, this.dAvg, dPresent, (g) => this.local.applyD(g));

      // G: through the updated D, same pattern; the workers' G update is awaited at the next step.
      const gLocal = this.local.gGrads(shard.sentences, shard.z, draws0);
      const gPresent0 = packInto(this.gLayout, gLocal.grads, this.gLocal);
      const gLoss0 = gLocal.loss.dataSync()[0];
      tf.dispose([...gLocal.grads.values(), gLocal.loss]);
      const gOthers = await Promise.all(gReplies);
      const gPresent = weightedSumInto(
        [this.gLocal, ...this.workerBuffers.map((b) => b.gGrads)],
        [gPresent0, ...gOthers.map((r) => r.present)],
        weights,
        this.gAvg,
      );
      this.applying = quiet(Promise.all(this.clients.map((w) => w.request<number>({ type: 'applyG', present: gPresent }))));
      this.applyLocal(this.gLayout, this.gAvg, gPresent, (g) => this.local.applyG(g));

      const allTerms = [terms0, ...dOthers.map((r) => r.terms)];
      const avgTerm = (j: number) => allTerms.reduce((acc, t, k) => acc + weights[k] * t[j], 0);
      const gLoss = [gLoss0, ...gOthers.map((r) => r.loss)].reduce((acc, l, k) => acc + weights[k] * l, 0);
      return stepLosses(terms0.map((_, j) => avgTerm(j)), gLoss, counterfactuals !== undefined);
    } finally {
      tf.dispose([shard.images, shard.sentences, shard.z, ...(shard.counterfactuals ? [shard.counterfactuals] : [])]);
    }
  }

  private applyLocal(layout: ParamLayout, values: Float32Array, present: Uint8Array, apply: (g: Map<string, tf.Tensor>) => void): void {
    const grads = unpack(layout, values, present);
    try {
      apply(grads);
    } finally {
      tf.dispose([...grads.values()]);
    }
  }

  /** Every replica's weights and optimizer state: [main thread, worker 1, ...] (tests, diagnostics). */
  async replicaStates(): Promise<ReplicaState[]> {
    this.check();
    await this.booted;
    await this.applying;
    const flatten = (w: { g: Map<string, Float32Array>; d: Map<string, Float32Array>; c: Map<string, Float32Array> }, opt: Map<string, Float32Array>) =>
      new Map([
        ...[...w.g].map(([k, v]) => [`g/${k}`, v] as const),
        ...[...w.d].map(([k, v]) => [`netD/${k}`, v] as const),
        ...[...w.c].map(([k, v]) => [`netC/${k}`, v] as const),
        ...[...opt].map(([k, v]) => [`opt/${k}`, v] as const),
      ]);
    const main = flatten(
      { g: await this.g.params.read(), d: await this.d.params.read(), c: await this.c.params.read() },
      new Map([...(await this.optG.read()), ...(await this.optD.read())]),
    );
    const others = await Promise.all(this.clients.map((w) => w.request<ReadReply>({ type: 'read' })));
    return [main, ...others.map((r) => flatten(r.weights, r.optimizer))];
  }

  /** Live tensors in each worker (leak checks). */
  async workerTensors(): Promise<number[]> {
    const r = await Promise.all(this.clients.map((w) => w.request<ReadReply>({ type: 'read' })));
    return r.map((x) => x.tensors);
  }

  private check(): void {
    if (this.disposed) throw new DfganError('INTERNAL', 'this ParallelStep was disposed');
    if (this.broken) throw this.broken instanceof DfganError ? this.broken : new DfganError('INTERNAL', `an earlier parallel step failed: ${this.broken.message}`);
    const failed = this.clients.find((w) => w.failed)?.failed;
    if (failed) throw failed;
  }

  /** Terminates the workers and frees the main thread's optimizer state (the models stay the caller's). */
  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    await Promise.all(this.clients.map((w) => w.close()));
    this.local.dispose();
  }
}

function buffersOf(...views: ArrayBufferView[]): ArrayBuffer[] {
  return views.map((v) => v.buffer as ArrayBuffer);
}
