// CUB-200-2011 in the layout AttnGAN and DF-GAN use:
//   root/CUB_200_2011/images.txt            "<id> <class>/<img>.jpg"
//   root/CUB_200_2011/bounding_boxes.txt    "<id> <x> <y> <w> <h>"
//   root/CUB_200_2011/images/<class>/<img>.jpg   (.png also accepted)
//   root/text/<class>/<img>.txt             one caption per line
//   root/{train,test}/filenames.pickle      list of keys '<class>/<img>' (or filenames.txt, one key per line;
//                                           else CUB_200_2011/train_test_split.txt "<id> <is_train>")
// Also home of the helpers COCO shares: split lists, caption files and a directory-listing cache.
import { readFile, readdir, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { DfganError } from '../../errors.js';
import type { RgbImage } from '../../model/image.js';
import type { Dataset, Split } from './dataset.js';
import { crop, readImage } from './image-io.js';
import { unpickle } from '../../pickle.js';

export const CUB_CAPTIONS_PER_IMAGE = 10;
const IMAGE_EXTS = ['.jpg', '.jpeg', '.png', '.JPG', '.JPEG', '.PNG'];

function bad(msg: string, cause?: unknown): DfganError {
  return new DfganError('INVALID_ARGUMENT', msg, cause === undefined ? undefined : { cause });
}

export async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

/** Reads a text file that must exist; a missing one is INVALID_ARGUMENT naming it (and what it is for). */
export async function readTextFile(path: string, what = 'file'): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw bad(code === 'ENOENT' ? `missing ${what} ${path}` : `cannot read ${what} ${path}: ${code ?? (err as Error).message}`, err);
  }
}

/** Non-blank lines with their 1-based line numbers. */
export function linesOf(text: string): { line: number; text: string }[] {
  const out: { line: number; text: string }[] = [];
  text.split('\n').forEach((l, i) => {
    const t = l.trim();
    if (t) out.push({ line: i + 1, text: t });
  });
  return out;
}

/** A key together with where it was listed, for error messages. */
export interface ListedKey {
  key: string;
  where: string;
}

/**
 * The split's key list from `root/<split>/filenames.pickle` (a pickled list of str) or `root/<split>/filenames.txt`
 * (one key per line), in file order; undefined when neither exists.
 */
export async function readSplitKeys(root: string, split: Split): Promise<{ file: string; keys: ListedKey[] } | undefined> {
  const pkl = join(root, split, 'filenames.pickle');
  if (await exists(pkl)) {
    let bytes: Uint8Array;
    try {
      bytes = await readFile(pkl);
    } catch (err) {
      throw bad(`cannot read ${pkl}: ${(err as Error).message}`, err);
    }
    const v = unpickle(bytes, { source: pkl });
    if (!Array.isArray(v)) throw bad(`${pkl}: expected a pickled list of keys, got ${describe(v)}`);
    const keys = v.map((k, i) => {
      const key = typeof k === 'string' ? k : k instanceof Uint8Array ? new TextDecoder().decode(k) : undefined;
      if (key === undefined || !key.trim()) throw bad(`${pkl}: entry ${i} is not a key string (${describe(k)})`);
      return { key: key.trim(), where: `${pkl} entry ${i}` };
    });
    return { file: pkl, keys };
  }
  const txt = join(root, split, 'filenames.txt');
  if (await exists(txt)) {
    const keys = linesOf(await readTextFile(txt, 'split list')).map((l) => ({ key: l.text, where: `${txt} line ${l.line}` }));
    return { file: txt, keys };
  }
  return undefined;
}

function describe(v: unknown): string {
  if (v === null) return 'None';
  if (Array.isArray(v)) return 'a list/tuple';
  if (v instanceof Map) return 'a dict';
  if (v instanceof Set) return 'a set';
  return typeof v;
}

/**
 * Captions of one image: the file's lines, blank (or word-less) lines skipped, at most `max` kept, as AttnGAN's
 * load_captions reads them. A missing file or one without captions is INVALID_ARGUMENT naming it.
 */
