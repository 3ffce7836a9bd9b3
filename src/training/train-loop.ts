// `dfgan train`: DF-GAN training with periodic atomic checkpoints, resumption, sample grids, loss logs and plots.
import { appendFile, mkdir, writeFile } from 'node:fs/promises';
import { checkpointName, pruneCheckpoints, readLogLines, stepRng } from './run-folder.js';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import cliProgress from 'cli-progress';
import { DfganError } from '../errors.js';
import type { Logger } from '../logger.js';
import { parseGeneratorConfig, parseTextEncoderConfig, sameGeneratorConfig, type GeneratorConfig } from '../model/config.js';
import { createGenerator, type Generator } from '../model/generator.js';
import { createConditionalHead, createDiscriminator, type ConditionalHead, type Discriminator } from '../model/discriminator.js';
import { createTextEncoder, type TextEncoder } from '../model/text/encoder.js';
import { fitSentenceWhitening, foldWhiteningIntoGenerator, whitenedTextEncoder, type SentenceWhitening } from './damsm/sentence-whitening.js';
import { Vocabulary } from '../model/text/vocab.js';
import { loadCheckpoint, readWeightSet, resolveCheckpointDir, setLatest, writeCheckpoint, LATEST_FILE } from '../model/checkpoint/index.js';
import { noiseForSeeds } from '../model/sampling.js';
import { gridOf, toRgbImages } from '../model/image.js';
import { encodePng } from '../model/png.js';
import { openDataset } from './data/open.js';
import { measureSentenceScale } from './damsm/sentence-scale.js';
import { allCaptions, type Dataset } from './data/dataset.js';
import { BatchLoader } from './data/loader.js';
import { resolveFlip } from './data/flip.js';
import { Adam } from './adam.js';
import { D_TERMS, type StepLosses } from './dfgan-step.js';
import { createTrainStep, usableWorkers } from './parallel/index.js';
import { useConvRuntime } from '../model/conv-runtime.js';
import { HingeLoss } from './losses/hinge.js';
import { MatchingAwareGradientPenalty } from './losses/ma-gp.js';
import { DiffAugment } from './diff-augment.js';
import { SentenceCache } from './sentence-cache.js';
import { CounterfactualNegatives } from './counterfactual-negatives.js';
import { widenNetworks } from './widen.js';
import { TrainEvaluator } from './train-eval.js';
import { lossPlotSvg, type Series } from './plot.js';
import type { TrainConfig } from './train-config.js';

export interface TrainResult {
  step: number;
  checkpoint: string;
  stoppedEarly: boolean;
  imagesPerSecond: number;
}

export interface TrainDeps {
  log: Logger;
  /** Aborting stops after the current step, saves a checkpoint and returns (Ctrl-C). */
  signal?: AbortSignal;
  /** Called after every step (tests, progress UIs). */
  onStep?: (step: number, losses: StepLosses) => void;
}

interface Models {
  g: Generator;
  d: Discriminator;
  c: ConditionalHead;
  text: TextEncoder;
  vocab: Vocabulary;
  startStep: number;
  optimizerState?: Map<string, Float32Array>;
  source: string;
}

const SAMPLE_SEEDS = [0, 1, 2, 3, 4, 5];
const SAMPLE_CAPTIONS = 6;

/**
 * The text encoder of a new run: `base` (that of --from, or a fresh one), or that of --text-from in its place,
 * rescaled to --sentence-spread when given. Takes ownership of `base`.
 */
