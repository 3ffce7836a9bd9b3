// Counterfactual captions of a synth-birds image: the caption generator re-run on the image's own random stream
// with one attribute changed gives (nearly always) the same sentence with one phrase swapped ("turned to the left"
// -> "turned to the right"). The discriminator check scores D on them; `train --counterfactual-pairs` trains D on
// them as mismatched pairs that differ from the truth in exactly one named attribute.
import type { Rng } from '../../../model/sampling.js';
import { ATTRIBUTE_NAMES, ATTRIBUTE_SPACE, attributesOf, imageRng, type AttributeName, type BirdAttributes } from './attributes.js';
import { composeCaptions } from './captions.js';
import { parseCaptionAttributes } from './caption-attributes.js';

export interface CounterfactualPair {
  name: AttributeName;
  truth: string;
  other: string;
}

/** The same captions of a synth-birds image (index in the generator) with `name` changed to `value`. */
export function counterfactualCaptions(synthSeed: number, index: number, attrs: BirdAttributes, name: AttributeName, value: string): string[] {
  const changed = { ...attrs, [name]: value } as BirdAttributes;
  return composeCaptions(changed, imageRng(synthSeed, index, 'captions')).map((c) => c.text);
}

function sameAttributes(a: Record<string, string>, b: Record<string, string>): boolean {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  return [...keys].every((k) => a[k] === b[k]);
}

/**
 * Caption pairs (true, counterfactual) of one image (index in the generator), one counterfactual value per
 * attribute drawn by `rng`. A changed value can change how the composer consumes its random stream, so the
 * counterfactual of a caption is kept only where its words name exactly the caption's attributes but the changed
 * one. `only` restricts the pairs to that true caption (the composer still runs for every attribute, so `rng`
 * advances alike).
 */
export function counterfactualPairs(synthSeed: number, index: number, rng: Rng, only?: string): CounterfactualPair[] {
  const attrs = attributesOf(synthSeed, index);
  const own = composeCaptions(attrs, imageRng(synthSeed, index, 'captions'));
  const out: CounterfactualPair[] = [];
  for (const name of ATTRIBUTE_NAMES) {
    const values = (ATTRIBUTE_SPACE[name] as readonly string[]).filter((v) => v !== attrs[name]);
    const value = values[Math.floor(rng.uniform() * values.length)];
    if (only !== undefined && !own.some((c) => c.text === only && c.mentions.includes(name))) continue;
    const other = counterfactualCaptions(synthSeed, index, attrs, name, value);
    own.forEach((c, k) => {
      if (!c.mentions.includes(name) || (only !== undefined && c.text !== only)) return;
      const named = parseCaptionAttributes(c.text) as Record<string, string>;
      if (named[name] !== attrs[name]) return; // the words do not say it (cannot happen with the current composer)
      if (sameAttributes(parseCaptionAttributes(other[k]) as Record<string, string>, { ...named, [name]: value })) out.push({ name, truth: c.text, other: other[k] });
    });
  }
  return out;
}

/**
 * One counterfactual of `caption` (a caption of the image at `index` in the generator): one of the attributes it
 * names, drawn by `rng`, changed to another value drawn by `rng`. Undefined when the caption is not one of the
 * image's or none of its attributes can be changed alone.
 */
export function counterfactualOf(synthSeed: number, index: number, caption: string, rng: Rng): CounterfactualPair | undefined {
  const pairs = counterfactualPairs(synthSeed, index, rng, caption);
  return pairs.length ? pairs[Math.floor(rng.uniform() * pairs.length)] : undefined;
}
