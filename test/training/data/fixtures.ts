// Tiny CUB and COCO folders written at test time (PNG/JPEG through fast-png / jpeg-js).
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { encode as encodePngRaw } from 'fast-png';
import jpeg from 'jpeg-js';

export type PixelFn = (x: number, y: number) => [number, number, number];

export function rgbData(w: number, h: number, fn: PixelFn): Uint8Array {
  const data = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) data.set(fn(x, y), (y * w + x) * 3);
  return data;
}

export async function writePng(path: string, w: number, h: number, fn: PixelFn): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, encodePngRaw({ width: w, height: h, data: rgbData(w, h, fn), channels: 3, depth: 8 }));
}

export async function writeJpeg(path: string, w: number, h: number, fn: PixelFn): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const rgb = rgbData(w, h, fn);
  const rgba = new Uint8Array(w * h * 4);
  for (let i = 0; i < w * h; i++) {
    rgba.set(rgb.subarray(i * 3, i * 3 + 3), i * 4);
    rgba[i * 4 + 3] = 255;
  }
  await writeFile(path, jpeg.encode({ width: w, height: h, data: rgba }, 95).data);
}

export async function writeText(path: string, text: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, text);
}

/** A protocol-2 pickle of a list of str, as Python 3's pickle.dumps(keys, protocol=2) writes it. */
export function pickleStrList(keys: string[]): Uint8Array {
  const parts: number[] = [0x80, 0x02, 0x5d, 0x71, 0x00, 0x28];
  keys.forEach((k, i) => {
    const b = new TextEncoder().encode(k);
    parts.push(0x58, b.length & 0xff, (b.length >> 8) & 0xff, (b.length >> 16) & 0xff, b.length >>> 24, ...b);
    if (i + 1 < 256) parts.push(0x71, i + 1);
    else throw new Error('fixture helper handles at most 255 keys');
  });
  parts.push(0x65, 0x2e);
  return Uint8Array.from(parts);
}

export const CUB_CLASSES = ['001.Black_footed_Albatross', '002.Laysan_Albatross', '003.Sooty_Albatross'];

export interface CubFixture {
  root: string;
  /** Keys by image id (1-based ids 1..6). */
  keyOf: Record<number, string>;
  size: Record<number, { w: number; h: number }>;
  bbox: Record<number, { x: number; y: number; w: number; h: number }>;
  /** Train list in the order the pickle holds it, and test list in filenames.txt order. */
  trainOrder: number[];
  testOrder: number[];
}

export function cubCaption(id: number, c: number): string {
  return `a small bird number ${id} with caption ${c} and a white belly`;
}

/**
 * 3 classes x 2 images. Class 1's images are PNG (image 1 listed as .jpg in images.txt but stored as .png);
 * the rest JPEG. Pixel (x, y) of a PNG is (x, y, 100 + id), so crops can be checked exactly.
 * Train ids 1-4 (pickle, order 3,1,4,2), test ids 5-6 (filenames.txt, order 6,5); train_test_split.txt agrees.
 */
