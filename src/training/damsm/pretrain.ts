// `dfgan pretrain-text`: DAMSM pretraining of the text encoder (AttnGAN's pretrain_DAMSM.py) against a small CNN
// image encoder, with periodic atomic checkpoints that `dfgan train --from` starts from.
//
// One step: captions -> word ids (a random order-preserving subset of maxWords words when longer, as AttnGAN
// samples them) -> text encoder with dropout on the embeddings; images (train augmentation) -> image encoder;
// loss = word loss (both ways) + sentence loss (both ways); text encoder gradients clipped to a global norm
// (AttnGAN: 0.25); one Adam over both encoders (AttnGAN: lr 2e-4, betas (0.5, 0.999)). AttnGAN's per-epoch
// learning-rate decay (x0.98) is not reproduced.
//
// A checkpoint holds the text encoder, the vocabulary (every word of the train and test captions), a freshly
// initialised generator, discriminator and head of the configured size (so it is a complete starting point for
// `dfgan train --from`), the image encoder (weight set `imageEncoder`, config in info.damsm.imageEncoder) and
// the Adam state, so that a run resumes from OUT/latest exactly. Each checkpoint is evaluated by image -> text
// top-1 retrieval (R@1) over a fixed set of up to `evalPairs` test pairs, at sentence and word level.
import { appendFile, mkdir, writeFile } from 'node:fs/promises';
import { checkpointName, pruneCheckpoints, stepRng } from '../run-folder.js';
import { basename, join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import cliProgress from 'cli-progress';
import { DfganError } from '../../errors.js';
import type { Logger } from '../../logger.js';
import { parseGeneratorConfig, parseTextEncoderConfig, sameGeneratorConfig, sentenceDim } from '../../model/config.js';
import { createGenerator, type Generator } from '../../model/generator.js';
import { createConditionalHead, createDiscriminator, type ConditionalHead, type Discriminator } from '../../model/discriminator.js';
import { createTextEncoder, type TextEncoder } from '../../model/text/encoder.js';
import { Vocabulary } from '../../model/text/vocab.js';
import { loadCheckpoint, readManifest, readWeightSet, resolveCheckpointDir, setLatest, writeCheckpoint } from '../../model/checkpoint/index.js';
import { Rng } from '../../model/sampling.js';
import { openDataset } from '../data/open.js';
import { allCaptions, type Dataset } from '../data/dataset.js';
import { measureSentenceScale } from './sentence-scale.js';
import { BatchLoader } from '../data/loader.js';
import { evalTransform } from '../data/transform.js';
import { resolveFlip } from '../data/flip.js';
import { Adam } from '../adam.js';
import { lossPlotSvg, type Series } from '../plot.js';
import { createImageEncoder, parseImageEncoderConfig, type ImageEncoder, type ImageEncoderConfig } from './image-encoder.js';
import { retrievalAccuracy, sentenceLoss, sentenceSimilarity, wordLoss, wordSimilarity } from './losses.js';
import { encoderSizeOf, type PretrainConfig } from './pretrain-config.js';
import { useConvRuntime } from '../../model/conv-runtime.js';

/** Large enough for any caption: encode() keeps this many words, the sampler then picks maxWords of them. */
const ALL_WORDS = 100_000;

// ---------------------------------------------------------------------------------------------------------
// Captions to ids

/**
 * Word ids of `caption`: all known words when at most `maxWords`; else, with `rng`, a random order-preserving
 * subset of `maxWords` of them (AttnGAN's get_caption in training), without it the first `maxWords`.
 * Throws EMPTY_TEXT / NO_KNOWN_WORDS as Vocabulary.encode does.
 */
export function captionIds(vocab: Vocabulary, caption: string, maxWords: number, rng?: Rng): number[] {
  const ids = vocab.encode(caption, ALL_WORDS).ids;
  if (ids.length <= maxWords) return ids;
  if (!rng) return ids.slice(0, maxWords);
  const order = ids.map((_, i) => i);
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.min(i, Math.floor(rng.uniform() * (i + 1)));
    [order[i], order[j]] = [order[j], order[i]];
  }
  return order
    .slice(0, maxWords)
    .sort((a, b) => a - b)
    .map((i) => ids[i]);
}

