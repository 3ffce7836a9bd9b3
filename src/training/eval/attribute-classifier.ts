// The evaluation's own feature network: a small multi-head CNN trained on the data set's real images to tell
// their labels (synth-birds: one softmax per attribute, from attributes.jsonl; other CUB-layout sets: one
// softmax over the image's class folder). It plays two parts in `dfgan eval`:
//   - its penultimate layer (`featureDim`-d, after LeakyReLU) is the feature space of the Frechet distance
//     (the role Inception-v3's pool3 plays in the release's FID);
//   - its heads score whether generated images show the attributes their captions name.
//
// Network (NHWC, tfjs layouts, PyTorch default init): images resized to `inputSize` (bilinear when they differ),
// log2(inputSize) - 2 blocks of `4x4 conv stride 2 pad 1 -> LeakyReLU(0.2)` down to 4x4 with nf * min(2^i, 4)
// channels, flatten, Linear -> featureDim -> LeakyReLU (the features), then one Linear head per label.
// Training: Adam with cosine learning-rate decay, random shifts (no flips: facing is an attribute; no colour
// jitter: colours are what captions name), optionally with extra labelled images mixed into each batch.
//
// On disk (a folder): classifier.json (format, config, heads, what it was trained on, its held-out accuracy,
// the weights' tensor list and sha256) and weights.bin (little-endian float32, the checkpoint weights format).
// The folder is written into a temporary sibling and renamed into place.
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { Adam } from '../adam.js';
import { replaceFolder } from '../../model/checkpoint/write.js';
import { z } from 'zod';
import { DfganError } from '../../errors.js';
import type { Logger } from '../../logger.js';
import { PACKAGE_VERSION } from '../../version.js';
import { Initializer, ParamStore } from '../../model/params.js';
import { conv2d, leakyRelu, linear } from '../../model/ops.js';
import { Rng } from '../../model/sampling.js';
import { encodeWeights, decodeWeights } from '../../model/checkpoint/weights-file.js';
import type { Dataset } from '../data/dataset.js';
import { evalResize } from '../data/transform.js';

export const CLASSIFIER_FORMAT = 'dfgan-attribute-classifier';
export const CLASSIFIER_FORMAT_VERSION = 1;
export const CLASSIFIER_FILE = 'classifier.json';
export const CLASSIFIER_WEIGHTS = 'weights.bin';

// ---------------------------------------------------------------------------------------------------------
// Config and network

const HeadSchema = z.object({ name: z.string().min(1), values: z.array(z.string()).min(2) }).strict();
export type Head = z.infer<typeof HeadSchema>;

export const ClassifierConfigSchema = z
  .object({
    inputSize: z
      .number()
      .int()
      .refine((s) => [16, 32, 64, 128].includes(s), 'one of 16, 32, 64, 128')
      .default(64)
      .describe('side images are resized to'),
    nf: z.number().int().min(1).max(256).default(16).describe('channels of the first conv block'),
    featureDim: z.number().int().min(2).max(1024).default(128).describe('size of the penultimate layer (the Frechet features)'),
    heads: z.array(HeadSchema).min(1),
  })
  .strict();
export type ClassifierConfig = Readonly<z.infer<typeof ClassifierConfigSchema>>;

export function parseClassifierConfig(input: unknown): ClassifierConfig {
  const r = ClassifierConfigSchema.safeParse(input);
  if (!r.success) {
    const issues = r.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    throw new DfganError('INVALID_CONFIG', `invalid attribute classifier config: ${issues}`);
  }
  const names = r.data.heads.map((h) => h.name);
  if (new Set(names).size !== names.length) throw new DfganError('INVALID_CONFIG', `attribute classifier heads repeat a name: ${names.join(', ')}`);
  return Object.freeze(r.data);
}

/** Output channels of each conv block. */
export function classifierChannels(cfg: ClassifierConfig): number[] {
  return Array.from({ length: Math.log2(cfg.inputSize) - 2 }, (_, i) => cfg.nf * Math.min(2 ** i, 4));
}

// A type alias (not an interface) so that tf.tidy accepts it as a TensorContainer.
export type ClassifierOutput = {
  /** [B, featureDim]: the penultimate layer. */
  features: tf.Tensor2D;
  /** One [B, values] logit matrix per head, in config order. */
  logits: tf.Tensor2D[];
};

