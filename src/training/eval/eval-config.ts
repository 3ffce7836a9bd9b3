// Options of `dfgan eval` and `dfgan train-classifier`: one zod schema each, parsed once at the entry point and
// frozen.
import { join } from 'node:path';
import { z } from 'zod';
import { DfganError } from '../../errors.js';
import { DEFAULT_TRUNCATION, MAX_SEED } from '../../model/sampling.js';
import { CLASSIFIER_TRAIN_DEFAULTS } from './attribute-classifier.js';

/** Default share of fresh synth-birds renders in the classifier's batches. */
export const CLASSIFIER_FRESH_SHARE = 0.75;
import { R_PRECISION_MISMATCHED } from './r-precision.js';

/** Where eval caches the classifier it trains when none is given: DATA/.dfgan-eval/classifier. */
export const CLASSIFIER_CACHE = join('.dfgan-eval', 'classifier');

export function defaultClassifierDir(data: string): string {
  return join(data, CLASSIFIER_CACHE);
}

const d = CLASSIFIER_TRAIN_DEFAULTS;

export const ClassifierTrainConfigSchema = z
  .object({
    data: z.string().min(1).describe('data set root (CUB layout; synth-birds adds attributes.jsonl)'),
    out: z.string().min(1).optional().describe(`classifier folder; default DATA/${CLASSIFIER_CACHE} (where eval looks)`),
    steps: z.number().int().min(1).default(d.steps),
    batchSize: z.number().int().min(2).max(1024).default(d.batchSize),
    lr: z.number().positive().max(1).default(d.lr),
    seed: z.number().int().min(0).max(MAX_SEED).default(d.seed),
    jitter: z.number().int().min(0).max(16).default(d.jitter).describe('largest random shift (pixels) of training images'),
    fresh: z
      .number()
      .min(0)
      .max(1)
      .default(CLASSIFIER_FRESH_SHARE)
      .describe('synth-birds only: share of each batch drawn from freshly rendered birds (another seed) instead of the train split'),
    inputSize: z
      .number()
      .int()
      .refine((s) => [16, 32, 64, 128].includes(s), 'one of 16, 32, 64, 128')
      .default(d.inputSize),
    nf: z.number().int().min(1).max(256).default(d.nf),
    featureDim: z.number().int().min(2).max(1024).default(d.featureDim),
    /** Use only the first N training images (tests, quick runs). */
    limit: z.number().int().min(2).optional(),
  })
  .strict();
export type ClassifierTrainConfig = Readonly<z.infer<typeof ClassifierTrainConfigSchema>>;

export const EvalConfigSchema = z
  .object({
    checkpoint: z.string().min(1).describe('checkpoint folder, or a root with a `latest` pointer'),
    data: z.string().min(1).describe('data set root whose test split is compared against'),
    split: z.enum(['train', 'test']).default('test'),
    nImages: z.number().int().min(2).optional().describe('generated images (default: one per image of the split)'),
    batchSize: z.number().int().min(1).max(64).default(32).describe('images generated per call'),
    out: z.string().min(1).optional().describe('write the JSON report here'),
    classifier: z.string().min(1).optional().describe(`classifier folder; default DATA/${CLASSIFIER_CACHE}, trained there when missing`),
    classifierSteps: z.number().int().min(1).default(d.steps).describe('steps when eval has to train the classifier'),
    damsm: z.string().min(1).optional().describe('checkpoint whose DAMSM text + image encoders score R-precision (default: the evaluated one)'),
    truncation: z.number().gt(0).max(1).nullable().default(DEFAULT_TRUNCATION),
    seed: z.number().int().min(0).max(2 ** 31).default(0).describe('base of the noise seeds (image k gets seed + k) and of caption choice'),
    mismatched: z.number().int().min(1).default(R_PRECISION_MISMATCHED).describe('mismatched captions per image in R-precision'),
    realFloor: z.boolean().default(true).describe('also report FID of real train images against the split (the floor at this sample size)'),
    textProbe: z
      .boolean()
      .default(false)
      .describe("also probe the checkpoint's sentence vectors: how well a linear classifier reads each named attribute from them (the text side's ceiling)"),
    textProbeImages: z.number().int().min(2).default(2000).describe('train images whose captions the text probe learns from'),
    discriminatorCheck: z
      .number()
      .int()
      .min(0)
      .default(0)
      .describe(
        "real images of the split on which to check D (synth-birds, a checkpoint with D): how often its logit prefers each image's own caption " +
          'over the same caption with one attribute changed, per attribute (0: skip). G only learns what D checks',
      ),
    writeManifest: z.boolean().default(false).describe("record the figures in the checkpoint manifest's info.eval (rewrites the checkpoint; its version changes)"),
  })
  .strict();
export type EvalConfig = Readonly<z.infer<typeof EvalConfigSchema>>;

function parseWith<T>(schema: z.ZodType<T>, input: unknown, what: string): Readonly<T> {
  const r = schema.safeParse(input);
  if (!r.success) {
    const issues = r.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    throw new DfganError('INVALID_CONFIG', `invalid ${what} options: ${issues}`);
  }
  return Object.freeze(r.data);
}

export function parseEvalConfig(input: unknown): EvalConfig {
  return parseWith(EvalConfigSchema, input, 'eval');
}

export function parseClassifierTrainConfig(input: unknown): ClassifierTrainConfig {
  return parseWith(ClassifierTrainConfigSchema, input, 'train-classifier');
}
