// A small CNN image encoder for DAMSM text pretraining, standing in for AttnGAN's ImageNet Inception-v3 trunk
// (CNN_ENCODER). Images are resized to the encoder's working size W (bilinear, when they differ), then go
// through log2(W) - 2 blocks of `4x4 conv, stride 2, pad 1 -> LeakyReLU(0.2)`, W -> 4. Channels nf * 2^i, at
// most 8 nf.
//   - region features: the 8x8 map (after the block that reaches 8x8) projected by a 1x1 conv without bias to
//     embedDim, as AttnGAN's `emb_features` projects Mixed_6e -> [B, 64, embedDim];
//   - global feature: the final 4x4 map averaged over space, then Linear -> embedDim (AttnGAN's `emb_cnn_code`
//     after Mixed_7c's average pool) -> [B, embedDim].
//
// Parameters (tfjs layouts, PyTorch default init through Initializer):
//   conv.{i}.weight [4, 4, in, out], conv.{i}.bias [out]
//   emb_features.weight [1, 1, C8, embedDim]
//   emb_cnn_code.weight [C4, embedDim], emb_cnn_code.bias [embedDim]
import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import { DfganError } from '../../errors.js';
import { Initializer, ParamStore } from '../../model/params.js';
import { conv2d, leakyRelu, linear } from '../../model/ops.js';

export const ImageEncoderConfigSchema = z
  .object({
    workingSize: z
      .number()
      .int()
      .refine((s) => [16, 32, 64, 128].includes(s), 'one of 16, 32, 64, 128')
      .default(64)
      .describe('side the input is resized to before the first conv'),
    nf: z.number().int().min(1).max(512).default(32).describe('channels of the first block'),
    embedDim: z.number().int().min(1).default(256).describe('feature size (= the text encoder sentence size)'),
  })
  .strict();
export type ImageEncoderConfig = Readonly<z.infer<typeof ImageEncoderConfigSchema>>;

export function parseImageEncoderConfig(input: unknown): ImageEncoderConfig {
  const r = ImageEncoderConfigSchema.safeParse(input ?? {});
  if (!r.success) {
    const issues = r.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    throw new DfganError('INVALID_CONFIG', `invalid image encoder config: ${issues}`);
  }
  return Object.freeze(r.data);
}

// A type alias (not an interface) so that tf.tidy accepts it as a TensorContainer.
export type ImageFeatures = {
  /** [B, R, embedDim] with R = 8x8 = 64 regions, row-major over the map. */
  regions: tf.Tensor3D;
  /** [B, embedDim]. */
  global: tf.Tensor2D;
};

export interface ImageEncoder {
  readonly config: ImageEncoderConfig;
  readonly params: ParamStore;
  /** Number of regions per image. */
  readonly regionCount: number;
  /** images [B, S, S, 3] in [-1, 1], any S from 16 to 256. The caller disposes the result. */
  apply(images: tf.Tensor4D): ImageFeatures;
  dispose(): void;
}

/** Output channels of each block. */
export function imageEncoderChannels(cfg: ImageEncoderConfig): number[] {
  const blocks = Math.log2(cfg.workingSize) - 2;
  return Array.from({ length: blocks }, (_, i) => cfg.nf * Math.min(2 ** i, 8));
}

export function createImageEncoder(cfgInput: Partial<ImageEncoderConfig> = {}, opts: { seed?: number } = {}): ImageEncoder {
  const config = parseImageEncoderConfig(cfgInput);
  const init = new Initializer(opts.seed ?? 0);
  const params = new ParamStore();
  const chs = imageEncoderChannels(config);
  // Block index whose output is the 8x8 map.
  const regionBlock = chs.length - 2;
  const regionSide = config.workingSize / 2 ** (regionBlock + 1);
  let inC = 3;
  chs.forEach((outC, i) => {
    const c = init.conv(4, inC, outC);
    params.add(`conv.${i}.weight`, c.weight);
    params.add(`conv.${i}.bias`, c.bias);
    inC = outC;
  });
  const c8 = chs[regionBlock];
  const c4 = chs[chs.length - 1];
  const proj = init.conv(1, c8, config.embedDim);
  proj.bias.dispose();
  params.add('emb_features.weight', proj.weight);
  const fc = init.linear(c4, config.embedDim);
  params.add('emb_cnn_code.weight', fc.weight);
  params.add('emb_cnn_code.bias', fc.bias);

  let disposed = false;
  function apply(images: tf.Tensor4D): ImageFeatures {
    if (disposed) throw new DfganError('INTERNAL', 'image encoder used after dispose()');
    const [B, H, W, C] = images.shape;
    if (images.rank !== 4 || C !== 3 || H !== W || H < 16 || H > 256) {
      throw new DfganError('INVALID_ARGUMENT', `image encoder takes [B, S, S, 3] with S in 16..256, got [${images.shape}]`);
    }
    return tf.tidy(() => {
      let x: tf.Tensor4D = H === config.workingSize ? images : tf.image.resizeBilinear(images, [config.workingSize, config.workingSize], false, true);
      let at8: tf.Tensor4D | undefined;
      chs.forEach((_, i) => {
        x = leakyRelu(conv2d(x, params.get(`conv.${i}.weight`), params.get(`conv.${i}.bias`), 2, 1)) as tf.Tensor4D;
        if (i === regionBlock) at8 = x;
      });
      const r = conv2d(at8!, params.get('emb_features.weight'), undefined, 1, 0); // [B, s, s, D]
      const regions = tf.reshape(r, [B, regionSide * regionSide, config.embedDim]) as tf.Tensor3D;
      const pooled = tf.mean(x, [1, 2]) as tf.Tensor2D; // [B, C4]
      const global = linear(pooled, params.get('emb_cnn_code.weight'), params.get('emb_cnn_code.bias'));
      return { regions, global };
    });
  }

  return {
    config,
    params,
    regionCount: regionSide * regionSide,
    apply,
    dispose() {
      if (disposed) return;
      disposed = true;
      params.dispose();
    },
  };
}