export interface AttributeClassifier {
  readonly config: ClassifierConfig;
  readonly params: ParamStore;
  /** What the features are, for reports. */
  readonly featureName: string;
  /** images [B, S, S, 3] in [-1, 1], S from 16 to 256. The caller disposes the result. */
  apply(images: tf.Tensor4D): ClassifierOutput;
  dispose(): void;
}

export function createAttributeClassifier(cfgInput: unknown, opts: { seed?: number } = {}): AttributeClassifier {
  const config = parseClassifierConfig(cfgInput);
  const init = new Initializer(opts.seed ?? 0);
  const params = new ParamStore();
  const chs = classifierChannels(config);
  let inC = 3;
  chs.forEach((outC, i) => {
    const c = init.conv(4, inC, outC);
    params.add(`conv.${i}.weight`, c.weight);
    params.add(`conv.${i}.bias`, c.bias);
    inC = outC;
  });
  const flat = 4 * 4 * inC;
  const fc = init.linear(flat, config.featureDim);
  params.add('fc.weight', fc.weight);
  params.add('fc.bias', fc.bias);
  config.heads.forEach((h, k) => {
    const l = init.linear(config.featureDim, h.values.length);
    params.add(`head.${k}.weight`, l.weight);
    params.add(`head.${k}.bias`, l.bias);
  });
  const featureName =
    `attribute-classifier penultimate layer (${config.featureDim}-d LeakyReLU features of a ${chs.length}-conv CNN ` +
    `at ${config.inputSize}x${config.inputSize}, heads: ${config.heads.map((h) => h.name).join(', ')})`;

  let disposed = false;
  function apply(images: tf.Tensor4D): ClassifierOutput {
    if (disposed) throw new DfganError('INTERNAL', 'attribute classifier used after dispose()');
    const [B, H, W, C] = images.shape;
    if (images.rank !== 4 || C !== 3 || H !== W || H < 16 || H > 256) {
      throw new DfganError('INVALID_ARGUMENT', `attribute classifier takes [B, S, S, 3] with S in 16..256, got [${images.shape}]`);
    }
    return tf.tidy(() => {
      let x: tf.Tensor4D = H === config.inputSize ? images : tf.image.resizeBilinear(images, [config.inputSize, config.inputSize], false, true);
      chs.forEach((_, i) => {
        x = leakyRelu(conv2d(x, params.get(`conv.${i}.weight`), params.get(`conv.${i}.bias`), 2, 1)) as tf.Tensor4D;
      });
      const h = tf.reshape(x, [B, flat]) as tf.Tensor2D;
      const features = leakyRelu(linear(h, params.get('fc.weight'), params.get('fc.bias'))) as tf.Tensor2D;
      const logits = config.heads.map((_, k) => linear(features, params.get(`head.${k}.weight`), params.get(`head.${k}.bias`)));
      return { features, logits };
    });
  }

  return {
    config,
    params,
    featureName,
    apply,
    dispose() {
      if (disposed) return;
      disposed = true;
      params.dispose();
    },
  };
}

// ---------------------------------------------------------------------------------------------------------
// Labels of a data set

export interface LabelSource {
  /** 'attributes': per-image attributes (root/attributes.jsonl); 'class': the key's class folder. */
  kind: 'attributes' | 'class';
  heads: Head[];
  /** Attribute name -> value of the image with this key (undefined when the key has no labels). */
  recordOf(key: string): Record<string, string> | undefined;
  /** Class index per head (-1: unknown) of the image with this key. */
  labelsOf(key: string): Int32Array;
  /** Class index per head (-1: unknown) of an attribute record (e.g. of a freshly rendered image). */
  labelsOfRecord(record: Record<string, string>): Int32Array;
  /** sha256 over the labels file (or the keys), to tell whether a cached classifier fits this data. */
  fingerprint: string;
}

