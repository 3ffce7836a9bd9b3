// A stand-in engine for tests of queueing and lifecycle: it loads (and verifies) real checkpoint folders but
// "generates" instantly, or when a test lets it. Each image's bytes name its caption ids, seed and truncation,
// so a test can check which row went where, and every batch is recorded.
import { readManifest, verifyCheckpoint } from '../../src/model/checkpoint/index.js';
import { Vocabulary, type EncodedCaption } from '../../src/model/text/vocab.js';
import { DEFAULT_WORDS } from '../../src/model/text/default-words.js';
import type { BatchOutput, Engine, GenerateRow, LoadedModel, ModelInfo } from '../../src/server/engine/engine.js';

export function fakePng(row: GenerateRow): Uint8Array {
  return new TextEncoder().encode(`${row.ids.join(',')}|${row.seed}|${row.truncation}`);
}

export class FakeModel implements LoadedModel {
  readonly batches: GenerateRow[][] = [];
  warmedUp: number[] = [];
  disposed = false;
  private gate: Promise<void> | undefined;
  private openGate: (() => void) | undefined;
  private failureListeners: Array<(err: Error) => void> = [];
  private readonly vocab = Vocabulary.buildFromCaptions([DEFAULT_WORDS.join(' ')]);

  constructor(readonly info: ModelInfo) {}

  /** Until release() is called, batches wait (a busy model). */
  hold(): () => void {
    this.gate = new Promise((resolve) => (this.openGate = resolve));
    return () => {
      this.gate = undefined;
      this.openGate?.();
    };
  }

  tokenize(text: string): EncodedCaption {
    return this.vocab.encode(text, 18);
  }

  async warmup(batchSizes: readonly number[]): Promise<void> {
    this.warmedUp = [...batchSizes];
  }

  async generate(rows: readonly GenerateRow[]): Promise<BatchOutput> {
    if (this.disposed) throw new Error('generate after dispose');
    this.batches.push([...rows]);
    const t0 = performance.now();
    await this.gate;
    return { pngs: rows.map(fakePng), cacheHits: 0, cacheMisses: rows.length, seconds: (performance.now() - t0) / 1000 };
  }

  /** Simulates the runtime dying under the model. */
  crash(err = new Error('simulated crash')): void {
    for (const l of this.failureListeners) l(err);
  }

  onFailure(listener: (err: Error) => void): void {
    this.failureListeners.push(listener);
  }

  async dispose(): Promise<void> {
    this.disposed = true;
  }
}

export class FakeEngine implements Engine {
  readonly kind = 'tfjs' as const;
  readonly loaded: FakeModel[] = [];
  private loadGate: Promise<void> | undefined;

  /** Until the returned function is called, loads wait (a slow model to load). */
  holdLoads(): () => void {
    let open!: () => void;
    this.loadGate = new Promise((resolve) => (open = resolve));
    return () => {
      this.loadGate = undefined;
      open();
    };
  }

  async load(dir: string): Promise<FakeModel> {
    await this.loadGate;
    await verifyCheckpoint(dir);
    const { manifest, version } = await readManifest(dir);
    const m = new FakeModel({ name: manifest.name, version, step: manifest.step, dir, imageSize: manifest.generator.imageSize, engine: 'tfjs', backend: 'fake' });
    this.loaded.push(m);
    return m;
  }

  get last(): FakeModel {
    return this.loaded[this.loaded.length - 1];
  }
}
