// The text encoder's sentence scale. DAMSM's losses compare sentence and image features by cosine, so pretraining
// leaves the length of sentence vectors arbitrary, and an encoder trained for a few thousand steps gives short
// vectors that differ little between captions (a one-word colour change moved them by about 0.1 in the first
// bundled run). DF-GAN's matching-aware gradient penalty bounds D's gradient with respect to (image, sentence), so
// D cannot tell such captions apart and G never learns to follow them. Scaling sentences to a set spread across
// captions removes that limit without changing the encoder. Measured on synth-birds: spread 0.03 (unscaled) never
// steered; spread 1 (sentence vectors longer than the noise) made G ignore the noise and D oscillate; 0.25, about
// what a converged DAMSM LSTM gives, is the default.
import type { TextEncoder } from '../../model/text/encoder.js';
import type { Vocabulary } from '../../model/text/vocab.js';

/**
 * Word ids of up to `sample` of `captions`, taken evenly spread (so deterministic); captions without a word the
 * vocabulary knows are left out (they say nothing about the sentence vectors the GAN sees).
 */
export function sampleCaptionIds(text: TextEncoder, vocab: Vocabulary, captions: readonly string[], sample: number): number[][] {
  const step = Math.max(1, Math.floor(captions.length / sample));
  const ids: number[][] = [];
  for (let i = 0; i < captions.length && ids.length < sample; i += step) {
    try {
      ids.push(vocab.encode(captions[i], text.config.maxWords).ids);
    } catch {
      /* no known word */
    }
  }
  return ids;
}

/**
 * The sentenceScale that makes the root mean (over dimensions) of the per-dimension variance across `captions`
 * equal `spread` (default 1; up to `sample` captions, taken evenly spread so the result is deterministic).
 */
export async function measureSentenceScale(
  text: TextEncoder,
  vocab: Vocabulary,
  captions: readonly string[],
  opts: { spread?: number; sample?: number } = {},
): Promise<number> {
  const ids = sampleCaptionIds(text, vocab, captions, opts.sample ?? 2048);
  if (ids.length < 2) return text.config.sentenceScale;
  const D = 2 * text.config.hiddenPerDirection;
  const sum = new Float64Array(D);
  const sumSq = new Float64Array(D);
  for (let i = 0; i < ids.length; i += 256) {
    const { sentence, words } = text.encodeIds(ids.slice(i, i + 256));
    words.dispose();
    const data = await sentence.data();
    sentence.dispose();
    for (let k = 0; k < data.length; k++) {
      sum[k % D] += data[k];
      sumSq[k % D] += data[k] * data[k];
    }
  }
  let meanVar = 0;
  for (let d = 0; d < D; d++) {
    const mean = sum[d] / ids.length;
    meanVar += Math.max(0, sumSq[d] / ids.length - mean * mean) / D;
  }
  if (!(meanVar > 0)) return text.config.sentenceScale;
  // Measured on the encoder as configured, so the new factor replaces (not multiplies) the old one.
  return ((opts.spread ?? 1) * text.config.sentenceScale) / Math.sqrt(meanVar);
}

