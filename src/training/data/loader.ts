// Batches for training: per-epoch shuffle, per-sample augmentation and caption choice, fixed batch size (the last
// partial batch of an epoch is dropped), with the next batches loaded while the trainer works on the current one.
//
// Determinism: all randomness is drawn from one seeded Rng in batch order when a batch is *planned* (the epoch's
// permutation, then one seed per sample); loading a sample only uses its own Rng(seed). Planning is synchronous
// and in order, so the batches do not depend on how loads interleave or on the prefetch depth.
import { DfganError } from '../../errors.js';
import { Rng, assertSeed } from '../../model/sampling.js';
import type { Dataset } from './dataset.js';
import { evalTransform, pickCaption, trainTransform } from './transform.js';

export interface Batch {
  /** [B, S, S, 3], HWC per image, in [-1, 1]. */
  images: Float32Array;
  /** One caption per image. */
  captions: string[];
  /** Dataset indices of the images. */
  indices: number[];
  /** 0-based epoch and batch number within it. */
  epoch: number;
  step: number;
}

export interface BatchLoaderOptions {
  batchSize: number;
  /** Output side S. */
  imageSize: number;
  seed: number;
  /** Batches loaded ahead of the one being consumed (default 2; 0 loads on demand). */
  prefetch?: number;
  /** Train augmentation (default) or the eval transform (resize to S, no flip/crop). */
  augment?: boolean;
  /** With the train augmentation: random horizontal flips (default true; see AugmentOptions). */
  flip?: boolean;
  /** Shuffle each epoch (default true). */
  shuffle?: boolean;
  /** Samples of one batch loaded at once (default: the batch size). */
  concurrency?: number;
  /** Skip this many batches of the stream without loading them (resuming a run). */
  startBatch?: number;
}

interface Plan {
  epoch: number;
  step: number;
  indices: number[];
  seeds: number[];
}

export class BatchLoader {
  readonly batchSize: number;
  readonly imageSize: number;
  readonly batchesPerEpoch: number;
  private readonly prefetch: number;
  private readonly augment: boolean;
  private readonly flip: boolean;
  private readonly shuffle: boolean;
  private readonly concurrency: number;
  private readonly rng: Rng;
  private order: number[] = [];
  private epoch = -1;
  private step = 0;
  private readonly queue: Promise<Batch>[] = [];
  private closed = false;

  constructor(
    readonly dataset: Dataset,
    opts: BatchLoaderOptions,
  ) {
    const { batchSize, imageSize } = opts;
    if (!(Number.isInteger(batchSize) && batchSize > 0)) throw new DfganError('INVALID_ARGUMENT', `batch size must be a positive integer, got ${batchSize}`);
    if (!(Number.isInteger(imageSize) && imageSize > 0)) throw new DfganError('INVALID_ARGUMENT', `image size must be a positive integer, got ${imageSize}`);
    assertSeed(opts.seed);
    if (dataset.size < batchSize) {
      throw new DfganError('INVALID_ARGUMENT', `data set ${dataset.root} (${dataset.split}) has ${dataset.size} images, fewer than one batch of ${batchSize}`);
    }
    const prefetch = opts.prefetch ?? 2;
    if (!(Number.isInteger(prefetch) && prefetch >= 0)) throw new DfganError('INVALID_ARGUMENT', `prefetch must be a non-negative integer, got ${prefetch}`);
    this.batchSize = batchSize;
    this.imageSize = imageSize;
    this.batchesPerEpoch = Math.floor(dataset.size / batchSize);
    this.prefetch = prefetch;
    this.augment = opts.augment ?? true;
    this.flip = opts.flip ?? true;
    this.shuffle = opts.shuffle ?? true;
    this.concurrency = Math.max(1, opts.concurrency ?? batchSize);
    this.rng = new Rng(opts.seed);
    const skip = opts.startBatch ?? 0;
    if (!(Number.isInteger(skip) && skip >= 0)) throw new DfganError('INVALID_ARGUMENT', `startBatch must be a non-negative integer, got ${skip}`);
    for (let i = 0; i < skip; i++) this.plan();
  }

  /** The next batch of the endless stream (epoch after epoch). */
  next(): Promise<Batch> {
    if (this.closed) return Promise.reject(new DfganError('INVALID_ARGUMENT', 'BatchLoader is closed'));
    if (this.queue.length === 0) this.enqueue();
    const p = this.queue.shift() as Promise<Batch>;
    while (this.queue.length < this.prefetch) this.enqueue();
    return p;
  }

  /** The batches of one whole epoch from here (batchesPerEpoch of them). */
  async *take(count = this.batchesPerEpoch): AsyncGenerator<Batch> {
    for (let i = 0; i < count; i++) yield await this.next();
  }

  /** Stops prefetching; loads in flight finish and are discarded. */
  close(): void {
    this.closed = true;
    this.queue.length = 0;
  }

  private enqueue(): void {
    const p = this.load(this.plan());
    p.catch(() => undefined); // a failed prefetch is reported when that batch is asked for, not as an unhandled rejection
    this.queue.push(p);
  }

  /** Draws the next batch's indices and sample seeds; the only place the loader's Rng is used. */
  private plan(): Plan {
    if (this.epoch < 0 || this.step === this.batchesPerEpoch) {
      this.epoch++;
      this.step = 0;
      this.order = Array.from({ length: this.dataset.size }, (_, i) => i);
      if (this.shuffle) {
        for (let i = this.order.length - 1; i > 0; i--) {
          const j = Math.min(i, Math.floor(this.rng.uniform() * (i + 1)));
          [this.order[i], this.order[j]] = [this.order[j], this.order[i]];
        }
      }
    }
    const start = this.step * this.batchSize;
    const indices = this.order.slice(start, start + this.batchSize);
    const seeds = indices.map(() => this.rng.nextUint32());
    return { epoch: this.epoch, step: this.step++, indices, seeds };
  }

  private async load(plan: Plan): Promise<Batch> {
    const S = this.imageSize;
    const per = S * S * 3;
    const images = new Float32Array(this.batchSize * per);
    const captions = new Array<string>(this.batchSize);
    let next = 0;
    const worker = async () => {
      while (next < plan.indices.length) {
        const k = next++;
        const idx = plan.indices[k];
        const [img, caps] = await Promise.all([this.dataset.image(idx), this.dataset.captions(idx)]);
        // Fixed draw order per sample: caption, then crop row, crop column, flip.
        const rng = new Rng(plan.seeds[k]);
        captions[k] = pickCaption(caps, rng);
        if (this.augment) trainTransform(img, S, rng, images, k * per, { flip: this.flip });
        else evalTransform(img, S, images, k * per);
        // Let the trainer and other loads run between samples.
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.concurrency, plan.indices.length) }, worker));
    return { images, captions, indices: plan.indices, epoch: plan.epoch, step: plan.step };
  }
}
