// The checkpoint manifest: what a checkpoint folder holds, described well enough to rebuild and verify it.
import { z } from 'zod';
import { GeneratorConfigSchema, TextEncoderConfigSchema } from '../config.js';

export const CHECKPOINT_FORMAT = 'dfgan-checkpoint';
export const FORMAT_VERSION = 1;
export const MANIFEST_FILE = 'manifest.json';
export const VOCAB_FILE = 'vocab.json';
export const LATEST_FILE = 'latest';

/**
 * Weight sets a checkpoint can hold; `optimizer` is the trainer's Adam state (for exact resumption);
 * `imageEncoder` is the DAMSM image encoder of text pretraining (its config is in info.damsm.imageEncoder).
 */
export const NETWORKS = ['generator', 'textEncoder', 'discriminator', 'head', 'optimizer', 'imageEncoder'] as const;
export type NetworkName = (typeof NETWORKS)[number];
export const NETWORK_FILES: Record<NetworkName, string> = {
  generator: 'generator.bin',
  textEncoder: 'text-encoder.bin',
  discriminator: 'discriminator.bin',
  head: 'head.bin',
  optimizer: 'optimizer.bin',
  imageEncoder: 'image-encoder.bin',
};

const Sha256 = z.string().regex(/^[0-9a-f]{64}$/, 'a sha256 hex digest');

/** How weights are stored: float32, or IEEE half precision (read back into float32; halves a served model). */
export const WEIGHT_DTYPES = ['float32', 'float16'] as const;
export type WeightDtype = (typeof WEIGHT_DTYPES)[number];

const WeightsSchema = z
  .object({
    file: z.string(),
    dtype: z.enum(WEIGHT_DTYPES),
    /** Tensors in file order: little-endian values of `dtype`, concatenated, tfjs layouts. */
    params: z.array(z.object({ name: z.string().min(1), shape: z.array(z.number().int().min(0)) }).strict()),
  })
  .strict();
export type WeightsEntry = z.infer<typeof WeightsSchema>;

export const ManifestSchema = z
  .object({
    format: z.literal(CHECKPOINT_FORMAT),
    formatVersion: z.number().int().min(1),
    packageVersion: z.string(),
    name: z.string().min(1).describe('model name served under /v2/models/{name}'),
    createdAt: z.string(),
    step: z.number().int().min(0).describe('training steps behind these weights'),
    generator: GeneratorConfigSchema,
    textEncoder: TextEncoderConfigSchema,
    vocab: z.object({ file: z.literal(VOCAB_FILE), size: z.number().int().min(2), hash: Sha256 }).strict(),
    networks: z
      .object({
        generator: WeightsSchema,
        textEncoder: WeightsSchema,
        discriminator: WeightsSchema.optional(),
        head: WeightsSchema.optional(),
        optimizer: WeightsSchema.optional(),
        imageEncoder: WeightsSchema.optional(),
      })
      .strict(),
    /** Every file of the checkpoint but the manifest, with its size and sha256. */
    files: z.record(z.string(), z.object({ bytes: z.number().int().min(0), sha256: Sha256 }).strict()),
    /** Free-form facts about the run (training options, evaluation figures). */
    info: z.record(z.string(), z.unknown()).default({}),
  })
  .strict();
export type Manifest = z.infer<typeof ManifestSchema>;