/** One id per caption, equal for captions with the same word ids (for masking identical captions). */
export function sameCaptionIds(ids: readonly number[][]): number[] {
  const seen = new Map<string, number>();
  return ids.map((row) => {
    const key = row.join(',');
    let id = seen.get(key);
    if (id === undefined) seen.set(key, (id = seen.size));
    return id;
  });
}

// ---------------------------------------------------------------------------------------------------------
// One training step

export interface DamsmLosses {
  /** word + sentence. */
  total: number;
  /** w0 + w1. */
  word: number;
  /** s0 + s1. */
  sentence: number;
  /** Word loss, image -> text and text -> image. */
  w0: number;
  w1: number;
  /** Sentence loss, image -> text and text -> image. */
  s0: number;
  s1: number;
  /** Global norm of the text encoder gradients before clipping. */
  textGradNorm: number;
}

export interface DamsmStepOptions {
  lr: number;
  beta1: number;
  beta2: number;
  gamma1: number;
  gamma2: number;
  gamma3: number;
  /** Embedding dropout of the text encoder (0: none). */
  dropout: number;
  /** Global-norm clip of the text encoder gradients (Infinity: none). */
  gradClip: number;
}

export const DAMSM_STEP_DEFAULTS: Readonly<DamsmStepOptions> = Object.freeze({
  lr: 2e-4,
  beta1: 0.5,
  beta2: 0.999,
  gamma1: 4,
  gamma2: 5,
  gamma3: 10,
  dropout: 0.5,
  gradClip: 0.25,
});

/** Updates a text encoder and an image encoder together on DAMSM's losses; the Adam state is named `text/*`, `image/*`. */
export class DamsmStep {
  readonly opts: Readonly<DamsmStepOptions>;
  readonly optimizer: Adam;
  private readonly textVars = new Map<string, tf.Variable>();
  private readonly imageVars = new Map<string, tf.Variable>();

  constructor(
    readonly text: TextEncoder,
    readonly image: ImageEncoder,
    opts: Partial<DamsmStepOptions> = {},
  ) {
    this.opts = Object.freeze({ ...DAMSM_STEP_DEFAULTS, ...opts });
    if (sentenceDim(text.config) !== image.config.embedDim) {
      throw new DfganError('INVALID_ARGUMENT', `text features are ${sentenceDim(text.config)}-d, image features ${image.config.embedDim}-d`);
    }
    // Frozen weights (a whitening fitted for the GAN) are not DAMSM parameters.
    for (const n of text.params.names()) if (text.params.get(n).trainable) this.textVars.set(`text/${n}`, text.params.get(n));
    for (const n of image.params.names()) this.imageVars.set(`image/${n}`, image.params.get(n));
    this.optimizer = new Adam(new Map([...this.textVars, ...this.imageVars]), { lr: this.opts.lr, beta1: this.opts.beta1, beta2: this.opts.beta2 });
  }

