// Kernels the wasm backend (tfjs-backend-wasm 4.22) lacks or runs slowly, built from its own XNNPACK kernels:
// Conv2DBackpropFilter (missing: conv2d weight gradients fail), a fast Conv2DBackpropInput (the built-in one
// is a scalar loop), and UnsortedSegmentSum (missing: gradients of tf.gather / embeddings fail).
import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { ADAM_UPDATE, AVG_POOL2, AVG_POOL2_GRAD, LEAKY_RELU, LEAKY_RELU_GRAD } from './ops.js';

type Info = tf.TensorInfo;
type Pad = tf.Conv2DBackpropInputAttrs['pad'];
type Rounding = tf.Conv2DBackpropInputAttrs['dimRoundingMode'];
type Args<I extends string> = { inputs: Record<I, Info>; backend: unknown; attrs: tf.NamedAttrMap };
type Call = (inputs: Record<string, Info>, backend: BackendWasm, attrs?: object) => Info;

const BACKEND = 'wasm';

/** The wasm backend's own kernel, looked up at call time (setup has run by then). */
function builtin(name: string): Call {
  return (inputs, backend, attrs = {}) => {
    const k = tf.getKernel(name, BACKEND);
    if (!k) throw new Error(`wasm backend has no ${name} kernel`);
    return k.kernelFunc({ inputs, backend, attrs: attrs as tf.NamedAttrMap }) as Info;
  };
}

const conv2d = builtin('Conv2D');
const transpose = builtin('Transpose');
const padV2 = builtin('PadV2');
const slice = builtin('Slice');
const concat = (inputs: Info[], backend: BackendWasm, axis: number): Info => {
  const k = tf.getKernel('Concat', BACKEND);
  if (!k) throw new Error('wasm backend has no Concat kernel');
  return k.kernelFunc({ inputs: inputs as unknown as tf.NamedTensorInfoMap, backend, attrs: { axis } }) as Info;
};

/** Same buffer, another shape, no copy and no refcount (valid while the source lives). */
const view = (t: Info, shape: number[]): Info => ({ dataId: t.dataId, shape, dtype: t.dtype });
const free = (backend: BackendWasm, ...ts: Info[]): void => ts.forEach((t) => backend.disposeData(t.dataId));

/** Forward geometry (pads resolved exactly as tfjs does for 'same' / 'valid' / explicit). */
function convInfo(xShape: number[], filterShape: number[], strides: number | [number, number], pad: Pad,
  rounding: Rounding, dataFormat: string, attrs: object): tf.backend_util.Conv2DInfo {
  if (dataFormat !== 'NHWC') throw new Error(`wasm conv gradients support dataFormat NHWC only, got ${dataFormat}`);
  const dil = (attrs as { dilations?: number | [number, number] }).dilations;
  if (dil != null && !(Array.isArray(dil) ? dil.every((d) => d === 1) : dil === 1)) {
    throw new Error(`wasm conv gradients support dilations 1 only, got ${String(dil)}`);
  }
  return tf.backend_util.computeConv2DInfo(xShape as [number, number, number, number],
    filterShape as [number, number, number, number], strides, 1, pad, rounding, false, 'channelsLast');
}

/**
 * Stride-1 conv of NHWC x with HWIO filter under signed pads [top, bottom, left, right]: a negative pad
 * crops x (XNNPACK takes only unsigned pads), so callers can ask for an exact output size.
 */
function convSigned(backend: BackendWasm, x: Info, filter: Info, pads: number[], dilations: [number, number]): Info {
  const [t, b, l, r] = pads;
  const [n, h, w, c] = x.shape;
  let src = x;
  if (t < 0 || b < 0 || l < 0 || r < 0) {
    const top = Math.max(0, -t), left = Math.max(0, -l);
    src = slice({ x }, backend, {
      begin: [0, top, left, 0],
      size: [n, h - top - Math.max(0, -b), w - left - Math.max(0, -r), c],
    });
  }
  const pad = [[0, 0], [Math.max(0, t), Math.max(0, b)], [Math.max(0, l), Math.max(0, r)], [0, 0]];
  const out = conv2d({ x: src, filter }, backend, { strides: 1, pad, dilations, dataFormat: 'NHWC' });
  if (src !== x) free(backend, src);
  return out;
}

