// The attribute values a synth-birds caption names, read back from its words (eval's fallback when the captions
// cannot be recomputed from the data set's seed, and the discriminator check's test that a counterfactual caption
// changes one attribute only).
import { tokenize } from '../../../model/text/tokenizer.js';
import type { AttributeName } from './attributes.js';
import { COLOUR_WORDS, PART_NOUNS } from './captions.js';

/** Word -> colour, noun -> part, as the synth-birds captions write them. */
const COLOUR_OF = new Map(Object.entries(COLOUR_WORDS).flatMap(([c, ws]) => ws.map((w) => [w, c] as [string, string])));
const PART_OF = new Map(Object.entries(PART_NOUNS).flatMap(([p, ns]) => ns.map((n) => [n, p] as [string, AttributeName])));
const SIZE_OF: Record<string, string> = { small: 'small', tiny: 'small', little: 'small', medium: 'medium', large: 'large', big: 'large' };
const POSE_OF: Record<string, string> = { perched: 'perched', sitting: 'perched', standing: 'perched', flying: 'flying', flight: 'flying' };
const BACKGROUNDS = new Set(['sky', 'leaves', 'water', 'ground']);
const BEAK_NOUNS = new Set<string>(PART_NOUNS.beakColour);

/**
 * The attribute values a synth-birds caption names, read from its words: a colour word right before a part noun
 * colours that part ("a red crown", "a red bird" = body), "mostly <colour>" is the body; "short"/"stubby"/"long"
 * before a beak noun is the beak length; size words, pose and facing phrases and scene nouns name the rest.
 */
export function parseCaptionAttributes(caption: string): Partial<Record<AttributeName, string>> {
  const t = tokenize(caption);
  const out: Partial<Record<AttributeName, string>> = {};
  for (let i = 0; i < t.length; i++) {
    const w = t[i];
    const colour = COLOUR_OF.get(w);
    if (colour) {
      if (t[i - 1] === 'mostly') out.body = colour;
      else {
        const part = PART_OF.get(t[i + 1] ?? '');
        if (part) out[part] = colour;
      }
      continue;
    }
    if (w === 'short' || w === 'stubby' || w === 'long') {
      if (t.slice(i + 1, i + 4).some((x) => BEAK_NOUNS.has(x))) out.beakLength = w === 'long' ? 'long' : 'short';
      continue;
    }
    if (SIZE_OF[w]) out.size = SIZE_OF[w];
    else if (POSE_OF[w]) out.pose = POSE_OF[w];
    else if (w === 'left' || w === 'right') out.facing = w;
    else if (BACKGROUNDS.has(w)) out.background = w;
  }
  return out;
}
