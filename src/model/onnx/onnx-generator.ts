// The generator on ONNX Runtime: an exported graph in an InferenceSession, CUDA execution provider where the
// host has it, CPU otherwise. onnxruntime-node is an optional dependency, loaded only when asked for.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { DfganError } from '../../errors.js';
import type { GeneratorConfig } from '../config.js';
import { ONNX_INPUTS, ONNX_OUTPUT } from './export-generator.js';

type Ort = typeof import('onnxruntime-node');
type Session = import('onnxruntime-node').InferenceSession;

export const ONNX_RUNTIME_MODULE = 'onnxruntime-node';
const loaded = new Map<string, Promise<Ort>>();

/**
 * onnxruntime-node, or ENGINE_UNAVAILABLE saying why it could not load (not installed, no binary for this host).
 * `specifier` names another module with the same API (tests use a missing one to exercise the fallback).
 */
export function loadOnnxRuntime(specifier = ONNX_RUNTIME_MODULE): Promise<Ort> {
  let p = loaded.get(specifier);
  if (!p) {
    p = import(specifier).then(
      (m) => ((m as { default?: Ort }).default ?? m) as Ort,
      (err: unknown) => {
        loaded.delete(specifier);
        throw new DfganError('ENGINE_UNAVAILABLE', `ONNX Runtime (${specifier}) cannot be loaded: ${(err as Error).message?.split('\n')[0]}`, { cause: err });
      },
    );
    loaded.set(specifier, p);
  }
  return p;
}

export type OnnxDevice = 'cuda' | 'cpu';

/**
 * Whether this onnxruntime-node can use CUDA: the provider is either built in, or its library was installed next to
 * the binding (`ONNXRUNTIME_NODE_INSTALL=cuda12 node node_modules/onnxruntime-node/script/install`). Checked first so
 * that a CPU host does not try, fail and log a native error on every load.
 */
function cudaAvailable(ort: Ort, specifier: string): boolean {
  const cuda = ort.listSupportedBackends?.().find((b) => b.name === 'cuda');
  if (!cuda) return false;
  if (cuda.bundled) return true;
  try {
    const root = dirname(createRequire(import.meta.url).resolve(`${specifier}/package.json`));
    const lib = process.platform === 'win32' ? 'onnxruntime_providers_cuda.dll' : 'libonnxruntime_providers_cuda.so';
    return existsSync(join(root, 'bin', 'napi-v6', process.platform, process.arch, lib));
  } catch {
    return false;
  }
}

export interface OnnxGeneratorOptions {
  /** Intra-op threads on CPU; 0 or absent: every core. */
  threads?: number;
  /** Which execution provider to try first; `auto`: CUDA when the host has its provider, else CPU. */
  device?: OnnxDevice | 'auto';
  /** The module to load ONNX Runtime from (default onnxruntime-node). */
  runtimeModule?: string;
}

export class OnnxGenerator {
  private disposed = false;

  private constructor(
    private readonly ort: Ort,
    private readonly session: Session,
    readonly config: GeneratorConfig,
    /** The execution provider the session runs on. */
    readonly device: OnnxDevice,
    /** Why CUDA was not used although asked for (auto), if so. */
    readonly fallback: string | undefined,
  ) {}

  /** A session for an exported generator graph (`exportGeneratorOnnx`) of a generator with `config`. */
  static async create(model: Uint8Array, config: GeneratorConfig, opts: OnnxGeneratorOptions = {}): Promise<OnnxGenerator> {
    const ort = await loadOnnxRuntime(opts.runtimeModule);
    const threads = opts.threads && opts.threads > 0 ? opts.threads : availableParallelism();
    const base = {
      graphOptimizationLevel: 'all' as const,
      executionMode: 'sequential' as const,
      intraOpNumThreads: threads,
      interOpNumThreads: 1,
    };
    const device = opts.device ?? 'auto';
    let fallback: string | undefined;
    if (device !== 'cpu') {
      if (cudaAvailable(ort, opts.runtimeModule ?? ONNX_RUNTIME_MODULE)) {
        try {
          const session = await ort.InferenceSession.create(model, { ...base, executionProviders: ['cuda'] });
          return new OnnxGenerator(ort, session, config, 'cuda', undefined);
        } catch (err) {
          if (device === 'cuda') throw new DfganError('ENGINE_UNAVAILABLE', `ONNX Runtime's CUDA provider failed: ${(err as Error).message}`, { cause: err });
          fallback = `CUDA provider unavailable (${(err as Error).message.split('\n')[0]}); running on CPU`;
        }
      } else if (device === 'cuda') {
        throw new DfganError('ENGINE_UNAVAILABLE', 'the CUDA provider of onnxruntime-node is not installed');
      }
    }
    try {
      const session = await ort.InferenceSession.create(model, { ...base, executionProviders: ['cpu'] });
      return new OnnxGenerator(ort, session, config, 'cpu', fallback);
    } catch (err) {
      throw new DfganError('INTERNAL', `ONNX Runtime refused the generator graph: ${(err as Error).message}`, { cause: err });
    }
  }

  /**
   * Images NHWC in [-1, 1], [n * S * S * 3], for noise [n * zDim] and sentences [n * condDim] (row-major).
   */
  async run(noise: Float32Array, sentences: Float32Array, n: number): Promise<Float32Array> {
    if (this.disposed) throw new DfganError('INTERNAL', 'the ONNX generator was disposed');
    const { zDim, condDim, imageSize } = this.config;
    if (n < 1 || noise.length !== n * zDim || sentences.length !== n * condDim) {
      throw new DfganError('INVALID_ARGUMENT', `noise (${noise.length}) and sentences (${sentences.length}) must hold ${n} rows of ${zDim} and ${condDim}`);
    }
    const feeds = {
      [ONNX_INPUTS.noise]: new this.ort.Tensor('float32', noise, [n, zDim]),
      [ONNX_INPUTS.sentence]: new this.ort.Tensor('float32', sentences, [n, condDim]),
    };
    const out = await this.session.run(feeds);
    const image = out[ONNX_OUTPUT];
    try {
      const data = image.data as Float32Array;
      if (data.length !== n * imageSize * imageSize * 3) throw new DfganError('INTERNAL', `ONNX Runtime returned ${data.length} values for ${n} images`);
      return data;
    } finally {
      for (const t of Object.values(out)) if (t !== image) t.dispose();
    }
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    await this.session.release();
  }
}