  /**
   * One update. images [B, S, S, 3] in [-1, 1]; ids: B word-id lists (pair i = image i with caption i);
   * `seed` draws the dropout mask; `classIds` masks pairs (see MatchingOptions).
   */
  run(images: tf.Tensor4D, ids: number[][], opts: { seed?: number; classIds?: ArrayLike<number> } = {}): DamsmLosses {
    const B = images.shape[0];
    if (ids.length !== B) throw new DfganError('INVALID_ARGUMENT', `${ids.length} captions for ${B} images`);
    const { gamma1, gamma2, gamma3, dropout, gradClip } = this.opts;
    const lengths = ids.map((r) => r.length);
    let parts: tf.Tensor | undefined;
    const out = tf.variableGrads(() => {
      const { sentence, words } = this.text.encodeIds(ids, { dropout, seed: opts.seed });
      const { regions, global } = this.image.apply(images);
      const w = wordLoss(words, lengths, regions, gamma1, gamma2, gamma3, { classIds: opts.classIds });
      const s = sentenceLoss(sentence, global, gamma3, { classIds: opts.classIds });
      const total = tf.add(w.total, s.total) as tf.Scalar;
      parts = tf.keep(tf.stack([total, w.total, s.total, w.imageToText, w.textToImage, s.imageToText, s.textToImage]));
      return total;
    }, [...this.textVars.values(), ...this.imageVars.values()]);

    const grads = new Map<string, tf.Tensor>();
    const textGrads: tf.Tensor[] = [];
    for (const [name, v] of this.textVars) {
      const g = out.grads[v.name];
      if (g) {
        grads.set(name, g);
        textGrads.push(g);
      }
    }
    for (const [name, v] of this.imageVars) if (out.grads[v.name]) grads.set(name, out.grads[v.name]);

    // torch.nn.utils.clip_grad_norm_: scale by max_norm / (norm + 1e-6) when that is below 1.
    const norm = tf.tidy(() => tf.sqrt(tf.addN(textGrads.map((g) => tf.sum(tf.square(g))))));
    const clipped: tf.Tensor[] = [];
    if (Number.isFinite(gradClip)) {
      const scale = tf.tidy(() => tf.minimum(1, tf.div(gradClip, tf.add(norm, 1e-6))));
      for (const [name, v] of this.textVars) {
        const g = grads.get(name);
        if (!g || !out.grads[v.name]) continue;
        const c = tf.mul(g, scale);
        clipped.push(c);
        grads.set(name, c);
      }
      scale.dispose();
    }
    this.optimizer.apply(grads);
    const normValue = norm.dataSync()[0];
    tf.dispose([out.value, ...Object.values(out.grads), norm, ...clipped]);
    const [total, word, sentence, w0, w1, s0, s1] = parts!.dataSync();
    parts!.dispose();
    return { total, word, sentence, w0, w1, s0, s1, textGradNorm: normValue };
  }

  dispose(): void {
    this.optimizer.dispose();
  }
}

// ---------------------------------------------------------------------------------------------------------
// Evaluation

export interface EvalPairs {
  /** [N, S, S, 3] in [-1, 1]. */
  images: Float32Array;
  size: number;
  /** N word-id lists (pair i = image i with caption i). */
  ids: number[][];
  /** Where the pairs come from (e.g. 'test'). */
  split: string;
}

export interface RetrievalFigures {
  /** Image -> text top-1 accuracy with sentence/global features. */
  sentenceR1: number;
  /** Image -> text top-1 accuracy with the word-level score. */
  wordR1: number;
  pairs: number;
  split: string;
}

/** Image -> text R@1 over the pairs (no dropout); word-level scores go `chunk` images at a time. */
export async function evaluateRetrieval(
  text: TextEncoder,
  image: ImageEncoder,
  pairs: EvalPairs,
  gammas: { gamma1: number; gamma2: number } = DAMSM_STEP_DEFAULTS,
  chunk = 25,
): Promise<RetrievalFigures> {
  const N = pairs.ids.length;
  const S = pairs.size;
  const enc = text.encodeIds(pairs.ids);
  const lengths = pairs.ids.map((r) => r.length);
  const feats: { regions: tf.Tensor3D[]; global: tf.Tensor2D[] } = { regions: [], global: [] };
  const wordRows: tf.Tensor2D[] = [];
  try {
    for (let a = 0; a < N; a += chunk) {
      const n = Math.min(chunk, N - a);
      const imgs = tf.tensor4d(pairs.images.subarray(a * S * S * 3, (a + n) * S * S * 3), [n, S, S, 3]);
      const f = image.apply(imgs);
      imgs.dispose();
      feats.regions.push(f.regions);
      feats.global.push(f.global);
      wordRows.push(wordSimilarity(enc.words, lengths, f.regions, gammas.gamma1, gammas.gamma2));
    }
    const global = tf.concat(feats.global, 0) as tf.Tensor2D;
    const sent = sentenceSimilarity(enc.sentence, global);
    const word = tf.concat(wordRows, 0) as tf.Tensor2D;
    const sentenceR1 = await retrievalAccuracy(sent);
    const wordR1 = await retrievalAccuracy(word);
    tf.dispose([global, sent, word]);
    return { sentenceR1, wordR1, pairs: N, split: pairs.split };
  } finally {
    tf.dispose([enc.sentence, enc.words, ...feats.regions, ...feats.global, ...wordRows]);
  }
}

