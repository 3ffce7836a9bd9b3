// The attribute space of synth-birds and its sampler. Every image draws its attributes from its own stream
// (seeded by data-set seed and image index), so image i never depends on how many images come before it.
import { Rng, assertSeed } from '../../../model/sampling.js';

/** Plumage colours: saturated or clearly light/dark, so each stays tellable apart at 32x32. sRGB 0..255. */
export const PALETTE = {
  red: [214, 30, 36],
  orange: [247, 128, 20],
  yellow: [250, 220, 35],
  green: [38, 160, 56],
  blue: [30, 72, 214],
  purple: [126, 44, 170],
  pink: [250, 128, 190],
  brown: [118, 70, 32],
  black: [24, 24, 26],
  white: [246, 246, 244],
  grey: [128, 128, 130],
} as const satisfies Record<string, readonly [number, number, number]>;

export type ColourName = keyof typeof PALETTE;
export const COLOURS = Object.keys(PALETTE) as ColourName[];

export const BEAK_COLOURS = ['black', 'orange', 'yellow', 'grey'] as const satisfies readonly ColourName[];
export const BEAK_LENGTHS = ['short', 'long'] as const;
export const SIZES = ['small', 'medium', 'large'] as const;
export const FACINGS = ['left', 'right'] as const;
/** Muted, unsaturated scenes whose colours stay clear of the plumage palette. */
export const BACKGROUNDS = ['sky', 'leaves', 'water', 'ground'] as const;
/** perched: on a branch, legs showing, wing folded; flying: no branch, no legs, wing raised. */
export const POSES = ['perched', 'flying'] as const;

export interface BirdAttributes {
  body: ColourName;
  wing: ColourName;
  crown: ColourName;
  belly: ColourName;
  beakLength: (typeof BEAK_LENGTHS)[number];
  beakColour: (typeof BEAK_COLOURS)[number];
  size: (typeof SIZES)[number];
  facing: (typeof FACINGS)[number];
  background: (typeof BACKGROUNDS)[number];
  pose: (typeof POSES)[number];
}

export type AttributeName = keyof BirdAttributes;

/** Attribute name -> its values, in a fixed order (class indices of the attribute classifier). */
export const ATTRIBUTE_SPACE: { readonly [K in AttributeName]: readonly BirdAttributes[K][] } = {
  body: COLOURS,
  wing: COLOURS,
  crown: COLOURS,
  belly: COLOURS,
  beakLength: BEAK_LENGTHS,
  beakColour: BEAK_COLOURS,
  size: SIZES,
  facing: FACINGS,
  background: BACKGROUNDS,
  pose: POSES,
};

export const ATTRIBUTE_NAMES = Object.keys(ATTRIBUTE_SPACE) as AttributeName[];
/** The attributes that name a colour from PALETTE. */
export const COLOUR_ATTRIBUTES = ['body', 'wing', 'crown', 'belly', 'beakColour'] as const satisfies readonly AttributeName[];

/** Uniform integer in [0, n). */
export function randInt(rng: Rng, n: number): number {
  return Math.floor(rng.uniform() * n);
}

export function pick<T>(rng: Rng, items: readonly T[]): T {
  return items[randInt(rng, items.length)];
}

/** Uniform in [lo, hi). */
export function randRange(rng: Rng, lo: number, hi: number): number {
  return lo + (hi - lo) * rng.uniform();
}

/** In-place Fisher-Yates shuffle. */
export function shuffle<T>(rng: Rng, items: T[]): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = randInt(rng, i + 1);
    [items[i], items[j]] = [items[j], items[i]];
  }
  return items;
}

/** Independent streams of one image. */
export const STREAM = { attributes: 1, render: 2, captions: 3, split: 4 } as const;

/** A 32-bit seed for (data-set seed, image index, stream): a murmur3-style mix, identical on every platform. */
export function streamSeed(seed: number, index: number, stream: number): number {
  assertSeed(seed);
  let h = Math.imul(seed ^ 0x5bd1e995, 0x9e3779b1) >>> 0;
  for (const v of [index >>> 0, Math.floor(index / 4294967296) >>> 0, stream >>> 0]) {
    let k = Math.imul(v, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, 0x1b873593);
    h ^= k;
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) >>> 0;
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

export function imageRng(seed: number, index: number, stream: keyof typeof STREAM): Rng {
  return new Rng(streamSeed(seed, index, STREAM[stream]));
}

/** Draws one bird's attributes, every value uniform over its list. */
export function sampleAttributes(rng: Rng): BirdAttributes {
  return {
    body: pick(rng, COLOURS),
    wing: pick(rng, COLOURS),
    crown: pick(rng, COLOURS),
    belly: pick(rng, COLOURS),
    beakLength: pick(rng, BEAK_LENGTHS),
    beakColour: pick(rng, BEAK_COLOURS),
    size: pick(rng, SIZES),
    facing: pick(rng, FACINGS),
    background: pick(rng, BACKGROUNDS),
    pose: pick(rng, POSES),
  };
}

/** Attributes of image `index` of the data set with this seed. */
export function attributesOf(seed: number, index: number): BirdAttributes {
  return sampleAttributes(imageRng(seed, index, 'attributes'));
}

/** As a plain string record (the Dataset interface's shape). */
export function attributeRecord(a: BirdAttributes): Record<string, string> {
  return Object.fromEntries(ATTRIBUTE_NAMES.map((n) => [n, a[n]]));
}
