// The DF-GAN generator as an ONNX graph (opset 17, NCHW inside), built in memory from a checkpoint's weights.
// Inputs `z` [N, zDim] and `sentence` [N, condDim]; output `image` [N, S, S, 3] (NHWC, in [-1, 1]), the same
// layout and values as the tfjs generator, so both engines share the PNG path. N is symbolic (any batch size).
import { type GeneratorConfig, generatorPairs } from '../config.js';
import { PACKAGE_VERSION } from '../../version.js';
import { GraphBuilder } from './graph-builder.js';

export const ONNX_OPSET = 17;
export const ONNX_INPUTS = { noise: 'z', sentence: 'sentence' } as const;
export const ONNX_OUTPUT = 'image';

export interface ExportInfo {
  /** Model name, step and checkpoint version, stored as metadata in the file. */
  name: string;
  step: number;
  version: string;
}

/** tfjs conv kernel [kh, kw, in, out] -> ONNX/PyTorch [out, in, kh, kw]. */
function convKernel(w: Float32Array, k: number, inC: number, outC: number): Float32Array {
  const out = new Float32Array(w.length);
  for (let y = 0; y < k; y++)
    for (let x = 0; x < k; x++)
      for (let i = 0; i < inC; i++)
        for (let o = 0; o < outC; o++) out[((o * inC + i) * k + y) * k + x] = w[((y * k + x) * inC + i) * outC + o];
  return out;
}

/**
 * Serialised ONNX model of the generator with `config` and `weights` (the ParamStore's names and tfjs layouts).
 * Every weight must be used exactly once; a missing or unused one is an error (a wrong map never exports).
 */
export function exportGeneratorOnnx(config: GeneratorConfig, weights: ReadonlyMap<string, Float32Array>, info: ExportInfo): Uint8Array {
  const g = new GraphBuilder();
  const used = new Set<string>();
  const weight = (name: string): Float32Array => {
    const w = weights.get(name);
    if (!w) throw new Error(`generator weight ${name} is missing`);
    used.add(name);
    return w;
  };
  const matrix = (name: string, inD: number, outD: number) => g.floats(name, [inD, outD], weight(name));
  const vector = (name: string, n: number) => g.floats(name, [n], weight(name));
  const gemm = (x: string, prefix: string, inD: number, outD: number) => g.op('Gemm', [x, matrix(`${prefix}.weight`, inD, outD), vector(`${prefix}.bias`, outD)]);
  const conv = (x: string, prefix: string, k: number, inC: number, outC: number) =>
    g.op('Conv', [x, g.floats(`${prefix}.weight`, [outC, inC, k, k], convKernel(weight(`${prefix}.weight`), k, inC, outC)), vector(`${prefix}.bias`, outC)], {
      kernel_shape: [k, k],
      pads: k === 1 ? [0, 0, 0, 0] : [1, 1, 1, 1],
    });
  const leaky = (x: string) => g.op('LeakyRelu', [x], { alpha: { float: 0.2 } });
  const cond = g.op('Concat', [ONNX_INPUTS.noise, ONNX_INPUTS.sentence], { axis: 1 });
  const channelAxes = g.ints('hw_axes', [2, 3]);
  const condDim = config.zDim + config.condDim;

  // gamma * x + beta, each from Linear -> ReLU -> Linear of the condition, broadcast over H and W.
  const affine = (x: string, prefix: string, c: number) => {
    const mlp = (name: string) => {
      const h = g.op('Relu', [gemm(cond, `${prefix}.${name}.linear1`, condDim, c)]);
      return g.op('Unsqueeze', [gemm(h, `${prefix}.${name}.linear2`, c, c), channelAxes]);
    };
    return g.op('Add', [g.op('Mul', [x, mlp('fc_gamma')]), mlp('fc_beta')]);
  };
  const dfBlock = (x: string, prefix: string, c: number) => leaky(affine(leaky(affine(x, `${prefix}.affine0`, c)), `${prefix}.affine1`, c));

  const top = config.nf * 8;
  const fcIn = config.fcSentence ? gemm(cond, 'fc', condDim, top * 16) : gemm(ONNX_INPUTS.noise, 'fc', config.zDim, top * 16);
  let x = g.op('Reshape', [fcIn, g.ints('fc_shape', [-1, top, 4, 4])]);
  const pairs = generatorPairs(config);
  pairs.forEach(([inC, outC], i) => {
    const b = `GBlocks.${i}`;
    // Nearest x2 exactly as PyTorch's F.interpolate(scale_factor=2): pixel (y, x) reads (floor(y/2), floor(x/2)).
    const scales = g.floats(`${b}.up_scales`, [4], new Float32Array([1, 1, 2, 2]));
    const up = g.op('Resize', [x, '', scales], { mode: 'nearest', coordinate_transformation_mode: 'asymmetric', nearest_mode: 'floor' });
    let r = dfBlock(up, `${b}.fuse1`, inC);
    r = conv(r, `${b}.c1`, 3, inC, outC);
    r = dfBlock(r, `${b}.fuse2`, outC);
    r = conv(r, `${b}.c2`, 3, outC, outC);
    const shortcut = inC !== outC ? conv(up, `${b}.c_sc`, 1, inC, outC) : up;
    x = g.op('Add', [shortcut, r]);
  });
  const last = pairs.at(-1)![1];
  const rgb = g.op('Tanh', [conv(leaky(x), 'to_rgb.1', 3, last, 3)]);
  g.op('Transpose', [rgb], { perm: [0, 2, 3, 1] }, ONNX_OUTPUT);

  const unused = [...weights.keys()].filter((n) => !used.has(n));
  if (unused.length) throw new Error(`generator weights not used by the graph: ${unused.slice(0, 5).join(', ')}`);
  const s = config.imageSize;
  return g.model({
    name: 'dfgan_generator',
    inputs: [
      { name: ONNX_INPUTS.noise, dims: ['N', config.zDim] },
      { name: ONNX_INPUTS.sentence, dims: ['N', config.condDim] },
    ],
    outputs: [{ name: ONNX_OUTPUT, dims: ['N', s, s, 3] }],
    opset: ONNX_OPSET,
    producer: { name: 'dfgan', version: PACKAGE_VERSION },
    metadata: {
      'dfgan.name': info.name,
      'dfgan.step': String(info.step),
      'dfgan.checkpoint_version': info.version,
      'dfgan.generator_config': JSON.stringify(config),
    },
  });
}
