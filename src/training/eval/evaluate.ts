// `dfgan eval` and `dfgan train-classifier`.
//
// eval generates one image per sample of the split (or --n-images, cycling over the split's images): for sample
// k, image k mod size, one of its captions drawn by a seeded Rng, noise seed (seed + k), truncation 0.88 as the
// release samples. Generated images go through the same 8-bit quantisation and resize as real ones. Then:
//   - FID: Frechet distance between Gaussians fitted to the feature network's features of the split's real
//     images and of the generated ones. The feature network is the project's attribute classifier (its
//     penultimate layer), trained on the data set's real train images (synth-birds: 3/4 of each batch freshly
//     rendered birds of the same generator under another seed), not Inception-v3: figures compare between
//     checkpoints evaluated against the same classifier, not with published FIDs. Beside it, the FID of as many
//     real train images against the split (what a generator of the data distribution itself would score at this
//     sample size).
//   - R-precision (AttnGAN): each generated image's DAMSM global feature against its true caption and 99
//     mismatched captions of the split, by cosine with the DAMSM text encoder's sentence vectors. Needs a DAMSM
//     image encoder (weight set `imageEncoder`, written by `dfgan pretrain-text`) in the checkpoint or in
//     --damsm; without one it is reported as unavailable with the reason.
//   - Attribute accuracy (data sets with attributes.jsonl, i.e. synth-birds): the classifier's heads read each
//     generated image, which is scored only on the attributes its caption names, against the attributes of the
//     image the caption was written for. Which attributes a caption names is recomputed from the data set's seed
//     (the synth-birds caption composer), else parsed from the caption's words. Beside it, the classifier's
//     accuracy on the real images of the split on the same (image, attribute) pairs: the ceiling.
//   - With --text-probe / --discriminator-check: what the sentence vectors carry of each attribute, and whether D
//     checks each attribute against the caption (text-probe.ts, discriminator-check.ts): where a gap comes from.
//
// The classifier lives in a folder (default DATA/.dfgan-eval/classifier). eval trains it there when it is
// missing or was trained on other data (`dfgan train-classifier` trains it explicitly, with more options).
import { randomBytes } from 'node:crypto';
import { copyFile, link, mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { DfganError } from '../../errors.js';
import type { Logger } from '../../logger.js';
import { PACKAGE_VERSION } from '../../version.js';
import { TextToImage } from '../../model/text-to-image.js';
import { toRgbImages, type RgbImage } from '../../model/image.js';
import { Rng } from '../../model/sampling.js';
import type { Vocabulary } from '../../model/text/vocab.js';
import type { TextEncoder } from '../../model/text/encoder.js';
import { sentenceDim } from '../../model/config.js';
import { MANIFEST_FILE, replaceFolder, writeFileSynced, loadCheckpoint, readManifest, readWeightSet, resolveCheckpointDir, type LoadedCheckpoint } from '../../model/checkpoint/index.js';
import { openDataset } from '../data/open.js';
import type { Dataset } from '../data/dataset.js';
import { evalResize } from '../data/transform.js';
import { ATTRIBUTE_NAMES, attributesOf, imageRng, type AttributeName } from '../data/synth-birds/attributes.js';
import { composeCaptions } from '../data/synth-birds/captions.js';
import { parseCaptionAttributes } from '../data/synth-birds/caption-attributes.js';

export { parseCaptionAttributes };
import { MAX_COUNT, SYNTH_BIRDS_VERSION, SynthBirdsDataset } from '../data/synth-birds/write.js';
import { createImageEncoder, parseImageEncoderConfig, type ImageEncoder } from '../damsm/image-encoder.js';
import {
  CLASSIFIER_TRAIN_DEFAULTS,
  accuracyReport,
  labelSourceOf,
  loadClassifier,
  loadLabelledImages,
  runClassifier,
  runClassifierOn,
  saveClassifier,
  toSignedFloats,
  trainAttributeClassifier,
  type AccuracyReport,
  type AttributeClassifier,
  type ClassifierMeta,
  type ExtraImages,
  type LabelSource,
} from './attribute-classifier.js';
import { frechetDistanceOfStats, gaussianStats, type FrechetParts } from './frechet.js';
import { candidateScores, drawCandidates, rPrecisionFromScores, type RPrecision } from './r-precision.js';
import { CLASSIFIER_FRESH_SHARE, defaultClassifierDir, type ClassifierTrainConfig, type EvalConfig } from './eval-config.js';
import { textProbe, type ProbeSet, type TextProbeReport } from './text-probe.js';
import { checkDiscriminator, type DiscriminatorCheck } from './discriminator-check.js';

export const EVAL_REPORT_FORMAT = 'dfgan-eval-report';

// ---------------------------------------------------------------------------------------------------------
// The classifier

async function openSplits(root: string): Promise<{ train: Dataset; test: Dataset }> {
  const [train, test] = await Promise.all([openDataset(root, 'train'), openDataset(root, 'test')]);
  return { train, test };
}

export interface ClassifierTrainResult {
  dir: string;
  classifier: AttributeClassifier;
  meta: ClassifierMeta;
  featureName: string;
}

/** Trains the attribute classifier on the train split, scores it on the test split and saves it. */
export async function trainClassifierFor(
  cfg: ClassifierTrainConfig,
  deps: { log: Logger; signal?: AbortSignal; splits?: { train: Dataset; test: Dataset }; labels?: LabelSource; save?: boolean },
): Promise<ClassifierTrainResult> {
  const { log } = deps;
  const { train, test } = deps.splits ?? (await openSplits(cfg.data));
  const labels = deps.labels ?? (await labelSourceOf(cfg.data, [train, test]));
  const dir = resolve(cfg.out ?? defaultClassifierDir(cfg.data));
  const t0 = performance.now();
  const trainImgs = await loadLabelledImages(train, labels, cfg.inputSize, cfg.limit);
  const testImgs = await loadLabelledImages(test, labels, cfg.inputSize);
  log.info(
    { train: trainImgs.count, test: testImgs.count, heads: labels.heads.map((h) => h.name), seconds: Number(((performance.now() - t0) / 1000).toFixed(1)) },
    `training the evaluation classifier (${labels.kind === 'attributes' ? 'one head per attribute' : 'class folders'}) for ${cfg.steps} steps`,
  );
  const fresh = labels.kind === 'attributes' && cfg.fresh > 0 ? await freshBirds(cfg.data, labels, cfg.inputSize, cfg.fresh, cfg.steps * cfg.batchSize) : undefined;
  if (fresh) log.info({ share: cfg.fresh, seed: fresh.seed }, 'mixing freshly rendered synth-birds into the classifier batches');
  const trained = await trainAttributeClassifier(
    trainImgs,
    labels.heads,
    {
      steps: cfg.steps,
      batchSize: cfg.batchSize,
      lr: cfg.lr,
      seed: cfg.seed,
      jitter: cfg.jitter,
      inputSize: cfg.inputSize,
      nf: cfg.nf,
      featureDim: cfg.featureDim,
    },
    { log, signal: deps.signal, extra: fresh?.extra },
  );
  try {
    const run = await runClassifierOn(trained.classifier, testImgs);
    const heldOut = { split: test.split, ...accuracyReport(labels.heads, run.predictions, testImgs.labels) };
    const meta: ClassifierMeta = {
      data: { root: resolve(cfg.data), kind: train.kind, labels: labels.kind, fingerprint: labels.fingerprint, train: trainImgs.count, test: testImgs.count },
      training: {
        steps: cfg.steps,
        batchSize: cfg.batchSize,
        lr: cfg.lr,
        seed: cfg.seed,
        jitter: cfg.jitter,
        stepsDone: trained.steps,
        seconds: Number(trained.seconds.toFixed(1)),
        finalLoss: trained.finalLoss,
        fresh: fresh ? { share: cfg.fresh, images: trained.extraImages, seed: fresh.seed } : null,
      },
      heldOut,
    };
    if (deps.save !== false) {
      await saveClassifier(dir, trained.classifier, meta);
      log.info({ dir, heldOutMean: Number(heldOut.mean.toFixed(4)) }, 'classifier saved');
    }
    return { dir, classifier: trained.classifier, meta, featureName: trained.classifier.featureName };
  } catch (err) {
    trained.classifier.dispose();
    throw err;
  }
}

/** synth-birds.json of a data set written by `dfgan synth` with this generator version, else undefined. */
export async function synthBirdsMeta(root: string): Promise<{ seed: number; size: number; count: number } | undefined> {
  try {
    const m = JSON.parse(await readFile(join(root, 'synth-birds.json'), 'utf8')) as Record<string, unknown>;
    if (m.generator !== 'synth-birds' || m.version !== SYNTH_BIRDS_VERSION) return undefined;
    if (typeof m.seed !== 'number' || typeof m.size !== 'number' || typeof m.count !== 'number') return undefined;
    return { seed: m.seed, size: m.size, count: m.count };
  } catch {
    return undefined;
  }
}

/**
 * For a synth-birds data set: an endless supply of new birds from the same generator under another seed (cropped
 * as the CUB reader crops the written set, resized to `size`), labelled by their attributes. The classifier then
 * sees far more birds than the train split holds and does not overfit it; the held-out figures stay on the
 * data set's own test split.
 */
export async function freshBirds(root: string, labels: LabelSource, size: number, share: number, count: number): Promise<{ extra: ExtraImages; seed: number } | undefined> {
  const meta = await synthBirdsMeta(root);
  if (!meta) return undefined;
  const seed = (meta.seed ^ 0x5f3759df) >>> 0;
  const ds = new SynthBirdsDataset({ seed, count: Math.max(1000, Math.min(count, MAX_COUNT)), size: meta.size, split: 'train', crop: 'cub', testFraction: 0 });
  return {
    seed,
    extra: {
      share,
      async sample(n) {
        const i = n % ds.size;
        return { image: evalResize(await ds.image(i), size).data, labels: labels.labelsOfRecord(await ds.attributes(i)) };
      },
    },
  };
}

export interface PreparedClassifier {
  classifier: AttributeClassifier;
  meta: ClassifierMeta;
  dir: string;
  /** 'cached': loaded and trained on this data; 'given': loaded from --classifier although trained on other data; 'trained': trained now. */
  origin: 'cached' | 'given' | 'trained';
}

/** The classifier for `data`: loaded from `dir` (default DATA/.dfgan-eval/classifier), else trained and saved there. */
export async function prepareClassifier(
  data: string,
  opts: { dir?: string; steps: number; log: Logger; splits: { train: Dataset; test: Dataset }; labels: LabelSource },
): Promise<PreparedClassifier> {
  const dir = resolve(opts.dir ?? defaultClassifierDir(data));
  const loaded = await loadClassifier(dir);
  if (loaded) {
    if (loaded.meta.data.fingerprint === opts.labels.fingerprint) return { ...loaded, dir, origin: 'cached' };
    if (opts.dir) {
      opts.log.warn({ dir, trainedOn: loaded.meta.data.root }, 'the given classifier was trained on other data than --data; its figures compare only with runs using the same classifier');
      return { ...loaded, dir, origin: 'given' };
    }
    loaded.classifier.dispose();
    opts.log.warn({ dir }, 'the cached classifier was trained on other data (the data set changed); training a new one');
  }
  const d = CLASSIFIER_TRAIN_DEFAULTS;
  const base = { batchSize: d.batchSize, lr: d.lr, seed: d.seed, jitter: d.jitter, inputSize: d.inputSize, nf: d.nf, featureDim: d.featureDim, fresh: CLASSIFIER_FRESH_SHARE };
  const trained = await trainClassifierFor({ data, out: dir, steps: opts.steps, ...base }, { log: opts.log, splits: opts.splits, labels: opts.labels, save: false });
  try {
    await saveClassifier(dir, trained.classifier, trained.meta);
    opts.log.info({ dir }, 'classifier cached');
  } catch (err) {
    opts.log.warn({ dir, err: (err as Error).message }, 'could not cache the classifier (it is used for this run only)');
  }
  return { classifier: trained.classifier, meta: trained.meta, dir, origin: 'trained' };
}

// ---------------------------------------------------------------------------------------------------------
// Which attributes a caption names

export type MentionSource = 'recomputed' | 'parsed' | 'class';

/** Resolves (image key, caption) -> the label values the caption names, per head. */
export class MentionResolver {
  private readonly cache = new Map<number, Map<string, AttributeName[]>>();
  readonly counts: Record<MentionSource, number> = { recomputed: 0, parsed: 0, class: 0 };

  private constructor(
    private readonly labels: LabelSource,
    private readonly synthSeed: number | undefined,
  ) {}

  static async create(root: string, labels: LabelSource): Promise<MentionResolver> {
    return new MentionResolver(labels, (await synthBirdsMeta(root))?.seed);
  }

  private recomputed(key: string, caption: string): AttributeName[] | undefined {
    if (this.synthSeed === undefined) return undefined;
    const m = /synth_bird_(\d+)$/.exec(key);
    if (!m) return undefined;
    const index = Number(m[1]) - 1;
    let byText = this.cache.get(index);
    if (!byText) {
      const attrs = attributesOf(this.synthSeed, index);
      const rec = this.labels.recordOf(key);
      // The recomputation only counts when it reproduces the data set's own attributes.
      if (!rec || ATTRIBUTE_NAMES.some((n) => rec[n] !== undefined && rec[n] !== attrs[n])) return undefined;
      byText = new Map(composeCaptions(attrs, imageRng(this.synthSeed, index, 'captions')).map((c) => [c.text.trim(), c.mentions]));
      if (this.cache.size > 10_000) this.cache.clear();
      this.cache.set(index, byText);
    }
    return byText.get(caption.trim());
  }

  /** Head name -> value the caption names for this image (values from the image's own labels when recomputed). */
  named(key: string, caption: string): Record<string, string> {
    if (this.labels.kind === 'class') {
      this.counts.class++;
      return { ...(this.labels.recordOf(key) ?? {}) };
    }
    const mentions = this.recomputed(key, caption);
    if (mentions) {
      this.counts.recomputed++;
      const rec = this.labels.recordOf(key) ?? {};
      return Object.fromEntries(mentions.filter((n) => rec[n] !== undefined).map((n) => [n, rec[n]]));
    }
    this.counts.parsed++;
    return parseCaptionAttributes(caption) as Record<string, string>;
  }
}

// ---------------------------------------------------------------------------------------------------------
// DAMSM encoders for R-precision

interface Damsm {
  text: TextEncoder;
  image: ImageEncoder;
  vocab: Vocabulary;
  source: string;
  dispose(): void;
}

async function loadDamsm(dir: string, evaluated: LoadedCheckpoint): Promise<Damsm | { reason: string }> {
  let target: string;
  try {
    target = await resolveCheckpointDir(dir);
  } catch (err) {
    return { reason: `cannot open the DAMSM checkpoint: ${(err as Error).message}` };
  }
  const { manifest } = await readManifest(target);
  const encCfg = (manifest.info?.damsm as { imageEncoder?: unknown } | undefined)?.imageEncoder;
  if (!manifest.networks.imageEncoder || !encCfg) {
    return {
      reason:
        `checkpoint ${target} has no DAMSM image encoder (weight set 'imageEncoder' with info.damsm.imageEncoder, written by ` +
        '`dfgan pretrain-text`); pass --damsm <a pretrain-text checkpoint> to score R-precision with its encoders',
    };
  }
  const own = target === evaluated.dir;
  const ck = own ? evaluated : await loadCheckpoint(target);
  const image = createImageEncoder(parseImageEncoderConfig(encCfg));
  try {
    image.params.assign((await readWeightSet(target, manifest, 'imageEncoder'))!);
    if (sentenceDim(ck.textEncoder.config) !== image.config.embedDim) {
      throw new DfganError('CHECKPOINT_INVALID', `${target}: image encoder gives ${image.config.embedDim}-d features, the text encoder ${sentenceDim(ck.textEncoder.config)}-d`);
    }
  } catch (err) {
    image.dispose();
    if (!own) ck.dispose();
    throw err;
  }
  return {
    text: ck.textEncoder,
    image,
    vocab: ck.vocab,
    source: target,
    dispose() {
      image.dispose();
      if (!own) ck.dispose();
    },
  };
}

// ---------------------------------------------------------------------------------------------------------
// The report

export interface AttributeRow {
  /** Accuracy on generated images, scored where their caption names the attribute. */
  generated: number;
  /** Accuracy on the real images of the split on the same (image, attribute) pairs: the ceiling. */
  real: number;
  chance: number;
  /** Generated images scored on this attribute. */
  count: number;
}

export interface EvalReport {
  format: typeof EVAL_REPORT_FORMAT;
  packageVersion: string;
  evaluatedAt: string;
  seconds: number;
  checkpoint: { dir: string; name: string; version: string; step: number; imageSize: number; nf: number };
  data: { root: string; kind: string; split: string; images: number };
  sampling: { images: number; truncation: number | null; seeds: [number, number]; captionChoiceSeed: number; skipped: number };
  featureNetwork: {
    name: string;
    dir: string;
    origin: PreparedClassifier['origin'];
    trainedOn: string;
    featureDim: number;
    /** Mean accuracy over heads on the held-out real images when it was trained. */
    heldOutMean: number;
  };
  fid: FrechetParts & {
    value: number;
    featureNetwork: string;
    real: number;
    generated: number;
    /** FID of real train images (as many as generated, at most the train split) against the split: the floor. */
    realFloor: { value: number; trainImages: number } | null;
  };
  rPrecision: ({ available: true; encoders: string } & RPrecision) | { available: false; reason: string };
  attributes:
    | {
        available: true;
        labels: 'attributes' | 'class';
        scoredOn: string;
        mentionSource: Record<MentionSource, number>;
        perAttribute: Record<string, AttributeRow>;
        /** Macro means over attributes (generated, real). */
        mean: { generated: number; real: number; chance: number };
        /** Micro: correct / scored over all (image, attribute) pairs. */
        overall: { generated: number; real: number };
        /** The classifier on every labelled attribute of every real image of the split. */
        realAllAttributes: AccuracyReport;
      }
    | { available: false; reason: string };
  /** With --text-probe: what the sentence vectors carry of each attribute a caption names. */
  textProbe?: ({ available: true } & TextProbeReport) | { available: false; reason: string };
  /** With --discriminator-check: whether D tells each real image's caption from a counterfactual one. */
  discriminatorCheck?: ({ available: true } & DiscriminatorCheck) | { available: false; reason: string };
}

interface Sample {
  image: number;
  caption: string;
  seed: number;
}

async function captionsOf(ds: Dataset, cache: Map<number, string[]>, i: number): Promise<string[]> {
  let c = cache.get(i);
  if (!c) cache.set(i, (c = await ds.captions(i)));
  return c;
}

/** Sample k: image k mod size, a seeded choice among its captions the vocabulary can read, noise seed + k. */
async function planSamples(ds: Dataset, vocab: Vocabulary, maxWords: number, n: number, seed: number, cache: Map<number, string[]>): Promise<{ samples: Sample[]; skipped: number }> {
  const rng = new Rng(seed >>> 0);
  const samples: Sample[] = [];
  let skipped = 0;
  for (let k = 0; k < n; k++) {
    const i = k % ds.size;
    const caps = await captionsOf(ds, cache, i);
    const first = Math.min(caps.length - 1, Math.floor(rng.uniform() * caps.length));
    let chosen: string | undefined;
    for (let j = 0; j < caps.length && chosen === undefined; j++) {
      const c = caps[(first + j) % caps.length];
      try {
        vocab.encode(c, maxWords);
        chosen = c;
      } catch {
        /* next caption */
      }
    }
    if (chosen === undefined) skipped++;
    else samples.push({ image: i, caption: chosen, seed: seed + k });
  }
  return { samples, skipped };
}

/** 8-bit images resized to `size` as one [n, size, size, 3] byte array. */
function packResized(images: RgbImage[], size: number, out: Uint8Array, at: number): void {
  const per = size * size * 3;
  images.forEach((img, j) => out.set(evalResize(img, size).data, (at + j) * per));
}

function rgbToTensor(images: RgbImage[]): tf.Tensor4D {
  const { width: w, height: h } = images[0];
  const per = w * h * 3;
  const buf = new Float32Array(images.length * per);
  images.forEach((img, j) => toSignedFloats(img.data, buf.subarray(j * per, (j + 1) * per)));
  return tf.tensor4d(buf, [images.length, h, w, 3]);
}

async function sentenceVectors(text: TextEncoder, ids: number[][], batch = 128): Promise<Float32Array> {
  const D = sentenceDim(text.config);
  const out = new Float32Array(ids.length * D);
  for (let a = 0; a < ids.length; a += batch) {
    const enc = text.encodeIds(ids.slice(a, a + batch));
    out.set((await enc.sentence.data()) as Float32Array, a * D);
    tf.dispose([enc.sentence, enc.words]);
  }
  return out;
}

/** Captions of images [0, count) of `ds` the vocabulary can read, with the attributes each names. */
async function probeSet(
  text: TextEncoder,
  vocab: Vocabulary,
  resolver: MentionResolver,
  ds: Dataset,
  count: number,
  cache: Map<number, string[]>,
): Promise<ProbeSet> {
  const ids: number[][] = [];
  const named: Record<string, string>[] = [];
  for (let i = 0; i < Math.min(count, ds.size); i++) {
    for (const c of await captionsOf(ds, cache, i)) {
      try {
        ids.push(vocab.encode(c, text.config.maxWords).ids);
      } catch {
        continue;
      }
      named.push(resolver.named(ds.key(i), c));
    }
  }
  return { vectors: await sentenceVectors(text, ids), dim: sentenceDim(text.config), named };
}

async function probeText(
  text: TextEncoder,
  vocab: Vocabulary,
  labels: LabelSource,
  cfg: EvalConfig,
  train: Dataset,
  evaluated: Dataset,
  cache: Map<number, string[]>,
): Promise<TextProbeReport> {
  const resolver = await MentionResolver.create(cfg.data, labels);
  const trainSet = await probeSet(text, vocab, resolver, train, cfg.textProbeImages, new Map());
  const testSet = await probeSet(text, vocab, resolver, evaluated, cfg.nImages ?? evaluated.size, cache);
  return textProbe(labels.heads, trainSet, testSet);
}

export interface EvalDeps {
  log: Logger;
  onProgress?: (done: number, total: number) => void;
}

export async function evaluate(cfg: EvalConfig, deps: EvalDeps): Promise<EvalReport> {
  const { log } = deps;
  const t0 = performance.now();
  const model = await TextToImage.load(cfg.checkpoint);
  const owned: Array<{ dispose(): void }> = [model];
  try {
    const splits = await openSplits(cfg.data);
    const ds = splits[cfg.split];
    const labels = await labelSourceOf(cfg.data, [splits.train, splits.test]);
    const prepared = await prepareClassifier(cfg.data, { dir: cfg.classifier, steps: cfg.classifierSteps, log, splits, labels });
    owned.push(prepared.classifier);
    const clf = prepared.classifier;
    const S = clf.config.inputSize;
    const per = S * S * 3;

    const captionCache = new Map<number, string[]>();
    const n = cfg.nImages ?? ds.size;
    const maxWords = model.checkpoint.textEncoder.config.maxWords;
    const { samples, skipped } = await planSamples(ds, model.checkpoint.vocab, maxWords, n, cfg.seed, captionCache);
    if (samples.length < 2) throw new DfganError('INVALID_ARGUMENT', `only ${samples.length} of ${n} samples have a caption the checkpoint's vocabulary can read`);
    if (skipped) log.warn({ skipped }, 'samples without a caption the vocabulary can read were skipped');

    // DAMSM encoders, when there are any.
    const damsmOrWhy = await loadDamsm(cfg.damsm ?? model.dir, model.checkpoint);
    const damsm = 'reason' in damsmOrWhy ? undefined : damsmOrWhy;
    if (damsm) owned.push(damsm);

    // Generate.
    const N = samples.length;
    const generated = new Uint8Array(N * per);
    const damsmDim = damsm?.image.config.embedDim ?? 0;
    const damsmFeatures = new Float32Array(N * damsmDim);
    log.info({ images: N, batchSize: cfg.batchSize, imageSize: model.config.imageSize }, 'generating');
    for (let a = 0; a < N; a += cfg.batchSize) {
      const batch = samples.slice(a, a + cfg.batchSize);
      const z = model.noise(
        batch.map((s) => s.seed),
        cfg.truncation,
      );
      const raw = tf.tidy(() => {
        const sent = model.encode(model.tokenize(batch.map((s) => s.caption)));
        return model.generateRaw(z, sent);
      });
      z.dispose();
      const rgb = await toRgbImages(raw);
      raw.dispose();
      packResized(rgb, S, generated, a);
      if (damsm) {
        const x = rgbToTensor(rgb);
        const f = damsm.image.apply(x);
        damsmFeatures.set((await f.global.data()) as Float32Array, a * damsmDim);
        tf.dispose([x, f.global, f.regions]);
      }
      deps.onProgress?.(Math.min(N, a + batch.length), N);
    }

    // Features and predictions, generated and real.
    const genRun = await runClassifier(clf, N, S, (a, m) => toSignedFloats(generated.subarray(a * per, (a + m) * per)));
    const realImgs = await loadLabelledImages(ds, labels, S);
    const realRun = await runClassifierOn(clf, realImgs);
    const F = clf.config.featureDim;
    const realStats = gaussianStats(realRun.features, realRun.count, F);
    const fidParts = frechetDistanceOfStats(realStats, gaussianStats(genRun.features, N, F));
    let realFloor: EvalReport['fid']['realFloor'] = null;
    if (cfg.realFloor && cfg.split === 'test') {
      const other = splits.train;
      const m = Math.min(N, other.size);
      const pick: Dataset = {
        kind: other.kind,
        root: other.root,
        split: other.split,
        size: m,
        key: (k) => other.key(Math.floor((k * other.size) / m)),
        image: (k) => other.image(Math.floor((k * other.size) / m)),
        captions: (k) => other.captions(Math.floor((k * other.size) / m)),
      };
      const floorImgs = await loadLabelledImages(pick, labels, S);
      const floorRun = await runClassifierOn(clf, floorImgs);
      if (m >= 2) realFloor = { value: frechetDistanceOfStats(realStats, gaussianStats(floorRun.features, m, F)).distance, trainImages: m };
    }

    // Attribute accuracy.
    const heads = clf.config.heads;
    let attributes: EvalReport['attributes'];
    const sameHeads = heads.length === labels.heads.length && heads.every((h, k) => h.name === labels.heads[k].name && h.values.join() === labels.heads[k].values.join());
    if (!sameHeads) {
      attributes = { available: false, reason: `the classifier's heads (${heads.map((h) => h.name).join(', ')}) are not this data set's labels` };
    } else {
      const resolver = await MentionResolver.create(cfg.data, labels);
      const headIndex = heads.map((h) => new Map(h.values.map((v, i) => [v, i])));
      // Per sample: the named value's class per head (-1: not named) and the real image's prediction.
      const target = heads.map(() => new Int32Array(N).fill(-1));
      const realPred = heads.map(() => new Int32Array(N));
      samples.forEach((s, k) => {
        const named = resolver.named(realImgs.keys[s.image], s.caption);
        heads.forEach((h, j) => {
          const v = named[h.name];
          target[j][k] = v === undefined ? -1 : (headIndex[j].get(v) ?? -1);
          realPred[j][k] = realRun.predictions[j][s.image];
        });
      });
      const gen = accuracyReport(heads, genRun.predictions, target);
      const real = accuracyReport(heads, realPred, target);
      const perAttribute: Record<string, AttributeRow> = {};
      for (const h of heads) {
        perAttribute[h.name] = { generated: gen.perHead[h.name].accuracy, real: real.perHead[h.name].accuracy, chance: gen.perHead[h.name].chance, count: gen.perHead[h.name].count };
      }
      const scored = Object.values(perAttribute).filter((r) => r.count > 0);
      attributes = {
        available: true,
        labels: labels.kind,
        scoredOn:
          labels.kind === 'attributes'
            ? 'each generated image on the attributes its caption names, against the attributes of the image the caption describes'
            : "each generated image on the class of the image whose caption it was given",
        mentionSource: { ...resolver.counts },
        perAttribute,
        mean: { generated: gen.mean, real: real.mean, chance: scored.reduce((s, r) => s + r.chance, 0) / Math.max(1, scored.length) },
        overall: { generated: gen.overall, real: real.overall },
        realAllAttributes: accuracyReport(heads, realRun.predictions, realImgs.labels),
      };
    }

    // R-precision.
    let rPrecision: EvalReport['rPrecision'];
    if (!damsm) {
      rPrecision = { available: false, reason: (damsmOrWhy as { reason: string }).reason };
    } else {
      const texts: string[] = [];
      const owners: number[] = [];
      const ids: number[][] = [];
      const poolIndex = new Map<string, number>();
      const tm = damsm.text.config.maxWords;
      for (let i = 0; i < ds.size; i++) {
        for (const c of await captionsOf(ds, captionCache, i)) {
          try {
            ids.push(damsm.vocab.encode(c, tm).ids);
          } catch {
            continue;
          }
          poolIndex.set(`${i}\u0000${c}`, texts.length);
          texts.push(c);
          owners.push(i);
        }
      }
      const sentences = await sentenceVectors(damsm.text, ids);
      const rng = new Rng((cfg.seed + 1) >>> 0);
      const rows: number[] = [];
      const cands: number[][] = [];
      samples.forEach((s, k) => {
        const p = poolIndex.get(`${s.image}\u0000${s.caption}`);
        if (p === undefined) return;
        rows.push(k);
        cands.push(drawCandidates(p, s.image, { owners, texts }, cfg.mismatched, rng));
      });
      if (rows.length === 0) {
        rPrecision = { available: false, reason: "none of the generated images' captions can be read by the DAMSM vocabulary" };
      } else {
        const feats = new Float32Array(rows.length * damsmDim);
        rows.forEach((k, r) => feats.set(damsmFeatures.subarray(k * damsmDim, (k + 1) * damsmDim), r * damsmDim));
        const scores = candidateScores(feats, sentences, damsmDim, cands);
        rPrecision = { available: true, encoders: damsm.source, ...rPrecisionFromScores(scores) };
      }
    }

    let probe: EvalReport['textProbe'];
    if (cfg.textProbe) {
      probe =
        labels.kind !== 'attributes'
          ? { available: false, reason: 'the data set has no per-image attributes (attributes.jsonl) for captions to name' }
          : { available: true, ...(await probeText(model.checkpoint.textEncoder, model.checkpoint.vocab, labels, cfg, splits.train, ds, captionCache)) };
    }

    let dCheck: EvalReport['discriminatorCheck'];
    if (cfg.discriminatorCheck > 0) dCheck = await discriminatorCheckOf(model, ds, cfg);

    const report: EvalReport = {
      format: EVAL_REPORT_FORMAT,
      packageVersion: PACKAGE_VERSION,
      evaluatedAt: new Date().toISOString(),
      seconds: Number(((performance.now() - t0) / 1000).toFixed(1)),
      checkpoint: { dir: model.dir, name: model.name, version: model.version, step: model.step, imageSize: model.config.imageSize, nf: model.config.nf },
      data: { root: resolve(cfg.data), kind: ds.kind, split: ds.split, images: ds.size },
      sampling: { images: N, truncation: cfg.truncation, seeds: [samples[0].seed, samples[N - 1].seed], captionChoiceSeed: cfg.seed, skipped },
      featureNetwork: {
        name: clf.featureName,
        dir: prepared.dir,
        origin: prepared.origin,
        trainedOn: prepared.meta.data.root,
        featureDim: F,
        heldOutMean: prepared.meta.heldOut.mean,
      },
      fid: { value: fidParts.distance, ...fidParts, featureNetwork: 'attribute-classifier penultimate layer', real: realRun.count, generated: N, realFloor },
      rPrecision,
      attributes,
      ...(probe ? { textProbe: probe } : {}),
      ...(dCheck ? { discriminatorCheck: dCheck } : {}),
    };
    return report;
  } finally {
    for (const o of owned.reverse()) o.dispose();
  }
}

/** D's caption check on the split's real images, or why there is none. */
async function discriminatorCheckOf(model: TextToImage, ds: Dataset, cfg: EvalConfig): Promise<NonNullable<EvalReport['discriminatorCheck']>> {
  const meta = await synthBirdsMeta(cfg.data);
  if (!meta) return { available: false, reason: 'the data set is not one `dfgan synth` wrote (counterfactual captions need its caption generator)' };
  const { manifest } = await readManifest(model.dir);
  if (!manifest.networks.discriminator || !manifest.networks.head) return { available: false, reason: 'the checkpoint holds no discriminator' };
  const ck = await loadCheckpoint(model.dir, { withDiscriminator: true });
  try {
    const nets = { d: ck.discriminator!, c: ck.head!, text: ck.textEncoder, vocab: ck.vocab };
    return { available: true, ...(await checkDiscriminator(nets, ds, meta.seed, { images: cfg.discriminatorCheck, seed: cfg.seed, imageSize: model.config.imageSize })) };
  } finally {
    ck.dispose();
  }
}

// ---------------------------------------------------------------------------------------------------------
// Output

function f(x: number | null | undefined, digits = 3): string {
  return x === null || x === undefined || !Number.isFinite(x) ? '-' : x.toFixed(digits);
}

/** A readable table of the report. */
export function formatReport(r: EvalReport): string {
  const lines: string[] = [];
  lines.push(`dfgan eval: ${r.checkpoint.name} step ${r.checkpoint.step} (version ${r.checkpoint.version}, ${r.checkpoint.imageSize}px nf ${r.checkpoint.nf})`);
  lines.push(`  data:      ${r.data.root} [${r.data.kind}] ${r.data.split} split, ${r.data.images} images`);
  lines.push(
    `  generated: ${r.sampling.images} images, truncation ${r.sampling.truncation ?? 'none'}, seeds ${r.sampling.seeds[0]}..${r.sampling.seeds[1]}` +
      (r.sampling.skipped ? `, ${r.sampling.skipped} skipped` : ''),
  );
  lines.push(`  features:  ${r.featureNetwork.name}`);
  lines.push(`             ${r.featureNetwork.dir} (${r.featureNetwork.origin}; held-out mean accuracy ${f(r.featureNetwork.heldOutMean)})`);
  lines.push('');
  lines.push(
    `  FID            ${f(r.fid.value, 2).padStart(9)}   (mean term ${f(r.fid.meanTerm, 2)}, covariance term ${f(r.fid.covarianceTerm, 2)}; ${r.fid.real} real vs ${r.fid.generated} generated)`,
  );
  if (r.fid.realFloor) lines.push(`  FID real floor ${f(r.fid.realFloor.value, 2).padStart(9)}   (${r.fid.realFloor.trainImages} real train images vs the ${r.data.split} split)`);
  if (r.rPrecision.available) {
    const p = r.rPrecision;
    lines.push(`  R-precision    ${f(p.value).padStart(9)}   (+- ${f(p.foldStd)} over ${p.folds} folds; 1 true + ${p.candidates - 1} mismatched captions, chance ${f(1 / p.candidates)})`);
  } else {
    lines.push(`  R-precision    unavailable: ${r.rPrecision.reason}`);
  }
  if (r.attributes.available) {
    const a = r.attributes;
    lines.push('');
    lines.push(`  Attribute accuracy: ${a.scoredOn}; real = the classifier on the real images, same pairs (ceiling)`);
    lines.push(`    ${'attribute'.padEnd(12)} ${'generated'.padStart(9)} ${'real'.padStart(7)} ${'chance'.padStart(7)} ${'n'.padStart(6)}`);
    for (const [name, row] of Object.entries(a.perAttribute)) {
      lines.push(`    ${name.padEnd(12)} ${f(row.generated).padStart(9)} ${f(row.real).padStart(7)} ${f(row.chance).padStart(7)} ${String(row.count).padStart(6)}`);
    }
    lines.push(`    ${'mean'.padEnd(12)} ${f(a.mean.generated).padStart(9)} ${f(a.mean.real).padStart(7)} ${f(a.mean.chance).padStart(7)}`);
    lines.push(`    ${'overall'.padEnd(12)} ${f(a.overall.generated).padStart(9)} ${f(a.overall.real).padStart(7)}`);
    const src = Object.entries(a.mentionSource)
      .filter(([, v]) => v > 0)
      .map(([k, v]) => `${v} ${k}`)
      .join(', ');
    lines.push(`    (named attributes: ${src || 'none'})`);
  } else {
    lines.push(`  Attribute accuracy unavailable: ${r.attributes.reason}`);
  }
  if (r.textProbe?.available) {
    const t = r.textProbe;
    lines.push('');
    lines.push(`  Text probe: ${t.probe}`);
    lines.push(`    ${'attribute'.padEnd(12)} ${'accuracy'.padStart(9)} ${'chance'.padStart(7)} ${'train'.padStart(6)} ${'test'.padStart(6)}`);
    for (const [name, row] of Object.entries(t.perAttribute)) {
      lines.push(`    ${name.padEnd(12)} ${f(row.accuracy).padStart(9)} ${f(row.chance).padStart(7)} ${String(row.train).padStart(6)} ${String(row.test).padStart(6)}`);
    }
    lines.push(`    ${'mean'.padEnd(12)} ${f(t.mean.accuracy).padStart(9)} ${f(t.mean.chance).padStart(7)}`);
  } else if (r.textProbe) {
    lines.push(`  Text probe unavailable: ${r.textProbe.reason}`);
  }
  if (r.discriminatorCheck?.available) {
    const c = r.discriminatorCheck;
    lines.push('');
    lines.push(`  Discriminator check: P(D prefers a real image's caption over it with one attribute changed), ${c.images} images; chance 0.5`);
    lines.push(`    ${'attribute'.padEnd(12)} ${'accuracy'.padStart(9)} ${'pairs'.padStart(6)}`);
    for (const [name, acc] of Object.entries(c.accuracy)) lines.push(`    ${name.padEnd(12)} ${f(acc).padStart(9)} ${String(c.pairs[name as keyof typeof c.pairs]).padStart(6)}`);
    lines.push(`    ${'mean'.padEnd(12)} ${f(c.mean).padStart(9)}`);
  } else if (r.discriminatorCheck) {
    lines.push(`  Discriminator check unavailable: ${r.discriminatorCheck.reason}`);
  }
  lines.push(`  (${r.seconds} s)`);
  return lines.join('\n') + '\n';
}

/** The figures worth keeping in a checkpoint manifest (info.eval). */
export function evalSummary(r: EvalReport): Record<string, unknown> {
  return {
    evaluatedAt: r.evaluatedAt,
    data: `${r.data.root} (${r.data.split})`,
    images: r.sampling.images,
    truncation: r.sampling.truncation,
    featureNetwork: r.featureNetwork.name,
    fid: r.fid.value,
    fidRealFloor: r.fid.realFloor?.value ?? null,
    rPrecision: r.rPrecision.available ? r.rPrecision.value : null,
    attributeAccuracy: r.attributes.available ? r.attributes.mean.generated : null,
    attributeAccuracyReal: r.attributes.available ? r.attributes.mean.real : null,
    ...(r.textProbe?.available ? { textProbeAccuracy: r.textProbe.mean.accuracy } : {}),
    ...(r.discriminatorCheck?.available ? { discriminatorCheck: r.discriminatorCheck.mean } : {}),
  };
}

/**
 * Records `summary` as info.eval in the manifest of the checkpoint at `path`. The checkpoint is rewritten
 * atomically: its files are hard-linked (or copied) into a temporary sibling with the new manifest, which then
 * replaces the folder. Its weights and other files are unchanged, but its version (the manifest's hash) changes,
 * as any manifest change does. Returns the folder and the new version.
 */
export async function recordEvalInCheckpoint(path: string, summary: Record<string, unknown>): Promise<{ dir: string; version: string }> {
  const target = await resolveCheckpointDir(path);
  await readManifest(target); // refuses anything that is not a valid checkpoint
  const json = JSON.parse(await readFile(join(target, MANIFEST_FILE), 'utf8')) as { info?: Record<string, unknown> };
  json.info = { ...(json.info ?? {}), eval: summary };
  const parent = dirname(target);
  const tmp = join(parent, `.${basename(target)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
  await mkdir(tmp);
  try {
    for (const name of await readdir(target)) {
      if (name === MANIFEST_FILE) continue;
      try {
        await link(join(target, name), join(tmp, name));
      } catch {
        await copyFile(join(target, name), join(tmp, name));
      }
    }
    await writeFileSynced(join(tmp, MANIFEST_FILE), JSON.stringify(json, null, 2) + '\n');
    await replaceFolder(tmp, target);
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    throw err;
  }
  const { version } = await readManifest(target);
  return { dir: target, version };
}

/** Writes the report as JSON (creating the folder). */
export async function writeReport(path: string, r: EvalReport): Promise<void> {
  await mkdir(dirname(resolve(path)), { recursive: true });
  await writeFile(path, JSON.stringify(r, null, 2) + '\n');
}