async function textEncoderOf(
  cfg: TrainConfig,
  base: { text: TextEncoder; vocab: Vocabulary } | undefined,
  train: Dataset,
  log: Logger,
): Promise<{ text: TextEncoder; vocab: Vocabulary; whitening?: SentenceWhitening }> {
  let { text, vocab } = base ?? {};
  if (cfg.textFrom) {
    const dir = await resolveCheckpointDir(cfg.textFrom);
    const ck = await loadCheckpoint(dir);
    ck.generator.dispose();
    text?.dispose();
    ({ textEncoder: text, vocab } = ck);
    log.info({ textFrom: dir, vocab: vocab.size }, 'text encoder and vocabulary from another checkpoint');
  }
  if (!text || !vocab) throw new DfganError('INTERNAL', 'no text encoder for the run');
  if (text.config.whitenSentences && (cfg.sentenceSpread !== undefined || cfg.whitenSentences !== undefined)) {
    text.dispose();
    throw new DfganError('INVALID_ARGUMENT', 'the text encoder is already whitened: --sentence-spread and --whiten-sentences apply to an unwhitened one');
  }
  if (cfg.sentenceSpread !== undefined) {
    const scale = await measureSentenceScale(text, vocab, await allCaptions(train), { spread: cfg.sentenceSpread, sample: 1024 });
    const scaled = createTextEncoder({ ...text.config, sentenceScale: scale });
    scaled.params.assign(await text.params.read());
    log.info({ sentenceScale: scale, was: text.config.sentenceScale }, `sentence vectors rescaled to vary by ${cfg.sentenceSpread} per dimension`);
    text.dispose();
    text = scaled;
  }
  if (cfg.whitenSentences !== undefined) {
    const whitening = await fitSentenceWhitening(text, vocab, await allCaptions(train), { shrinkage: cfg.whitenSentences });
    const whitened = await whitenedTextEncoder(text, whitening);
    text.dispose();
    log.info({ shrinkage: cfg.whitenSentences }, 'sentence vectors whitened over the training captions');
    return { text: whitened, vocab, whitening };
  }
  return { text, vocab };
}

type ArchitectureOptions = Pick<GeneratorConfig, 'headProjection' | 'fcSentence'>;

/**
 * G, D and C of `--from` with the options asked for switched on: their new weights (the head's projection, the
 * sentence rows of G's fc) start at zero, so the networks compute what they did.
 */
async function withArchitecture(g: Generator, d: Discriminator, c: ConditionalHead, opts: ArchitectureOptions): Promise<{ g: Generator; d: Discriminator; c: ConditionalHead }> {
  const config = parseGeneratorConfig({ ...g.config, headProjection: g.config.headProjection || opts.headProjection, fcSentence: g.config.fcSentence || opts.fcSentence });
  const g2 = createGenerator(config);
  const d2 = createDiscriminator(config);
  const c2 = createConditionalHead(config);
  const gw = await g.params.read();
  if (config.fcSentence && !g.config.fcSentence) {
    // fc.weight is [in, out]: the noise's rows, then zero rows for the sentence.
    const old = gw.get('fc.weight')!;
    const grown = new Float32Array((config.zDim + config.condDim) * config.nf * 128);
    grown.set(old);
    gw.set('fc.weight', grown);
  }
  g2.params.assign(gw);
  d2.params.assign(await d.params.read());
  const head = await c.params.read();
  if (config.headProjection && !c.config.headProjection) head.set('proj.weight', (await c2.params.get('proj.weight').data()) as Float32Array);
  c2.params.assign(head);
  [g, d, c].forEach((n) => n.dispose());
  return { g: g2, d: d2, c: c2 };
}

