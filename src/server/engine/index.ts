// Builds the engine the configuration names (the runtime itself is chosen per loaded model, in its worker).
import type { ServeConfig } from '../config.js';
import type { Engine } from './engine.js';
import { createWorkerEngine } from './worker-engine.js';

export type { BatchOutput, Engine, EngineKind, GenerateRow, LoadedModel, ModelInfo, RuntimeKind } from './engine.js';
export { ENGINE_KINDS } from './engine.js';

export function createEngine(config: Pick<ServeConfig, 'engine' | 'backend' | 'onnxThreads' | 'embeddingCacheSize'>): Engine {
  return createWorkerEngine({ engine: config.engine, backend: config.backend, onnxThreads: config.onnxThreads, embeddingCacheSize: config.embeddingCacheSize });
}
