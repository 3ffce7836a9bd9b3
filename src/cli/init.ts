// `dfgan init`: a freshly initialised checkpoint (the trainer's starting point, and a model for tests).
import { readFile } from 'node:fs/promises';
import { DfganError } from '../errors.js';
import { parseGeneratorConfig, parseTextEncoderConfig } from '../model/config.js';
import { createGenerator } from '../model/generator.js';
import { createConditionalHead, createDiscriminator } from '../model/discriminator.js';
import { createTextEncoder } from '../model/text/encoder.js';
import { Vocabulary } from '../model/text/vocab.js';
import { DEFAULT_WORDS } from '../model/text/default-words.js';
import { writeCheckpoint, type Manifest } from '../model/checkpoint/index.js';

export interface InitArgs {
  size: number;
  nf: number;
  out: string;
  seed: number;
  name: string;
  captions?: string;
  discriminator: boolean;
  overwrite: boolean;
}

async function vocabularyFor(args: InitArgs): Promise<Vocabulary> {
  if (!args.captions) return Vocabulary.buildFromCaptions([DEFAULT_WORDS.join(' ')]);
  let text: string;
  try {
    text = await readFile(args.captions, 'utf8');
  } catch (err) {
    throw new DfganError('INVALID_ARGUMENT', `--captions: cannot read ${args.captions}`, { cause: err });
  }
  const lines = text.split(/\r?\n/).filter((l) => l.trim().length > 0);
  const vocab = Vocabulary.buildFromCaptions(lines);
  if (vocab.size < 2) throw new DfganError('INVALID_ARGUMENT', `--captions ${args.captions} holds no words`);
  return vocab;
}

export async function runInit(args: InitArgs): Promise<Manifest> {
  const gCfg = parseGeneratorConfig({ imageSize: args.size, nf: args.nf });
  const vocab = await vocabularyFor(args);
  const tCfg = parseTextEncoderConfig({ vocabSize: vocab.size });
  const g = createGenerator(gCfg, { seed: args.seed });
  const t = createTextEncoder(tCfg, { seed: args.seed + 1 });
  const d = args.discriminator ? createDiscriminator(gCfg, { seed: args.seed + 2 }) : undefined;
  const c = args.discriminator ? createConditionalHead(gCfg, { seed: args.seed + 3 }) : undefined;
  try {
    return await writeCheckpoint(
      args.out,
      {
        name: args.name,
        step: 0,
        generatorConfig: gCfg,
        textEncoderConfig: tCfg,
        vocab,
        networks: { generator: g.params, textEncoder: t.params, discriminator: d?.params, head: c?.params },
        info: { createdBy: 'dfgan init', initSeed: args.seed },
      },
      { overwrite: args.overwrite },
    );
  } finally {
    for (const m of [g, t, d, c]) m?.dispose();
  }
}