/** Resume from out/latest; else start from --from; else fresh networks and a vocabulary of the data's captions. */
async function setUp(cfg: TrainConfig, train: Dataset, test: Dataset | undefined, log: Logger): Promise<Models> {
  let resumeDir: string | undefined;
  try {
    resumeDir = await resolveCheckpointDir(cfg.out);
  } catch {
    resumeDir = undefined;
  }
  const wanted = (condDim: number) =>
    parseGeneratorConfig({ imageSize: cfg.imageSize, nf: cfg.nf, condDim, headProjection: cfg.headProjection, fcSentence: cfg.fcSentence });
  if (resumeDir) {
    const ck = await loadCheckpoint(resumeDir, { withDiscriminator: true });
    if (!sameGeneratorConfig(ck.generator.config, wanted(ck.generator.config.condDim))) {
      ck.dispose();
      throw new DfganError(
        'INVALID_ARGUMENT',
        `${cfg.out} holds a ${ck.manifest.generator.imageSize}px nf ${ck.manifest.generator.nf} model; asked for ${cfg.imageSize}px nf ${cfg.nf}. Use another --out.`,
      );
    }
    const optimizerState = await readWeightSet(ck.dir, ck.manifest, 'optimizer');
    log.info({ checkpoint: ck.dir, step: ck.manifest.step }, 'resuming');
    if (cfg.textFrom || cfg.sentenceSpread !== undefined || cfg.whitenSentences !== undefined) {
      log.warn(
        { textFrom: cfg.textFrom, sentenceSpread: cfg.sentenceSpread, whitenSentences: cfg.whitenSentences },
        'resuming keeps the text encoder of the run; --text-from, --sentence-spread and --whiten-sentences apply to a new run only',
      );
    }
    if ((cfg.headProjection && !ck.generator.config.headProjection) || (cfg.fcSentence && !ck.generator.config.fcSentence) || cfg.widen) {
      log.warn(
        { headProjection: ck.generator.config.headProjection, fcSentence: ck.generator.config.fcSentence, widen: cfg.widen },
        "resuming keeps the run's networks; --head-projection, --fc-sentence and --widen apply to a new run only",
      );
    }
    return { g: ck.generator, d: ck.discriminator!, c: ck.head!, text: ck.textEncoder, vocab: ck.vocab, startStep: ck.manifest.step, optimizerState, source: ck.dir };
  }
  if (cfg.from) {
    const dir = await resolveCheckpointDir(cfg.from);
    const { manifest } = await import('../model/checkpoint/read.js').then((m) => m.readManifest(dir));
    const withD = Boolean(manifest.networks.discriminator && manifest.networks.head);
    const ck = await loadCheckpoint(dir, { withDiscriminator: withD });
    const gCfg = wanted(ck.generator.config.condDim);
    if (cfg.widen) {
      const have = ck.generator.config;
      const why = !withD
        ? 'it has no discriminator and head'
        : have.imageSize !== cfg.imageSize
          ? `it is a ${have.imageSize}px model, not ${cfg.imageSize}px`
          : have.nf >= cfg.nf
            ? `its nf ${have.nf} is not below --nf ${cfg.nf}`
            : undefined;
      if (why) {
        ck.dispose();
        throw new DfganError('INVALID_ARGUMENT', `--widen cannot grow ${dir}: ${why}`);
      }
    }
    const keepNets = withD && (cfg.widen || sameGeneratorConfig(ck.generator.config, gCfg));
    log.info({ from: dir, keepsNetworks: keepNets }, keepNets ? 'starting from checkpoint' : 'starting from the text encoder of a checkpoint');
    if (!keepNets) {
      ck.generator.dispose();
      ck.discriminator?.dispose();
      ck.head?.dispose();
    }
    let text: { text: TextEncoder; vocab: Vocabulary; whitening?: SentenceWhitening };
    let nets = keepNets ? { g: ck.generator, d: ck.discriminator!, c: ck.head! } : undefined;
    try {
      text = await textEncoderOf(cfg, { text: ck.textEncoder, vocab: ck.vocab }, train, log);
      if (keepNets && 2 * text.text.config.hiddenPerDirection !== gCfg.condDim) {
        text.text.dispose();
        throw new DfganError(
          'INVALID_ARGUMENT',
          `--text-from ${cfg.textFrom} gives ${2 * text.text.config.hiddenPerDirection}-d sentence vectors; the networks of ${dir} read ${gCfg.condDim}-d ones`,
        );
      }
      if (nets && text.whitening) {
        await foldWhiteningIntoGenerator(nets.g, text.whitening);
        log.info('whitening folded into the generator of --from (it draws what it drew)');
      }
      if (nets && ((cfg.headProjection && !nets.g.config.headProjection) || (cfg.fcSentence && !nets.g.config.fcSentence))) {
        nets = await withArchitecture(nets.g, nets.d, nets.c, cfg);
      }
      if (nets && cfg.widen) {
        const from = nets.g.config.nf;
        nets = await widenNetworks(nets, cfg.nf, cfg.seed);
        log.info({ from, nf: cfg.nf }, 'networks of --from widened (they compute what they did; the new channels start to learn)');
      }
    } catch (e) {
      if (nets) [nets.g, nets.d, nets.c].forEach((n) => n.dispose());
      throw e;
    }
    const fresh = wanted(2 * text.text.config.hiddenPerDirection);
    return {
      g: nets?.g ?? createGenerator(fresh, { seed: cfg.seed }),
      d: nets?.d ?? createDiscriminator(fresh, { seed: cfg.seed + 1 }),
      c: nets?.c ?? createConditionalHead(fresh, { seed: cfg.seed + 2 }),
      text: text.text,
      vocab: text.vocab,
      startStep: 0,
      source: dir,
    };
  }
  let vocab: Vocabulary;
  let text: TextEncoder;
  if (cfg.textFrom) {
    ({ text, vocab } = await textEncoderOf(cfg, undefined, train, log));
  } else {
    vocab = Vocabulary.buildFromCaptions([...(await allCaptions(train)), ...(test ? await allCaptions(test) : [])]);
    log.warn({ vocab: vocab.size }, 'no --from checkpoint: the text encoder is randomly initialised and stays frozen (run `dfgan pretrain-text` first for real use)');
    ({ text } = await textEncoderOf(cfg, { text: createTextEncoder(parseTextEncoderConfig({ vocabSize: vocab.size }), { seed: cfg.seed + 3 }), vocab }, train, log));
  }
  const gCfg = wanted(2 * text.config.hiddenPerDirection);
  return {
    g: createGenerator(gCfg, { seed: cfg.seed }),
    d: createDiscriminator(gCfg, { seed: cfg.seed + 1 }),
    c: createConditionalHead(gCfg, { seed: cfg.seed + 2 }),
    text,
    vocab,
    startStep: 0,
    source: 'fresh',
  };
}

