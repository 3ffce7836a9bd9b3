// synth-birds on disk in the CUB-200-2011 layout (so the CUB reader loads it) and in memory as a Dataset.
//
// Layout under `out` (keys are '<class>/<name>'; the class folder is named after the body colour, e.g.
// '001.red_body' .. '011.grey_body', numbered in PALETTE order; names are 'synth_bird_000001', numbered from 1):
//   CUB_200_2011/images/<class>/<name>.png     the pictures
//   CUB_200_2011/images.txt                    '<id> <class>/<name>.png', ids from 1 in index order
//   CUB_200_2011/bounding_boxes.txt            '<id> <x> <y> <w> <h>', the bird's whole-pixel box (legs in, branch out)
//   CUB_200_2011/classes.txt                   '<class id> <class>' (as CUB has it)
//   CUB_200_2011/image_class_labels.txt        '<id> <class id>'
//   CUB_200_2011/train_test_split.txt          '<id> <1 if train else 0>'
//   text/<class>/<name>.txt                    10 captions, one per line
//   train/filenames.txt, test/filenames.txt    one key per line, in index order (text stand-in for filenames.pickle)
//   attributes.jsonl                           one {key, split, ...attributes} per image, in index order
//   synth-birds.json                           seed, count, size, generator version, attribute space, palette
// Everything is written into a sibling temp folder first and renamed into place at the end.
import { mkdir, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, basename, join } from 'node:path';
import cliProgress from 'cli-progress';
import { DfganError } from '../../../errors.js';
import type { RgbImage } from '../../../model/image.js';
import { encodePng } from '../../../model/png.js';
import { assertSeed, Rng } from '../../../model/sampling.js';
import { cubCropBox } from '../cub.js';
import type { Dataset, Split } from '../dataset.js';
import { crop } from '../image-io.js';
import {
  ATTRIBUTE_SPACE,
  COLOURS,
  PALETTE,
  attributeRecord,
  attributesOf,
  imageRng,
  shuffle,
  STREAM,
  streamSeed,
  type BirdAttributes,
  type ColourName,
} from './attributes.js';
import { CAPTIONS_PER_IMAGE, captionsFor } from './captions.js';
import { bboxPixels, layoutBird, MAX_SIZE, MIN_SIZE, rasterise, type Box } from './render.js';

/** Bumped whenever the same (seed, index) would give a different picture, caption or attribute. */
export const SYNTH_BIRDS_VERSION = 1;
export const MAX_COUNT = 10_000_000;

export interface SynthBirdsOptions {
  seed: number;
  /** Images in the whole data set (both splits). */
  count: number;
  /** Width = height in pixels. */
  size: number;
  /** Share of images in the test split, in [0, 1]; round(count * testFraction) images. Default 0.1. */
  testFraction?: number;
}

export function validateSynthOptions(o: SynthBirdsOptions): Required<SynthBirdsOptions> {
  const testFraction = o.testFraction ?? 0.1;
  try {
    assertSeed(o.seed);
  } catch {
    throw new DfganError('INVALID_ARGUMENT', `seed must be an integer in [0, 4294967295], got ${o.seed}`);
  }
  if (!Number.isInteger(o.count) || o.count < 1 || o.count > MAX_COUNT) {
    throw new DfganError('INVALID_ARGUMENT', `count must be an integer in [1, ${MAX_COUNT}], got ${o.count}`);
  }
  if (!Number.isInteger(o.size) || o.size < MIN_SIZE || o.size > MAX_SIZE) {
    throw new DfganError('INVALID_ARGUMENT', `size must be an integer in [${MIN_SIZE}, ${MAX_SIZE}], got ${o.size}`);
  }
  if (!(Number.isFinite(testFraction) && testFraction >= 0 && testFraction <= 1)) {
    throw new DfganError('INVALID_ARGUMENT', `testFraction must be a number in [0, 1], got ${testFraction}`);
  }
  return { seed: o.seed, count: o.count, size: o.size, testFraction };
}

