// One interface for every image-caption data set the trainer and evaluator read (synthetic birds, CUB, COCO).
import type { RgbImage } from '../../model/image.js';

export type Split = 'train' | 'test';

export interface Dataset {
  /** e.g. 'cub', 'coco', 'synth-birds'. */
  readonly kind: string;
  readonly root: string;
  readonly split: Split;
  /** Number of images in this split. */
  readonly size: number;
  /** Stable identifier of image i (its file key, e.g. '001.Black_footed_Albatross/Black_Footed_Albatross_0046_18'). */
  key(i: number): string;
  /** Image i as 8-bit RGB, already cropped as the layout prescribes (CUB: around its bounding box), not resized. */
  image(i: number): Promise<RgbImage>;
  /** Every caption of image i (CUB and synth-birds: 10, COCO: 5). */
  captions(i: number): Promise<string[]>;
  /** Attribute name -> value of image i where the data set knows them (synth-birds), else undefined. */
  attributes?(i: number): Promise<Record<string, string> | undefined>;
}

/** Every caption of every image, in order (vocabularies are built from them). */
export async function allCaptions(ds: Dataset): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < ds.size; i++) out.push(...(await ds.captions(i)));
  return out;
}
