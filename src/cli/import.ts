// `dfgan import`: the official DF-GAN release (PyTorch .pth files) as a checkpoint of this project, which
// `generate`, the server and the trainer (`train --from`) load. Reads the files without running any pickled
// code (src/model/torch/), checks every name and shape, and writes the checkpoint atomically.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { DfganError } from '../errors.js';
import type { GeneratorConfig, TextEncoderConfig } from '../model/config.js';
import { sentenceDim } from '../model/config.js';
import { createGenerator } from '../model/generator.js';
import { createConditionalHead, createDiscriminator } from '../model/discriminator.js';
import { createTextEncoder } from '../model/text/encoder.js';
import type { Vocabulary } from '../model/text/vocab.js';
import type { ParamSpec } from '../model/params.js';
import { loadCheckpoint, writeCheckpoint, type Manifest, type WeightSource } from '../model/checkpoint/index.js';
import { readTorchFile } from '../model/torch/serialization.js';
import {
  type ConvertedNetwork,
  convertDfganNetwork,
  convertTextEncoder,
  damsmVocabulary,
  dfganStatesOf,
  generatorConfigOf,
  stateDictOf,
  textEncoderConfigOf,
  unusedDiscriminatorWeights,
} from '../model/torch/official.js';

export interface ImportArgs {
  /** NetG state dict or the release's training state (state_epoch_XXX.pth). */
  generator: string;
  /** DAMSM text encoder (text_encoderXXX.pth); needs `captions`. */
  textEncoder?: string;
  /** captions_DAMSM.pickle: the text encoder's vocabulary. */
  captions?: string;
  /** Instead of textEncoder + captions: reuse the text encoder and vocabulary of a checkpoint of this project. */
  textFrom?: string;
  size: number;
  nf?: number;
  out: string;
  name: string;
  /** Leave out NetD / NetC even when the file has them. */
  discriminator: boolean;
  overwrite: boolean;
}

export interface ImportResult {
  out: string;
  name: string;
  generator: GeneratorConfig;
  textEncoder: TextEncoderConfig;
  vocabSize: number;
  networks: string[];
  /** Weights of the files that were checked and deliberately not used. */
  dropped: string[];
  source: Record<string, unknown>;
}

