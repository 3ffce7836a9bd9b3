// `dfgan eval` (FID on the project's own feature network, R-precision, attribute accuracy) and
// `dfgan train-classifier` (the feature network / attribute classifier eval uses).
import { Command, Option } from 'commander';
import type { Logger } from '../logger.js';
import { DEFAULT_TRUNCATION } from '../model/sampling.js';
import { CLASSIFIER_CACHE, parseClassifierTrainConfig, parseEvalConfig } from '../training/eval/eval-config.js';
// The evaluator is loaded when a command runs: other commands (serve) must not depend on its modules.
const evaluator = () => import('../training/eval/evaluate.js');
import { floatArg, intArg } from './args.js';

function defined(o: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
}

export function registerEvalCommand(program: Command, prepare: (cmd: Command) => Promise<Logger>): void {
  program
    .command('eval')
    .description(
      "evaluate a checkpoint on a data set's test split: FID (on the project's attribute classifier features), " +
        'R-precision (DAMSM encoders) and, on synth-birds, whether images show the attributes their captions name',
    )
    .requiredOption('--checkpoint <dir>', 'checkpoint folder, or a root with a `latest` pointer')
    .requiredOption('--data <dir>', 'data set root (CUB layout; synth-birds adds attributes)')
    .option('--n-images <n>', 'generated images (default: one per test image; more cycle over them)', intArg('--n-images', 2, 1_000_000))
    .option('--batch-size <b>', 'images generated per call (default 32)', intArg('--batch-size', 1, 64))
    .option('--out <file.json>', 'write the JSON report here')
    .option('--json', 'print the JSON report on stdout instead of the table', false)
    .option('--classifier <dir>', `attribute classifier folder (default DATA/${CLASSIFIER_CACHE}; trained there when missing)`)
    .option('--classifier-steps <n>', 'training steps when eval has to train the classifier (default 1500)', intArg('--classifier-steps', 1, 1e7))
    .option('--damsm <dir>', 'checkpoint with the DAMSM text and image encoders for R-precision (default: the evaluated checkpoint)')
    .option('--truncation <t>', `truncated-normal noise scaled by t (default ${DEFAULT_TRUNCATION})`, floatArg('--truncation', 0, 1, { exclusiveMin: true }))
    .option('--no-truncation', 'plain N(0, 1) noise')
    .option('--seed <n>', 'noise seed of the first image (image k gets seed + k) and caption choice (default 0)', intArg('--seed', 0, 2 ** 31))
    .option('--no-real-floor', 'skip the FID of real train images against the test split')
    .option('--text-probe', "also report how well each attribute a caption names can be read from the checkpoint's sentence vectors (a linear probe; the text side's ceiling)", false)
    .option(
      '--discriminator-check [images]',
      "also report, per attribute, how often D prefers a real image's caption over the same caption with that attribute changed (synth-birds; default 300 images)",
      intArg('--discriminator-check', 1, 1_000_000),
    )
    .addOption(
      new Option(
        '--write-manifest',
        "also record the figures in the checkpoint manifest's info.eval (rewrites the checkpoint folder atomically; its version changes)",
      ).default(false),
    )
    .action(async (o, cmd: Command) => {
      const log = await prepare(cmd);
      const cfg = parseEvalConfig(
        defined({
          checkpoint: o.checkpoint,
          data: o.data,
          nImages: o.nImages,
          batchSize: o.batchSize,
          out: o.out,
          classifier: o.classifier,
          classifierSteps: o.classifierSteps,
          damsm: o.damsm,
          truncation: o.truncation === false ? null : o.truncation,
          seed: o.seed,
          realFloor: o.realFloor,
          textProbe: o.textProbe,
          discriminatorCheck: o.discriminatorCheck === true ? 300 : o.discriminatorCheck,
          writeManifest: o.writeManifest,
        }),
      );
      const { evalSummary, evaluate, formatReport, recordEvalInCheckpoint, writeReport } = await evaluator();
      const report = await evaluate(cfg, { log });
      if (cfg.out) await writeReport(cfg.out, report);
      if (cfg.writeManifest) {
        const r = await recordEvalInCheckpoint(report.checkpoint.dir, evalSummary(report));
        log.info({ checkpoint: r.dir, version: r.version }, 'figures recorded in the manifest (info.eval); the checkpoint version changed');
      }
      process.stdout.write(o.json ? JSON.stringify(report, null, 2) + '\n' : formatReport(report));
    });

  program
    .command('train-classifier')
    .description("train the attribute classifier whose penultimate layer is eval's FID feature network (and whose heads score attributes)")
    .requiredOption('--data <dir>', 'data set root (CUB layout; synth-birds adds attributes.jsonl)')
    .option('--out <dir>', `classifier folder (default DATA/${CLASSIFIER_CACHE}, where eval looks)`)
    .option('--steps <n>', 'training steps (default 1500)', intArg('--steps', 1, 1e7))
    .option('--batch-size <b>', 'images per step (default 32)', intArg('--batch-size', 2, 1024))
    .option('--lr <lr>', 'Adam learning rate, decayed to 1/20 over the steps (default 3e-3)', floatArg('--lr', 0, 1, { exclusiveMin: true }))
    .option('--jitter <px>', 'largest random shift of training images in pixels (default 3)', intArg('--jitter', 0, 16))
    .option('--fresh-share <p>', 'synth-birds: share of each batch drawn from freshly rendered birds (default 0.75)', floatArg('--fresh-share', 0, 1))
    .option('--feature-dim <d>', 'size of the penultimate layer, the FID features (default 128)', intArg('--feature-dim', 2, 1024))
    .option('--nf <f>', 'channels of the first conv block (default 16)', intArg('--nf', 1, 256))
    .option('--seed <n>', 'seed of initialisation, batches and jitter (default 0)', intArg('--seed', 0, 2 ** 31))
    .action(async (o, cmd: Command) => {
      const log = await prepare(cmd);
      const cfg = parseClassifierTrainConfig(
        defined({
          data: o.data,
          out: o.out,
          steps: o.steps,
          batchSize: o.batchSize,
          lr: o.lr,
          jitter: o.jitter,
          fresh: o.freshShare,
          featureDim: o.featureDim,
          nf: o.nf,
          seed: o.seed,
        }),
      );
      const stop = new AbortController();
      const onSignal = () => stop.abort();
      process.on('SIGINT', onSignal);
      try {
        const { trainClassifierFor } = await evaluator();
        const r = await trainClassifierFor(cfg, { log, signal: stop.signal });
        r.classifier.dispose();
        process.stdout.write(
          JSON.stringify(
            {
              out: r.dir,
              featureNetwork: r.featureName,
              training: r.meta.training,
              heldOut: {
                split: r.meta.heldOut.split,
                images: r.meta.heldOut.images,
                mean: r.meta.heldOut.mean,
                overall: r.meta.heldOut.overall,
                perAttribute: Object.fromEntries(Object.entries(r.meta.heldOut.perHead).map(([k, v]) => [k, { accuracy: v.accuracy, chance: v.chance }])),
              },
            },
            null,
            2,
          ) + '\n',
        );
      } finally {
        process.off('SIGINT', onSignal);
      }
    });
}
