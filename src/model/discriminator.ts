// DF-GAN discriminator (NetD: image -> [nf*8, 4, 4] features) and one-way conditional head (NetC: features +
// sentence -> one logit). Written with twice-differentiable ops only: MA-GP trains D through a gradient.
import * as tf from '@tensorflow/tfjs-core';
import { type GeneratorConfig, discriminatorPairs } from './config.js';
import { Initializer, ParamStore } from './params.js';
import { avgPool2, conv2d, leakyRelu } from './ops.js';

export interface Discriminator {
  readonly config: GeneratorConfig;
  readonly params: ParamStore;
  /** image NHWC [B, S, S, 3] -> features NHWC [B, 4, 4, nf*8]. */
  apply(image: tf.Tensor4D): tf.Tensor4D;
  dispose(): void;
}

export interface ConditionalHead {
  readonly config: GeneratorConfig;
  readonly params: ParamStore;
  /** features [B, 4, 4, nf*8], sentence [B, condDim] -> logits [B]. */
  apply(features: tf.Tensor4D, sentence: tf.Tensor2D): tf.Tensor1D;
  dispose(): void;
}

function noBiasConv(init: Initializer, k: number, inC: number, outC: number): tf.Tensor {
  const c = init.conv(k, inC, outC);
  c.bias.dispose();
  return c.weight;
}

/**
 * NetD. The official D_Block also builds a 1x1 `conv_s` when in == out and never uses it; it is left out here
 * (an importer drops those weights), so parameter counts match the reference's "without" column.
 */
export function createDiscriminator(config: GeneratorConfig, opts: { seed?: number } = {}): Discriminator {
  const p = new ParamStore();
  const init = new Initializer(opts.seed ?? 1);
  const img = init.conv(3, 3, config.nf);
  p.add('conv_img.weight', img.weight);
  p.add('conv_img.bias', img.bias);
  const pairs = discriminatorPairs(config);
  pairs.forEach(([inC, outC], i) => {
    const b = `DBlocks.${i}`;
    p.add(`${b}.conv_r.0.weight`, noBiasConv(init, 4, inC, outC));
    p.add(`${b}.conv_r.2.weight`, noBiasConv(init, 3, outC, outC));
    if (inC !== outC) {
      const s = init.conv(1, inC, outC);
      p.add(`${b}.conv_s.weight`, s.weight);
      p.add(`${b}.conv_s.bias`, s.bias);
    }
    p.add(`${b}.gamma`, tf.zeros([1]));
  });
  return {
    config,
    params: p,
    apply(image) {
      return tf.tidy(() => {
        let x = conv2d(image, p.get('conv_img.weight'), p.get('conv_img.bias'), 1, 1);
        pairs.forEach(([inC, outC], i) => {
          const b = `DBlocks.${i}`;
          let r = leakyRelu(conv2d(x, p.get(`${b}.conv_r.0.weight`), undefined, 2, 1)) as tf.Tensor4D;
          r = leakyRelu(conv2d(r, p.get(`${b}.conv_r.2.weight`), undefined, 1, 1)) as tf.Tensor4D;
          const s = inC !== outC ? conv2d(x, p.get(`${b}.conv_s.weight`), p.get(`${b}.conv_s.bias`), 1, 0) : x;
          x = tf.add(avgPool2(s), tf.mul(p.get(`${b}.gamma`), r)) as tf.Tensor4D;
        });
        return x;
      });
    },
    dispose() {
      p.dispose();
    },
  };
}

/** NetC: the one-way output; concat(features, sentence tiled 4x4) -> 3x3 conv -> LReLU -> 4x4 valid conv. */
export function createConditionalHead(config: GeneratorConfig, opts: { seed?: number } = {}): ConditionalHead {
  const p = new ParamStore();
  const init = new Initializer(opts.seed ?? 2);
  const feat = config.nf * 8;
  p.add('joint_conv.0.weight', noBiasConv(init, 3, feat + config.condDim, config.nf * 2));
  p.add('joint_conv.2.weight', noBiasConv(init, 4, config.nf * 2, 1));
  // Zero at the start, so that a head taken over from a checkpoint without it first computes what it did.
  if (config.headProjection) p.add('proj.weight', tf.zeros([config.condDim, 4 * 4 * feat]));
  return {
    config,
    params: p,
    apply(features, sentence) {
      return tf.tidy(() => {
        const [b] = features.shape;
        // Tiled by a broadcast product with ones: the same values, 8x faster both ways on wasm than tf.tile.
        const s = tf.mul(tf.reshape(sentence, [b, 1, 1, config.condDim]), tf.ones([1, 4, 4, 1]));
        let h = conv2d(tf.concat([features, s], 3) as tf.Tensor4D, p.get('joint_conv.0.weight'), undefined, 1, 1);
        h = leakyRelu(h) as tf.Tensor4D;
        const logit = tf.reshape(conv2d(h, p.get('joint_conv.2.weight'), undefined, 1, 0), [b]) as tf.Tensor1D;
        if (!config.headProjection) return logit;
        // Projection over the flattened 4x4 map, not pooled features: facing is where the head is, not which channels fire.
        const proj = tf.sum(tf.mul(tf.reshape(features, [b, 4 * 4 * feat]), tf.matMul(sentence, p.get('proj.weight') as tf.Tensor2D)), 1);
        return tf.add(logit, proj) as tf.Tensor1D;
      });
    },
    dispose() {
      p.dispose();
    },
  };
}
