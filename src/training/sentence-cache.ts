// Sentence vectors of captions under the frozen text encoder, computed once per distinct caption.
import * as tf from '@tensorflow/tfjs-core';
import type { TextEncoder } from '../model/text/encoder.js';
import type { Vocabulary } from '../model/text/vocab.js';

export class SentenceCache {
  private readonly cache = new Map<string, Float32Array>();

  constructor(
    private readonly encoder: TextEncoder,
    private readonly vocab: Vocabulary,
    private readonly maxEntries = 200_000,
  ) {}

  get dim(): number {
    return 2 * this.encoder.config.hiddenPerDirection;
  }

  /** Whether the caption has at least one word the vocabulary knows. */
  usable(caption: string): boolean {
    try {
      this.vocab.encode(caption, this.encoder.config.maxWords);
      return true;
    } catch {
      return false;
    }
  }

  /** [B, dim] sentence vectors; captions must be usable(). The caller disposes the result. */
  get(captions: string[]): tf.Tensor2D {
    const missing = [...new Set(captions.filter((c) => !this.cache.has(c)))];
    if (missing.length > 0) {
      const ids = missing.map((c) => this.vocab.encode(c, this.encoder.config.maxWords).ids);
      const s = tf.tidy(() => {
        const { sentence, words } = this.encoder.encodeIds(ids);
        words.dispose();
        return sentence;
      });
      const data = s.dataSync() as Float32Array;
      s.dispose();
      if (this.cache.size + missing.length > this.maxEntries) this.cache.clear();
      missing.forEach((c, i) => this.cache.set(c, data.slice(i * this.dim, (i + 1) * this.dim)));
    }
    const out = new Float32Array(captions.length * this.dim);
    captions.forEach((c, i) => out.set(this.cache.get(c)!, i * this.dim));
    return tf.tensor2d(out, [captions.length, this.dim]);
  }
}