export async function readCaptionFile(path: string, max: number): Promise<string[]> {
  const text = await readTextFile(path, 'caption file');
  const caps: string[] = [];
  for (const raw of text.split('\n')) {
    const cap = raw.replace(/\ufffd\ufffd/g, ' ').trim();
    if (!cap || !/[A-Za-z0-9_]/.test(cap)) continue;
    caps.push(cap);
    if (caps.length === max) break;
  }
  if (caps.length === 0) throw bad(`caption file ${path} has no captions`);
  return caps;
}

/** Cached directory listings, to check many files for existence with one readdir per folder. */
export class DirIndex {
  private readonly dirs = new Map<string, Promise<Set<string> | undefined>>();

  list(dir: string): Promise<Set<string> | undefined> {
    let p = this.dirs.get(dir);
    if (!p) {
      p = readdir(dir).then(
        (names) => new Set(names),
        () => undefined,
      );
      this.dirs.set(dir, p);
    }
    return p;
  }

  async has(path: string): Promise<boolean> {
    return (await this.list(dirname(path)))?.has(basename(path)) ?? false;
  }

  /** The first of `stem + ext` that exists, for ext in `exts`. */
  async findWithExt(stem: string, exts: readonly string[]): Promise<string | undefined> {
    const names = await this.list(dirname(stem));
    if (!names) return undefined;
    const b = basename(stem);
    for (const e of exts) if (names.has(b + e)) return stem + e;
    return undefined;
  }
}

/** Throws one error naming the first missing file (and how many more are missing). */
export function reportMissing(missing: string[], what: string): void {
  if (missing.length === 0) return;
  const more = missing.length > 1 ? ` (and ${missing.length - 1} more ${what}s missing)` : '';
  throw bad(`missing ${what} ${missing[0]}${more}`);
}

/** Runs `fn` over items with at most `limit` in flight; results in input order. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (t: T, i: number) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i], i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

export interface BBox {
  x: number;
  y: number;
  w: number;
  h: number;
}

/**
 * AttnGAN's get_imgs crop: a square of half-side int(0.75 * max(w, h)) around the bbox centre, clipped to the
 * image. Returns the window as (x, y, w, h) of PIL's crop([x1, y1, x2, y2]).
 */
export function cubCropBox(bbox: BBox, width: number, height: number): BBox {
  const r = Math.trunc(Math.max(bbox.w, bbox.h) * 0.75);
  const cx = Math.trunc((2 * bbox.x + bbox.w) / 2);
  const cy = Math.trunc((2 * bbox.y + bbox.h) / 2);
  const y1 = Math.max(0, cy - r);
  const y2 = Math.min(height, cy + r);
  const x1 = Math.max(0, cx - r);
  const x2 = Math.min(width, cx + r);
  return { x: x1, y: y1, w: x2 - x1, h: y2 - y1 };
}

interface CubEntry {
  key: string;
  image: string;
  text: string;
  bbox: BBox;
}

export class CubDataset implements Dataset {
  readonly kind = 'cub';

  constructor(
    readonly root: string,
    readonly split: Split,
    private readonly entries: CubEntry[],
    /** The file the split came from (a filenames list or train_test_split.txt). */
    readonly splitSource: string,
    private readonly maxCaptions = CUB_CAPTIONS_PER_IMAGE,
  ) {}

  get size(): number {
    return this.entries.length;
  }

