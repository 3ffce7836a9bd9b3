// What the server needs from an inference runtime (tfjs or ONNX Runtime): load a checkpoint folder, warm up,
// generate a batch of rows, dispose.
import type { EncodedCaption } from '../../model/text/vocab.js';
import type { Truncation } from '../../model/sampling.js';

/** What a user may ask for: `auto` is ONNX Runtime when it loads, else tfjs. */
export const ENGINE_KINDS = ['auto', 'onnx', 'tfjs'] as const;
export type EngineKind = (typeof ENGINE_KINDS)[number];
/** The runtime that actually runs a loaded generator. */
export type RuntimeKind = Exclude<EngineKind, 'auto'>;

export interface ModelInfo {
  /** Model name from the manifest (served as /v2/models/{name}). */
  name: string;
  /** Content id of the checkpoint (changes with every new checkpoint). */
  version: string;
  step: number;
  /** The checkpoint folder it was loaded from. */
  dir: string;
  imageSize: number;
  engine: RuntimeKind;
  /** Where the generator runs: the tfjs backend (e.g. wasm) or ONNX Runtime's execution provider (cpu, cuda). */
  backend: string;
  /** Why `auto` (or the CUDA provider) fell back, when it did. */
  fallback?: string;
}

/** One image to make: a caption's word ids, its own seed and noise truncation. */
export interface GenerateRow {
  ids: readonly number[];
  seed: number;
  truncation: Truncation;
}

export interface BatchOutput {
  /** One PNG per row, in row order. */
  pngs: Uint8Array[];
  /** Rows whose caption embedding came from the cache, and those that had to be computed. */
  cacheHits: number;
  cacheMisses: number;
  /** Time the model spent on this batch (not counting any wait in the engine's own queue). */
  seconds: number;
}

export interface LoadedModel {
  readonly info: ModelInfo;
  /** Tokenises a caption with this model's vocabulary, synchronously (user errors for empty or unknown-only text). */
  tokenize(text: string): EncodedCaption;
  /** Runs every batch size once so that serving never meets a cold shape. */
  warmup(batchSizes: readonly number[]): Promise<void>;
  /** Images for rows of any captions; row i's image depends only on row i. */
  generate(rows: readonly GenerateRow[]): Promise<BatchOutput>;
  /** Called if the model stops working on its own (e.g. its worker died). */
  onFailure(listener: (err: Error) => void): void;
  /** Frees the model once the calls already made have finished. */
  dispose(): Promise<void>;
}

export interface Engine {
  readonly kind: EngineKind;
  /** Loads and verifies a checkpoint folder; errors keep their checkpoint codes (CHECKPOINT_INVALID, ...). */
  load(dir: string): Promise<LoadedModel>;
}
