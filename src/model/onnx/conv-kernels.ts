// The wasm backend's convolutions (Conv2D and its two gradients) run by ONNX Runtime's CPU kernels (MLAS), for
// training: on these layers they reach 45-60 GFLOP/s per core where XNNPACK on wasm SIMD reaches 20-40.
//
// tfjs kernels are synchronous. onnxruntime-node's public API is not (run() defers to setImmediate), but its
// native binding loads a model and runs it synchronously; this module uses the binding of the pinned version
// directly. One tiny graph per convolution signature (NHWC in, Transposes around an NCHW Conv / ConvTranspose,
// NHWC out), built on first use and cached; inputs are read in place from the wasm heap, outputs copied back.
// A signature ONNX cannot express (negative pads, output padding >= stride, dilations) or ORT refuses takes the
// previous kernel (src/model/wasm-kernels.ts), whose inner convolutions come back here as Conv2D calls.
import { createRequire } from 'node:module';
import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { DfganError } from '../../errors.js';
import { GraphBuilder } from './graph-builder.js';

type Info = tf.TensorInfo;
type Args<I extends string> = { inputs: Record<I, Info>; backend: unknown; attrs: tf.NamedAttrMap };
type Pad = tf.Conv2DBackpropInputAttrs['pad'];

interface NativeSession {
  loadModel(buffer: ArrayBuffer, byteOffset: number, byteLength: number, options: object): Promise<void>;
  readonly inputMetadata: unknown[];
  run(feeds: Record<string, unknown>, fetches: Record<string, null>, options: object): Record<string, { data: Float32Array }>;
  dispose(): void;
}
interface Binding {
  binding: { InferenceSession: new () => NativeSession };
  initOrt(): void;
}
type TensorCtor = new (type: 'float32', data: Float32Array, dims: number[]) => unknown;

const BACKEND = 'wasm';
const OPSET = 17;

/** What the kernels need of onnxruntime-node: its native binding and its Tensor class. */
export interface OrtConvRuntime {
  binding: Binding;
  Tensor: TensorCtor;
}

/** onnxruntime-node's native binding, or ENGINE_UNAVAILABLE saying why not. */
export function loadOrtConvRuntime(): OrtConvRuntime {
  const require = createRequire(import.meta.url);
  try {
    const binding = require('onnxruntime-node/dist/binding') as Binding;
    const { Tensor } = require('onnxruntime-node') as { Tensor: TensorCtor };
    binding.initOrt();
    return { binding, Tensor };
  } catch (err) {
    throw new DfganError('ENGINE_UNAVAILABLE', `ONNX Runtime convolutions unavailable: ${(err as Error).message?.split('\n')[0]}`, { cause: err });
  }
}

function convInfo(xShape: number[], filterShape: number[], attrs: tf.NamedAttrMap, pad: Pad): tf.backend_util.Conv2DInfo | undefined {
  const a = attrs as unknown as { strides: number | [number, number]; dilations?: number | [number, number]; dataFormat?: string; dimRoundingMode?: 'floor' | 'round' | 'ceil' };
  const dil = a.dilations;
  if (dil != null && !(Array.isArray(dil) ? dil.every((d) => d === 1) : dil === 1)) return undefined;
  if (a.dataFormat != null && a.dataFormat !== 'NHWC') return undefined;
  return tf.backend_util.computeConv2DInfo(xShape as [number, number, number, number],
    filterShape as [number, number, number, number], a.strides, 1, pad, a.dimRoundingMode, false, 'channelsLast');
}

interface Plan {
  key: string;
  model: () => Uint8Array;
  inputs: Array<{ name: string; dims: number[] }>;
  outShape: number[];
}

function build(inputs: Array<{ name: string; dims: number[] }>, outDims: number[], body: (g: GraphBuilder) => void): Uint8Array {
  const g = new GraphBuilder();
  body(g);
  return g.model({
    name: 'dfgan-conv', inputs, outputs: [{ name: 'y', dims: outDims }], opset: OPSET,
    producer: { name: 'dfgan', version: '1' }, metadata: {},
  });
}

