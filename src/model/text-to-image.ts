// A loaded checkpoint ready to turn captions into images: vocabulary -> text encoder -> generator.
import * as tf from '@tensorflow/tfjs-core';
import { DfganError } from '../errors.js';
import type { GeneratorConfig } from './config.js';
import { loadCheckpoint, type LoadedCheckpoint } from './checkpoint/read.js';
import type { EncodedCaption } from './text/vocab.js';
import { DEFAULT_TRUNCATION, assertSeed, noiseForSeeds, type Truncation } from './sampling.js';
import { toRgbImages, type RgbImage } from './image.js';

export const MAX_IMAGES_PER_CALL = 64;

export interface GenerateOptions {
  text: string;
  /** One image per seed; image i of a request conventionally gets seed + i. */
  seeds: number[];
  /** Default 0.88 (truncated normal); null for plain N(0, 1). */
  truncation?: Truncation;
}

export interface GeneratedImages {
  images: RgbImage[];
  seeds: number[];
  /** The caption's words the model read (unknown words dropped). */
  caption: EncodedCaption;
}

export class TextToImage {
  private constructor(private readonly ckpt: LoadedCheckpoint) {}

  static async load(path: string): Promise<TextToImage> {
    return new TextToImage(await loadCheckpoint(path));
  }

  get name(): string {
    return this.ckpt.manifest.name;
  }
  get version(): string {
    return this.ckpt.version;
  }
  get dir(): string {
    return this.ckpt.dir;
  }
  get step(): number {
    return this.ckpt.manifest.step;
  }
  get config(): GeneratorConfig {
    return this.ckpt.generator.config;
  }
  get checkpoint(): LoadedCheckpoint {
    return this.ckpt;
  }

  /** Tokenises each caption (user errors for empty or unknown-only text). */
  tokenize(captions: string[]): EncodedCaption[] {
    return captions.map((c) => this.ckpt.vocab.encode(c, this.ckpt.textEncoder.config.maxWords));
  }

  /** Sentence vectors [B, 256] for tokenised captions. The caller disposes the result. */
  encode(captions: EncodedCaption[]): tf.Tensor2D {
    return tf.tidy(() => {
      const { sentence, words } = this.ckpt.textEncoder.encodeIds(captions.map((c) => c.ids));
      words.dispose();
      return sentence;
    });
  }

  /** Raw generator output NHWC in [-1, 1] for noise [B, zDim] and sentences [B, condDim]. Caller disposes. */
  generateRaw(z: tf.Tensor2D, sentence: tf.Tensor2D): tf.Tensor4D {
    const { zDim, condDim } = this.config;
    if (z.shape[1] !== zDim || sentence.shape[1] !== condDim || z.shape[0] !== sentence.shape[0]) {
      throw new DfganError(
        'INVALID_ARGUMENT',
        `noise [${z.shape}] and sentences [${sentence.shape}] must be [n, ${zDim}] and [n, ${condDim}] with the same n`,
      );
    }
    return this.ckpt.generator.apply(z, sentence);
  }

  /** Noise rows for the given seeds. Caller disposes. */
  noise(seeds: number[], truncation: Truncation = DEFAULT_TRUNCATION): tf.Tensor2D {
    seeds.forEach(assertSeed);
    return tf.tensor2d(noiseForSeeds(seeds, this.config.zDim, truncation), [seeds.length, this.config.zDim]);
  }

  /** One caption, one image per seed, as 8-bit RGB. */
  async generate(opts: GenerateOptions): Promise<GeneratedImages> {
    const n = opts.seeds.length;
    if (n < 1 || n > MAX_IMAGES_PER_CALL) {
      throw new DfganError('INVALID_ARGUMENT', `between 1 and ${MAX_IMAGES_PER_CALL} images per call, got ${n}`);
    }
    const [caption] = this.tokenize([opts.text]);
    const z = this.noise(opts.seeds, opts.truncation === undefined ? DEFAULT_TRUNCATION : opts.truncation);
    const images = tf.tidy(() => {
      const s = this.encode([caption]);
      return this.generateRaw(z, tf.tile(s, [n, 1]) as tf.Tensor2D);
    });
    z.dispose();
    try {
      return { images: await toRgbImages(images), seeds: [...opts.seeds], caption };
    } finally {
      images.dispose();
    }
  }

  dispose(): void {
    this.ckpt.dispose();
  }
}
