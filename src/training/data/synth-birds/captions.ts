// Captions in the style of CUB's (Reed et al. 2016): ten per image, each naming two to four of the bird's
// attributes through varied templates and synonyms; across the ten, every attribute is named at least once.
// Colour words only ever appear right before a noun of the part they colour ("a red crown", "a short orange
// bill"), or as the body's colour ("a red bird", "is mostly red"); scenes are described without colour words.
import type { Rng } from '../../../model/sampling.js';
import { tokenize } from '../../../model/text/tokenizer.js';
import { ATTRIBUTE_NAMES, pick, randInt, shuffle, type AttributeName, type BirdAttributes, type ColourName } from './attributes.js';

export const CAPTIONS_PER_IMAGE = 10;
/** DF-GAN reads at most 18 words of a caption (it drops random words beyond), so no caption is longer. */
export const MAX_CAPTION_WORDS = 18;

export interface Caption {
  text: string;
  /** The attributes the caption names. */
  mentions: AttributeName[];
}

/** The nouns each part is called by (a colour word right before one of them is that part's colour). */
export const PART_NOUNS = {
  body: ['body', 'bird'],
  wing: ['wings', 'wingbars'],
  crown: ['crown', 'cap'],
  belly: ['belly', 'breast', 'abdomen', 'chest'],
  beakColour: ['beak', 'bill'],
} as const;

/** Every word a colour may be written as, by colour. */
export const COLOUR_WORDS: Record<ColourName, readonly string[]> = {
  red: ['red'],
  orange: ['orange'],
  yellow: ['yellow'],
  green: ['green'],
  blue: ['blue'],
  purple: ['purple'],
  pink: ['pink'],
  brown: ['brown'],
  black: ['black'],
  white: ['white'],
  grey: ['grey', 'gray'],
};

const SIZE_WORDS = {
  small: ['small', 'tiny', 'little', 'small'],
  medium: ['medium sized', 'medium', 'medium sized'],
  large: ['large', 'big', 'large'],
} as const;

const BEAK_LENGTH_WORDS = {
  short: ['short', 'stubby', 'short pointed', 'short'],
  long: ['long', 'long pointed', 'long thin', 'long'],
} as const;

const POSE_PHRASES = {
  perched: ['perched on a branch', 'sitting on a branch', 'perched on a twig', 'standing on a branch'],
  flying: ['flying', 'in flight', 'flying', 'in flight'],
} as const;

const FACING_PHRASES = {
  left: ['facing left', 'facing to the left', 'looking to the left', 'turned to the left'],
  right: ['facing right', 'facing to the right', 'looking to the right', 'turned to the right'],
} as const;

/** Phrases that read after "is" and after a noun alike. */
const BACKGROUND_PHRASES = {
  sky: ['in front of the sky', 'against the sky', 'against a clear sky'],
  leaves: ['in front of leaves', 'among the leaves', 'against a background of leaves'],
  water: ['over the water', 'in front of the water', 'near the water', 'above the water'],
  ground: ['above the ground', 'over the ground', 'in front of the ground', 'near the ground'],
} as const;

/** How often an attribute is added beyond the one each caption must name: colours dominate, as in CUB. */
const EXTRA_WEIGHT: Record<AttributeName, number> = {
  body: 3,
  wing: 3,
  crown: 3,
  belly: 3,
  beakColour: 2,
  beakLength: 2,
  size: 2,
  pose: 1,
  facing: 0.6,
  background: 0.6,
};

function colourWord(rng: Rng, c: ColourName): string {
  const words = COLOUR_WORDS[c];
  return words.length > 1 && rng.uniform() < 0.3 ? words[1] : words[0];
}

function article(word: string): string {
  return /^[aeiou]/.test(word) ? 'an' : 'a';
}

function withArticle(phrase: string): string {
  return `${article(phrase)} ${phrase}`;
}

function joinList(rng: Rng, items: string[]): string {
  if (items.length <= 1) return items.join('');
  if (items.length === 2) return `${items[0]} and ${items[1]}`;
  const oxford = rng.uniform() < 0.3 ? ',' : '';
  return `${items.slice(0, -1).join(', ')}${oxford} and ${items[items.length - 1]}`;
}

/** Draws `k` distinct names from `pool` with probability proportional to their weights. */
function weightedDistinct(rng: Rng, pool: AttributeName[], k: number): AttributeName[] {
  const left = [...pool];
  const out: AttributeName[] = [];
  while (out.length < k && left.length > 0) {
    const total = left.reduce((s, n) => s + EXTRA_WEIGHT[n], 0);
    let x = rng.uniform() * total;
    let idx = left.length - 1;
    for (let i = 0; i < left.length; i++) {
      x -= EXTRA_WEIGHT[left[i]];
      if (x < 0) {
        idx = i;
        break;
      }
    }
    out.push(left[idx]);
    left.splice(idx, 1);
  }
  return out;
}