export async function makeCub(root: string): Promise<CubFixture> {
  const base = join(root, 'CUB_200_2011');
  const keyOf: CubFixture['keyOf'] = {};
  const size: CubFixture['size'] = {};
  const bbox: CubFixture['bbox'] = {
    1: { x: 10, y: 5, w: 30, h: 20 },
    2: { x: 0, y: 0, w: 40, h: 50 },
    3: { x: 20, y: 30, w: 25, h: 15 },
    4: { x: 5, y: 6, w: 70, h: 40 },
    5: { x: 30, y: 10, w: 10, h: 10 },
    6: { x: 2, y: 3, w: 50, h: 40 },
  };
  const imagesTxt: string[] = [];
  const bboxTxt: string[] = [];
  const splitTxt: string[] = [];
  for (let id = 1; id <= 6; id++) {
    const cls = CUB_CLASSES[Math.floor((id - 1) / 2)];
    const short = cls.slice(4);
    const name = `${short}_${String(id).padStart(4, '0')}_${1000 + id}`;
    const key = `${cls}/${name}`;
    keyOf[id] = key;
    const w = 60 + 10 * id;
    const h = 50 + 5 * id;
    size[id] = { w, h };
    imagesTxt.push(`${id} ${key}.jpg`);
    const b = bbox[id];
    bboxTxt.push(`${id} ${b.x.toFixed(1)} ${b.y.toFixed(1)} ${b.w.toFixed(1)} ${b.h.toFixed(1)}`);
    splitTxt.push(`${id} ${id <= 4 ? 1 : 0}`);
    const px: PixelFn = (x, y) => [x, y, 100 + id];
    if (id === 1) await writePng(join(base, 'images', `${key}.png`), w, h, px);
    else if (id === 2) await writePng(join(base, 'images', `${key}.jpg`), w, h, px); // PNG bytes under a .jpg name
    else await writeJpeg(join(base, 'images', `${key}.jpg`), w, h, px);
    const lines = Array.from({ length: 10 }, (_, c) => cubCaption(id, c));
    if (id === 3) lines.splice(4, 0, '', '   ', '...'); // blank and word-less lines are skipped
    if (id === 4) lines.push('an eleventh caption beyond the ten kept');
    await writeText(join(root, 'text', `${key}.txt`), lines.join(id === 5 ? '\r\n' : '\n') + '\n');
  }
  await writeText(join(base, 'images.txt'), imagesTxt.join('\n') + '\n');
  await writeText(join(base, 'bounding_boxes.txt'), bboxTxt.join('\n') + '\n');
  await writeText(join(base, 'train_test_split.txt'), splitTxt.join('\n') + '\n');
  const trainOrder = [3, 1, 4, 2];
  const testOrder = [6, 5];
  await mkdir(join(root, 'train'), { recursive: true });
  await writeFile(join(root, 'train', 'filenames.pickle'), pickleStrList(trainOrder.map((i) => keyOf[i])));
  await writeText(join(root, 'test', 'filenames.txt'), testOrder.map((i) => keyOf[i]).join('\n') + '\n');
  return { root, keyOf, size, bbox, trainOrder, testOrder };
}

export interface CocoFixture {
  root: string;
  train: string[];
  test: string[];
  size: Record<string, { w: number; h: number }>;
}

export function cocoCaption(key: string, c: number): string {
  return `A photo ${key.slice(-2)} of something number ${c}.`;
}

/** Three train2014 images (pickle list) and two val2014 images (filenames.txt; one under val2014/jpg/). */
export async function makeCoco(root: string): Promise<CocoFixture> {
  const train = ['COCO_train2014_000000000009', 'COCO_train2014_000000000025', 'COCO_train2014_000000000030'];
  const test = ['COCO_val2014_000000000042', 'COCO_val2014_000000000073'];
  const size: CocoFixture['size'] = {};
  let n = 0;
  for (const key of [...train, ...test]) {
    n++;
    const w = 40 + 4 * n;
    const h = 30 + 3 * n;
    size[key] = { w, h };
    const dir = key.includes('train2014') ? join(root, 'images', 'train2014') : join(root, 'images', 'val2014', key.endsWith('73') ? 'jpg' : '');
    await writeJpeg(join(dir, `${key}.jpg`), w, h, (x, y) => [(x * 5) % 256, (y * 7) % 256, n * 20]);
    const caps = Array.from({ length: 6 }, (_, c) => cocoCaption(key, c)); // a sixth caption, beyond the 5 kept
    await writeText(join(root, 'text', `${key}.txt`), caps.join('\n'));
  }
  await mkdir(join(root, 'train'), { recursive: true });
  await writeFile(join(root, 'train', 'filenames.pickle'), pickleStrList(train));
  await writeText(join(root, 'test', 'filenames.txt'), test.join('\n') + '\n');
  return { root, train, test, size };
}
