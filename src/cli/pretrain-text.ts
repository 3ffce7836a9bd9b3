// `dfgan pretrain-text`: flags -> validated PretrainConfig -> pretrainText(). Ctrl-C saves a checkpoint after the
// current step.
import { Command, Option } from 'commander';
import type { Logger } from '../logger.js';
import { IMAGE_SIZES } from '../model/config.js';
import { parsePretrainConfig } from '../training/damsm/pretrain-config.js';
import { floatArg, intArg } from './args.js';
import { untilInterrupted } from './interrupt.js';
import { CONV_RUNTIME_CHOICES } from '../model/conv-runtime.js';

export function registerPretrainTextCommand(program: Command, prepare: (cmd: Command) => Promise<Logger>): void {
  program
    .command('pretrain-text')
    .description('pretrain the text encoder (DAMSM) on a data set and save it with its vocabulary (resumes from OUT/latest when present)')
    .requiredOption('--data <dir>', 'data set root (CUB-200 or COCO layout)')
    .requiredOption('--out <dir>', 'checkpoint root (ckpt-* folders, latest, logs/damsm.jsonl, damsm.svg)')
    .requiredOption('--steps <n>', 'train until this many steps in total', intArg('--steps', 1, 1e9))
    .option('--name <name>', 'model name in checkpoints')
    .option('--batch-size <b>', 'caption/image pairs per step (default 48)', intArg('--batch-size', 2, 1024))
    .addOption(
      new Option('--size <s>', `image size of the fresh generator written with the text encoder (${IMAGE_SIZES.join(', ')}; default 64)`).argParser(
        intArg('--size', 32, 256),
      ),
    )
    .option('--nf <f>', 'base channels of the fresh generator/discriminator (default 32)', intArg('--nf', 1, 512))
    .option('--encoder-size <s>', 'side the image encoder sees (16, 32, 64, 128; default min(size, 64))', intArg('--encoder-size', 16, 128))
    .option('--encoder-nf <f>', 'image encoder channels of the first block (default 32)', intArg('--encoder-nf', 1, 512))
    .option('--lr <lr>', 'Adam learning rate (default 2e-4)', floatArg('--lr', 0, 1, { exclusiveMin: true }))
    .option('--dropout <p>', 'word embedding dropout in training (default 0.5)', floatArg('--dropout', 0, 0.99))
    .option('--grad-clip <n>', 'global-norm clip of the text encoder gradients (default 0.25)', floatArg('--grad-clip', 0, 1e9, { exclusiveMin: true }))
    .option('--sentence-spread <s>', 'per-dimension spread across captions of the saved sentence vectors (sets sentenceScale; default 0.25)', floatArg('--sentence-spread', 0, 1e6, { exclusiveMin: true }))
    .option('--eval-pairs <n>', 'test pairs of the R@1 evaluation (default 100)', intArg('--eval-pairs', 2, 10000))
    .option('--checkpoint-every <n>', 'steps between checkpoints (default 500)', intArg('--checkpoint-every', 1, 1e9))
    .option('--keep-checkpoints <n>', 'checkpoints kept (default 3)', intArg('--keep-checkpoints', 1, 1000))
    .option('--log-every <n>', 'steps between loss log lines (default 10)', intArg('--log-every', 1, 1e9))
    .option('--seed <n>', 'seed of initialisation, data order, augmentation and dropout', intArg('--seed', 0, 2 ** 31))
    .addOption(new Option('--flip <mode>', 'random horizontal flips of training images (default auto: off on synth-birds data, whose captions name the facing)').choices(['auto', 'on', 'off']))
    .option('--conv-runtime <r>', `where convolutions run on wasm: ${CONV_RUNTIME_CHOICES.join(', ')} (default auto: ONNX Runtime when it loads)`)
    .option('--no-progress', 'no progress bar (log lines instead)')
    .action(async (o, cmd: Command) => {
      const log = await prepare(cmd);
      const cfg = parsePretrainConfig(
        Object.fromEntries(
          Object.entries({
            data: o.data,
            out: o.out,
            name: o.name,
            steps: o.steps,
            batchSize: o.batchSize,
            imageSize: o.size,
            nf: o.nf,
            encoderSize: o.encoderSize,
            encoderNf: o.encoderNf,
            lr: o.lr,
            dropout: o.dropout,
            gradClip: o.gradClip,
            sentenceSpread: o.sentenceSpread,
            evalPairs: o.evalPairs,
            checkpointEvery: o.checkpointEvery,
            keepCheckpoints: o.keepCheckpoints,
            logEvery: o.logEvery,
            seed: o.seed,
            flip: o.flip,
            convRuntime: o.convRuntime,
            progress: o.progress,
          }).filter(([, v]) => v !== undefined),
        ),
      );
      // Loaded when the command runs: other commands (serve) must not depend on the trainer's modules.
      const { pretrainText } = await import('../training/damsm/pretrain.js');
      const r = await untilInterrupted(log, (signal) => pretrainText(cfg, { log, signal }));
      process.stdout.write(JSON.stringify(r, null, 2) + '\n');
    });
}
