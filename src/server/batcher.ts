// Cross-request dynamic batching. Requests from every transport queue their images (rows) here; a batch runs
// when enough rows wait to fill it, or when the oldest has waited the configured delay. One batch is with the
// engine at a time: while the model is busy, arriving rows keep filling the next batch, and rows of a request that
// expires or is cancelled meanwhile never reach the model. (Handing the engine a second batch early measured no
// faster here and would let such rows through.) A request is pinned to the model it was accepted on, so a batch
// never mixes model versions.
import { DfganError } from '../errors.js';
import type { BatchOutput, GenerateRow, LoadedModel } from './engine/engine.js';

export interface BatcherOptions {
  maxBatchSize: number;
  maxQueueDelayMs: number;
  /** Rows that may wait; a request that would go past it is refused whole (QUEUE_FULL). */
  maxQueueSize: number;
}

/** What the batcher reports as it works (metrics hang here). */
export interface BatcherHooks {
  queueDepth?(rows: number): void;
  /** Seconds each row waited from submission to the start of its batch. */
  queueWait?(seconds: number): void;
  batch?(info: { size: number; output: BatchOutput }): void;
}

export interface BatchJob {
  model: LoadedModel;
  rows: readonly GenerateRow[];
  /** performance.now() after which the job fails with TIMEOUT. */
  deadline: number;
  signal?: AbortSignal;
  /** Each row's PNG as soon as its batch ends (rows may finish in several batches). */
  onRow?(index: number, png: Uint8Array): void;
}

/** setTimeout's longest delay; a deadline further out would fire at once. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** A transport may abort with its own reason (a gRPC deadline is a TIMEOUT, not a cancellation). */
function abortError(signal: AbortSignal): DfganError {
  return signal.reason instanceof DfganError ? signal.reason : new DfganError('CANCELLED', 'the request was cancelled');
}

interface JobState {
  job: BatchJob;
  results: Uint8Array[];
  remaining: number;
  /** Rows of this job still in the queue. */
  queued: number;
  settled: boolean;
  resolve(pngs: Uint8Array[]): void;
  reject(err: Error): void;
  cleanup(): void;
}

interface QueuedRow {
  state: JobState;
  index: number;
  enqueuedAt: number;
}

export class Batcher {
  private queue: QueuedRow[] = [];
  /** Live rows in `queue` (rows of settled jobs are removed lazily). */
  private depth = 0;
  private running = false;
  /** Rows of the batch with the engine now. */
  private inBatch: QueuedRow[] = [];
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private idleWaiters: Array<() => void> = [];

  constructor(
    private readonly opts: BatcherOptions,
    private readonly hooks: BatcherHooks = {},
  ) {}

  /** Rows waiting for a batch. */
  get queueDepth(): number {
    return this.depth;
  }

  /** Queues a job's rows; resolves with one PNG per row, in row order. */
  submit(job: BatchJob): Promise<Uint8Array[]> {
    if (this.closed) return Promise.reject(new DfganError('DRAINING', 'the server is shutting down'));
    if (job.rows.length === 0) return Promise.resolve([]);
    if (job.signal?.aborted) return Promise.reject(abortError(job.signal));
    const now = performance.now();
    if (job.deadline <= now) return Promise.reject(new DfganError('TIMEOUT', 'the request ran out of time before it was queued'));
    if (this.depth + job.rows.length > this.opts.maxQueueSize) {
      return Promise.reject(
        new DfganError('QUEUE_FULL', `the queue is full (${this.depth} of ${this.opts.maxQueueSize} images waiting); retry later`),
      );
    }
    return new Promise<Uint8Array[]>((resolve, reject) => {
      const state: JobState = {
        job,
        results: new Array(job.rows.length),
        remaining: job.rows.length,
        queued: job.rows.length,
        settled: false,
        resolve,
        reject,
        cleanup: () => undefined,
      };
      const timer = Number.isFinite(job.deadline)
        ? setTimeout(() => this.fail(state, new DfganError('TIMEOUT', 'the request timed out before its images were ready')), Math.min(job.deadline - now, MAX_TIMER_MS))
        : undefined;
      const onAbort = () => this.fail(state, abortError(job.signal!));
      job.signal?.addEventListener('abort', onAbort, { once: true });
      state.cleanup = () => {
        clearTimeout(timer);
        job.signal?.removeEventListener('abort', onAbort);
      };
      for (let i = 0; i < job.rows.length; i++) this.queue.push({ state, index: i, enqueuedAt: now });
      this.setDepth(this.depth + job.rows.length);
      this.schedule();
    });
  }

