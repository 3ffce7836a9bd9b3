// Messages between an engine (main thread) and its worker. Every request carries an id; the worker answers
// each exactly once, in order.
import type { BackendChoice } from '../../model/backend.js';
import type { ErrorCode } from '../../errors.js';
import type { RgbImage } from '../../model/image.js';
import type { EngineKind, GenerateRow, RuntimeKind } from './engine.js';

export interface WorkerInit {
  dir: string;
  engine: EngineKind;
  /** tfjs backend (the text encoder always runs on it; the generator too under the tfjs runtime). */
  backend: BackendChoice;
  /** ONNX Runtime intra-op threads (0: all cores). */
  onnxThreads: number;
  /** Module ONNX Runtime loads from (default onnxruntime-node). */
  onnxRuntimeModule?: string;
  embeddingCacheSize: number;
}

export type ToWorker =
  | { type: 'generate'; id: number; rows: GenerateRow[] }
  | { type: 'warmup'; id: number; batchSizes: number[] }
  | { type: 'tensors'; id: number }
  | { type: 'dispose'; id: number };

export interface WireError {
  code: ErrorCode;
  message: string;
}

export interface LoadedReply {
  type: 'loaded';
  name: string;
  version: string;
  step: number;
  dir: string;
  imageSize: number;
  runtime: RuntimeKind;
  backend: string;
  fallback?: string;
  /** The vocabulary's words, so the main thread can tokenise (and reject bad captions) without a round trip. */
  words: string[];
  maxWords: number;
}

export type FromWorker =
  | LoadedReply
  | { type: 'load-failed'; error: WireError }
  | { type: 'generated'; id: number; images: RgbImage[]; cacheHits: number; cacheMisses: number; seconds: number }
  | { type: 'done'; id: number; tensors: number }
  | { type: 'failed'; id: number; error: WireError };
