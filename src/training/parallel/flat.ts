// Gradients as one flat Float32Array per network, in a fixed parameter order. Replicas exchange them through
// SharedArrayBuffers allocated once (no per-step allocation, copy or transfer), and the average is a plain loop
// in a fixed order: deterministic for a given number of replicas.
import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';

export interface ParamLayout {
  names: string[];
  shapes: number[][];
  offsets: number[];
  sizes: number[];
  total: number;
}

export function layoutOf(params: Array<{ name: string; shape: number[] }>): ParamLayout {
  const names: string[] = [];
  const shapes: number[][] = [];
  const offsets: number[] = [];
  const sizes: number[] = [];
  let total = 0;
  for (const { name, shape } of params) {
    const size = shape.reduce((a, b) => a * b, 1);
    names.push(name);
    shapes.push(shape.slice());
    offsets.push(total);
    sizes.push(size);
    total += size;
  }
  return { names, shapes, offsets, sizes, total };
}

/** A float32 buffer that every thread it is posted to sees (not copied by postMessage). */
export function sharedFloats(n: number): Float32Array {
  return new Float32Array(new SharedArrayBuffer(n * Float32Array.BYTES_PER_ELEMENT));
}

/** Copies a float32 tensor's values to dest[offset...] (straight from the wasm heap where that is the backend). */
function readInto(t: tf.Tensor, dest: Float32Array, offset: number): void {
  const backend = tf.backend() as Partial<BackendWasm>;
  if (tf.getBackend() === 'wasm' && typeof backend.typedArrayFromHeap === 'function' && t.dtype === 'float32') {
    dest.set(backend.typedArrayFromHeap(t) as Float32Array, offset);
  } else {
    dest.set(t.dataSync() as Float32Array, offset);
  }
}

/**
 * Writes named gradient tensors into `dest` in layout order (zeros where a parameter has none) and returns
 * which parameters have one. The tensors stay owned by the caller.
 */
export function packInto(layout: ParamLayout, grads: Map<string, tf.Tensor>, dest: Float32Array): Uint8Array {
  if (dest.length !== layout.total) throw new Error(`gradient buffer holds ${dest.length} values, the layout ${layout.total}`);
  for (const name of grads.keys()) if (!layout.names.includes(name)) throw new Error(`gradient ${name} is not in the layout`);
  const present = new Uint8Array(layout.names.length);
  layout.names.forEach((name, i) => {
    const g = grads.get(name);
    const o = layout.offsets[i];
    if (!g) {
      dest.fill(0, o, o + layout.sizes[i]);
      return;
    }
    if (g.size !== layout.sizes[i]) throw new Error(`gradient ${name} has ${g.size} values, expected ${layout.sizes[i]}`);
    readInto(g, dest, o);
    present[i] = 1;
  });
  return present;
}

/**
 * Tensors of the present parameters' gradients, made from views of `values` (the caller disposes them, and
 * must not change `values` until then: a backend may keep the view instead of copying it, as cpu does).
 */
export function unpack(layout: ParamLayout, values: Float32Array, present: Uint8Array): Map<string, tf.Tensor> {
  const out = new Map<string, tf.Tensor>();
  layout.names.forEach((name, i) => {
    if (!present[i]) return;
    const o = layout.offsets[i];
    out.set(name, tf.tensor(values.subarray(o, o + layout.sizes[i]), layout.shapes[i], 'float32'));
  });
  return out;
}

/**
 * out = sum_k weights[k] * parts[k], accumulated in float32 in the order k = 0, 1, ...; returns the union of
 * the parts' present masks.
 */
export function weightedSumInto(parts: Float32Array[], presents: Uint8Array[], weights: number[], out: Float32Array): Uint8Array {
  if (parts.length === 0 || parts.length !== weights.length || parts.length !== presents.length) {
    throw new Error('weightedSumInto needs one weight and one mask per part');
  }
  const present = new Uint8Array(presents[0].length);
  out.fill(0);
  parts.forEach((p, k) => {
    if (p.length !== out.length || presents[k].length !== present.length) throw new Error('gradient parts differ in size');
    axpy(out, Math.fround(weights[k]), p);
    for (let j = 0; j < present.length; j++) present[j] |= presents[k][j];
  });
  return present;
}

/** out += w * v, rounded to float32 at every element (a small monomorphic loop: about 2x faster than inline). */
function axpy(out: Float32Array, w: number, v: Float32Array): void {
  const n = out.length;
  for (let j = 0; j < n; j++) out[j] += w * v[j];
}