/** Class folder of a body colour: '001.red_body' .. '011.grey_body'. */
export function classFolder(body: ColourName): string {
  return `${String(COLOURS.indexOf(body) + 1).padStart(3, '0')}.${body}_body`;
}

export const CLASS_FOLDERS: readonly string[] = COLOURS.map(classFolder);

/** File name (no extension) of image `index` (0-based) in a data set of `count` images. */
export function imageName(index: number, count: number): string {
  return `synth_bird_${String(index + 1).padStart(Math.max(6, String(count).length), '0')}`;
}

export function imageKey(attrs: BirdAttributes, index: number, count: number): string {
  return `${classFolder(attrs.body)}/${imageName(index, count)}`;
}

/** Split of every index: exactly round(count * testFraction) test images, chosen by a seeded shuffle. */
export function splitOf(seed: number, count: number, testFraction: number): Split[] {
  const nTest = Math.round(count * testFraction);
  const order = shuffle(
    new Rng(streamSeed(seed, 0, STREAM.split)),
    Array.from({ length: count }, (_, i) => i),
  );
  const splits: Split[] = new Array(count).fill('train');
  for (let k = 0; k < nTest; k++) splits[order[k]] = 'test';
  return splits;
}

/** Everything about image `index` of a data set. */
export interface SynthItem {
  index: number;
  key: string;
  attributes: BirdAttributes;
  image: RgbImage;
  /** Bird box in whole pixels (the smallest holding every part of the bird, legs included, branch not). */
  bbox: Box;
  captions: string[];
}

/** The smallest whole-pixel box holding the bird (CUB's readers truncate boxes to integers). */
function enclosingPixels(b: Box, size: number): Box {
  const x0 = Math.max(0, Math.floor(b.x + 1e-9));
  const y0 = Math.max(0, Math.floor(b.y + 1e-9));
  const x1 = Math.min(size, Math.ceil(b.x + b.w - 1e-9));
  const y1 = Math.min(size, Math.ceil(b.y + b.h - 1e-9));
  return { x: x0, y: y0, w: x1 - x0, h: y1 - y0 };
}

export function synthItem(seed: number, index: number, count: number, size: number): SynthItem {
  const attributes = attributesOf(seed, index);
  const scene = layoutBird(attributes, imageRng(seed, index, 'render'));
  return {
    index,
    key: imageKey(attributes, index, count),
    attributes,
    image: rasterise(scene, size),
    bbox: enclosingPixels(bboxPixels(scene, size), size),
    captions: captionsFor(attributes, imageRng(seed, index, 'captions')),
  };
}

/** The crop CUB's reader makes (AttnGAN's get_imgs, on the box truncated to integers as pandas does). */
export function cubCrop(img: RgbImage, b: Box): RgbImage {
  const box = cubCropBox({ x: Math.trunc(b.x), y: Math.trunc(b.y), w: Math.trunc(b.w), h: Math.trunc(b.h) }, img.width, img.height);
  return crop(img, box.x, box.y, box.w, box.h);
}

export interface SynthBirdsDatasetOptions extends SynthBirdsOptions {
  split: Split;
  /**
   * 'none' (default): the whole picture. 'cub': cropped around the bird as the CUB reader crops the written
   * data set (then the same pixels as reading it from disk). The crop frames every bird alike, which hides
   * most of the `size` attribute's scale cue (the proportions still differ).
   */
  crop?: 'none' | 'cub';
}

/** synth-birds generated on the fly, in memory: the same keys, pictures and captions as writeSynthBirds writes. */
export class SynthBirdsDataset implements Dataset {
  readonly kind = 'synth-birds';
  readonly root: string;
  readonly split: Split;
  readonly size: number;
  readonly seed: number;
  readonly count: number;
  readonly imageSize: number;
  readonly crop: 'none' | 'cub';
  /** Data-set index of each item of this split. */
  readonly indices: readonly number[];

