// How the engine worker turns noise and sentence vectors into 8-bit images: on tfjs (the checkpoint's own
// generator) or on ONNX Runtime (the same weights exported to an in-memory graph). `auto` takes ONNX Runtime
// when it loads and falls back to tfjs, saying why.
import * as tf from '@tensorflow/tfjs-core';
import { rgbImagesFromFloats, toRgbImages, type RgbImage } from '../../model/image.js';
import { exportGeneratorOnnx } from '../../model/onnx/export-generator.js';
import { OnnxGenerator } from '../../model/onnx/onnx-generator.js';
import type { TextToImage } from '../../model/text-to-image.js';
import type { EngineKind, RuntimeKind } from './engine.js';

export interface GeneratorRunner {
  readonly runtime: RuntimeKind;
  /** tfjs backend name or ONNX Runtime execution provider. */
  readonly device: string;
  readonly fallback?: string;
  run(noise: Float32Array, sentences: Float32Array, n: number): Promise<RgbImage[]>;
  dispose(): Promise<void>;
}

function tfjsRunner(model: TextToImage, backend: string, fallback?: string): GeneratorRunner {
  const { zDim, condDim } = model.config;
  return {
    runtime: 'tfjs',
    device: backend,
    fallback,
    async run(noise, sentences, n) {
      const raw = tf.tidy(() => model.generateRaw(tf.tensor2d(noise, [n, zDim]), tf.tensor2d(sentences, [n, condDim])));
      try {
        return await toRgbImages(raw);
      } finally {
        raw.dispose();
      }
    },
    async dispose() {},
  };
}

async function onnxRunner(model: TextToImage, threads: number, runtimeModule?: string): Promise<GeneratorRunner> {
  const weights = await model.checkpoint.generator.params.read();
  const graph = exportGeneratorOnnx(model.config, weights, { name: model.name, step: model.step, version: model.version });
  const session = await OnnxGenerator.create(graph, model.config, { threads, runtimeModule });
  // The tfjs copy of the generator's weights is no longer needed (the text encoder stays on tfjs).
  model.checkpoint.generator.dispose();
  const s = model.config.imageSize;
  return {
    runtime: 'onnx',
    device: session.device,
    fallback: session.fallback,
    async run(noise, sentences, n) {
      return rgbImagesFromFloats(await session.run(noise, sentences, n), n, s, s);
    },
    dispose: () => session.dispose(),
  };
}

export async function createGeneratorRunner(model: TextToImage, opts: { engine: EngineKind; backend: string; onnxThreads: number; onnxRuntimeModule?: string }): Promise<GeneratorRunner> {
  if (opts.engine === 'tfjs') return tfjsRunner(model, opts.backend);
  try {
    return await onnxRunner(model, opts.onnxThreads, opts.onnxRuntimeModule);
  } catch (err) {
    // Asked for by name, ONNX Runtime must work; under `auto` any failure of it leaves tfjs to serve.
    if (opts.engine === 'onnx') throw err;
    return tfjsRunner(model, opts.backend, `${(err as Error).message}; using tfjs`);
  }
}
