// Model configurations: one zod schema per network with the official defaults, validated once, frozen.
import { z } from 'zod';
import { DfganError } from '../errors.js';

export const IMAGE_SIZES = [32, 64, 128, 256] as const;

export const GeneratorConfigSchema = z
  .object({
    imageSize: z
      .number()
      .int()
      .refine((s) => (IMAGE_SIZES as readonly number[]).includes(s), { message: `imageSize must be one of ${IMAGE_SIZES.join(', ')}` })
      .describe('output side in pixels'),
    nf: z.number().int().min(1).max(512).default(32).describe('base channel count (ngf = ndf)'),
    zDim: z.number().int().min(1).default(100).describe('noise dimension'),
    condDim: z.number().int().min(1).default(256).describe('sentence embedding dimension'),
    headProjection: z
      .boolean()
      .default(false)
      .describe(
        'NetC also adds a projection term <s P, features> (Miyato & Koyama 2018) over the 4x4 features: a bilinear reading of caption ' +
          'and image that the one-way concat head lacks for weak sentence directions (facing, size on synth-birds). Off in the reference DF-GAN',
      ),
    fcSentence: z
      .boolean()
      .default(false)
      .describe(
        "NetG's first layer (fc -> the 4x4 map) reads cat(z, s) rather than z alone, so that the caption can set the layout (where the " +
          'bird is, which way it faces, how large it is) directly; in the reference DF-GAN the sentence reaches the image only through ' +
          "channel-wise affine fusion, which can only select among layouts the noise drew. fc.weight is [zDim + condDim, nf * 128] then",
      ),
  })
  .strict();
export type GeneratorConfig = Readonly<z.infer<typeof GeneratorConfigSchema>>;

export const TextEncoderConfigSchema = z
  .object({
    vocabSize: z.number().int().min(2).describe('number of words including index 0 (end/pad)'),
    embeddingDim: z.number().int().min(1).default(300).describe('word embedding size'),
    hiddenPerDirection: z.number().int().min(1).default(128).describe('LSTM units per direction'),
    maxWords: z.number().int().min(1).default(18).describe('words kept per caption'),
    sentenceScale: z
      .number()
      .positive()
      .default(1)
      .describe(
        'factor on sentence vectors (1 for the official encoders). DAMSM losses are cosines, blind to it; pretrain-text sets it so that ' +
          'sentence vectors vary by about 1 per dimension across captions, as the noise does, so that the GAN can read them under MA-GP',
      ),
    whitenSentences: z
      .boolean()
      .default(false)
      .describe(
        'sentence vectors are centred and whitened (params sentence.mean, sentence.whitening, fitted on training captions by `train ' +
          '--whiten-sentences`) after sentenceScale, so that directions that few words move (facing, size) are as long as colour and background',
      ),
  })
  .strict();
export type TextEncoderConfig = Readonly<z.infer<typeof TextEncoderConfigSchema>>;

function parseWith<T>(schema: z.ZodType<T>, input: unknown, what: string): Readonly<T> {
  const r = schema.safeParse(input);
  if (!r.success) {
    const issues = r.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    throw new DfganError('INVALID_CONFIG', `invalid ${what} config: ${issues}`);
  }
  return Object.freeze(r.data);
}

export function parseGeneratorConfig(input: unknown): GeneratorConfig {
  return parseWith(GeneratorConfigSchema, input, 'generator');
}

export function parseTextEncoderConfig(input: unknown): TextEncoderConfig {
  return parseWith(TextEncoderConfigSchema, input, 'text encoder');
}

/** Sentence vector size produced by the text encoder (both LSTM directions). */
export function sentenceDim(cfg: TextEncoderConfig): number {
  return 2 * cfg.hiddenPerDirection;
}

/** The official channel list `[nf * min(2^i, 8) for i in 0..log2(size)-2]` (the discriminator's order). */
export function channelList(nf: number, imageSize: number): number[] {
  const n = Math.log2(imageSize) - 1;
  return Array.from({ length: n }, (_, i) => nf * Math.min(2 ** i, 8));
}

/** (in, out) channel pairs of consecutive entries. */
export function channelPairs(chs: number[]): Array<[number, number]> {
  return chs.slice(0, -1).map((c, i) => [c, chs[i + 1]] as [number, number]);
}

/** Generator blocks: the channel list reversed, 4x4 up to imageSize. */
export function generatorPairs(cfg: GeneratorConfig): Array<[number, number]> {
  return channelPairs(channelList(cfg.nf, cfg.imageSize).reverse());
}

/** Discriminator blocks: the channel list in order, imageSize down to 4x4. */
export function discriminatorPairs(cfg: GeneratorConfig): Array<[number, number]> {
  return channelPairs(channelList(cfg.nf, cfg.imageSize));
}

/** Whether two generator configs describe the same network (so weights of one fit the other). */
export function sameGeneratorConfig(a: GeneratorConfig, b: GeneratorConfig): boolean {
  return a.imageSize === b.imageSize && a.nf === b.nf && a.zDim === b.zDim && a.condDim === b.condDim;
}