async function readInput(path: string, flag: string): Promise<{ bytes: Uint8Array; sha256: string; path: string }> {
  const p = resolve(path);
  let bytes: Buffer;
  try {
    bytes = await readFile(p);
  } catch (err) {
    throw new DfganError('INVALID_ARGUMENT', `${flag}: cannot read ${p} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, { cause: err });
  }
  return { bytes: new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), sha256: createHash('sha256').update(bytes).digest('hex'), path: p };
}

/** A weight set held as plain arrays, in the network's order. */
function source(c: ConvertedNetwork): WeightSource {
  return { specs: () => c.specs, read: async () => c.values };
}

/** The parameter list of a network built with `cfg` (built, listed, disposed). */
function specsOf(make: () => { params: { specs(): ParamSpec[] }; dispose(): void }): ParamSpec[] {
  const net = make();
  try {
    return net.params.specs();
  } finally {
    net.dispose();
  }
}

export async function runImport(args: ImportArgs): Promise<ImportResult> {
  if (Boolean(args.textEncoder) !== Boolean(args.captions)) {
    throw new DfganError('INVALID_ARGUMENT', '--text-encoder and --captions go together: the text encoder is only usable with its DAMSM vocabulary');
  }
  if (args.textEncoder && args.textFrom) throw new DfganError('INVALID_ARGUMENT', 'give either --text-encoder with --captions, or --text-from, not both');
  if (!args.textEncoder && !args.textFrom) {
    throw new DfganError(
      'INVALID_ARGUMENT',
      'a checkpoint needs the text encoder the generator was trained with: give --text-encoder FILE.pth and --captions captions_DAMSM.pickle, or --text-from CHECKPOINT',
    );
  }

  // Generator (and NetD / NetC of a training state).
  const gIn = await readInput(args.generator, '--generator');
  const gFile = readTorchFile(gIn.bytes, gIn.path);
  const states = dfganStatesOf(gFile, gIn.path);
  const gCfg = generatorConfigOf(states.netG, gIn.path, { size: args.size, nf: args.nf });
  const model = `the ${gCfg.imageSize}px nf ${gCfg.nf} generator`;
  const generator = convertDfganNetwork(states.netG, specsOf(() => createGenerator(gCfg)), {
    what: states.kind === 'generator' ? 'the generator state dict' : "model['netG']",
    model,
    source: gIn.path,
  });
  let discriminator: ConvertedNetwork | undefined;
  let head: ConvertedNetwork | undefined;
  if (args.discriminator && states.netD && states.netC) {
    discriminator = convertDfganNetwork(states.netD, specsOf(() => createDiscriminator(gCfg)), {
      what: "model['netD']",
      model: `the ${gCfg.imageSize}px nf ${gCfg.nf} discriminator`,
      source: gIn.path,
      dropUnused: unusedDiscriminatorWeights(gCfg),
    });
    head = convertDfganNetwork(states.netC, specsOf(() => createConditionalHead(gCfg)), {
      what: "model['netC']",
      model: `the nf ${gCfg.nf} conditional head (sentence ${gCfg.condDim})`,
      source: gIn.path,
    });
  }

  // Text encoder and vocabulary.
  let tCfg: TextEncoderConfig;
  let textEncoder: WeightSource;
  let vocab: Vocabulary;
  const src: Record<string, unknown> = {
    generator: { file: gIn.path, sha256: gIn.sha256, layout: gFile.layout, content: states.kind, epoch: states.epoch },
  };
  if (args.textEncoder && args.captions) {
    const tIn = await readInput(args.textEncoder, '--text-encoder');
    const cIn = await readInput(args.captions, '--captions');
    const tFile = readTorchFile(tIn.bytes, tIn.path);
    const sd = stateDictOf(tFile.value, 'the text encoder state dict', tIn.path);
    tCfg = textEncoderConfigOf(sd, tIn.path);
    vocab = damsmVocabulary(cIn.bytes, cIn.path);
    if (vocab.size !== tCfg.vocabSize) {
      throw new DfganError(
        'INVALID_ARGUMENT',
        `${cIn.path} has ${vocab.size} words but the text encoder ${tIn.path} embeds ${tCfg.vocabSize}: they are not from the same DAMSM model`,
      );
    }
    const cfg = tCfg;
    textEncoder = source(convertTextEncoder(sd, specsOf(() => createTextEncoder(cfg)), cfg, tIn.path));
    src.textEncoder = { file: tIn.path, sha256: tIn.sha256, layout: tFile.layout };
    src.captions = { file: cIn.path, sha256: cIn.sha256 };
  } else {
    const ck = await loadCheckpoint(args.textFrom!);
    try {
      tCfg = ck.textEncoder.config;
      vocab = ck.vocab;
      const values = await ck.textEncoder.params.read();
      const specs = ck.textEncoder.params.specs();
      textEncoder = { specs: () => specs, read: async () => values };
      src.textEncoder = { checkpoint: ck.dir, version: ck.version };
    } finally {
      ck.dispose();
    }
  }
  if (sentenceDim(tCfg) !== gCfg.condDim) {
    throw new DfganError(
      'INVALID_ARGUMENT',
      `the text encoder gives ${sentenceDim(tCfg)}-d sentence vectors but the generator ${gIn.path} takes ${gCfg.condDim}: they are not from the same release`,
    );
  }

  const dropped = [...generator.dropped, ...(discriminator?.dropped ?? []).map((n) => `netD.${n}`), ...(head?.dropped ?? [])];
  const m: Manifest = await writeCheckpoint(
    args.out,
    {
      name: args.name,
      step: 0,
      generatorConfig: gCfg,
      textEncoderConfig: tCfg,
      vocab,
      networks: {
        generator: source(generator),
        textEncoder,
        discriminator: discriminator && source(discriminator),
        head: head && source(head),
      },
      info: { createdBy: 'dfgan import', importedFrom: src, droppedWeights: dropped },
    },
    { overwrite: args.overwrite },
  );
  return {
    out: resolve(args.out),
    name: m.name,
    generator: m.generator,
    textEncoder: m.textEncoder,
    vocabSize: m.vocab.size,
    networks: Object.keys(m.networks),
    dropped,
    source: src,
  };
}
