// `dfgan generate`: caption (or sentence vectors) + seeds (or noise) -> PNG files, optionally the raw output.
import { readFile, writeFile, mkdir } from 'node:fs/promises';
import { dirname, extname } from 'node:path';
import { randomInt } from 'node:crypto';
import * as tf from '@tensorflow/tfjs-core';
import { DfganError } from '../errors.js';
import { TextToImage, MAX_IMAGES_PER_CALL } from '../model/text-to-image.js';
import { DEFAULT_TRUNCATION, MAX_SEED, type Truncation } from '../model/sampling.js';
import { toRgbImages } from '../model/image.js';
import { encodePng } from '../model/png.js';
import { formatNpy, parseNpy, type NpyArray } from '../model/npy.js';
import type { EncodedCaption } from '../model/text/vocab.js';

export interface GenerateArgs {
  checkpoint: string;
  text?: string;
  seed?: number;
  n?: number;
  truncation: Truncation;
  out: string;
  z?: string;
  sentence?: string;
  rawOut?: string;
}

export interface GenerateResult {
  model: { name: string; version: string; step: number };
  files: string[];
  seeds: number[] | null;
  words: string[] | null;
  dropped: string[];
  rawOut?: string;
}

async function readMatrix(path: string, flag: string, cols: number): Promise<NpyArray> {
  let buf: Buffer;
  try {
    buf = await readFile(path);
  } catch (err) {
    throw new DfganError('INVALID_ARGUMENT', `${flag}: cannot read ${path}`, { cause: err });
  }
  const arr = parseNpy(buf, path);
  if (arr.shape.length !== 2 || arr.shape[1] !== cols || arr.shape[0] < 1 || arr.shape[0] > MAX_IMAGES_PER_CALL) {
    throw new DfganError('BAD_NPY', `${flag} ${path}: shape [${arr.shape}], expected [n, ${cols}] with 1 <= n <= ${MAX_IMAGES_PER_CALL}`);
  }
  if (!arr.data.every(Number.isFinite)) throw new DfganError('BAD_NPY', `${flag} ${path}: holds NaN or infinite values`);
  return arr;
}

/** Output file of image i: FILE.png for a single image, FILE-i.png for several. */
export function outputPath(out: string, i: number, n: number): string {
  if (n === 1) return out;
  const ext = extname(out) || '.png';
  return `${out.slice(0, out.length - extname(out).length)}-${i}${ext}`;
}

export async function runGenerate(model: TextToImage, args: GenerateArgs): Promise<GenerateResult> {
  const { zDim, condDim } = model.config;
  if (!args.text && !args.sentence) throw new DfganError('INVALID_ARGUMENT', 'give --text or --sentence');
  if (args.text && args.sentence) throw new DfganError('INVALID_ARGUMENT', 'give --text or --sentence, not both');
  if (!args.out.toLowerCase().endsWith('.png')) throw new DfganError('INVALID_ARGUMENT', `--out must name a .png file, got "${args.out}"`);

  const zArr = args.z ? await readMatrix(args.z, '--z', zDim) : undefined;
  const sArr = args.sentence ? await readMatrix(args.sentence, '--sentence', condDim) : undefined;
  const n = zArr?.shape[0] ?? sArr?.shape[0] ?? args.n ?? 1;
  for (const [flag, arr] of [['--z', zArr], ['--sentence', sArr]] as const) {
    if (arr && arr.shape[0] !== n) throw new DfganError('INVALID_ARGUMENT', `${flag} has ${arr.shape[0]} rows, but ${n} images were asked for`);
  }
  if (args.n !== undefined && args.n !== n) throw new DfganError('INVALID_ARGUMENT', `--n ${args.n} disagrees with the ${n} rows of the .npy input`);
  if (n < 1 || n > MAX_IMAGES_PER_CALL) throw new DfganError('INVALID_ARGUMENT', `--n must be in [1, ${MAX_IMAGES_PER_CALL}]`);

  let seeds: number[] | null = null;
  if (!zArr) {
    const base = args.seed ?? randomInt(0, MAX_SEED - MAX_IMAGES_PER_CALL);
    if (base + n - 1 > MAX_SEED) throw new DfganError('INVALID_ARGUMENT', `--seed ${base} + ${n} images runs past ${MAX_SEED}`);
    seeds = Array.from({ length: n }, (_, i) => base + i);
  }
  let caption: EncodedCaption | undefined;
  if (args.text) [caption] = model.tokenize([args.text]);

  const z = zArr ? tf.tensor2d(zArr.data, [n, zDim]) : model.noise(seeds!, args.truncation);
  const raw = tf.tidy(() => {
    const s = sArr ? tf.tensor2d(sArr.data, [n, condDim]) : (tf.tile(model.encode([caption!]), [n, 1]) as tf.Tensor2D);
    return model.generateRaw(z, s);
  });
  z.dispose();
  try {
    const files: string[] = [];
    const images = await toRgbImages(raw);
    await mkdir(dirname(args.out), { recursive: true });
    for (let i = 0; i < n; i++) {
      const file = outputPath(args.out, i, n);
      await writeFile(file, await encodePng(images[i]));
      files.push(file);
    }
    if (args.rawOut) {
      const nchw = tf.tidy(() => tf.transpose(raw, [0, 3, 1, 2]));
      const data = (await nchw.data()) as Float32Array;
      const shape = nchw.shape;
      nchw.dispose();
      await mkdir(dirname(args.rawOut), { recursive: true });
      await writeFile(args.rawOut, formatNpy(shape, data));
    }
    return {
      model: { name: model.name, version: model.version, step: model.step },
      files,
      seeds,
      words: caption?.words ?? null,
      dropped: caption?.dropped ?? [],
      ...(args.rawOut ? { rawOut: args.rawOut } : {}),
    };
  } finally {
    raw.dispose();
  }
}

export { DEFAULT_TRUNCATION };
