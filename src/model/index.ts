// The model's public API: pick a backend, load a checkpoint, generate.
export { selectBackend, parseBackendChoice, BACKEND_CHOICES, type BackendChoice, type BackendInfo } from './backend.js';
export { TextToImage, MAX_IMAGES_PER_CALL, type GenerateOptions, type GeneratedImages } from './text-to-image.js';
export { parseGeneratorConfig, parseTextEncoderConfig, type GeneratorConfig, type TextEncoderConfig } from './config.js';
export { createGenerator, type Generator } from './generator.js';
export { createDiscriminator, createConditionalHead, type Discriminator, type ConditionalHead } from './discriminator.js';
export { createTextEncoder, type TextEncoder } from './text/encoder.js';
export { Vocabulary } from './text/vocab.js';
export { tokenize } from './text/tokenizer.js';
export { DEFAULT_TRUNCATION, MAX_SEED, noiseForSeed, noiseForSeeds, type Truncation } from './sampling.js';
export { gridOf, rgbImagesFromFloats, toRgbImages, type RgbImage } from './image.js';
export { encodePng } from './png.js';
export { exportGeneratorOnnx, ONNX_OPSET } from './onnx/export-generator.js';
export { OnnxGenerator, loadOnnxRuntime, type OnnxDevice, type OnnxGeneratorOptions } from './onnx/onnx-generator.js';
export * from './checkpoint/index.js';
