// `dfgan train`: flags -> validated TrainConfig -> train(). Ctrl-C saves a checkpoint after the current step.
import { Command, Option } from 'commander';
import type { Logger } from '../logger.js';
import { IMAGE_SIZES } from '../model/config.js';
import { CONV_RUNTIME_CHOICES } from '../model/conv-runtime.js';
import { parseTrainConfig } from '../training/train-config.js';
import { floatArg, intArg } from './args.js';
import { untilInterrupted } from './interrupt.js';

export function registerTrainCommand(program: Command, prepare: (cmd: Command) => Promise<Logger>): void {
  program
    .command('train')
    .description('train DF-GAN on a data set (resumes from OUT/latest when present)')
    .requiredOption('--data <dir>', 'data set root (CUB-200 or COCO layout)')
    .requiredOption('--out <dir>', 'checkpoint root (ckpt-* folders, latest, samples/, logs/, losses.svg)')
    .requiredOption('--steps <n>', 'train until this many steps in total', intArg('--steps', 1, 1e9))
    .option('--from <dir>', 'start from this checkpoint (e.g. the output of pretrain-text)')
    .option('--text-from <dir>', 'take the text encoder and vocabulary from this checkpoint instead (e.g. a longer-pretrained DAMSM); a new run only')
    .option('--sentence-spread <s>', 'rescale sentence vectors to vary by this much per dimension across captions (a new run only)', floatArg('--sentence-spread', 0, 10, { exclusiveMin: true }))
    .option('--whiten-sentences [shrinkage]', 'whiten sentence vectors over the training captions, eigenvalues shrunk by this times their mean (default 0.04); folded into a --from generator (a new run only)', floatArg('--whiten-sentences', 0, 10))
    .option('--head-projection', "add a projection term to D's conditional head (off in the reference DF-GAN; a new run only)")
    .option('--fc-sentence', "G's first layer (the 4x4 map) reads the sentence as well as the noise (off in the reference DF-GAN; a new run only)")
    .option('--widen', 'grow the networks of --from to --nf (a larger one), keeping what they compute, rather than starting new ones')
    .option('--name <name>', 'model name in checkpoints')
    .addOption(new Option('--size <s>', `image size (${IMAGE_SIZES.join(', ')})`).argParser(intArg('--size', 32, 256)))
    .option('--nf <f>', 'base channel count', intArg('--nf', 1, 512))
    .option('--batch-size <b>', 'images per step', intArg('--batch-size', 2, 1024))
    .option('--lr-g <lr>', 'generator learning rate', floatArg('--lr-g', 0, 1, { exclusiveMin: true }))
    .option('--lr-d <lr>', 'discriminator learning rate', floatArg('--lr-d', 0, 1, { exclusiveMin: true }))
    .option('--magp-k <k>', 'MA-GP weight', floatArg('--magp-k', 0, 1e6))
    .option('--magp-p <p>', 'MA-GP power', floatArg('--magp-p', 0, 100, { exclusiveMin: true }))
    .option('--aug-translation <f>', 'DiffAugment shift fraction (0 disables)', floatArg('--aug-translation', 0, 0.5))
    .addOption(new Option('--flip <mode>', 'random horizontal flips of training images (default auto: off on synth-birds data, whose captions name the facing)').choices(['auto', 'on', 'off']))
    .option('--counterfactual-pairs [weight]', "D also scores each real image with its caption, one named attribute changed, as a mismatched pair (synth-birds data; default weight 0.5; off in the reference DF-GAN)", floatArg('--counterfactual-pairs', 0, 10))
    .option('--aug-cutout <f>', 'DiffAugment cutout fraction (0 disables)', floatArg('--aug-cutout', 0, 1))
    .option('--checkpoint-every <n>', 'steps between checkpoints', intArg('--checkpoint-every', 1, 1e9))
    .option('--keep-checkpoints <n>', 'checkpoints kept', intArg('--keep-checkpoints', 1, 1000))
    .option('--sample-every <n>', 'steps between sample grids', intArg('--sample-every', 1, 1e9))
    .option('--log-every <n>', 'steps between loss log lines', intArg('--log-every', 1, 1e9))
    .option('--seed <n>', 'seed of data order, noise and augmentation', intArg('--seed', 0, 2 ** 31))
    .option('--workers <n>', 'data-parallel replicas, one per core (default: all cores; 1 = single-threaded)', intArg('--workers', 1, 256))
    .option('--conv-runtime <r>', `where convolutions run on wasm: ${CONV_RUNTIME_CHOICES.join(', ')} (default auto: ONNX Runtime when it loads)`)
    .option('--eval-every <n>', 'steps between evaluations of the checkpoint saved then (logs/eval.jsonl, eval.svg, fid.svg; default 0: none)', intArg('--eval-every', 0, 1e9))
    .option('--eval-images <n>', 'generated images per evaluation during training (default 500)', intArg('--eval-images', 2, 100000))
    .option('--eval-discriminator-check [images]', "each evaluation also checks D's reading of each attribute against counterfactual captions (synth-birds; default 200 images)", intArg('--eval-discriminator-check', 1, 100000))
    .option('--eval-damsm <dir>', 'checkpoint with DAMSM encoders (a pretrain-text output) for R-precision during training')
    .option('--no-progress', 'no progress bar (log lines instead)')
    .action(async (o, cmd: Command) => {
      const log = await prepare(cmd);
      const cfg = parseTrainConfig(
        Object.fromEntries(
          Object.entries({
            data: o.data,
            out: o.out,
            from: o.from,
            textFrom: o.textFrom,
            sentenceSpread: o.sentenceSpread,
            whitenSentences: o.whitenSentences === true ? 0.04 : o.whitenSentences,
            headProjection: o.headProjection,
            fcSentence: o.fcSentence,
            widen: o.widen,
            name: o.name,
            steps: o.steps,
            imageSize: o.size,
            nf: o.nf,
            batchSize: o.batchSize,
            lrG: o.lrG,
            lrD: o.lrD,
            magpK: o.magpK,
            magpP: o.magpP,
            augTranslation: o.augTranslation,
            augCutout: o.augCutout,
            flip: o.flip,
            counterfactualPairs: o.counterfactualPairs === true ? 0.5 : o.counterfactualPairs,
            checkpointEvery: o.checkpointEvery,
            keepCheckpoints: o.keepCheckpoints,
            sampleEvery: o.sampleEvery,
            logEvery: o.logEvery,
            seed: o.seed,
            workers: o.workers,
            convRuntime: o.convRuntime,
            evalEvery: o.evalEvery,
            evalImages: o.evalImages,
            evalDamsm: o.evalDamsm,
            evalDiscriminatorCheck: o.evalDiscriminatorCheck === true ? 200 : o.evalDiscriminatorCheck,
            progress: o.progress,
          }).filter(([, v]) => v !== undefined),
        ),
      );
      // Loaded when the command runs: other commands (serve) must not depend on the trainer's modules.
      const { train } = await import('../training/train-loop.js');
      const r = await untilInterrupted(log, (signal) => train(cfg, { log, signal }));
      process.stdout.write(JSON.stringify(r, null, 2) + '\n');
    });
}
