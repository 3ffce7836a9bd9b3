// Adam (Kingma & Ba) as PyTorch implements it, with its state kept under parameter names so a checkpoint can
// store it and a resumed run continues exactly where it stopped.
import * as tf from '@tensorflow/tfjs-core';
import type { ParamSpec } from '../model/params.js';
import { ADAM_UPDATE } from '../model/ops.js';

export interface AdamOptions {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
}

export class Adam {
  readonly opts: Readonly<AdamOptions>;
  private readonly params: Map<string, tf.Variable>;
  private readonly m = new Map<string, tf.Variable>();
  private readonly v = new Map<string, tf.Variable>();
  private t = 0;

  /** `prefix` names this optimizer's entries in a shared state file (e.g. 'g/', 'd/'). */
  constructor(
    params: Map<string, tf.Variable>,
    opts: Partial<AdamOptions> & { lr: number },
    readonly prefix = '',
  ) {
    this.opts = Object.freeze({ beta1: 0.9, beta2: 0.999, eps: 1e-8, ...opts });
    this.params = params;
    const zeros = (p: tf.Tensor) => tf.tidy(() => tf.variable(tf.zerosLike(p), false));
    for (const [name, p] of params) {
      this.m.set(name, zeros(p));
      this.v.set(name, zeros(p));
    }
  }

  get step(): number {
    return this.t;
  }

  /**
   * One update from gradients keyed like the parameters (missing gradients leave a parameter unchanged);
   * `lr` overrides the configured rate for this step (learning-rate schedules).
   */
  apply(grads: Map<string, tf.Tensor>, lr = this.opts.lr): void {
    this.t += 1;
    const { beta1, beta2, eps } = this.opts;
    const bc1 = 1 - beta1 ** this.t;
    const bc2 = 1 - beta2 ** this.t;
    const stepSize = lr / bc1;
    const fused = tf.getKernel(ADAM_UPDATE, tf.getBackend()) !== undefined;
    const attrs = { beta1, beta2, bc2, eps, stepSize } as unknown as tf.NamedAttrMap;
    tf.tidy(() => {
      for (const [name, p] of this.params) {
        const g = grads.get(name);
        if (!g) continue;
        const m = this.m.get(name)!;
        const v = this.v.get(name)!;
        if (fused) {
          // One kernel per parameter, the same float32 arithmetic as the ops below (src/model/wasm-kernels.ts).
          const [p2, m2, v2] = tf.engine().runKernel(ADAM_UPDATE, { p, g, m, v }, attrs) as tf.Tensor[];
          m.assign(m2);
          v.assign(v2);
          p.assign(p2);
          continue;
        }
        m.assign(tf.add(tf.mul(m, beta1), tf.mul(g, 1 - beta1)));
        v.assign(tf.add(tf.mul(v, beta2), tf.mul(tf.square(g), 1 - beta2)));
        // PyTorch: p -= lr / bc1 * m / (sqrt(v / bc2) + eps)
        const denom = tf.add(tf.sqrt(tf.div(v, bc2)), eps);
        p.assign(tf.sub(p, tf.mul(tf.div(m, denom), stepSize)));
      }
    });
  }

  /** State as named tensors: `${prefix}${param}/m`, `/v`, and `${prefix}step`. */
  specs(): ParamSpec[] {
    const out: ParamSpec[] = [{ name: `${this.prefix}step`, shape: [1] }];
    for (const [name, p] of this.params) {
      out.push({ name: `${this.prefix}${name}/m`, shape: p.shape.slice() });
      out.push({ name: `${this.prefix}${name}/v`, shape: p.shape.slice() });
    }
    return out;
  }

  async read(): Promise<Map<string, Float32Array>> {
    const out = new Map<string, Float32Array>([[`${this.prefix}step`, Float32Array.of(this.t)]]);
    for (const name of this.params.keys()) {
      out.set(`${this.prefix}${name}/m`, (await this.m.get(name)!.data()) as Float32Array);
      out.set(`${this.prefix}${name}/v`, (await this.v.get(name)!.data()) as Float32Array);
    }
    return out;
  }

  /** Restores state written by read(); returns false (state untouched) when it does not match these parameters. */
  restore(values: Map<string, Float32Array>): boolean {
    const step = values.get(`${this.prefix}step`);
    if (!step) return false;
    for (const [name, p] of this.params) {
      if (values.get(`${this.prefix}${name}/m`)?.length !== p.size || values.get(`${this.prefix}${name}/v`)?.length !== p.size) return false;
    }
    this.t = step[0];
    for (const [name, p] of this.params) {
      tf.tidy(() => {
        this.m.get(name)!.assign(tf.tensor(values.get(`${this.prefix}${name}/m`)!, p.shape));
        this.v.get(name)!.assign(tf.tensor(values.get(`${this.prefix}${name}/v`)!, p.shape));
      });
    }
    return true;
  }

  dispose(): void {
    for (const t of [...this.m.values(), ...this.v.values()]) t.dispose();
    this.m.clear();
    this.v.clear();
  }
}
