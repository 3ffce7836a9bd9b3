// Does D check each attribute against the caption? On synth-birds a counterfactual caption can be composed
// exactly (data/synth-birds/counterfactuals.ts). For every real test image and every caption naming attribute X,
// D's conditional logit for (image, true caption) is compared with that for (image, counterfactual); chance is 0.5.
// G only learns to draw what D checks, so an attribute near 0.5 here stays at chance in the generated images
// whatever the generator's capacity (the stage-2 bundled model: facing 0.49, background 0.99).
import * as tf from '@tensorflow/tfjs-core';
import { DfganError } from '../../errors.js';
import type { ConditionalHead, Discriminator } from '../../model/discriminator.js';
import { Rng } from '../../model/sampling.js';
import type { TextEncoder } from '../../model/text/encoder.js';
import type { Vocabulary } from '../../model/text/vocab.js';
import type { Dataset } from '../data/dataset.js';
import { evalTransform } from '../data/transform.js';
import { ATTRIBUTE_NAMES, type AttributeName } from '../data/synth-birds/attributes.js';
import { counterfactualPairs } from '../data/synth-birds/counterfactuals.js';

export interface DiscriminatorCheck {
  /** Real images the check read. */
  images: number;
  /** Attribute -> P(D scores the true caption above the counterfactual), over `pairs[attribute]` pairs. */
  accuracy: Partial<Record<AttributeName, number>>;
  pairs: Partial<Record<AttributeName, number>>;
  /** Mean over the attributes with pairs. */
  mean: number;
}

export interface CheckedNetworks {
  d: Discriminator;
  c: ConditionalHead;
  text: TextEncoder;
  vocab: Vocabulary;
}

/**
 * Scores D's caption check on the first `images` images of `ds` (a synth-birds data set written with
 * `synthSeed`; keys end in synth_bird_<n>). Deterministic for a given `seed` (which counterfactual value is drawn).
 */
export async function checkDiscriminator(
  nets: CheckedNetworks,
  ds: Dataset,
  synthSeed: number,
  opts: { images: number; seed: number; imageSize: number; batch?: number },
): Promise<DiscriminatorCheck> {
  const n = Math.min(opts.images, ds.size);
  if (n < 1) throw new DfganError('INVALID_ARGUMENT', 'the discriminator check needs at least one image');
  const S = opts.imageSize;
  const maxWords = nets.text.config.maxWords;
  const rng = new Rng(opts.seed);
  const wins: Partial<Record<AttributeName, number>> = {};
  const pairs: Partial<Record<AttributeName, number>> = {};
  const batch = opts.batch ?? 32;
  for (let start = 0; start < n; start += batch) {
    const end = Math.min(n, start + batch);
    const pixels = new Float32Array((end - start) * S * S * 3);
    const rows: number[] = [];
    const truths: number[][] = [];
    const others: number[][] = [];
    const names: AttributeName[] = [];
    for (let i = start; i < end; i++) {
      const m = /synth_bird_(\d+)$/.exec(ds.key(i));
      if (!m) throw new DfganError('INVALID_ARGUMENT', `image ${ds.key(i)} is not a synth-birds image; the discriminator check needs synth-birds data`);
      evalTransform(await ds.image(i), S, pixels, (i - start) * S * S * 3);
      for (const p of counterfactualPairs(synthSeed, Number(m[1]) - 1, rng)) {
        let a: number[];
        let b: number[];
        try {
          a = nets.vocab.encode(p.truth, maxWords).ids;
          b = nets.vocab.encode(p.other, maxWords).ids;
        } catch {
          continue; // a caption the vocabulary cannot read is not one D was trained on
        }
        rows.push(i - start);
        truths.push(a);
        others.push(b);
        names.push(p.name);
      }
    }
    if (rows.length === 0) continue;
    const margin = tf.tidy(() => {
      const features = nets.d.apply(tf.tensor4d(pixels, [end - start, S, S, 3]));
      const f = tf.gather(features, rows) as tf.Tensor4D;
      const score = (ids: number[][]) => {
        const e = nets.text.encodeIds(ids);
        return nets.c.apply(f, e.sentence);
      };
      return tf.sub(score(truths), score(others));
    });
    const diff = await margin.data();
    margin.dispose();
    names.forEach((name, k) => {
      pairs[name] = (pairs[name] ?? 0) + 1;
      wins[name] = (wins[name] ?? 0) + (diff[k] > 0 ? 1 : diff[k] === 0 ? 0.5 : 0);
    });
  }
  const accuracy: Partial<Record<AttributeName, number>> = {};
  for (const name of ATTRIBUTE_NAMES) if (pairs[name]) accuracy[name] = wins[name]! / pairs[name]!;
  const values = Object.values(accuracy);
  return { images: n, accuracy, pairs, mean: values.length ? values.reduce((a, b) => a + b, 0) / values.length : NaN };
}