// dW[a,b,ci,co] = sum_{n,i,j} x[n, i*s+a-pt, j*s+b-pl, ci] dy[n,i,j,co]: a conv over batch=Cin, channels=N,
// with dy as an [Ho,Wo,N,Cout] filter dilated by the forward stride.
function backpropFilter(args: Args<'x' | 'dy'>): Info {
  const backend = args.backend as BackendWasm;
  const { x, dy } = args.inputs;
  const a = args.attrs as unknown as tf.Conv2DBackpropFilterAttrs;
  const ci = convInfo(x.shape, a.filterShape, a.strides, a.pad, a.dimRoundingMode, a.dataFormat, a);
  const [, h, w] = x.shape;
  const [, ho, wo] = dy.shape;
  const { filterHeight: kh, filterWidth: kw, strideHeight: sh, strideWidth: sw } = ci;
  const { top, left } = ci.padInfo;
  const xT = transpose({ x }, backend, { perm: [3, 1, 2, 0] }); // [Cin,H,W,N]
  const dyT = transpose({ x: dy }, backend, { perm: [1, 2, 0, 3] }); // [Ho,Wo,N,Cout]
  // Bottom/right pads chosen so the output is exactly kh x kw.
  const pads = [top, kh + (ho - 1) * sh - h - top, left, kw + (wo - 1) * sw - w - left];
  const g = convSigned(backend, xT, dyT, pads, [sh, sw]); // [Cin,kh,kw,Cout]
  const out = transpose({ x: g }, backend, { perm: [1, 2, 0, 3] });
  free(backend, xT, dyT, g);
  return out;
}

/**
 * The taps of HWIO `filter` in rows r, r+sh, ... and columns c, c+sw, ..., spatially flipped, with in and out
 * channels swapped: [kr,kc,Cout,Cin]. One pass in JS: the stock StridedSlice and Reverse take a generic
 * per-element path that cost more than the convolutions they feed.
 */
function phaseFilter(backend: BackendWasm, filter: Info, r: number, c: number, sh: number, sw: number): Info {
  const [kh, kw, ci, co] = filter.shape;
  const kr = Math.ceil((kh - r) / sh), kc = Math.ceil((kw - c) / sw);
  const out = backend.makeOutput([kr, kc, co, ci], 'float32');
  // Views taken after makeOutput: a malloc may grow (and detach) the wasm heap.
  const o = backend.typedArrayFromHeap(out) as Float32Array;
  const f = backend.typedArrayFromHeap(filter) as Float32Array;
  for (let i = 0; i < kr; i++) {
    for (let j = 0; j < kc; j++) {
      const src = ((r + sh * (kr - 1 - i)) * kw + (c + sw * (kc - 1 - j))) * ci * co;
      const dst = (i * kc + j) * co * ci;
      for (let a = 0; a < ci; a++) for (let b = 0; b < co; b++) o[dst + b * ci + a] = f[src + a * co + b];
    }
  }
  return out;
}