  constructor(options: SynthBirdsDatasetOptions) {
    const o = validateSynthOptions(options);
    if (options.split !== 'train' && options.split !== 'test') {
      throw new DfganError('INVALID_ARGUMENT', `split must be 'train' or 'test', got ${String(options.split)}`);
    }
    this.seed = o.seed;
    this.count = o.count;
    this.imageSize = o.size;
    this.split = options.split;
    this.crop = options.crop ?? 'none';
    this.root = `memory:synth-birds?seed=${o.seed}&count=${o.count}&size=${o.size}`;
    const splits = splitOf(o.seed, o.count, o.testFraction);
    this.indices = splits.flatMap((s, i) => (s === options.split ? [i] : []));
    this.size = this.indices.length;
  }

  private indexOf(i: number): number {
    if (!Number.isInteger(i) || i < 0 || i >= this.size) {
      throw new DfganError('INVALID_ARGUMENT', `item ${i} is out of range [0, ${this.size}) of synth-birds ${this.split}`);
    }
    return this.indices[i];
  }

  key(i: number): string {
    const index = this.indexOf(i);
    return imageKey(attributesOf(this.seed, index), index, this.count);
  }

  /** The full item (picture uncropped, box, captions, attributes). */
  item(i: number): SynthItem {
    return synthItem(this.seed, this.indexOf(i), this.count, this.imageSize);
  }

  async image(i: number): Promise<RgbImage> {
    const it = this.item(i);
    return this.crop === 'cub' ? cubCrop(it.image, it.bbox) : it.image;
  }

  async captions(i: number): Promise<string[]> {
    const index = this.indexOf(i);
    return captionsFor(attributesOf(this.seed, index), imageRng(this.seed, index, 'captions'));
  }

  async attributes(i: number): Promise<Record<string, string>> {
    return attributeRecord(attributesOf(this.seed, this.indexOf(i)));
  }
}

export interface WriteSynthBirdsOptions extends SynthBirdsOptions {
  /** Folder to create; it must not exist or be empty, unless `overwrite`. */
  out: string;
  overwrite?: boolean;
  /** Show a progress bar on stderr. */
  progress?: boolean;
}

export interface WriteSynthBirdsResult {
  out: string;
  seed: number;
  count: number;
  size: number;
  train: number;
  test: number;
  classes: number;
  seconds: number;
}

/** The contents of synth-birds.json. */
export function synthManifest(o: Required<SynthBirdsOptions>, train: number, test: number) {
  return {
    generator: 'synth-birds',
    version: SYNTH_BIRDS_VERSION,
    seed: o.seed,
    count: o.count,
    size: o.size,
    testFraction: o.testFraction,
    train,
    test,
    captionsPerImage: CAPTIONS_PER_IMAGE,
    layout: 'CUB-200-2011 (PNG images; train/test/filenames.txt instead of filenames.pickle)',
    classes: CLASS_FOLDERS,
    classFolder: "'NNN.<body colour>_body', NNN = 1-based index of the body colour in the palette",
    attributes: ATTRIBUTE_SPACE,
    palette: PALETTE,
  };
}

async function isMissingOrEmpty(dir: string): Promise<boolean> {
  try {
    return (await readdir(dir)).length === 0;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return true;
    if ((err as NodeJS.ErrnoException).code === 'ENOTDIR') return false;
    throw err;
  }
}