/** Conv2D: x [N,H,W,Ci], filter [kh,kw,Ci,Co] -> [N,Ho,Wo,Co]. */
function forwardPlan(x: Info, filter: Info, attrs: tf.NamedAttrMap): Plan | undefined {
  const ci = convInfo(x.shape, filter.shape, attrs, (attrs as unknown as tf.Conv2DAttrs).pad);
  if (!ci) return undefined;
  const { top, bottom, left, right } = ci.padInfo;
  if (Math.min(top, bottom, left, right) < 0) return undefined;
  const outShape = [ci.batchSize, ci.outHeight, ci.outWidth, ci.outChannels];
  const strides = [ci.strideHeight, ci.strideWidth];
  const inputs = [{ name: 'x', dims: x.shape }, { name: 'w', dims: filter.shape }];
  return {
    key: `f|${x.shape}|${filter.shape}|${strides}|${top},${bottom},${left},${right}`,
    inputs, outShape,
    model: () => build(inputs, outShape, (g) => {
      const xt = g.op('Transpose', ['x'], { perm: [0, 3, 1, 2] });
      const wt = g.op('Transpose', ['w'], { perm: [3, 2, 0, 1] });
      const y = g.op('Conv', [xt, wt], { pads: [top, left, bottom, right], strides });
      g.op('Transpose', [y], { perm: [0, 2, 3, 1] }, 'y');
    }),
  };
}

/** Conv2DBackpropInput: dy [N,Ho,Wo,Co], filter [kh,kw,Ci,Co] -> dx [N,H,W,Ci], as a ConvTranspose. */
function inputPlan(dy: Info, filter: Info, attrs: tf.NamedAttrMap): Plan | undefined {
  const a = attrs as unknown as tf.Conv2DBackpropInputAttrs;
  const ci = convInfo(a.inputShape, filter.shape, attrs, a.pad);
  if (!ci) return undefined;
  const { top, bottom, left, right } = ci.padInfo;
  const [, h, w] = a.inputShape;
  const [kh, kw] = filter.shape;
  const [, ho, wo] = dy.shape;
  const sh = ci.strideHeight, sw = ci.strideWidth;
  const oph = h - ((ho - 1) * sh + kh - top - bottom);
  const opw = w - ((wo - 1) * sw + kw - left - right);
  if (Math.min(top, bottom, left, right, oph, opw) < 0 || oph >= sh || opw >= sw) return undefined;
  const outShape = [...a.inputShape];
  const inputs = [{ name: 'dy', dims: dy.shape }, { name: 'w', dims: filter.shape }];
  return {
    key: `i|${dy.shape}|${filter.shape}|${a.inputShape}|${sh},${sw}|${top},${bottom},${left},${right}`,
    inputs, outShape,
    model: () => build(inputs, outShape, (g) => {
      const dyt = g.op('Transpose', ['dy'], { perm: [0, 3, 1, 2] });
      const wt = g.op('Transpose', ['w'], { perm: [3, 2, 0, 1] }); // [Co,Ci,kh,kw]: ConvTranspose's [C_in, C_out, ...]
      const y = g.op('ConvTranspose', [dyt, wt], { pads: [top, left, bottom, right], strides: [sh, sw], output_padding: [oph, opw] });
      g.op('Transpose', [y], { perm: [0, 2, 3, 1] }, 'y');
    }),
  };
}

/**
 * Conv2DBackpropFilter: x [N,H,W,Ci], dy [N,Ho,Wo,Co] -> dW [kh,kw,Ci,Co]. dW[a,b,ci,co] = sum x[n, i*s+a-pt,
 * j*s+b-pl, ci] dy[n,i,j,co]: a Conv of x as [Ci, N, H, W] with dy as a [Co, N, Ho, Wo] filter dilated by the stride.
 */
function filterPlan(x: Info, dy: Info, attrs: tf.NamedAttrMap): Plan | undefined {
  const a = attrs as unknown as tf.Conv2DBackpropFilterAttrs;
  const ci = convInfo(x.shape, a.filterShape, attrs, a.pad);
  if (!ci) return undefined;
  const { top, left } = ci.padInfo;
  const [, h, w] = x.shape;
  const [, ho, wo] = dy.shape;
  const [kh, kw] = a.filterShape;
  const sh = ci.strideHeight, sw = ci.strideWidth;
  const bottom = kh + (ho - 1) * sh - h - top, right = kw + (wo - 1) * sw - w - left;
  if (Math.min(top, left, bottom, right) < 0) return undefined;
  const outShape = [...a.filterShape];
  const inputs = [{ name: 'x', dims: x.shape }, { name: 'dy', dims: dy.shape }];
  return {
    key: `w|${x.shape}|${dy.shape}|${a.filterShape}|${sh},${sw}|${top},${bottom},${left},${right}`,
    inputs, outShape,
    model: () => build(inputs, outShape, (g) => {
      const xt = g.op('Transpose', ['x'], { perm: [3, 0, 1, 2] });
      const dyt = g.op('Transpose', ['dy'], { perm: [3, 0, 1, 2] });
      const y = g.op('Conv', [xt, dyt], { pads: [top, left, bottom, right], dilations: [sh, sw] }); // [Ci,Co,kh,kw]
      g.op('Transpose', [y], { perm: [2, 3, 0, 1] }, 'y');
    }),
  };
}