/** Up to `count` pairs spread evenly over the data set: image (eval transform) with its first usable caption. */
export async function loadEvalPairs(ds: Dataset, vocab: Vocabulary, count: number, size: number, maxWords: number): Promise<EvalPairs> {
  const n = Math.min(count, ds.size);
  const images = new Float32Array(n * size * size * 3);
  const ids: number[][] = [];
  for (let k = 0; k < n; k++) {
    const i = Math.floor((k * ds.size) / n);
    const caps = await ds.captions(i);
    let row: number[] | undefined;
    for (const c of caps) {
      try {
        row = captionIds(vocab, c, maxWords);
        break;
      } catch {
        /* next caption */
      }
    }
    if (!row) throw new DfganError('INVALID_ARGUMENT', `${ds.key(i)} (${ds.split}) has no caption with a known word`);
    ids.push(row);
    evalTransform(await ds.image(i), size, images, k * size * size * 3);
  }
  return { images, size, ids, split: ds.split };
}

// ---------------------------------------------------------------------------------------------------------
// The loop

export interface PretrainResult {
  step: number;
  checkpoint: string;
  stoppedEarly: boolean;
  secondsPerStep: number;
  /** R@1 of the run's first evaluation (before its first step) and of the last checkpoint. */
  evaluation: { start: RetrievalFigures; end: RetrievalFigures };
}

export interface PretrainDeps {
  log: Logger;
  /** Aborting stops after the current step, saves a checkpoint and returns (Ctrl-C). */
  signal?: AbortSignal;
  /** Called after every step (tests, progress UIs). */
  onStep?: (step: number, losses: DamsmLosses) => void;
}

interface Models {
  text: TextEncoder;
  image: ImageEncoder;
  vocab: Vocabulary;
  g: Generator;
  d: Discriminator;
  c: ConditionalHead;
  startStep: number;
  optimizerState?: Map<string, Float32Array>;
  source: string;
}

function sameEncoder(a: ImageEncoderConfig, b: ImageEncoderConfig): boolean {
  return a.workingSize === b.workingSize && a.nf === b.nf && a.embedDim === b.embedDim;
}