/** Writes a synth-birds data set in the CUB-200-2011 layout (see the top of this file). */
export async function writeSynthBirds(options: WriteSynthBirdsOptions): Promise<WriteSynthBirdsResult> {
  const o = validateSynthOptions(options);
  const out = options.out;
  if (!out) throw new DfganError('INVALID_ARGUMENT', 'out must name a folder');
  if (!options.overwrite && !(await isMissingOrEmpty(out))) {
    throw new DfganError('INVALID_ARGUMENT', `${out} exists and is not empty (pass overwrite to replace it)`);
  }
  const started = performance.now();
  const tmp = join(dirname(out), `.${basename(out)}.partial-${process.pid}-${Date.now()}`);
  await rm(tmp, { recursive: true, force: true });
  const cubDir = join(tmp, 'CUB_200_2011');
  await mkdir(join(cubDir, 'images'), { recursive: true });
  for (const split of ['train', 'test']) await mkdir(join(tmp, split), { recursive: true });
  for (const c of CLASS_FOLDERS) {
    await mkdir(join(cubDir, 'images', c), { recursive: true });
    await mkdir(join(tmp, 'text', c), { recursive: true });
  }

  const splits = splitOf(o.seed, o.count, o.testFraction);
  const images: string[] = [];
  const boxes: string[] = [];
  const labels: string[] = [];
  const trainTest: string[] = [];
  const lists: Record<Split, string[]> = { train: [], test: [] };
  const attrLines: string[] = [];
  const bar = options.progress
    ? new cliProgress.SingleBar(
        { format: 'synth-birds [{bar}] {value}/{total} images | {eta_formatted} left', stream: process.stderr, hideCursor: true },
        cliProgress.Presets.shades_classic,
      )
    : null;
  bar?.start(o.count, 0);
  try {
    const pending: Promise<void>[] = [];
    for (let index = 0; index < o.count; index++) {
      const it = synthItem(o.seed, index, o.count, o.size);
      const id = index + 1;
      const split = splits[index];
      images.push(`${id} ${it.key}.png`);
      boxes.push(`${id} ${it.bbox.x}.0 ${it.bbox.y}.0 ${it.bbox.w}.0 ${it.bbox.h}.0`);
      labels.push(`${id} ${COLOURS.indexOf(it.attributes.body) + 1}`);
      trainTest.push(`${id} ${split === 'train' ? 1 : 0}`);
      lists[split].push(it.key);
      attrLines.push(JSON.stringify({ key: it.key, split, ...it.attributes }));
      pending.push(encodePng(it.image).then((png) => writeFile(join(cubDir, 'images', `${it.key}.png`), png)));
      pending.push(writeFile(join(tmp, 'text', `${it.key}.txt`), it.captions.join('\n') + '\n'));
      if (pending.length >= 64) await Promise.all(pending.splice(0));
      bar?.increment();
    }
    await Promise.all(pending);
    const lines = (xs: string[]) => (xs.length ? xs.join('\n') + '\n' : '');
    await writeFile(join(cubDir, 'images.txt'), lines(images));
    await writeFile(join(cubDir, 'bounding_boxes.txt'), lines(boxes));
    await writeFile(join(cubDir, 'classes.txt'), lines(CLASS_FOLDERS.map((c, k) => `${k + 1} ${c}`)));
    await writeFile(join(cubDir, 'image_class_labels.txt'), lines(labels));
    await writeFile(join(cubDir, 'train_test_split.txt'), lines(trainTest));
    await writeFile(join(tmp, 'train', 'filenames.txt'), lines(lists.train));
    await writeFile(join(tmp, 'test', 'filenames.txt'), lines(lists.test));
    await writeFile(join(tmp, 'attributes.jsonl'), lines(attrLines));
    await writeFile(join(tmp, 'synth-birds.json'), JSON.stringify(synthManifest(o, lists.train.length, lists.test.length), null, 2) + '\n');
    await rm(out, { recursive: true, force: true });
    await mkdir(dirname(out), { recursive: true });
    await rename(tmp, out);
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    throw err;
  } finally {
    bar?.stop();
  }
  return {
    out,
    seed: o.seed,
    count: o.count,
    size: o.size,
    train: lists.train.length,
    test: lists.test.length,
    classes: CLASS_FOLDERS.length,
    seconds: Number(((performance.now() - started) / 1000).toFixed(2)),
  };
}
