// Picks the engine the configuration names.
import type { ServeConfig } from '../config.js';
import type { Engine } from './engine.js';
import { createTfjsEngine } from './tfjs-engine.js';

export type { BatchOutput, Engine, EngineKind, GenerateRow, LoadedModel, ModelInfo } from './engine.js';
export { ENGINE_KINDS } from './engine.js';

export function createEngine(config: Pick<ServeConfig, 'engine' | 'backend' | 'embeddingCacheSize'>): Engine {
  switch (config.engine) {
    case 'tfjs':
      return createTfjsEngine({ backend: config.backend, embeddingCacheSize: config.embeddingCacheSize });
  }
}