/** Resume from out/latest (which must be a pretrain-text checkpoint of the same shapes), else fresh networks. */
async function setUp(cfg: PretrainConfig, train: Dataset, test: Dataset | undefined, log: Logger): Promise<Models> {
  let resumeDir: string | undefined;
  try {
    resumeDir = await resolveCheckpointDir(cfg.out);
  } catch {
    resumeDir = undefined;
  }
  const encCfg = parseImageEncoderConfig({ workingSize: encoderSizeOf(cfg), nf: cfg.encoderNf });
  const gCfg = parseGeneratorConfig({ imageSize: cfg.imageSize, nf: cfg.nf, condDim: encCfg.embedDim });
  if (resumeDir) {
    const { manifest } = await readManifest(resumeDir);
    const storedEnc = (manifest.info?.damsm as { imageEncoder?: unknown } | undefined)?.imageEncoder;
    if (!manifest.networks.imageEncoder || !storedEnc) {
      throw new DfganError('INVALID_ARGUMENT', `${cfg.out} holds a checkpoint without an image encoder (not written by pretrain-text). Use another --out.`);
    }
    const enc = parseImageEncoderConfig(storedEnc);
    if (!sameEncoder(enc, encCfg) || !sameGeneratorConfig(parseGeneratorConfig(manifest.generator), gCfg)) {
      throw new DfganError(
        'INVALID_ARGUMENT',
        `${cfg.out} holds a run with image encoder ${JSON.stringify(enc)} and a ${manifest.generator.imageSize}px nf ${manifest.generator.nf} generator; ` +
          `asked for ${JSON.stringify(encCfg)} and ${cfg.imageSize}px nf ${cfg.nf}. Use another --out or the same options.`,
      );
    }
    const withD = Boolean(manifest.networks.discriminator && manifest.networks.head);
    const ck = await loadCheckpoint(resumeDir, { withDiscriminator: withD });
    const image = createImageEncoder(enc);
    try {
      image.params.assign((await readWeightSet(ck.dir, ck.manifest, 'imageEncoder'))!);
    } catch (err) {
      image.dispose();
      ck.dispose();
      throw err;
    }
    const optimizerState = await readWeightSet(ck.dir, ck.manifest, 'optimizer');
    log.info({ checkpoint: ck.dir, step: ck.manifest.step }, 'resuming');
    return {
      text: ck.textEncoder,
      image,
      vocab: ck.vocab,
      g: ck.generator,
      d: ck.discriminator ?? createDiscriminator(gCfg, { seed: cfg.seed + 1 }),
      c: ck.head ?? createConditionalHead(gCfg, { seed: cfg.seed + 2 }),
      startStep: ck.manifest.step,
      optimizerState,
      source: ck.dir,
    };
  }
  const captions = [...(await allCaptions(train)), ...(test ? await allCaptions(test) : [])];
  const vocab = Vocabulary.buildFromCaptions(captions);
  log.info({ vocab: vocab.size, captions: captions.length }, 'vocabulary built from the train and test captions');
  const text = createTextEncoder(parseTextEncoderConfig({ vocabSize: vocab.size }), { seed: cfg.seed + 3 });
  if (sentenceDim(text.config) !== encCfg.embedDim) throw new DfganError('INTERNAL', 'text and image feature sizes differ');
  return {
    text,
    image: createImageEncoder(encCfg, { seed: cfg.seed + 4 }),
    vocab,
    g: createGenerator(gCfg, { seed: cfg.seed }),
    d: createDiscriminator(gCfg, { seed: cfg.seed + 1 }),
    c: createConditionalHead(gCfg, { seed: cfg.seed + 2 }),
    startStep: 0,
    source: 'fresh',
  };
}


