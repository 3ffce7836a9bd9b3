// Training options: one schema with the official defaults, parsed once at the entry point and frozen.
import { availableParallelism } from 'node:os';
import { z } from 'zod';
import { FlipModeSchema } from './data/flip.js';
import { DfganError } from '../errors.js';
import { IMAGE_SIZES } from '../model/config.js';
import { CONV_RUNTIME_CHOICES } from '../model/conv-runtime.js';

export const TrainConfigSchema = z
  .object({
    data: z.string().min(1).describe('data set root (CUB-200 or COCO layout; `dfgan synth` writes the CUB layout)'),
    out: z.string().min(1).describe('checkpoint root: ckpt-<step> folders, `latest`, samples/, logs/'),
    from: z.string().optional().describe('checkpoint to start from (text encoder and vocabulary; G/D/C when their config matches)'),
    textFrom: z
      .string()
      .optional()
      .describe('checkpoint whose text encoder and vocabulary replace those of --from (e.g. a longer-pretrained DAMSM); a new run only'),
    sentenceSpread: z
      .number()
      .positive()
      .max(10)
      .optional()
      .describe('rescale sentence vectors to vary by this much per dimension across captions (a new run only; default: as the encoder was saved)'),
    whitenSentences: z
      .number()
      .min(0)
      .max(10)
      .optional()
      .describe(
        'whiten sentence vectors over the training captions, eigenvalues shrunk by this times their mean (0.04 measured on synth-birds); ' +
          'folded into the generator of --from so it starts where it was; a new run only (see damsm/sentence-whitening.ts)',
      ),
    headProjection: z
      .boolean()
      .default(false)
      .describe("add a projection term to D's conditional head (zero at the start; a new run only; see model/config.ts)"),
    fcSentence: z
      .boolean()
      .default(false)
      .describe("G's first layer reads the sentence as well as the noise (its sentence weights zero at the start; a new run only; see model/config.ts)"),
    widen: z
      .boolean()
      .default(false)
      .describe('grow G, D and the head of --from to --nf, keeping what they compute (new weights out of the new channels start at zero; see widen.ts); a new run only'),
    name: z.string().min(1).default('dfgan').describe('model name written into checkpoints'),
    imageSize: z.number().int().refine((s) => (IMAGE_SIZES as readonly number[]).includes(s), 'one of 32, 64, 128, 256').default(64),
    nf: z.number().int().min(1).max(512).default(32),
    batchSize: z.number().int().min(2).max(1024).default(32).describe('images per step (official: 32)'),
    steps: z.number().int().min(1).describe('train until this many steps in total (a resumed run counts its earlier steps)'),
    lrG: z.number().positive().default(1e-4),
    lrD: z.number().positive().default(4e-4),
    beta1: z.number().min(0).max(1).default(0),
    beta2: z.number().min(0).max(1).default(0.9),
    magpK: z.number().min(0).default(2).describe('MA-GP weight k'),
    magpP: z.number().positive().default(6).describe('MA-GP power p'),
    augTranslation: z.number().min(0).max(0.5).default(0.125).describe('DiffAugment shift (fraction of the side; 0 disables)'),
    augCutout: z.number().min(0).max(1).default(0.5).describe('DiffAugment cutout side (fraction; 0 disables)'),
    flip: FlipModeSchema,
    counterfactualPairs: z
      .number()
      .min(0)
      .max(10)
      .default(0)
      .describe(
        "weight of a further D term: each real image with its caption, one named attribute changed, scored as a mismatched pair " +
          '(synth-birds data only; 0: off, as in the reference DF-GAN; see losses/hinge.ts)',
      ),
    checkpointEvery: z.number().int().min(1).default(500),
    keepCheckpoints: z.number().int().min(1).default(3).describe('older ckpt-* folders are removed (never `latest`)'),
    sampleEvery: z.number().int().min(1).default(250).describe('steps between sample grids'),
    logEvery: z.number().int().min(1).default(10).describe('steps between lines of logs/losses.jsonl'),
    seed: z.number().int().min(0).default(0),
    workers: z
      .number()
      .int()
      .min(1)
      .max(256)
      .default(() => availableParallelism())
      .describe('data-parallel replicas, one per core (worker threads; 1 = this thread only; at most batch/2 are used)'),
    convRuntime: z
      .enum(CONV_RUNTIME_CHOICES)
      .default('auto')
      .describe('where convolutions run on the wasm backend: onnx (ONNX Runtime CPU kernels), backend (XNNPACK), auto (onnx when it loads)'),
    evalEvery: z
      .number()
      .int()
      .min(0)
      .default(0)
      .describe('steps between evaluations of the checkpoint saved then (FID, attribute accuracy, R-precision on the test split; logs/eval.jsonl, eval.svg); 0: none'),
    evalImages: z.number().int().min(2).max(100000).default(500).describe('generated images per evaluation during training'),
    evalDiscriminatorCheck: z
      .number()
      .int()
      .min(0)
      .max(100000)
      .default(0)
      .describe("real test images on which each evaluation also checks D's reading of each attribute (synth-birds; 0: none; see eval/discriminator-check.ts)"),
    evalDamsm: z.string().min(1).optional().describe('checkpoint with the DAMSM encoders that score R-precision during training (default: none, R-precision left out)'),
    progress: z.boolean().default(true).describe('progress bar on a terminal'),
  })
  .strict()
  .refine((c) => !c.widen || c.from !== undefined, { message: '--widen grows the networks of --from: give --from', path: ['widen'] });

export type TrainConfig = Readonly<z.infer<typeof TrainConfigSchema>>;

export function parseTrainConfig(input: unknown): TrainConfig {
  const r = TrainConfigSchema.safeParse(input);
  if (!r.success) {
    const issues = r.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    throw new DfganError('INVALID_CONFIG', `invalid training options: ${issues}`);
  }
  return Object.freeze(r.data);
}