async function readIfExists(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

function keysOf(ds: Dataset): string[] {
  return Array.from({ length: ds.size }, (_, i) => ds.key(i));
}

/**
 * What a classifier can learn from the data set at `root`: the attributes of root/attributes.jsonl (value order
 * from root/synth-birds.json when present, else sorted), or else the class folder of each key ('<class>/<name>').
 */
export async function labelSourceOf(root: string, splits: Dataset[]): Promise<LabelSource> {
  const keys = splits.flatMap(keysOf);
  const jsonl = await readIfExists(join(root, 'attributes.jsonl'));
  const hash = createHash('sha256');
  for (const ds of splits) hash.update(`${ds.split}:${keysOf(ds).join('\n')}\n`);
  if (jsonl !== undefined) {
    hash.update(jsonl);
    const records = new Map<string, Record<string, string>>();
    jsonl.split('\n').forEach((line, n) => {
      if (!line.trim()) return;
      let obj: unknown;
      try {
        obj = JSON.parse(line);
      } catch (err) {
        throw new DfganError('INVALID_ARGUMENT', `${join(root, 'attributes.jsonl')} line ${n + 1} is not JSON`, { cause: err });
      }
      const { key, split: _split, ...rest } = obj as Record<string, unknown>;
      if (typeof key !== 'string') throw new DfganError('INVALID_ARGUMENT', `${join(root, 'attributes.jsonl')} line ${n + 1} has no "key"`);
      records.set(
        key,
        Object.fromEntries(Object.entries(rest).filter((e): e is [string, string] => typeof e[1] === 'string')),
      );
    });
    let space: Record<string, string[]> | undefined;
    const meta = await readIfExists(join(root, 'synth-birds.json'));
    if (meta) {
      const attrs = (JSON.parse(meta) as { attributes?: unknown }).attributes;
      if (attrs && typeof attrs === 'object') space = attrs as Record<string, string[]>;
    }
    if (!space) {
      const seen = new Map<string, Set<string>>();
      for (const r of records.values()) for (const [k, v] of Object.entries(r)) (seen.get(k) ?? seen.set(k, new Set()).get(k)!).add(v);
      space = Object.fromEntries([...seen].map(([k, vs]) => [k, [...vs].sort()]));
    }
    const heads = Object.entries(space)
      .filter(([, values]) => Array.isArray(values) && values.length >= 2)
      .map(([name, values]) => ({ name, values: values.map(String) }));
    if (heads.length === 0) throw new DfganError('INVALID_ARGUMENT', `${join(root, 'attributes.jsonl')} names no attribute with two or more values`);
    const index = heads.map((h) => new Map(h.values.map((v, i) => [v, i])));
    const labelsOfRecord = (r: Record<string, string>) =>
      Int32Array.from(heads, (h, k) => (r[h.name] !== undefined ? (index[k].get(r[h.name]) ?? -1) : -1));
    return {
      kind: 'attributes',
      heads,
      fingerprint: hash.digest('hex'),
      recordOf: (key) => records.get(key),
      labelsOfRecord,
      labelsOf(key) {
        const r = records.get(key);
        return r ? labelsOfRecord(r) : new Int32Array(heads.length).fill(-1);
      },
    };
  }
  const classOf = (key: string) => (key.includes('/') ? key.slice(0, key.indexOf('/')) : undefined);
  const classes = [...new Set(keys.map(classOf).filter((c): c is string => c !== undefined))].sort();
  if (classes.length < 2) {
    throw new DfganError(
      'INVALID_ARGUMENT',
      `${root} has neither attributes.jsonl nor two or more class folders in its keys: nothing to train the evaluation's feature network on`,
    );
  }
  const classIndex = new Map(classes.map((c, i) => [c, i]));
  return {
    kind: 'class',
    heads: [{ name: 'class', values: classes }],
    fingerprint: hash.digest('hex'),
    recordOf: (key) => {
      const c = classOf(key);
      return c === undefined ? undefined : { class: c };
    },
    labelsOf: (key) => Int32Array.of(classIndex.get(classOf(key) ?? '') ?? -1),
    labelsOfRecord: (r) => Int32Array.of(classIndex.get(r.class ?? '') ?? -1),
  };
}

// ---------------------------------------------------------------------------------------------------------
// Images with labels, held as 8-bit RGB

export interface LabelledImages {
  count: number;
  /** Side of every image. */
  size: number;
  /** [count, size, size, 3] 8-bit RGB. */
  images: Uint8Array;
  /** Per head: class index of each image (-1: unknown). */
  labels: Int32Array[];
  keys: string[];
}

/** Images of `ds` (eval transform: resized straight to size x size) with their labels; `limit` keeps the first ones. */
export async function loadLabelledImages(ds: Dataset, labels: LabelSource, size: number, limit = Infinity): Promise<LabelledImages> {
  const count = Math.min(ds.size, limit);
  const per = size * size * 3;
  const images = new Uint8Array(count * per);
  const out = labels.heads.map(() => new Int32Array(count));
  const keys: string[] = [];
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      images.set(evalResize(await ds.image(i), size).data, i * per);
      const key = ds.key(i);
      keys[i] = key;
      labels.labelsOf(key).forEach((v, k) => (out[k][i] = v));
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
  return { count, size, images, labels: out, keys };
}

/** 8-bit RGB -> [-1, 1] floats (the eval transform's scaling). */
export function toSignedFloats(bytes: Uint8Array, out?: Float32Array): Float32Array {
  const dst = out ?? new Float32Array(bytes.length);
  for (let i = 0; i < bytes.length; i++) dst[i] = bytes[i] / 127.5 - 1;
  return dst;
}

// ---------------------------------------------------------------------------------------------------------
// Training

export interface ClassifierTrainOptions {
  steps: number;
  batchSize: number;
  lr: number;
  seed: number;
  /** Largest random shift in pixels (edges replicated) applied to training images; 0 disables. */
  jitter: number;
  inputSize: number;
  nf: number;
  featureDim: number;
}

export const CLASSIFIER_TRAIN_DEFAULTS: Readonly<ClassifierTrainOptions> = Object.freeze({
  steps: 1500,
  batchSize: 32,
  lr: 3e-3,
  seed: 0,
  jitter: 3,
  inputSize: 64,
  nf: 16,
  featureDim: 128,
});

/** Copies image `src` shifted by (dx, dy) with edge replication into `dst` (both size x size x 3). */
function shifted(src: Uint8Array, srcOff: number, size: number, dx: number, dy: number, dst: Float32Array, dstOff: number): void {
  for (let y = 0; y < size; y++) {
    const sy = Math.min(size - 1, Math.max(0, y - dy));
    for (let x = 0; x < size; x++) {
      const sx = Math.min(size - 1, Math.max(0, x - dx));
      const s = srcOff + (sy * size + sx) * 3;
      const d = dstOff + (y * size + x) * 3;
      dst[d] = src[s] / 127.5 - 1;
      dst[d + 1] = src[s + 1] / 127.5 - 1;
      dst[d + 2] = src[s + 2] / 127.5 - 1;
    }
  }
}


/** Cosine decay from lr to lr / 20 over `steps`. */
export function classifierLearningRate(lr: number, step: number, steps: number): number {
  const floor = lr / 20;
  return floor + (lr - floor) * 0.5 * (1 + Math.cos((Math.PI * Math.min(step, steps)) / Math.max(1, steps)));
}

/** Sum over heads of the mean cross-entropy over each head's labelled samples. */
function lossOf(logits: tf.Tensor2D[], targets: tf.Tensor2D[], counts: number[]): tf.Scalar {
  return tf.tidy(() => {
    const terms = logits.map((l, k) => tf.div(tf.neg(tf.sum(tf.mul(tf.logSoftmax(l), targets[k]))), Math.max(1, counts[k])));
    return tf.addN(terms) as tf.Scalar;
  });
}

/**
 * More labelled images beyond the held ones (synth-birds: freshly rendered birds of the same generator), drawn
 * for a `share` of each batch; sample(n) gives the n-th one as 8-bit RGB at the held images' size.
 */
export interface ExtraImages {
  share: number;
  sample(n: number): Promise<{ image: Uint8Array; labels: Int32Array }>;
}

export interface TrainedClassifier {
  classifier: AttributeClassifier;
  steps: number;
  seconds: number;
  /** Mean of the loss over the last 50 steps. */
  finalLoss: number;
  /** Extra images used. */
  extraImages: number;
}

/** Trains a fresh classifier on `data` (random batches with replacement across epochs, Adam). */
export async function trainAttributeClassifier(
  data: LabelledImages,
  heads: Head[],
  options: Partial<ClassifierTrainOptions> = {},
  deps: { log?: Logger; onStep?: (step: number, loss: number) => void; signal?: AbortSignal; extra?: ExtraImages } = {},
): Promise<TrainedClassifier> {
  const o = { ...CLASSIFIER_TRAIN_DEFAULTS, ...options };
  if (data.count < 2) throw new DfganError('INVALID_ARGUMENT', `need at least 2 labelled images to train the classifier, got ${data.count}`);
  const clf = createAttributeClassifier({ inputSize: o.inputSize, nf: o.nf, featureDim: o.featureDim, heads }, { seed: o.seed });
  const vars = new Map(clf.params.names().map((n) => [n, clf.params.get(n)]));
  const adam = new Adam(vars, { lr: o.lr }); // rate set per step by the schedule
  const rng = new Rng(o.seed >>> 0);
  const S = data.size;
  const per = S * S * 3;
  const B = Math.min(o.batchSize, data.count);
  const batch = new Float32Array(B * per);
  const t0 = performance.now();
  const recent: number[] = [];
  let order: number[] = [];
  let cursor = 0;
  let step = 0;
  let extraUsed = 0;
  const extraShare = deps.extra ? Math.min(1, Math.max(0, deps.extra.share)) : 0;
  try {
    for (; step < o.steps; step++) {
      if (deps.signal?.aborted) break;
      // Per slot: an index into data, or -1 for an extra image (labels in extraLabels).
      const idx: number[] = [];
      const extraLabels: Int32Array[] = [];
      for (let b = 0; b < B; b++) {
        if (extraShare > 0 && rng.uniform() < extraShare) {
          const e = await deps.extra!.sample(extraUsed++);
          if (e.image.length !== per) throw new DfganError('INTERNAL', `extra image has ${e.image.length} bytes, expected ${per}`);
          const dx = o.jitter > 0 ? Math.floor(rng.uniform() * (2 * o.jitter + 1)) - o.jitter : 0;
          const dy = o.jitter > 0 ? Math.floor(rng.uniform() * (2 * o.jitter + 1)) - o.jitter : 0;
          shifted(e.image, 0, S, dx, dy, batch, b * per);
          idx.push(-1);
          extraLabels[b] = e.labels;
          continue;
        }
        if (cursor >= order.length) {
          order = Array.from({ length: data.count }, (_, i) => i);
          for (let i = order.length - 1; i > 0; i--) {
            const j = Math.min(i, Math.floor(rng.uniform() * (i + 1)));
            [order[i], order[j]] = [order[j], order[i]];
          }
          cursor = 0;
        }
        idx.push(order[cursor++]);
      }
      idx.forEach((i, b) => {
        if (i < 0) return;
        const dx = o.jitter > 0 ? Math.floor(rng.uniform() * (2 * o.jitter + 1)) - o.jitter : 0;
        const dy = o.jitter > 0 ? Math.floor(rng.uniform() * (2 * o.jitter + 1)) - o.jitter : 0;
        shifted(data.images, i * per, S, dx, dy, batch, b * per);
      });
      const counts = heads.map(() => 0);
      const targetData = heads.map((h, k) => {
        const t = new Float32Array(B * h.values.length);
        idx.forEach((i, b) => {
          const v = i < 0 ? extraLabels[b][k] : data.labels[k][i];
          if (v >= 0) {
            t[b * h.values.length + v] = 1;
            counts[k]++;
          }
        });
        return t;
      });
      const x = tf.tensor4d(batch, [B, S, S, 3]);
      const targets = heads.map((h, k) => tf.tensor2d(targetData[k], [B, h.values.length]));
      const out = tf.variableGrads(() => lossOf(clf.apply(x).logits, targets, counts), [...vars.values()]);
      const grads = new Map<string, tf.Tensor>();
      for (const [name, v] of vars) if (out.grads[v.name]) grads.set(name, out.grads[v.name]);
      adam.apply(grads, classifierLearningRate(o.lr, step, o.steps));
      const loss = (await out.value.data())[0];
      tf.dispose([x, ...targets, out.value, ...Object.values(out.grads)]);
      if (!Number.isFinite(loss)) throw new DfganError('INTERNAL', `classifier loss became non-finite at step ${step + 1}`);
      recent.push(loss);
      if (recent.length > 50) recent.shift();
      deps.onStep?.(step + 1, loss);
      if (deps.log && (step + 1) % 100 === 0) {
        const sps = (performance.now() - t0) / 1000 / (step + 1);
        deps.log.info({ step: step + 1, loss: Number(loss.toFixed(4)), secondsPerStep: Number(sps.toFixed(3)) }, 'train-classifier');
      }
      // Let timers and signal handlers run.
      if (step % 20 === 19) await new Promise<void>((r) => setImmediate(r));
    }
  } catch (err) {
    clf.dispose();
    throw err;
  } finally {
    adam.dispose();
  }
  return {
    classifier: clf,
    steps: step,
    seconds: (performance.now() - t0) / 1000,
    finalLoss: recent.length ? recent.reduce((a, b) => a + b, 0) / recent.length : NaN,
    extraImages: extraUsed,
  };
}

// ---------------------------------------------------------------------------------------------------------
// Running it

export interface ClassifierRun {
  count: number;
  /** [count, featureDim] */
  features: Float32Array;
  featureDim: number;
  /** Per head: argmax class of each image. */
  predictions: Int32Array[];
}

/** Features and predictions of `count` images given as a batch source: images(a, n) -> [n, S, S, 3] in [-1, 1]. */
export async function runClassifier(
  clf: AttributeClassifier,
  count: number,
  size: number,
  images: (start: number, n: number) => Float32Array | Promise<Float32Array>,
  batchSize = 64,
): Promise<ClassifierRun> {
  const F = clf.config.featureDim;
  const features = new Float32Array(count * F);
  const predictions = clf.config.heads.map(() => new Int32Array(count));
  for (let a = 0; a < count; a += batchSize) {
    const n = Math.min(batchSize, count - a);
    const x = tf.tensor4d(await images(a, n), [n, size, size, 3]);
    const out = clf.apply(x);
    const preds = tf.tidy(() => out.logits.map((l) => tf.argMax(l, 1)));
    features.set((await out.features.data()) as Float32Array, a * F);
    for (let k = 0; k < preds.length; k++) predictions[k].set((await preds[k].data()) as Int32Array, a);
    tf.dispose([x, out.features, ...out.logits, ...preds]);
  }
  return { count, features, featureDim: F, predictions };
}

/** runClassifier over held 8-bit images. */
export function runClassifierOn(clf: AttributeClassifier, data: LabelledImages, batchSize = 64): Promise<ClassifierRun> {
  const per = data.size * data.size * 3;
  return runClassifier(clf, data.count, data.size, (a, n) => toSignedFloats(data.images.subarray(a * per, (a + n) * per)), batchSize);
}

export interface HeadAccuracy {
  /** Correct / scored, NaN when nothing was scored. */
  accuracy: number;
  /** Images scored on this head. */
  count: number;
  /** 1 / number of values: a guess's expected accuracy. */
  chance: number;
}

export interface AccuracyReport {
  perHead: Record<string, HeadAccuracy>;
  /** Mean over heads with at least one scored image (macro average). */
  mean: number;
  /** Correct / scored over all heads together (micro average). */
  overall: number;
  images: number;
}

/**
 * Accuracy per head of predictions against labels; `scored(i, k)` (default: every known label) says whether
 * image i counts on head k.
 */
export function accuracyReport(heads: Head[], predictions: Int32Array[], labels: Int32Array[], scored?: (i: number, k: number) => boolean): AccuracyReport {
  const perHead: Record<string, HeadAccuracy> = {};
  let correct = 0;
  let total = 0;
  const n = predictions[0]?.length ?? 0;
  heads.forEach((h, k) => {
    let c = 0;
    let t = 0;
    for (let i = 0; i < n; i++) {
      if (labels[k][i] < 0 || (scored && !scored(i, k))) continue;
      t++;
      if (predictions[k][i] === labels[k][i]) c++;
    }
    perHead[h.name] = { accuracy: t ? c / t : NaN, count: t, chance: 1 / h.values.length };
    correct += c;
    total += t;
  });
  const scoredHeads = Object.values(perHead).filter((a) => a.count > 0);
  return {
    perHead,
    mean: scoredHeads.length ? scoredHeads.reduce((s, a) => s + a.accuracy, 0) / scoredHeads.length : NaN,
    overall: total ? correct / total : NaN,
    images: n,
  };
}

// ---------------------------------------------------------------------------------------------------------
// On disk

export interface ClassifierMeta {
  /** The data set it was trained on. */
  data: { root: string; kind: string; labels: 'attributes' | 'class'; fingerprint: string; train: number; test: number };
  training: Omit<ClassifierTrainOptions, 'inputSize' | 'nf' | 'featureDim'> & {
    stepsDone: number;
    seconds: number;
    finalLoss: number;
    /** Freshly rendered images mixed into the batches (synth-birds), and the generator seed they came from. */
    fresh: { share: number; images: number; seed: number } | null;
  };
  /** Accuracy on the held-out (test) real images. */
  heldOut: AccuracyReport & { split: string };
}

const ClassifierFileSchema = z
  .object({
    format: z.literal(CLASSIFIER_FORMAT),
    formatVersion: z.number().int().min(1),
    packageVersion: z.string(),
    createdAt: z.string(),
    config: z.unknown(),
    featureName: z.string(),
    meta: z.unknown(),
    weights: z
      .object({
        file: z.literal(CLASSIFIER_WEIGHTS),
        dtype: z.literal('float32'),
        bytes: z.number().int().min(0),
        sha256: z.string().regex(/^[0-9a-f]{64}$/),
        params: z.array(z.object({ name: z.string().min(1), shape: z.array(z.number().int().min(0)) }).strict()),
      })
      .strict(),
  })
  .strict();

export async function saveClassifier(dir: string, clf: AttributeClassifier, meta: ClassifierMeta): Promise<void> {
  const target = resolve(dir);
  const parent = dirname(target);
  await mkdir(parent, { recursive: true });
  const tmp = join(parent, `.${basename(target)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
  await mkdir(tmp);
  try {
    const params = clf.params.specs();
    const bytes = encodeWeights(await clf.params.read(), params);
    await writeFile(join(tmp, CLASSIFIER_WEIGHTS), bytes);
    const file = {
      format: CLASSIFIER_FORMAT,
      formatVersion: CLASSIFIER_FORMAT_VERSION,
      packageVersion: PACKAGE_VERSION,
      createdAt: new Date().toISOString(),
      config: clf.config,
      featureName: clf.featureName,
      meta,
      weights: { file: CLASSIFIER_WEIGHTS, dtype: 'float32', bytes: bytes.byteLength, sha256: createHash('sha256').update(bytes).digest('hex'), params },
    };
    await writeFile(join(tmp, CLASSIFIER_FILE), JSON.stringify(file, null, 2) + '\n');
    await replaceFolder(tmp, target);
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    throw err;
  }
}

/** Loads a saved classifier; undefined when `dir` holds none. Throws CHECKPOINT_INVALID for a damaged one. */
export async function loadClassifier(dir: string): Promise<{ classifier: AttributeClassifier; meta: ClassifierMeta } | undefined> {
  const raw = await readIfExists(join(dir, CLASSIFIER_FILE));
  if (raw === undefined) return undefined;
  const bad = (why: string, cause?: unknown) => new DfganError('CHECKPOINT_INVALID', `attribute classifier ${dir}: ${why}`, cause === undefined ? undefined : { cause });
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch (err) {
    throw bad(`${CLASSIFIER_FILE} is not JSON`, err);
  }
  const r = ClassifierFileSchema.safeParse(json);
  if (!r.success) throw bad(`${CLASSIFIER_FILE} is not an attribute classifier description (${r.error.issues[0]?.message})`);
  const f = r.data;
  if (f.formatVersion > CLASSIFIER_FORMAT_VERSION) throw bad(`format version ${f.formatVersion} is newer than this dfgan reads (${CLASSIFIER_FORMAT_VERSION})`);
  let bytes: Buffer;
  try {
    bytes = await readFile(join(dir, f.weights.file));
  } catch (err) {
    throw bad(`missing ${f.weights.file}`, err);
  }
  if (bytes.byteLength !== f.weights.bytes || createHash('sha256').update(bytes).digest('hex') !== f.weights.sha256) {
    throw bad(`${f.weights.file} fails its size or sha256 check`);
  }
  const clf = createAttributeClassifier(f.config);
  try {
    const specs = clf.params.specs();
    if (specs.length !== f.weights.params.length || specs.some((s, i) => s.name !== f.weights.params[i].name || s.shape.join() !== f.weights.params[i].shape.join())) {
      throw bad('weights do not match the network its config describes');
    }
    clf.params.assign(decodeWeights(bytes, { file: f.weights.file, dtype: 'float32', params: f.weights.params }, `${dir}/${f.weights.file}`));
  } catch (err) {
    clf.dispose();
    throw err;
  }
  return { classifier: clf, meta: f.meta as ClassifierMeta };
}