/** A sample grid: rows = fixed captions, columns = fixed seeds (truncated noise, as for evaluation). */
async function writeSamples(g: Generator, cache: SentenceCache, captions: string[], path: string): Promise<void> {
  const n = SAMPLE_SEEDS.length;
  const rows: tf.Tensor4D[] = [];
  for (const caption of captions) {
    rows.push(
      tf.tidy(() => {
        const s = tf.tile(cache.get([caption]), [n, 1]) as tf.Tensor2D;
        const z = tf.tensor2d(noiseForSeeds(SAMPLE_SEEDS, g.config.zDim, 0.88), [n, g.config.zDim]);
        return g.apply(z, s);
      }),
    );
  }
  const all = tf.concat(rows, 0) as tf.Tensor4D;
  tf.dispose(rows);
  const images = await toRgbImages(all);
  all.dispose();
  await writeFile(path, await encodePng(gridOf(images, n)));
  await writeFile(`${path.replace(/\.png$/, '')}.txt`, captions.map((c, i) => `row ${i + 1}: ${c}`).join('\n') + '\n');
}


/** The StepLosses keys, in the order plots list them. */
const LOSS_KEYS = [...D_TERMS, 'g'] as const;

/** Loss series from a run's losses.jsonl, steps up to `upTo`; empty when there is no log yet. */
async function readLossHistory(path: string, upTo: number): Promise<Record<string, Array<[number, number]>>> {
  const history: Record<string, Array<[number, number]>> = {};
  for (const row of await readLogLines(path, upTo)) {
    for (const k of LOSS_KEYS) if (typeof row[k] === 'number') (history[k] ??= []).push([row.step, row[k] as number]);
  }
  return history;
}