// dx = stride-1 conv of dy with the spatially flipped filter, in/out channels swapped, pads kh-1-padTop etc.
// For a forward stride s > 1, each of the s*s output phases (rows = a mod s, columns = b mod s) is such a conv
// with the sub-filter of taps congruent to the phase; the phases are interleaved afterwards. That costs what the
// forward conv costs, where zero-inserting dy would cost s*s times as much.
function backpropInput(args: Args<'dy' | 'filter'>): Info {
  const backend = args.backend as BackendWasm;
  const { dy, filter } = args.inputs;
  const a = args.attrs as unknown as tf.Conv2DBackpropInputAttrs;
  const ci = convInfo(a.inputShape, filter.shape, a.strides, a.pad, a.dimRoundingMode, a.dataFormat, a);
  const [n, h, w, cin] = a.inputShape;
  const [, ho, wo] = dy.shape;
  const { filterHeight: kh, filterWidth: kw, strideHeight: sh, strideWidth: sw } = ci;
  const { top: pt, left: pl } = ci.padInfo;
  if (sh > kh || sw > kw) return backpropInputZeroInserted(backend, dy, filter, ci, a.inputShape);

  const qh = Math.ceil(h / sh), qw = Math.ceil(w / sw);
  const rows: Info[] = [];
  for (let pa = 0; pa < sh; pa++) {
    const cols: Info[] = [];
    for (let pb = 0; pb < sw; pb++) {
      const r = (pa + pt) % sh, offR = Math.floor((pa + pt) / sh);
      const c = (pb + pl) % sw, offC = Math.floor((pb + pl) / sw);
      const kr = Math.ceil((kh - r) / sh), kc = Math.ceil((kw - c) / sw);
      const wT = phaseFilter(backend, filter, r, c, sh, sw); // [kr,kc,Cout,Cin]
      // Phase rows y = sh*q + pa for q < qh (rows past h are cut after interleaving).
      const top = kr - 1 - offR, left = kc - 1 - offC;
      const pads = [top, qh - ho - top + kr - 1, left, qw - wo - left + kc - 1];
      const phase = convSigned(backend, dy, wT, pads, [1, 1]); // [N,qh,qw,Cin]
      free(backend, wT);
      cols.push(view(phase, [n, qh, 1, qw, 1, cin]));
    }
    const row = cols.length === 1 ? cols[0] : concat(cols, backend, 4);
    if (cols.length > 1) free(backend, ...cols);
    rows.push(row);
  }
  const grid = rows.length === 1 ? rows[0] : concat(rows, backend, 2); // [N,qh,sh,qw,sw,Cin]
  if (rows.length > 1) free(backend, ...rows);
  const full = view(grid, [n, qh * sh, qw * sw, cin]);
  if (qh * sh === h && qw * sw === w) return full;
  const out = slice({ x: full }, backend, { begin: [0, 0, 0, 0], size: [n, h, w, cin] });
  free(backend, grid);
  return out;
}

// Fallback for a stride larger than the filter (some phases have no taps): zero-insert dy, then one conv.
function backpropInputZeroInserted(backend: BackendWasm, dy: Info, filter: Info, ci: tf.backend_util.Conv2DInfo,
  inputShape: number[]): Info {
  const [, h, w] = inputShape;
  const [n, ho, wo, co] = dy.shape;
  const { filterHeight: kh, filterWidth: kw, strideHeight: sh, strideWidth: sw } = ci;
  const wT = phaseFilter(backend, filter, 0, 0, 1, 1); // [kh,kw,Cout,Cin]
  // [N,Ho,1,Wo,1,C] padded to [N,Ho,sh,Wo,sw,C] is dy spread over an [N,Ho*sh,Wo*sw,C] grid.
  const padded = padV2({ x: view(dy, [n, ho, 1, wo, 1, co]) }, backend, {
    paddings: [[0, 0], [0, 0], [0, sh - 1], [0, 0], [0, sw - 1], [0, 0]], constantValue: 0,
  });
  const up = view(padded, [n, ho * sh, wo * sw, co]);
  const top = kh - 1 - ci.padInfo.top, left = kw - 1 - ci.padInfo.left;
  const pads = [top, h + kh - 1 - top - up.shape[1], left, w + kw - 1 - left - up.shape[2]];
  const out = convSigned(backend, up, wT, pads, [1, 1]);
  free(backend, wT, padded);
  return out;
}

// XNNPACK's fast path covers only an untransposed product of single matrices; the transposed products that
// every matMul gradient asks for fall to a scalar loop 10-50x slower. Transpose explicitly, then take the fast path.
// The stock kernel, captured when ours replaces it (looking it up at call time would find ours).
let stockBatchMatMul: tf.KernelConfig | undefined;
const batchMatMul: Call = (inputs, backend, attrs = {}) =>
  stockBatchMatMul!.kernelFunc({ inputs, backend, attrs: attrs as tf.NamedAttrMap }) as Info;
function matMulViaTranspose(args: Args<'a' | 'b'>): Info {
  const backend = args.backend as BackendWasm;
  const { a, b } = args.inputs;
  const { transposeA, transposeB } = args.attrs as unknown as tf.BatchMatMulAttrs;
  const batches = (t: Info) => t.shape.slice(0, -2).reduce((x, y) => x * y, 1);
  if (!(transposeA || transposeB) || batches(a) !== 1 || batches(b) !== 1) return batchMatMul({ a, b }, backend, args.attrs);
  const swapLast = (x: Info) => {
    const perm = x.shape.map((_, i) => i);
    [perm[perm.length - 2], perm[perm.length - 1]] = [perm[perm.length - 1], perm[perm.length - 2]];
    return transpose({ x }, backend, { perm });
  };
  const a2 = transposeA ? swapLast(a) : a;
  const b2 = transposeB ? swapLast(b) : b;
  const out = batchMatMul({ a: a2, b: b2 }, backend, { ...args.attrs, transposeA: false, transposeB: false });
  if (a2 !== a) free(backend, a2);
  if (b2 !== b) free(backend, b2);
  return out;
}