  /** Refuses new jobs and resolves once every accepted one has finished. */
  drain(): Promise<void> {
    this.closed = true;
    this.schedule();
    return this.whenIdle();
  }

  /** Fails every queued and running job with `err` at once (a shutdown that ran out of time). */
  abort(err: Error): void {
    this.closed = true;
    const states = new Set([...this.queue, ...this.inBatch].map((q) => q.state));
    for (const s of states) this.fail(s, err);
  }

  private whenIdle(): Promise<void> {
    if (!this.running && this.depth === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private setDepth(n: number): void {
    this.depth = n;
    this.hooks.queueDepth?.(n);
  }

  private fail(state: JobState, err: Error): void {
    if (state.settled) return;
    state.settled = true;
    state.cleanup();
    // Its queued rows stay in the array until the next batch skips them, but no longer count.
    this.setDepth(this.depth - state.queued);
    state.queued = 0;
    state.reject(err);
    this.schedule();
  }

  private schedule(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    if (this.running) return;
    while (this.queue.length > 0 && this.queue[0].state.settled) this.queue.shift();
    if (this.queue.length === 0) {
      this.queue = [];
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of waiters) w();
      return;
    }
    const waited = performance.now() - this.queue[0].enqueuedAt;
    // Draining: nothing new can fill a batch, so waiting would only delay the exit.
    if (this.depth >= this.opts.maxBatchSize || waited >= this.opts.maxQueueDelayMs || this.closed) {
      void this.runBatch();
    } else {
      this.timer = setTimeout(() => this.schedule(), this.opts.maxQueueDelayMs - waited);
    }
  }

  /** Takes up to maxBatchSize live rows of the oldest row's model, in queue order, and runs them. */
  private async runBatch(): Promise<void> {
    this.running = true;
    const start = performance.now();
    const model = this.queue[0].state.job.model;
    const taken: QueuedRow[] = [];
    const kept: QueuedRow[] = [];
    const expired = new Set<JobState>();
    for (const q of this.queue) {
      if (q.state.settled) continue;
      // A deadline timer can fire late on a busy loop: check again so that expired rows never run.
      if (q.state.job.deadline <= start) expired.add(q.state);
      else if (taken.length < this.opts.maxBatchSize && q.state.job.model === model) taken.push(q);
      else kept.push(q);
    }
    this.queue = kept;
    this.inBatch = taken;
    for (const q of taken) {
      q.state.queued--;
      this.hooks.queueWait?.((start - q.enqueuedAt) / 1000);
    }
    this.setDepth(this.depth - taken.length);
    for (const s of expired) this.fail(s, new DfganError('TIMEOUT', 'the request timed out before its images were ready'));
    let output: BatchOutput | undefined;
    try {
      if (taken.length > 0) {
        output = await model.generate(taken.map((q) => q.state.job.rows[q.index]));
        if (output.pngs.length !== taken.length) {
          throw new DfganError('INTERNAL', `the engine returned ${output.pngs.length} images for a batch of ${taken.length}`);
        }
        const pngs = output.pngs;
        taken.forEach((q, i) => this.deliver(q, pngs[i]));
        this.hooks.batch?.({ size: taken.length, output });
      }
    } catch (err) {
      for (const q of taken) this.fail(q.state, err instanceof Error ? err : new Error(String(err)));
    } finally {
      this.inBatch = [];
      this.running = false;
      this.schedule();
    }
  }

  private deliver(q: QueuedRow, png: Uint8Array): void {
    const s = q.state;
    if (s.settled) return;
    s.results[q.index] = png;
    try {
      s.job.onRow?.(q.index, png);
    } catch (err) {
      this.fail(s, err instanceof Error ? err : new Error(String(err)));
      return;
    }
    if (--s.remaining === 0) {
      s.settled = true;
      s.cleanup();
      s.resolve(s.results);
    }
  }
}
