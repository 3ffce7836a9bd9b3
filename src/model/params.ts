// Named trainable weights of one network, in tfjs layouts (Dense [in, out], Conv2D [kh, kw, in, out]) under
// the official PyTorch state-dict names, so checkpoints and importers map one to one.
import * as tf from '@tensorflow/tfjs-core';
import { DfganError } from '../errors.js';

export interface ParamSpec {
  name: string;
  shape: number[];
}

export class ParamStore {
  private readonly vars = new Map<string, tf.Variable>();
  private disposed = false;

  /** Adds a variable holding `init` (the store takes ownership of the tensor). */
  add(name: string, init: tf.Tensor, trainable = true): tf.Variable {
    if (this.vars.has(name)) throw new DfganError('INTERNAL', `parameter ${name} defined twice`);
    const v = tf.variable(init, trainable, undefined, 'float32');
    init.dispose();
    this.vars.set(name, v);
    return v;
  }

  get(name: string): tf.Variable {
    const v = this.vars.get(name);
    if (!v) throw new DfganError('INTERNAL', `unknown parameter ${name}`);
    return v;
  }

  has(name: string): boolean {
    return this.vars.has(name);
  }

  names(): string[] {
    return [...this.vars.keys()];
  }

  specs(): ParamSpec[] {
    return [...this.vars.entries()].map(([name, v]) => ({ name, shape: v.shape.slice() }));
  }

  variables(): tf.Variable[] {
    return [...this.vars.values()];
  }

  count(): number {
    let n = 0;
    for (const v of this.vars.values()) n += v.size;
    return n;
  }

  /**
   * Replaces every value from `values` (name -> tensor or Float32Array); the set of names and every shape
   * must match exactly, so a checkpoint of another architecture cannot half-load.
   */
  assign(values: Map<string, Float32Array>): void {
    const missing = this.names().filter((n) => !values.has(n));
    const extra = [...values.keys()].filter((n) => !this.vars.has(n));
    if (missing.length || extra.length) {
      throw new DfganError(
        'CHECKPOINT_INVALID',
        `weights do not match the network: missing [${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ', ...' : ''}]` +
          `, unexpected [${extra.slice(0, 5).join(', ')}${extra.length > 5 ? ', ...' : ''}]`,
      );
    }
    for (const [name, v] of this.vars) {
      const data = values.get(name)!;
      if (data.length !== v.size) {
        throw new DfganError('CHECKPOINT_INVALID', `weight ${name} has ${data.length} values, the network needs ${v.size} (shape [${v.shape}])`);
      }
    }
    for (const [name, v] of this.vars) {
      tf.tidy(() => v.assign(tf.tensor(values.get(name)!, v.shape, 'float32')));
    }
  }

  /** Reads every weight back to the host, in definition order. */
  async read(): Promise<Map<string, Float32Array>> {
    const out = new Map<string, Float32Array>();
    for (const [name, v] of this.vars) out.set(name, (await v.data()) as Float32Array);
    return out;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const v of this.vars.values()) v.dispose();
    this.vars.clear();
  }
}

/**
 * Deterministic initialiser matching PyTorch's defaults for Linear and Conv2d (kaiming-uniform with a = sqrt(5)
 * for weights, which is U(-1/sqrt(fan_in), 1/sqrt(fan_in)), and the same bound for biases).
 */
export class Initializer {
  private counter = 0;
  constructor(private readonly seed: number) {}

  private nextSeed(): number {
    return (this.seed * 1000003 + this.counter++) % 2147483647;
  }

  uniform(shape: number[], bound: number): tf.Tensor {
    return tf.randomUniform(shape, -bound, bound, 'float32', this.nextSeed());
  }

  /** Dense kernel [in, out] and bias [out]. */
  linear(inDim: number, outDim: number): { weight: tf.Tensor; bias: tf.Tensor } {
    const bound = 1 / Math.sqrt(inDim);
    return { weight: this.uniform([inDim, outDim], bound), bias: this.uniform([outDim], bound) };
  }

  /** Conv kernel [k, k, in, out] and bias [out]. */
  conv(k: number, inC: number, outC: number): { weight: tf.Tensor; bias: tf.Tensor } {
    const bound = 1 / Math.sqrt(inC * k * k);
    return { weight: this.uniform([k, k, inC, outC], bound), bias: this.uniform([outC], bound) };
  }
}
