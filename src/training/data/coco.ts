// COCO 2014 in the layout AttnGAN and DF-GAN use (no crop):
//   root/images/train2014/<key>.jpg, root/images/val2014/<key>.jpg   (also images/<dir>/jpg/<key>.jpg, .png)
//   root/text/<key>.txt                     5 captions, one per line
//   root/{train,test}/filenames.pickle      list of keys like 'COCO_train2014_000000000009' (or filenames.txt)
import { join } from 'node:path';
import { DfganError } from '../../errors.js';
import type { RgbImage } from '../../model/image.js';
import type { Dataset, Split } from './dataset.js';
import { DirIndex, mapLimit, readCaptionFile, readSplitKeys, reportMissing } from './cub.js';
import { readImage } from './image-io.js';

export const COCO_CAPTIONS_PER_IMAGE = 5;
const IMAGE_EXTS = ['.jpg', '.jpeg', '.png'];
const IMAGE_DIRS = ['train2014', 'val2014'];

interface CocoEntry {
  key: string;
  image: string;
  text: string;
}

export class CocoDataset implements Dataset {
  readonly kind = 'coco';

  constructor(
    readonly root: string,
    readonly split: Split,
    private readonly entries: CocoEntry[],
    readonly splitSource: string,
    private readonly maxCaptions = COCO_CAPTIONS_PER_IMAGE,
  ) {}

  get size(): number {
    return this.entries.length;
  }

  private entry(i: number): CocoEntry {
    const e = this.entries[i];
    if (!Number.isInteger(i) || !e) throw new DfganError('INVALID_ARGUMENT', `image index ${i} out of range [0, ${this.entries.length})`);
    return e;
  }

  key(i: number): string {
    return this.entry(i).key;
  }

  imagePath(i: number): string {
    return this.entry(i).image;
  }

  image(i: number): Promise<RgbImage> {
    return readImage(this.entry(i).image);
  }

  captions(i: number): Promise<string[]> {
    return readCaptionFile(this.entry(i).text, this.maxCaptions);
  }
}

/** Folders where an image with this key may lie, most likely first. */
function candidateDirs(root: string, key: string): string[] {
  const m = /^COCO_(train2014|val2014)_/.exec(key);
  const dirs = m ? [m[1], ...IMAGE_DIRS.filter((d) => d !== m[1])] : IMAGE_DIRS;
  return dirs.flatMap((d) => [join(root, 'images', d), join(root, 'images', d, 'jpg')]);
}

/** Opens one split of COCO 2014 and checks that every listed image and caption file is there. */
export async function openCoco(root: string, split: Split): Promise<CocoDataset> {
  if (split !== 'train' && split !== 'test') {
    throw new DfganError('INVALID_ARGUMENT', `split must be 'train' or 'test', got ${JSON.stringify(split)}`);
  }
  const listed = await readSplitKeys(root, split);
  if (!listed) {
    throw new DfganError(
      'INVALID_ARGUMENT',
      `no ${split} split list for COCO at ${root}: expected ${join(root, split, 'filenames.pickle')} or ${join(root, split, 'filenames.txt')}`,
    );
  }
  if (listed.keys.length === 0) throw new DfganError('INVALID_ARGUMENT', `COCO ${split} split list ${listed.file} is empty`);
  const index = new DirIndex();
  const checked = await mapLimit(listed.keys, 64, async ({ key }) => {
    let image: string | undefined;
    for (const dir of candidateDirs(root, key)) {
      image = await index.findWithExt(join(dir, key), IMAGE_EXTS);
      if (image) break;
    }
    const text = join(root, 'text', `${key}.txt`);
    return {
      entry: { key, image: image ?? join(candidateDirs(root, key)[0], `${key}.jpg`), text },
      imageOk: image !== undefined,
      textOk: await index.has(text),
    };
  });
  reportMissing(checked.filter((c) => !c.imageOk).map((c) => c.entry.image), 'image file');
  reportMissing(checked.filter((c) => !c.textOk).map((c) => c.entry.text), 'caption file');
  return new CocoDataset(root, split, checked.map((c) => c.entry), listed.file);
}