/** Sessions by signature, run synchronously; counts what ran where (tests, logs). */
export class OrtConvolutions {
  private readonly sessions = new Map<string, NativeSession>();
  private readonly refused = new Set<string>();
  readonly counts = { onnx: 0, fallback: 0 };
  private readonly previous = new Map<string, tf.KernelConfig | undefined>();
  private registered = false;

  constructor(private readonly ort: OrtConvRuntime, private readonly threads = 1) {}

  /** The signature's session, or undefined when ONNX Runtime refused its graph (that signature falls back, always). */
  private session(plan: Plan): NativeSession | undefined {
    if (this.refused.has(plan.key)) return undefined;
    let s = this.sessions.get(plan.key);
    if (!s) {
      const bytes = plan.model();
      s = new this.ort.binding.binding.InferenceSession();
      try {
        // Arena off: a session per signature must not each keep its peak scratch memory.
        const loading = s.loadModel(bytes.buffer as ArrayBuffer, bytes.byteOffset, bytes.byteLength, {
          intraOpNumThreads: this.threads, interOpNumThreads: 1, executionMode: 'sequential',
          graphOptimizationLevel: 'all', enableCpuMemArena: false, enableMemPattern: false,
        });
        loading.catch(() => undefined);
        // Without callbacks the binding loads synchronously; metadata is readable only once it has.
        void s.inputMetadata.length;
      } catch {
        this.refused.add(plan.key);
        return undefined;
      }
      this.sessions.set(plan.key, s);
    }
    return s;
  }

  private run(backend: BackendWasm, plan: Plan, tensors: Info[]): Info | undefined {
    const feeds: Record<string, unknown> = {};
    const session = this.session(plan);
    if (!session) return undefined;
    const out = backend.makeOutput(plan.outShape, 'float32');
    try {
      // Inputs are read and the output written in place on the wasm heap: views taken after makeOutput (a malloc
      // may grow the heap), and nothing on this thread can move the heap while ORT runs.
      plan.inputs.forEach((inp, i) => {
        feeds[inp.name] = new this.ort.Tensor('float32', backend.typedArrayFromHeap(tensors[i]) as Float32Array, inp.dims);
      });
      const y = new this.ort.Tensor('float32', backend.typedArrayFromHeap(out) as Float32Array, plan.outShape);
      session.run(feeds, { y } as unknown as Record<string, null>, {});
    } catch (err) {
      backend.disposeData(out.dataId);
      throw err;
    }
    this.counts.onnx++;
    return out;
  }

  private kernel(name: string, plan: (a: Info, b: Info, attrs: tf.NamedAttrMap) => Plan | undefined, inputNames: [string, string]): tf.KernelFunc {
    return ((args: Args<string>) => {
      const backend = args.backend as BackendWasm;
      const a = args.inputs[inputNames[0]], b = args.inputs[inputNames[1]];
      const p = a.dtype === 'float32' && b.dtype === 'float32' ? plan(a, b, args.attrs) : undefined;
      const out = p ? this.run(backend, p, [a, b]) : undefined;
      if (out) return out;
      this.counts.fallback++;
      return this.previous.get(name)!.kernelFunc(args as unknown as Parameters<tf.KernelFunc>[0]) as Info;
    }) as unknown as tf.KernelFunc;
  }

  /** Puts these kernels in front of the wasm backend's (which stay as the fallback); call once wasm is set up. */
  register(): void {
    if (this.registered) return;
    const kernels: Array<[string, tf.KernelFunc]> = [
      ['Conv2D', this.kernel('Conv2D', forwardPlan, ['x', 'filter'])],
      ['Conv2DBackpropInput', this.kernel('Conv2DBackpropInput', inputPlan, ['dy', 'filter'])],
      ['Conv2DBackpropFilter', this.kernel('Conv2DBackpropFilter', filterPlan, ['x', 'dy'])],
    ];
    for (const [kernelName, kernelFunc] of kernels) {
      const existing = tf.getKernel(kernelName, BACKEND);
      if (!existing) throw new DfganError('INTERNAL', `the wasm backend has no ${kernelName} kernel to stand in front of`);
      this.previous.set(kernelName, existing);
      tf.unregisterKernel(kernelName, BACKEND);
      tf.registerKernel({ kernelName, backendName: BACKEND, kernelFunc, setupFunc: existing.setupFunc });
    }
    this.registered = true;
  }

  /** Puts the wasm backend's own kernels back and frees the sessions. */
  dispose(): void {
    if (this.registered) {
      for (const [kernelName, k] of this.previous) {
        tf.unregisterKernel(kernelName, BACKEND);
        if (k) tf.registerKernel(k);
      }
      this.previous.clear();
      this.registered = false;
    }
    for (const s of this.sessions.values()) s.dispose();
    this.sessions.clear();
  }
}