// Plain JS on the heap views; ids outside [0, numSegments) are dropped, as in TensorFlow.
function unsortedSegmentSum(args: Args<'x' | 'segmentIds'>): Info {
  const backend = args.backend as BackendWasm;
  const { x, segmentIds } = args.inputs;
  const numSegments = (args.attrs as unknown as tf.UnsortedSegmentSumAttrs).numSegments;
  const nIds = tf.util.sizeFromShape(segmentIds.shape);
  const inner = nIds === 0 ? 0 : tf.util.sizeFromShape(x.shape) / nIds;
  const out = backend.makeOutput([numSegments, ...x.shape.slice(segmentIds.shape.length)], x.dtype);
  // Views taken after makeOutput: a malloc may grow (and detach) the wasm heap.
  const o = backend.typedArrayFromHeap(out);
  const xv = backend.typedArrayFromHeap(x);
  const ids = backend.typedArrayFromHeap(segmentIds);
  o.fill(0);
  for (let i = 0; i < nIds; i++) {
    const s = ids[i];
    if (s < 0 || s >= numSegments) continue;
    const src = i * inner, dst = s * inner;
    for (let k = 0; k < inner; k++) o[dst + k] += xv[src + k];
  }
  return out;
}

// LeakyReLU under its own kernel names so that its gradient is one pass (the stock gradient is Greater + Multiply +
// Select, each a separate generic wasm loop) and can itself be differentiated (the discriminator's penalty is a
// gradient of a gradient). The gradients live in src/model/ops.ts.
const builtinLeakyRelu = builtin('LeakyRelu');
function leakyReluForward(args: Args<'x'>): Info {
  return builtinLeakyRelu({ x: args.inputs.x }, args.backend as BackendWasm, args.attrs);
}

/** dy * (x > 0 ? 1 : alpha), elementwise; dy and x have one shape. */
function leakyReluGrad(args: Args<'dy' | 'x'>): Info {
  const backend = args.backend as BackendWasm;
  const { dy, x } = args.inputs;
  const alpha = (args.attrs as unknown as tf.LeakyReluAttrs).alpha;
  const out = backend.makeOutput(x.shape, 'float32');
  const o = backend.typedArrayFromHeap(out) as Float32Array;
  const d = backend.typedArrayFromHeap(dy) as Float32Array;
  const xv = backend.typedArrayFromHeap(x) as Float32Array;
  for (let i = 0; i < o.length; i++) o[i] = xv[i] > 0 ? d[i] : d[i] * alpha;
  return out;
}

// Gather of whole rows (axis 0, the only form the trainer uses: DiffAugment's pixel moves) as a JS copy; the
// stock kernel's generic loop took 10 ms for 65k rows of 3. Other forms go to the stock kernel.
let stockGather: tf.KernelConfig | undefined;
function gatherRows(args: Args<'x' | 'indices'>): Info {
  const backend = args.backend as BackendWasm;
  const { x, indices } = args.inputs;
  const { axis, batchDims } = args.attrs as unknown as tf.GatherV2Attrs;
  if (axis !== 0 || batchDims !== 0 || x.dtype !== 'float32' || indices.dtype !== 'int32') {
    return stockGather!.kernelFunc({ inputs: args.inputs, backend, attrs: args.attrs }) as Info;
  }
  const rows = x.shape[0];
  const inner = tf.util.sizeFromShape(x.shape.slice(1));
  const out = backend.makeOutput([...indices.shape, ...x.shape.slice(1)], 'float32');
  const o = backend.typedArrayFromHeap(out) as Float32Array;
  const xv = backend.typedArrayFromHeap(x) as Float32Array;
  const ids = backend.typedArrayFromHeap(indices) as Int32Array;
  for (let i = 0; i < ids.length; i++) {
    const r = ids[i];
    if (r < 0 || r >= rows) {
      backend.disposeData(out.dataId);
      throw new RangeError(`gather index ${r} is outside [0, ${rows})`);
    }
    for (let k = 0, src = r * inner, dst = i * inner; k < inner; k++) o[dst + k] = xv[src + k];
  }
  return out;
}

