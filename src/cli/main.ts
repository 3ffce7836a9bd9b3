// The `dfgan` command line. Flags are parsed and validated here, once; commands get plain frozen values.
import { Command, Option } from 'commander';
import { DfganError, toDfganError } from '../errors.js';
import { createLogger, LOG_LEVELS, type Logger } from '../logger.js';
import { PACKAGE_VERSION } from '../version.js';
import { BACKEND_CHOICES, parseBackendChoice, selectBackend, type BackendChoice } from '../model/backend.js';
import { IMAGE_SIZES } from '../model/config.js';
import { DEFAULT_TRUNCATION, MAX_SEED } from '../model/sampling.js';
import { MAX_IMAGES_PER_CALL, TextToImage } from '../model/text-to-image.js';
import { choiceArg, floatArg, intArg } from './args.js';
import { runGenerate } from './generate.js';
import { runInit } from './init.js';
import { SERVE_OPTIONS, envOf, flagOf, parseServeConfig, type ServeOptionKey } from '../server/config.js';
import { registerTrainCommand } from './train.js';
import { registerEvalCommand } from './eval.js';
import { registerSynthCommand } from './synth.js';
import { registerPretrainTextCommand } from './pretrain-text.js';

interface GlobalOpts {
  backend: BackendChoice;
  logLevel: (typeof LOG_LEVELS)[number];
}

async function withBackend(opts: GlobalOpts): Promise<Logger> {
  const log = createLogger(opts.logLevel);
  const info = await selectBackend(opts.backend);
  log.info({ backend: info.name, tfBackend: info.tfBackend, skipped: info.skipped }, `compute backend: ${info.name}`);
  return log;
}

function printJson(value: unknown): void {
  process.stdout.write(JSON.stringify(value, null, 2) + '\n');
}

const program = new Command('dfgan')
  .description('DF-GAN text-to-image: generate, train and serve')
  .version(PACKAGE_VERSION)
  .addOption(
    new Option('--backend <name>', `compute backend (${BACKEND_CHOICES.join(', ')})`)
      .default('auto')
      .env('DFGAN_BACKEND')
      .argParser(parseBackendChoice),
  )
  .addOption(new Option('--log-level <level>', 'log level').choices(LOG_LEVELS).default('info').env('DFGAN_LOG_LEVEL'))
  .showHelpAfterError();

program
  .command('generate')
  .description('turn a caption into PNG image(s)')
  .requiredOption('--checkpoint <dir>', 'checkpoint folder, or a root with a `latest` pointer')
  .option('--text <caption>', 'the caption')
  .option('--seed <n>', `seed of the first image (0..${MAX_SEED}); image i gets seed + i; random if omitted`, intArg('--seed', 0, MAX_SEED))
  .option('--n <k>', `number of images (1..${MAX_IMAGES_PER_CALL})`, intArg('--n', 1, MAX_IMAGES_PER_CALL))
  .option('--truncation <t>', 'truncated-normal noise scaled by t', floatArg('--truncation', 0, 1, { exclusiveMin: true }), DEFAULT_TRUNCATION)
  .option('--no-truncation', 'plain N(0, 1) noise, as in training')
  .requiredOption('--out <file.png>', 'output PNG (FILE-i.png for each image when n > 1)')
  .option('--z <file.npy>', 'noise as float32 [n, zDim] instead of seeds')
  .option('--sentence <file.npy>', 'sentence vectors float32 [n, condDim] instead of --text')
  .option('--raw-out <file.npy>', "also write the generator's tanh output, float32 NCHW [n, 3, H, W]")
  .action(async (o, cmd: Command) => {
    await withBackend(cmd.optsWithGlobals<GlobalOpts>());
    const model = await TextToImage.load(o.checkpoint);
    try {
      printJson(
        await runGenerate(model, {
          checkpoint: o.checkpoint,
          text: o.text,
          seed: o.seed,
          n: o.n,
          truncation: o.truncation === false ? null : o.truncation,
          out: o.out,
          z: o.z,
          sentence: o.sentence,
          rawOut: o.rawOut,
        }),
      );
    } finally {
      model.dispose();
    }
  });

program
  .command('init')
  .description('write a freshly initialised checkpoint')
  .requiredOption('--size <s>', `image size (${IMAGE_SIZES.join(', ')})`, choiceArg('--size', IMAGE_SIZES.map(String)))
  .option('--nf <f>', 'base channel count', intArg('--nf', 1, 512), 32)
  .requiredOption('--out <dir>', 'checkpoint folder to create')
  .option('--seed <n>', 'initialisation seed', intArg('--seed', 0, 2 ** 30), 0)
  .option('--name <name>', 'model name', 'dfgan')
  .option('--captions <file>', 'build the vocabulary from these captions (one per line); default: built-in bird words')
  .option('--no-discriminator', 'leave out the discriminator and head (generation only)')
  .option('--overwrite', 'replace an existing folder', false)
  .action(async (o, cmd: Command) => {
    await withBackend(cmd.optsWithGlobals<GlobalOpts>());
    const m = await runInit({
      size: Number(o.size),
      nf: o.nf,
      out: o.out,
      seed: o.seed,
      name: o.name,
      captions: o.captions,
      discriminator: o.discriminator,
      overwrite: o.overwrite,
    });
    printJson({ out: o.out, name: m.name, generator: m.generator, vocabSize: m.vocab.size, files: Object.keys(m.files) });
  });