export async function pretrainText(cfg: PretrainConfig, deps: PretrainDeps): Promise<PretrainResult> {
  const { log } = deps;
  const convs = await useConvRuntime(cfg.convRuntime);
  log.info({ convRuntime: convs.name, reason: convs.reason }, `convolutions: ${convs.name === 'onnx' ? 'ONNX Runtime CPU kernels' : `the ${tf.getBackend()} backend's own`}`);
  const trainSet = await openDataset(cfg.data, 'train');
  let testSet: Dataset | undefined;
  try {
    testSet = await openDataset(cfg.data, 'test');
  } catch {
    testSet = undefined;
  }
  if (testSet && testSet.size < 2) testSet = undefined;
  if (trainSet.size < cfg.batchSize) {
    throw new DfganError('INVALID_ARGUMENT', `${cfg.data} has ${trainSet.size} training images, fewer than one batch of ${cfg.batchSize}`);
  }
  await mkdir(join(cfg.out, 'logs'), { recursive: true });

  const m = await setUp(cfg, trainSet, testSet, log);
  const S = m.image.config.workingSize;
  const maxWords = m.text.config.maxWords;
  const step = new DamsmStep(m.text, m.image, {
    lr: cfg.lr,
    beta1: cfg.beta1,
    beta2: cfg.beta2,
    gamma1: cfg.gamma1,
    gamma2: cfg.gamma2,
    gamma3: cfg.gamma3,
    dropout: cfg.dropout,
    gradClip: cfg.gradClip,
  });
  const flip = await resolveFlip(cfg.flip, cfg.data);
  log.info({ flip }, flip ? 'training images are flipped at random' : 'training images are not flipped (their captions name the facing, or --flip off)');
  const loader = new BatchLoader(trainSet, { batchSize: cfg.batchSize, imageSize: S, seed: cfg.seed, prefetch: 2, augment: true, flip, startBatch: m.startStep });
  let bar: cliProgress.SingleBar | undefined;
  try {
    if (m.optimizerState && !step.optimizer.restore(m.optimizerState)) {
      log.warn('optimizer state in the checkpoint does not match; Adam restarts from zero moments');
    }
    const evalPairs = await loadEvalPairs(testSet ?? trainSet, m.vocab, cfg.evalPairs, S, maxWords);
    const evaluate = () => evaluateRetrieval(m.text, m.image, evalPairs, cfg);
    const scaleCaptions = await allCaptions(trainSet);

    let current = m.startStep;
    // A resumed run that takes no step has nothing new to save.
    let lastSaved = m.source !== 'fresh' && basename(m.source) === checkpointName(current) ? checkpointName(current) : '';
    let lastEval = await evaluate();
    let evaluatedAt = current;
    const start = lastEval;
    const logFile = join(cfg.out, 'logs', 'damsm.jsonl');
    await appendFile(logFile, JSON.stringify({ kind: 'eval', step: current, time: new Date().toISOString(), ...lastEval }) + '\n');
    log.info({ step: current, ...lastEval }, `R@1 image->text: sentence ${lastEval.sentenceR1.toFixed(3)}, word ${lastEval.wordR1.toFixed(3)} (${lastEval.pairs} ${lastEval.split} pairs)`);

    const history: Record<string, Array<[number, number]>> = {};
    const plot = async () => {
      const series: Series[] = Object.entries(history).map(([name, points]) => ({ name, points }));
      if (series.length) await writeFile(join(cfg.out, 'damsm.svg'), lossPlotSvg(series, { title: `${cfg.name}: DAMSM losses (EMA-smoothed)` }));
    };
    const save = async (): Promise<string> => {
      const name = checkpointName(current);
      if (name === lastSaved) return join(cfg.out, name);
      if (evaluatedAt !== current) {
        lastEval = await evaluate();
        evaluatedAt = current;
        await appendFile(logFile, JSON.stringify({ kind: 'eval', step: current, time: new Date().toISOString(), ...lastEval }) + '\n');
        const msg = `R@1 image->text: sentence ${lastEval.sentenceR1.toFixed(3)}, word ${lastEval.wordR1.toFixed(3)} (${lastEval.pairs} ${lastEval.split} pairs)`;
        if (bar) bar.update({ r1: lastEval.sentenceR1.toFixed(3) });
        else log.info({ step: current, ...lastEval }, msg);
      }
      const sentenceScale = await measureSentenceScale(m.text, m.vocab, scaleCaptions, { spread: cfg.sentenceSpread });
      await writeCheckpoint(
        join(cfg.out, name),
        {
          name: cfg.name,
          step: current,
          generatorConfig: m.g.config,
          textEncoderConfig: { ...m.text.config, sentenceScale },
          vocab: m.vocab,
          networks: { generator: m.g.params, textEncoder: m.text.params, discriminator: m.d.params, head: m.c.params, imageEncoder: m.image.params, optimizer: step.optimizer },
          info: {
            pretrainText: { ...cfg },
            damsm: { imageEncoder: { ...m.image.config }, gamma1: cfg.gamma1, gamma2: cfg.gamma2, gamma3: cfg.gamma3 },
            evaluation: { step: current, ...lastEval },
            startedFrom: m.source,
            note: 'generator, discriminator and head are freshly initialised; only the text encoder is trained',
          },
        },
        { overwrite: true },
      );
      await setLatest(cfg.out, name);
      await pruneCheckpoints(cfg.out, cfg.keepCheckpoints, name);
      lastSaved = name;
      log.info({ step: current, checkpoint: join(cfg.out, name) }, 'checkpoint saved');
      return join(cfg.out, name);
    };

    bar =
      cfg.progress && process.stderr.isTTY
        ? new cliProgress.SingleBar(
            { format: 'pretrain-text |{bar}| {value}/{total} | {sps} s/step | loss {loss} (w {w} s {s}) | R@1 {r1} | eta {eta_formatted}', hideCursor: true },
            cliProgress.Presets.shades_classic,
          )
        : undefined;
    bar?.start(cfg.steps, current, { sps: '-', loss: '-', w: '-', s: '-', r1: lastEval.sentenceR1.toFixed(3) });

    const t0 = performance.now();
    const firstStep = current;
    let stoppedEarly = false;
    while (current < cfg.steps) {
      if (deps.signal?.aborted) {
        stoppedEarly = true;
        break;
      }
      const batch = await loader.next();
      const rng = stepRng(cfg.seed, current);
      const ids: number[][] = [];
      for (const caption of batch.captions) {
        try {
          ids.push(captionIds(m.vocab, caption, maxWords, rng));
        } catch {
          ids.push([]); // filled below with another caption of the batch (then masked as identical)
        }
      }
      const usable = ids.find((r) => r.length > 0);
      if (!usable) throw new DfganError('INVALID_ARGUMENT', 'a batch has no caption with a known word: the vocabulary does not fit this data');
      for (let i = 0; i < ids.length; i++) if (ids[i].length === 0) ids[i] = usable;
      const images = tf.tensor4d(batch.images, [cfg.batchSize, S, S, 3]);
      const losses = step.run(images, ids, { seed: rng.nextUint32(), classIds: cfg.maskSameCaption ? sameCaptionIds(ids) : undefined });
      images.dispose();
      current += 1;
      deps.onStep?.(current, losses);
      if (!Number.isFinite(losses.total)) throw new DfganError('INTERNAL', `the DAMSM loss became non-finite at step ${current}: ${JSON.stringify(losses)}`);
      const sps = (performance.now() - t0) / 1000 / (current - firstStep);
      bar?.update(current, { sps: sps.toFixed(2), loss: losses.total.toFixed(3), w: losses.word.toFixed(3), s: losses.sentence.toFixed(3) });
      if (current % cfg.logEvery === 0 || current === cfg.steps) {
        const line = { kind: 'train', step: current, time: new Date().toISOString(), secondsPerStep: Number(sps.toFixed(4)), ...losses };
        await appendFile(logFile, JSON.stringify(line) + '\n');
        for (const k of ['total', 'word', 'sentence'] as const) (history[k] ??= []).push([current, losses[k]]);
        if (!bar) log.info(line, 'pretrain-text');
      }
      if (current % cfg.checkpointEvery === 0) {
        await save();
        await plot();
      }
    }
    const checkpoint = await save();
    await plot();
    const secondsPerStep = current > firstStep ? (performance.now() - t0) / 1000 / (current - firstStep) : 0;
    return { step: current, checkpoint, stoppedEarly, secondsPerStep, evaluation: { start, end: lastEval } };
  } finally {
    bar?.stop();
    loader.close();
    step.dispose();
    for (const x of [m.g, m.d, m.c, m.text, m.image]) x.dispose();
  }
}