// 2x2 average pooling with stride 2 (the discriminator's shortcut) and its adjoint, each one JS pass; as a
// reshape + mean it was a transpose and a reduction each way. Both are linear, each the other's gradient.
function avgPool2(args: Args<'x'>): Info {
  const backend = args.backend as BackendWasm;
  const { x } = args.inputs;
  const [n, h, w, c] = x.shape;
  const ho = h >> 1, wo = w >> 1;
  const out = backend.makeOutput([n, ho, wo, c], 'float32');
  const o = backend.typedArrayFromHeap(out) as Float32Array;
  const xv = backend.typedArrayFromHeap(x) as Float32Array;
  const row = w * c;
  for (let b = 0; b < n; b++) {
    for (let i = 0; i < ho; i++) {
      const src = (b * h + 2 * i) * row;
      let dst = (b * ho + i) * wo * c;
      for (let j = 0; j < wo; j++) {
        const s = src + 2 * j * c;
        for (let k = 0; k < c; k++, dst++) {
          o[dst] = (xv[s + k] + xv[s + c + k] + xv[s + row + k] + xv[s + row + c + k]) * 0.25;
        }
      }
    }
  }
  return out;
}

function avgPool2Grad(args: Args<'dy'>): Info {
  const backend = args.backend as BackendWasm;
  const { dy } = args.inputs;
  const [n, ho, wo, c] = dy.shape;
  const h = 2 * ho, w = 2 * wo, row = w * c;
  const out = backend.makeOutput([n, h, w, c], 'float32');
  const o = backend.typedArrayFromHeap(out) as Float32Array;
  const d = backend.typedArrayFromHeap(dy) as Float32Array;
  for (let b = 0; b < n; b++) {
    for (let i = 0; i < ho; i++) {
      const dst = (b * h + 2 * i) * row;
      let src = (b * ho + i) * wo * c;
      for (let j = 0; j < wo; j++) {
        const t = dst + 2 * j * c;
        for (let k = 0; k < c; k++, src++) {
          const v = d[src] * 0.25;
          o[t + k] = v;
          o[t + c + k] = v;
          o[t + row + k] = v;
          o[t + row + c + k] = v;
        }
      }
    }
  }
  return out;
}

/** Attributes of ADAM_UPDATE: the constants of one step, as tf.mul / tf.add would take them (float32). */
export interface AdamUpdateAttrs {
  beta1: number;
  beta2: number;
  /** 1 - beta2^t */
  bc2: number;
  eps: number;
  /** lr / (1 - beta1^t) */
  stepSize: number;
}

// One Adam update of one parameter in a single pass: new [p, m, v] from p, g, m, v. Each operation is rounded to
// float32 as the separate tf ops round it (wasm has no fused multiply-add), so the result is bit for bit the
// one of Adam's tf-op path; it replaces ten kernel calls per parameter (hundreds of small tensors per step).
function adamUpdate(args: Args<'p' | 'g' | 'm' | 'v'>): Info[] {
  const backend = args.backend as BackendWasm;
  const { p, g, m, v } = args.inputs;
  const a = args.attrs as unknown as AdamUpdateAttrs;
  const f = Math.fround;
  const b1 = f(a.beta1), c1 = f(1 - a.beta1), b2 = f(a.beta2), c2 = f(1 - a.beta2);
  const bc2 = f(a.bc2), eps = f(a.eps), step = f(a.stepSize);
  const outs = [backend.makeOutput(p.shape, 'float32'), backend.makeOutput(p.shape, 'float32'), backend.makeOutput(p.shape, 'float32')];
  const [po, mo, vo] = outs.map((t) => backend.typedArrayFromHeap(t) as Float32Array);
  const [pv, gv, mv, vv] = [p, g, m, v].map((t) => backend.typedArrayFromHeap(t) as Float32Array);
  for (let i = 0; i < po.length; i++) {
    const gi = gv[i];
    const mi = f(f(mv[i] * b1) + f(gi * c1));
    const vi = f(f(vv[i] * b2) + f(f(gi * gi) * c2));
    const denom = f(f(Math.sqrt(f(vi / bc2))) + eps);
    mo[i] = mi;
    vo[i] = vi;
    po[i] = f(pv[i] - f(f(mi / denom) * step));
  }
  return outs;
}