/** Seed offset of the counterfactual captions' stream (any constant other than 0). */
const COUNTERFACTUAL_STREAM = 0x63663031;

export async function train(cfg: TrainConfig, deps: TrainDeps): Promise<TrainResult> {
  const { log } = deps;
  const trainSet = await openDataset(cfg.data, 'train');
  let testSet: Dataset | undefined;
  try {
    testSet = await openDataset(cfg.data, 'test');
  } catch {
    testSet = undefined;
  }
  if (trainSet.size < cfg.batchSize) {
    throw new DfganError('INVALID_ARGUMENT', `${cfg.data} has ${trainSet.size} training images, fewer than one batch of ${cfg.batchSize}`);
  }
  if (cfg.evalEvery > 0 && !testSet) {
    throw new DfganError('INVALID_ARGUMENT', `--eval-every needs a test split to evaluate on; ${cfg.data} has none`);
  }
  const evaluator =
    cfg.evalEvery > 0
      ? new TrainEvaluator({ out: cfg.out, data: cfg.data, images: cfg.evalImages, name: cfg.name, ...(cfg.evalDamsm ? { damsm: cfg.evalDamsm } : {}), discriminatorCheck: cfg.evalDiscriminatorCheck }, log)
      : undefined;
  await evaluator?.validate();
  const counterfactuals = cfg.counterfactualPairs > 0 ? await CounterfactualNegatives.open(cfg.data, trainSet) : undefined;
  if (counterfactuals) log.info({ weight: cfg.counterfactualPairs }, 'D also scores each real image with its caption, one named attribute changed, as a mismatched pair');
  await mkdir(join(cfg.out, 'samples'), { recursive: true });
  await mkdir(join(cfg.out, 'logs'), { recursive: true });

  const m = await setUp(cfg, trainSet, testSet, log);
  const cache = new SentenceCache(m.text, m.vocab);
  // How much sentence vectors vary across captions: D can only read them under MA-GP if it is about 1 (see
  // damsm/sentence-scale.ts); encoders written before sentenceScale existed give far less.
  const spread = m.text.config.sentenceScale / (await measureSentenceScale(m.text, m.vocab, await allCaptions(trainSet), { sample: 1024 }));
  const spreadMsg = `sentence vectors vary by ${spread.toFixed(3)} per dimension across captions (sentenceScale ${m.text.config.sentenceScale.toFixed(3)})`;
  if (spread < 0.1) log.warn({ spread }, `${spreadMsg}: too little for D to tell captions apart under MA-GP; use a text encoder from the current pretrain-text`);
  else log.info({ spread }, spreadMsg);
  const convs = await useConvRuntime(cfg.convRuntime);
  if (convs.name === 'onnx') log.info({ convRuntime: 'onnx' }, 'convolutions: ONNX Runtime CPU kernels');
  else log.info({ convRuntime: 'backend', reason: convs.reason }, `convolutions: the ${tf.getBackend()} backend's own${convs.reason ? ` (${convs.reason})` : ''}`);
  // One replica per core: the wasm backend computes on one thread, so the batch is sharded over worker threads.
  const workers = usableWorkers(cfg.workers, cfg.batchSize);
  if (workers > 1) log.info({ workers }, `data-parallel training on ${workers} replicas`);
  const step = createTrainStep(
    m.g,
    m.d,
    m.c,
    { lrG: cfg.lrG, lrD: cfg.lrD, beta1: cfg.beta1, beta2: cfg.beta2 },
    new HingeLoss({ counterfactualWeight: cfg.counterfactualPairs }),
    new MatchingAwareGradientPenalty({ k: cfg.magpK, p: cfg.magpP }),
    new DiffAugment({ translation: cfg.augTranslation, cutout: cfg.augCutout }),
    workers,
  );
  if (m.optimizerState) {
    const ok = step.optG.restore(m.optimizerState) && step.optD.restore(m.optimizerState);
    if (!ok) log.warn('optimizer state in the checkpoint does not match; Adam restarts from zero moments');
  }
  const optimizerSource = {
    specs: () => [...step.optG.specs(), ...step.optD.specs()],
    read: async () => new Map([...(await step.optG.read()), ...(await step.optD.read())]),
  };

  // Fixed captions for sample grids: the first caption of evenly spaced test images (train if no test split).
  const sampleSet = testSet ?? trainSet;
  const sampleCaptions: string[] = [];
  for (let k = 0; k < SAMPLE_CAPTIONS && k < sampleSet.size; k++) {
    const caps = (await sampleSet.captions(Math.floor((k * sampleSet.size) / SAMPLE_CAPTIONS))).filter((c) => cache.usable(c));
    if (caps.length) sampleCaptions.push(caps[0]);
  }

  let current = m.startStep;
  let lastSaved = '';
  const save = async () => {
    const name = checkpointName(current);
    if (name === lastSaved) return join(cfg.out, name);
    await writeCheckpoint(
      join(cfg.out, name),
      {
        name: cfg.name,
        step: current,
        generatorConfig: m.g.config,
        textEncoderConfig: m.text.config,
        vocab: m.vocab,
        networks: { generator: m.g.params, textEncoder: m.text.params, discriminator: m.d.params, head: m.c.params, optimizer: optimizerSource },
        info: { training: { ...cfg }, startedFrom: m.source },
      },
      { overwrite: true },
    );
    await setLatest(cfg.out, name);
    await pruneCheckpoints(cfg.out, cfg.keepCheckpoints, name);
    lastSaved = name;
    log.info({ step: current, checkpoint: join(cfg.out, name) }, 'checkpoint saved');
    return join(cfg.out, name);
  };
  const lossLog = join(cfg.out, 'logs', 'losses.jsonl');
  // A resumed run plots its whole history: the log's lines up to the step it resumes from (later ones, written
  // after the last checkpoint of an interrupted run, are about to be computed again).
  const history = await readLossHistory(lossLog, m.startStep);
  const plot = async () => {
    const series: Series[] = Object.entries(history).map(([name, points]) => ({ name, points }));
    await writeFile(join(cfg.out, 'losses.svg'), lossPlotSvg(series, { title: `${cfg.name}: losses (EMA-smoothed)` }));
  };

  await evaluator?.resume(m.startStep);

  const flip = await resolveFlip(cfg.flip, cfg.data);
  log.info({ flip }, flip ? 'training images are flipped at random' : 'training images are not flipped (their captions name the facing, or --flip off)');
  const loader = new BatchLoader(trainSet, {
    batchSize: cfg.batchSize,
    imageSize: cfg.imageSize,
    seed: cfg.seed,
    prefetch: 2,
    flip,
    startBatch: current, // a resumed run sees the batches the uninterrupted run would have
  });
  const bar =
    cfg.progress && process.stderr.isTTY
      ? new cliProgress.SingleBar(
          { format: 'train |{bar}| {value}/{total} | {ips} img/s | D {d} G {g} MA-GP {gp} mis {mis} | eta {eta_formatted}', hideCursor: true },
          cliProgress.Presets.shades_classic,
        )
      : undefined;
  bar?.start(cfg.steps, current, { ips: '-', d: '-', g: '-', gp: '-', mis: '-' });

  const t0 = performance.now();
  const firstStep = current;
  let stoppedEarly = false;
  let cfFallbacks = 0;
  let lastLogged = current;
  try {
    if (current === 0 && sampleCaptions.length) await writeSamples(m.g, cache, sampleCaptions, join(cfg.out, 'samples', `step-${checkpointName(0).slice(5)}.png`));
    while (current < cfg.steps) {
      if (deps.signal?.aborted) {
        stoppedEarly = true;
        break;
      }
      const batch = await loader.next();
      // Captions whose words the vocabulary lacks (possible with --from another data set) fall back to a usable one.
      const captions = batch.captions.map((c, i) => (cache.usable(c) ? c : batch.captions.find((o) => cache.usable(o)) ?? batch.captions[i]));
      if (!captions.every((c) => cache.usable(c))) throw new DfganError('INVALID_ARGUMENT', 'a batch has no caption with a known word: the vocabulary does not fit this data');
      const images = tf.tensor4d(batch.images, [cfg.batchSize, cfg.imageSize, cfg.imageSize, 3]);
      const sentences = cache.get(captions);
      // Noise and augmentation come from a generator seeded by (seed, step), so resuming changes nothing.
      const rng = stepRng(cfg.seed, current);
      const z = tf.tensor2d(noiseForSeeds([rng.nextUint32()], cfg.batchSize * m.g.config.zDim, null), [cfg.batchSize, m.g.config.zDim]);
      // Drawn from their own stream, so that turning them on changes nothing else of the step.
      const cf = counterfactuals?.pick(batch.indices, captions, stepRng(cfg.seed ^ COUNTERFACTUAL_STREAM, current), (c) => cache.usable(c));
      if (cf) cfFallbacks += cf.fallbacks;
      const cfSentences = cf ? cache.get(cf.captions) : undefined;
      const losses = await step.run(images, sentences, z, rng, cfSentences);
      tf.dispose([images, sentences, z, ...(cfSentences ? [cfSentences] : [])]);
      current += 1;
      deps.onStep?.(current, losses);
      if (!Object.values(losses).every(Number.isFinite)) {
        throw new DfganError('INTERNAL', `losses became non-finite at step ${current}: ${JSON.stringify(losses)}`);
      }
      const ips = ((current - firstStep) * cfg.batchSize) / ((performance.now() - t0) / 1000);
      bar?.update(current, { ips: ips.toFixed(1), d: losses.dTotal.toFixed(3), g: losses.g.toFixed(3), gp: losses.maGP.toFixed(3), mis: losses.dMismatch.toFixed(3) });
      if (current % cfg.logEvery === 0 || current === cfg.steps) {
        // Share of the images since the last line whose caption had no counterfactual (an ordinary mismatch instead).
        const fallbackShare = counterfactuals ? { counterfactualFallbacks: Number((cfFallbacks / (cfg.batchSize * (current - lastLogged))).toFixed(4)) } : {};
        cfFallbacks = 0;
        lastLogged = current;
        const line = { step: current, time: new Date().toISOString(), imagesPerSecond: Number(ips.toFixed(2)), ...losses, ...fallbackShare };
        await appendFile(lossLog, JSON.stringify(line) + '\n');
        for (const [k, v] of Object.entries(losses)) (history[k] ??= []).push([current, v]);
        if (!bar) log.info(line, 'train');
      }
      if (current % cfg.sampleEvery === 0) {
        await writeSamples(m.g, cache, sampleCaptions, join(cfg.out, 'samples', `step-${checkpointName(current).slice(5)}.png`));
        await plot();
      }
      if (current % cfg.checkpointEvery === 0) await save();
      if (evaluator && current % cfg.evalEvery === 0) await evaluator.run(current, await save());
    }
    const checkpoint = await save();
    await plot();
    const imagesPerSecond = ((current - firstStep) * cfg.batchSize) / ((performance.now() - t0) / 1000);
    return { step: current, checkpoint, stoppedEarly, imagesPerSecond };
  } finally {
    bar?.stop();
    loader.close();
    await step.dispose();
    for (const x of [m.g, m.d, m.c, m.text]) x.dispose();
  }
}

export { LATEST_FILE, Adam };
