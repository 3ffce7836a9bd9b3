// The one path from a validated request to images, shared by every transport: pin the current model, tokenise
// (refusing bad captions before anything is queued), queue the rows, collect the PNGs.
import { DfganError } from '../errors.js';
import type { EncodedCaption } from '../model/text/vocab.js';
import type { Batcher } from './batcher.js';
import type { GenerateRow, ModelInfo } from './engine/engine.js';
import type { ModelHost } from './model-host.js';
import type { GenerateSpec } from './request.js';

export interface GeneratedImage {
  /** Which spec of the call it belongs to, and its place among that spec's images. */
  item: number;
  index: number;
  seed: number;
  png: Uint8Array;
}

export interface RunContext {
  /** performance.now() by which the call must be answered (the server's own timeout applies too). */
  deadline?: number;
  signal?: AbortSignal;
  /** Each image as soon as its batch ends, with the model that made it. */
  onImage?(image: GeneratedImage, model: ModelInfo): void;
}

export interface RunResult {
  model: ModelInfo;
  items: Array<{ words: string[]; dropped: string[]; images: GeneratedImage[] }>;
}

export class GenerationService {
  private draining = false;
  private active = 0;
  private idleWaiters: Array<() => void> = [];

  constructor(
    private readonly host: ModelHost,
    private readonly batcher: Batcher,
    private readonly requestTimeoutMs: number,
  ) {}

  /** Ready to take requests: a model is loaded and the server is not shutting down. */
  get ready(): boolean {
    return !this.draining && this.host.ready;
  }

  /** Refuses new requests from now on (DRAINING); those already accepted go on. */
  startDraining(): void {
    this.draining = true;
  }

  /** Resolves when no accepted request is left. */
  idle(): Promise<void> {
    if (this.active === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Throws DRAINING once shutdown has begun (transports check it before reading a request). */
  assertAccepting(): void {
    if (this.draining) throw new DfganError('DRAINING', 'the server is shutting down; retry on another instance');
  }

  async run(specs: readonly GenerateSpec[], ctx: RunContext = {}): Promise<RunResult> {
    this.assertAccepting();
    const lease = this.host.acquire();
    this.active++;
    try {
      const captions: EncodedCaption[] = specs.map((s, item) => {
        try {
          return lease.model.tokenize(s.text);
        } catch (err) {
          // In a call of several captions, say which one was refused.
          if (specs.length === 1 || !(err instanceof DfganError)) throw err;
          throw new DfganError(err.code, err.message, { details: { ...err.details, item } });
        }
      });
      const rows: GenerateRow[] = [];
      const where: Array<Omit<GeneratedImage, 'png'>> = [];
      specs.forEach((s, item) =>
        s.seeds.forEach((seed, index) => {
          rows.push({ ids: captions[item].ids, seed, truncation: s.truncation });
          where.push({ item, index, seed });
        }),
      );
      const deadline = Math.min(ctx.deadline ?? Infinity, performance.now() + this.requestTimeoutMs);
      const onImage = ctx.onImage;
      const pngs = await this.batcher.submit({
        model: lease.model,
        rows,
        deadline,
        signal: ctx.signal,
        onRow: onImage && ((k, png) => onImage({ ...where[k], png }, lease.model.info)),
      });
      const items: RunResult['items'] = captions.map((c) => ({ words: c.words, dropped: c.dropped, images: [] }));
      pngs.forEach((png, k) => items[where[k].item].images.push({ ...where[k], png }));
      return { model: lease.model.info, items };
    } finally {
      lease.release();
      if (--this.active === 0) {
        const waiters = this.idleWaiters;
        this.idleWaiters = [];
        for (const w of waiters) w();
      }
    }
  }
}