// Sums over a block of adjacent axes (bias gradients: [N,H,W,C] -> [C]; per-sample scales: -> [N,C]) in one JS
// pass with float64 accumulators; the stock kernel first transposes the reduced axes innermost. Other
// reductions go to the stock kernel.
let stockSum: tf.KernelConfig | undefined;
function sumBlock(args: Args<'x'>): Info {
  const backend = args.backend as BackendWasm;
  const { x } = args.inputs;
  const { axis, keepDims } = args.attrs as unknown as tf.SumAttrs;
  const rank = x.shape.length;
  const axes = tf.util.parseAxisParam(axis, x.shape).sort((a, b) => a - b);
  const adjacent = axes.length > 0 && axes.every((a, i) => i === 0 || a === axes[i - 1] + 1);
  if (!adjacent || x.dtype !== 'float32' || axes[axes.length - 1] === rank - 1) {
    return stockSum!.kernelFunc({ inputs: args.inputs, backend, attrs: args.attrs }) as Info;
  }
  const outer = tf.util.sizeFromShape(x.shape.slice(0, axes[0]));
  const reduced = tf.util.sizeFromShape(axes.map((a) => x.shape[a]));
  const inner = tf.util.sizeFromShape(x.shape.slice(axes[axes.length - 1] + 1));
  const shape = keepDims ? x.shape.map((d, i) => (axes.includes(i) ? 1 : d)) : x.shape.filter((_, i) => !axes.includes(i));
  const out = backend.makeOutput(shape, 'float32');
  const o = backend.typedArrayFromHeap(out) as Float32Array;
  const xv = backend.typedArrayFromHeap(x) as Float32Array;
  const acc = new Float64Array(inner);
  for (let a = 0; a < outer; a++) {
    acc.fill(0);
    for (let r = 0, base = a * reduced * inner; r < reduced; r++, base += inner) {
      for (let k = 0; k < inner; k++) acc[k] += xv[base + k];
    }
    for (let k = 0; k < inner; k++) o[a * inner + k] = acc[k];
  }
  return out;
}

const KERNELS: Array<[string, tf.KernelFunc]> = [
  ['BatchMatMul', matMulViaTranspose as unknown as tf.KernelFunc],
  ['Conv2DBackpropFilter', backpropFilter as unknown as tf.KernelFunc],
  ['Conv2DBackpropInput', backpropInput as unknown as tf.KernelFunc],
  ['UnsortedSegmentSum', unsortedSegmentSum as unknown as tf.KernelFunc],
  [LEAKY_RELU, leakyReluForward as unknown as tf.KernelFunc],
  [LEAKY_RELU_GRAD, leakyReluGrad as unknown as tf.KernelFunc],
  ['GatherV2', gatherRows as unknown as tf.KernelFunc],
  [AVG_POOL2, avgPool2 as unknown as tf.KernelFunc],
  [AVG_POOL2_GRAD, avgPool2Grad as unknown as tf.KernelFunc],
  [ADAM_UPDATE, adamUpdate as unknown as tf.KernelFunc],
  ['Sum', sumBlock as unknown as tf.KernelFunc],
];

/** Registers the kernels above for 'wasm', replacing any earlier registration; safe to call again. */
export function registerWasmKernels(): void {
  for (const [kernelName, kernelFunc] of KERNELS) {
    const existing = tf.getKernel(kernelName, BACKEND);
    if (existing?.kernelFunc === kernelFunc) continue;
    if (kernelName === 'BatchMatMul') stockBatchMatMul = existing;
    if (kernelName === 'GatherV2') stockGather = existing;
    if (kernelName === 'Sum') stockSum = existing;
    if (existing) tf.unregisterKernel(kernelName, BACKEND);
    // Keep the stock setup (it binds the wasm functions the stock kernel calls).
    tf.registerKernel({ kernelName, backendName: BACKEND, kernelFunc, setupFunc: existing?.setupFunc });
  }
}
