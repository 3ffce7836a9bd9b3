// Options of DAMSM text-encoder pretraining (`dfgan pretrain-text`): one schema with AttnGAN's defaults
// (pretrain_DAMSM.py with cfg/DAMSM/bird.yml), parsed once at the entry point and frozen.
import { z } from 'zod';
import { FlipModeSchema } from '../data/flip.js';
import { DfganError } from '../../errors.js';
import { IMAGE_SIZES } from '../../model/config.js';
import { CONV_RUNTIME_CHOICES } from '../../model/conv-runtime.js';

export const PretrainConfigSchema = z
  .object({
    data: z.string().min(1).describe('data set root (CUB-200 or COCO layout; `dfgan synth` writes the CUB layout)'),
    out: z.string().min(1).describe('checkpoint root: ckpt-<step> folders, `latest`, logs/damsm.jsonl, damsm.svg'),
    name: z.string().min(1).default('dfgan').describe('model name written into checkpoints'),
    imageSize: z
      .number()
      .int()
      .refine((s) => (IMAGE_SIZES as readonly number[]).includes(s), 'one of 32, 64, 128, 256')
      .default(64)
      .describe('image size of the (fresh) generator written into each checkpoint'),
    nf: z.number().int().min(1).max(512).default(32).describe('base channels of the fresh generator/discriminator written with it'),
    encoderSize: z
      .number()
      .int()
      .refine((s) => [16, 32, 64, 128].includes(s), 'one of 16, 32, 64, 128')
      .optional()
      .describe('side the image encoder sees (images are loaded at this size); default min(imageSize, 64)'),
    encoderNf: z.number().int().min(1).max(512).default(32).describe('channels of the image encoder first block'),
    batchSize: z.number().int().min(2).max(1024).default(48).describe('caption/image pairs per step (AttnGAN: 48)'),
    steps: z.number().int().min(1).describe('train until this many steps in total (a resumed run counts its earlier steps)'),
    lr: z.number().positive().default(2e-4).describe('Adam learning rate (AttnGAN ENCODER_LR)'),
    beta1: z.number().min(0).max(1).default(0.5),
    beta2: z.number().min(0).max(1).default(0.999),
    gamma1: z.number().positive().default(4).describe('word attention sharpness'),
    gamma2: z.number().positive().default(5).describe('word-region aggregation'),
    gamma3: z.number().positive().default(10).describe('logit scale'),
    dropout: z.number().min(0).max(0.99).default(0.5).describe('dropout on word embeddings in training'),
    gradClip: z.number().positive().default(0.25).describe('global-norm clip of the text encoder gradients (AttnGAN RNN_GRAD_CLIP)'),
    sentenceSpread: z
      .number()
      .positive()
      .default(0.25)
      .describe('per-dimension spread across captions that the saved sentenceScale gives sentence vectors (see damsm/sentence-scale.ts)'),
    maskSameCaption: z.boolean().default(true).describe('leave pairs with identical captions out of the mismatch softmaxes'),
    checkpointEvery: z.number().int().min(1).default(500),
    keepCheckpoints: z.number().int().min(1).default(3).describe('older ckpt-* folders are removed (never `latest`)'),
    logEvery: z.number().int().min(1).default(10).describe('steps between lines of logs/damsm.jsonl'),
    evalPairs: z.number().int().min(2).max(10000).default(100).describe('test pairs of the R@1 evaluation (fewer when the split is smaller)'),
    seed: z.number().int().min(0).default(0),
    flip: FlipModeSchema,
    convRuntime: z
      .enum(CONV_RUNTIME_CHOICES)
      .default('auto')
      .describe('where convolutions run on the wasm backend: onnx (ONNX Runtime CPU kernels), backend (XNNPACK), auto (onnx when it loads)'),
    progress: z.boolean().default(true).describe('progress bar on a terminal'),
  })
  .strict();

export type PretrainConfig = Readonly<z.infer<typeof PretrainConfigSchema>>;

export function parsePretrainConfig(input: unknown): PretrainConfig {
  const r = PretrainConfigSchema.safeParse(input);
  if (!r.success) {
    const issues = r.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    throw new DfganError('INVALID_CONFIG', `invalid pretraining options: ${issues}`);
  }
  return Object.freeze(r.data);
}

/** The image encoder's working size: the configured one, else min(imageSize, 64). */
export function encoderSizeOf(cfg: PretrainConfig): number {
  return cfg.encoderSize ?? Math.min(cfg.imageSize, 64);
}
