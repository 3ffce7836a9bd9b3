// DF-GAN generator (NetG): fc -> [nf*8, 4, 4], G_Blocks of deep text-image fusion, to_rgb.
// Weights carry the official state-dict names in tfjs layouts (see params.ts).
import * as tf from '@tensorflow/tfjs-core';
import { type GeneratorConfig, generatorPairs } from './config.js';
import { Initializer, ParamStore } from './params.js';
import { conv2d, leakyRelu, linear, upsample2 } from './ops.js';

export interface Generator {
  readonly config: GeneratorConfig;
  readonly params: ParamStore;
  /** z [B, zDim], sentence [B, condDim] -> image NHWC [B, S, S, 3] in [-1, 1]. */
  apply(z: tf.Tensor2D, sentence: tf.Tensor2D): tf.Tensor4D;
  dispose(): void;
}

const AFFINE_MLPS = ['fc_gamma', 'fc_beta'] as const;

function addAffine(p: ParamStore, init: Initializer, prefix: string, condDim: number, c: number): void {
  for (const mlp of AFFINE_MLPS) {
    const l1 = init.linear(condDim, c);
    p.add(`${prefix}.${mlp}.linear1.weight`, l1.weight);
    p.add(`${prefix}.${mlp}.linear1.bias`, l1.bias);
    // Identity start: gamma = 1, beta = 0 whatever the condition (the official _initialize()).
    p.add(`${prefix}.${mlp}.linear2.weight`, tf.zeros([c, c]));
    p.add(`${prefix}.${mlp}.linear2.bias`, mlp === 'fc_gamma' ? tf.ones([c]) : tf.zeros([c]));
  }
}

function addConv(p: ParamStore, init: Initializer, name: string, k: number, inC: number, outC: number): void {
  const c = init.conv(k, inC, outC);
  p.add(`${name}.weight`, c.weight);
  p.add(`${name}.bias`, c.bias);
}

function buildParams(cfg: GeneratorConfig, seed: number): ParamStore {
  const p = new ParamStore();
  const init = new Initializer(seed);
  const cond = cfg.zDim + cfg.condDim;
  const fc = init.linear(cfg.zDim + (cfg.fcSentence ? cfg.condDim : 0), cfg.nf * 8 * 4 * 4);
  p.add('fc.weight', fc.weight);
  p.add('fc.bias', fc.bias);
  generatorPairs(cfg).forEach(([inC, outC], i) => {
    const b = `GBlocks.${i}`;
    addConv(p, init, `${b}.c1`, 3, inC, outC);
    addConv(p, init, `${b}.c2`, 3, outC, outC);
    for (const [fuse, c] of [['fuse1', inC], ['fuse2', outC]] as const) {
      addAffine(p, init, `${b}.${fuse}.affine0`, cond, c);
      addAffine(p, init, `${b}.${fuse}.affine1`, cond, c);
    }
    if (inC !== outC) addConv(p, init, `${b}.c_sc`, 1, inC, outC);
  });
  const last = generatorPairs(cfg).at(-1)![1];
  addConv(p, init, 'to_rgb.1', 3, last, 3);
  return p;
}

/** gamma * x + beta with gamma, beta from two MLPs of the condition. */
function affine(p: ParamStore, prefix: string, x: tf.Tensor4D, cond: tf.Tensor2D): tf.Tensor4D {
  const mlp = (name: string) => {
    const h = tf.relu(linear(cond, p.get(`${prefix}.${name}.linear1.weight`), p.get(`${prefix}.${name}.linear1.bias`)));
    const y = linear(h as tf.Tensor2D, p.get(`${prefix}.${name}.linear2.weight`), p.get(`${prefix}.${name}.linear2.bias`));
    const [b, c] = y.shape;
    return tf.reshape(y, [b, 1, 1, c]);
  };
  return tf.add(tf.mul(x, mlp('fc_gamma')), mlp('fc_beta')) as tf.Tensor4D;
}

// The generator needs only first derivatives (leakyRelu's `twice` false). Every stage runs in
// its own tidy so a large batch keeps a few activations alive at a time, not the whole forward pass (the wasm
// heap cannot hold all of them at 256x256).
function dfBlock(p: ParamStore, prefix: string, x: tf.Tensor4D, cond: tf.Tensor2D): tf.Tensor4D {
  const h = tf.tidy(() => leakyRelu(affine(p, `${prefix}.affine0`, x, cond), 0.2, false) as tf.Tensor4D);
  const y = tf.tidy(() => leakyRelu(affine(p, `${prefix}.affine1`, h, cond), 0.2, false) as tf.Tensor4D);
  h.dispose();
  return y;
}

function gBlock(p: ParamStore, i: number, inC: number, outC: number, x: tf.Tensor4D, cond: tf.Tensor2D): tf.Tensor4D {
  const b = `GBlocks.${i}`;
  const up = upsample2(x);
  const stage = (f: (t: tf.Tensor4D) => tf.Tensor4D, t: tf.Tensor4D) => {
    const y = tf.tidy(() => f(t));
    t.dispose();
    return y;
  };
  let r = dfBlock(p, `${b}.fuse1`, up, cond);
  r = stage((t) => conv2d(t, p.get(`${b}.c1.weight`), p.get(`${b}.c1.bias`), 1, 1), r);
  r = stage((t) => dfBlock(p, `${b}.fuse2`, t, cond), r);
  r = stage((t) => conv2d(t, p.get(`${b}.c2.weight`), p.get(`${b}.c2.bias`), 1, 1), r);
  const shortcut = inC !== outC ? tf.tidy(() => conv2d(up, p.get(`${b}.c_sc.weight`), p.get(`${b}.c_sc.bias`), 1, 0)) : up;
  const out = tf.add(shortcut, r) as tf.Tensor4D;
  tf.dispose([r, up, shortcut]);
  return out;
}

/** A generator with freshly initialised weights (PyTorch's default init; `seed` makes it reproducible). */
export function createGenerator(config: GeneratorConfig, opts: { seed?: number } = {}): Generator {
  const params = buildParams(config, opts.seed ?? 0);
  const pairs = generatorPairs(config);
  return {
    config,
    params,
    apply(z, sentence) {
      return tf.tidy(() => {
        const [bz] = z.shape;
        const cond = tf.concat([z, sentence], 1) as tf.Tensor2D;
        const fc = linear(config.fcSentence ? cond : z, params.get('fc.weight'), params.get('fc.bias'));
        // PyTorch views the fc output as [B, C, 4, 4] (channel-major); NHWC needs the transpose.
        let x = tf.transpose(tf.reshape(fc, [bz, config.nf * 8, 4, 4]), [0, 2, 3, 1]) as tf.Tensor4D;
        pairs.forEach(([inC, outC], i) => {
          const next = tf.tidy(() => gBlock(params, i, inC, outC, x, cond));
          x.dispose();
          x = next;
        });
        x = conv2d(leakyRelu(x, 0.2, false) as tf.Tensor4D, params.get('to_rgb.1.weight'), params.get('to_rgb.1.bias'), 1, 1);
        return tf.tanh(x);
      });
    },
    dispose() {
      params.dispose();
    },
  };
}