program
  .command('export-onnx')
  .description("write a checkpoint's generator as an ONNX file (opset 17, dynamic batch; inputs z [n, zDim] and sentence [n, condDim], output image [n, S, S, 3] in [-1, 1])")
  .requiredOption('--checkpoint <dir>', 'checkpoint folder, or a root with a `latest` pointer')
  .requiredOption('--out <file.onnx>', 'file to write')
  .option('--overwrite', 'replace an existing file', false)
  .action(async (o) => {
    const { runExportOnnx } = await import('./export-onnx.js');
    printJson(await runExportOnnx({ checkpoint: o.checkpoint, out: o.out, overwrite: o.overwrite }));
  });

program
  .command('import')
  .description("turn the official DF-GAN release (PyTorch .pth: NetG alone or the training state, DAMSM text encoder and captions_DAMSM.pickle) into a checkpoint; never runs pickled code")
  .requiredOption('--generator <file.pth>', 'NetG state dict, or the release training state state_epoch_XXX.pth ({model: {netG, netD, netC}, ...})')
  .option('--text-encoder <file.pth>', 'DAMSM text encoder (e.g. text_encoder200.pth); needs --captions')
  .option('--captions <file.pickle>', "DAMSM's captions_DAMSM.pickle: the text encoder's vocabulary")
  .option('--text-from <dir>', 'instead of --text-encoder/--captions: reuse the text encoder and vocabulary of this checkpoint')
  .requiredOption('--size <s>', `image size of the generator (${IMAGE_SIZES.join(', ')}); checked against the file`, choiceArg('--size', IMAGE_SIZES.map(String)))
  .option('--nf <f>', 'base channel count (default: read from the file; checked when given)', intArg('--nf', 1, 512))
  .requiredOption('--out <dir>', 'checkpoint folder to create')
  .option('--name <name>', 'model name', 'dfgan')
  .option('--no-discriminator', 'leave out NetD and NetC of a training state (generation only)')
  .option('--overwrite', 'replace an existing folder', false)
  .action(async (o, cmd: Command) => {
    await withBackend(cmd.optsWithGlobals<GlobalOpts>());
    const { runImport } = await import('./import.js');
    printJson(
      await runImport({
        generator: o.generator,
        textEncoder: o.textEncoder,
        captions: o.captions,
        textFrom: o.textFrom,
        size: Number(o.size),
        nf: o.nf,
        out: o.out,
        name: o.name,
        discriminator: o.discriminator,
        overwrite: o.overwrite,
      }),
    );
  });

registerSynthCommand(program);
registerTrainCommand(program, (cmd) => withBackend(cmd.optsWithGlobals<GlobalOpts>()));
registerEvalCommand(program, (cmd) => withBackend(cmd.optsWithGlobals<GlobalOpts>()));
registerPretrainTextCommand(program, (cmd) => withBackend(cmd.optsWithGlobals<GlobalOpts>()));

const serveCommand = program
  .command('serve')
  .description('run the inference server: HTTP and gRPC, batching, metrics, hot reload of new checkpoints');
for (const [key, spec] of Object.entries(SERVE_OPTIONS) as Array<[ServeOptionKey, (typeof SERVE_OPTIONS)[ServeOptionKey]]>) {
  if (key === 'backend') continue; // the global --backend / DFGAN_BACKEND
  serveCommand.addOption(new Option(`${flagOf(key)} <${spec.value}>`, `${spec.doc} (default: ${spec.default})`).env(envOf(key)));
}
serveCommand.action(async (o: Partial<Record<ServeOptionKey, string>>, cmd: Command) => {
  const globals = cmd.optsWithGlobals<GlobalOpts>();
  // Validated here, once; the server gets a frozen config.
  const config = parseServeConfig({ ...o, backend: globals.backend });
  const { serve } = await import('../server/serve.js');
  const code = await serve(config, createLogger(globals.logLevel));
  process.exit(code);
});

try {
  await program.parseAsync(process.argv);
} catch (err) {
  const e = toDfganError(err);
  process.stderr.write(`dfgan: error [${e.code}]: ${e.message}\n`);
  if (e.kind === 'internal' && err instanceof Error && err.stack) process.stderr.write(err.stack + '\n');
  process.exitCode = e.kind === 'user' ? 2 : 1;
}

export { DfganError };