/** One caption naming exactly the attributes in `m`. */
function sentence(a: BirdAttributes, m: ReadonlySet<AttributeName>, rng: Rng): string {
  // Body colour: as an adjective of the bird, as "mostly <c>", or as a feature noun ("a red body").
  const bodyForm = m.has('body') ? pick(rng, ['adj', 'adj', 'mostly', 'noun'] as const) : null;
  const sizeWord = m.has('size') ? pick(rng, SIZE_WORDS[a.size]) : null;
  const adjs: string[] = [];
  if (sizeWord) adjs.push(sizeWord);
  if (bodyForm === 'adj') adjs.push(colourWord(rng, a.body));
  if (bodyForm === 'mostly') adjs.push(`mostly ${colourWord(rng, a.body)}`);

  const features: string[] = [];
  if (bodyForm === 'noun') features.push(withArticle(`${colourWord(rng, a.body)} body`));
  if (m.has('wing')) features.push(`${colourWord(rng, a.wing)} ${pick(rng, ['wings', 'wings', 'wingbars'])}`);
  if (m.has('crown')) features.push(withArticle(`${colourWord(rng, a.crown)} ${pick(rng, ['crown', 'crown', 'cap'])}`));
  if (m.has('belly')) features.push(withArticle(`${colourWord(rng, a.belly)} ${pick(rng, PART_NOUNS.belly)}`));
  if (m.has('beakLength') || m.has('beakColour')) {
    const words: string[] = [];
    if (m.has('beakLength')) words.push(pick(rng, BEAK_LENGTH_WORDS[a.beakLength]));
    if (m.has('beakColour')) words.push(colourWord(rng, a.beakColour));
    words.push(pick(rng, PART_NOUNS.beakColour));
    features.push(withArticle(words.join(' ')));
  }
  shuffle(rng, features);

  const preds: string[] = [];
  if (m.has('pose')) preds.push(pick(rng, POSE_PHRASES[a.pose]));
  if (m.has('facing')) preds.push(pick(rng, FACING_PHRASES[a.facing]));
  shuffle(rng, preds);
  let state = preds.join(' and ');
  if (m.has('background')) state = [state, pick(rng, BACKGROUND_PHRASES[a.background])].filter((s) => s).join(' ');

  const adj = adjs.length ? adjs.join(' ') + ' ' : '';
  const feat = joinList(rng, features);
  const the = pick(rng, ['this', 'the', 'this']);
  const a1 = adj ? article(adj) : 'a';
  type Template = () => string;
  const templates: Template[] = [() => `this is ${a1} ${adj}bird${feat ? ` with ${feat}` : ''}${state ? `, ${state}` : ''}`];
  if (feat) {
    templates.push(() => `${the} ${adj}bird has ${feat}${state ? ` and is ${state}` : ''}`);
    templates.push(() => `${a1} ${adj}bird with ${feat}${state ? `, ${state}` : ''}`);
  }
  if (state) {
    templates.push(() => `${the} ${adj}bird is ${state}${feat ? ` and has ${feat}` : ''}`);
    templates.push(() => `${a1} ${adj}bird ${state}${feat ? `, with ${feat}` : ''}`);
  }
  if (bodyForm === 'mostly' && !sizeWord) {
    // "this bird is mostly red with ..." reads better than "this mostly red bird has ...".
    const c = adjs[0];
    return `${the} bird is ${c}${feat ? ` with ${feat}` : ''}${state ? `, ${state}` : ''}`;
  }
  return pick(rng, templates)();
}

/**
 * `count` captions of a bird. Caption k names attribute order[k] (a shuffle of all attributes, so ten captions
 * name every attribute) plus one to three others drawn with CUB-like weights.
 */
export function composeCaptions(a: BirdAttributes, rng: Rng, count = CAPTIONS_PER_IMAGE): Caption[] {
  const order = shuffle(rng, [...ATTRIBUTE_NAMES]);
  const out: Caption[] = [];
  for (let k = 0; k < count; k++) {
    const required = order[k % order.length];
    const extra = weightedDistinct(
      rng,
      ATTRIBUTE_NAMES.filter((n) => n !== required),
      1 + randInt(rng, 3),
    );
    // Redraw captions longer than the encoder reads; after a few tries name one attribute fewer.
    let mentions = [required, ...extra];
    for (let attempt = 1; ; attempt++) {
      const text = sentence(a, new Set(mentions), rng);
      if (tokenize(text).length <= MAX_CAPTION_WORDS) {
        out.push({ text, mentions });
        break;
      }
      if (attempt % 4 === 0 && mentions.length > 2) mentions = mentions.slice(0, -1);
    }
  }
  return out;
}

/** The ten caption strings of a bird. */
export function captionsFor(a: BirdAttributes, rng: Rng): string[] {
  return composeCaptions(a, rng).map((c) => c.text);
}