  private entry(i: number): CubEntry {
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

  bbox(i: number): BBox {
    return { ...this.entry(i).bbox };
  }

  async image(i: number): Promise<RgbImage> {
    const e = this.entry(i);
    const img = await readImage(e.image);
    const box = cubCropBox(e.bbox, img.width, img.height);
    if (box.w <= 0 || box.h <= 0) {
      throw bad(`bounding box ${JSON.stringify(e.bbox)} of ${e.key} lies outside its ${img.width}x${img.height} image ${e.image}`);
    }
    return crop(img, box.x, box.y, box.w, box.h);
  }

  captions(i: number): Promise<string[]> {
    return readCaptionFile(this.entry(i).text, this.maxCaptions);
  }
}

/** Opens one split of CUB-200-2011 and checks that every listed image, box and caption file is there. */
export async function openCub(root: string, split: Split): Promise<CubDataset> {
  if (split !== 'train' && split !== 'test') throw bad(`split must be 'train' or 'test', got ${JSON.stringify(split)}`);
  const base = join(root, 'CUB_200_2011');
  const imagesTxt = join(base, 'images.txt');
  const bboxTxt = join(base, 'bounding_boxes.txt');

  // id -> relative image path; key -> id
  const pathOf = new Map<string, string>();
  const idOfKey = new Map<string, string>();
  const order: string[] = [];
  for (const { line, text } of linesOf(await readTextFile(imagesTxt, 'CUB image list'))) {
    const m = /^(\S+)\s+(\S.*)$/.exec(text);
    if (!m) throw bad(`${imagesTxt} line ${line}: expected "<id> <class>/<image>.jpg", got ${JSON.stringify(text)}`);
    const [, id, rel] = m;
    if (pathOf.has(id)) throw bad(`${imagesTxt} line ${line}: image id ${id} listed twice`);
    pathOf.set(id, rel);
    idOfKey.set(stripExt(rel), id);
    order.push(id);
  }

  const boxOf = new Map<string, BBox>();
  for (const { line, text } of linesOf(await readTextFile(bboxTxt, 'CUB bounding box list'))) {
    const f = text.split(/\s+/);
    const nums = f.slice(1).map(Number);
    if (f.length !== 5 || nums.some((n) => !Number.isFinite(n))) {
      throw bad(`${bboxTxt} line ${line}: expected "<id> <x> <y> <width> <height>", got ${JSON.stringify(text)}`);
    }
    // pandas .astype(int) in AttnGAN: truncation toward zero.
    const [x, y, w, h] = nums.map(Math.trunc);
    boxOf.set(f[0], { x, y, w, h });
  }

  // The split, as ids in list order.
  let ids: { id: string; where: string }[];
  let splitSource: string;
  const listed = await readSplitKeys(root, split);
  if (listed) {
    splitSource = listed.file;
    ids = listed.keys.map(({ key, where }) => {
      const id = idOfKey.get(stripExt(key));
      if (id === undefined) throw bad(`${where}: key ${JSON.stringify(key)} is not in ${imagesTxt}`);
      return { id, where };
    });
  } else {
    const splitTxt = join(base, 'train_test_split.txt');
    if (!(await exists(splitTxt))) {
      throw bad(
        `no ${split} split list for CUB at ${root}: expected ${join(root, split, 'filenames.pickle')}, ` +
          `${join(root, split, 'filenames.txt')} or ${splitTxt}`,
      );
    }
    splitSource = splitTxt;
    const isTrain = new Map<string, boolean>();
    for (const { line, text } of linesOf(await readTextFile(splitTxt, 'CUB train/test split'))) {
      const m = /^(\S+)\s+([01])$/.exec(text);
      if (!m) throw bad(`${splitTxt} line ${line}: expected "<id> <0|1>", got ${JSON.stringify(text)}`);
      isTrain.set(m[1], m[2] === '1');
    }
    ids = order.filter((id) => isTrain.get(id) === (split === 'train')).map((id) => ({ id, where: `${imagesTxt} id ${id}` }));
  }
  if (ids.length === 0) throw bad(`CUB ${split} split from ${splitSource} is empty`);

  const index = new DirIndex();
  const checked = await mapLimit(ids, 64, async ({ id, where }) => {
    const rel = pathOf.get(id) as string;
    const key = stripExt(rel);
    const bbox = boxOf.get(id);
    if (!bbox) throw bad(`${where}: image id ${id} (${key}) has no bounding box in ${bboxTxt}`);
    const listedPath = join(base, 'images', rel);
    const found = (await index.has(listedPath)) ? listedPath : await index.findWithExt(join(base, 'images', key), IMAGE_EXTS);
    const text = join(root, 'text', `${key}.txt`);
    return { entry: { key, image: found ?? listedPath, text, bbox }, imageOk: found !== undefined, textOk: await index.has(text) };
  });
  reportMissing(checked.filter((c) => !c.imageOk).map((c) => c.entry.image), 'image file');
  reportMissing(checked.filter((c) => !c.textOk).map((c) => c.entry.text), 'caption file');
  return new CubDataset(root, split, checked.map((c) => c.entry), splitSource);
}

function stripExt(p: string): string {
  return p.replace(/\.(jpe?g|png)$/i, '');
}
