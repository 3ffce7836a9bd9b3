// How much of each attribute a caption names its sentence vector carries: a linear softmax probe per attribute,
// trained on captions of train images and scored on captions of the evaluated split. What the sentence vector does
// not carry the generator cannot draw, so this bounds attribute accuracy from the text side, as the classifier's
// accuracy on real images bounds it from the image side. (On synth-birds a 601-step DAMSM carried crown and belly
// colours at 0.74-0.76, body and wing at 0.87.)
import * as tf from '@tensorflow/tfjs-core';
import type { Head } from './attribute-classifier.js';

/** Sentence vectors [n, dim] (row-major) and, per row, the value each attribute the caption names has. */
export interface ProbeSet {
  vectors: Float32Array;
  dim: number;
  named: ReadonlyArray<Readonly<Record<string, string>>>;
}

export interface TextProbeOptions {
  /** Full-batch Adam steps per attribute. */
  epochs: number;
  lr: number;
}

export const TEXT_PROBE_DEFAULTS: Readonly<TextProbeOptions> = Object.freeze({ epochs: 200, lr: 0.05 });

export interface TextProbeRow {
  /** Accuracy on the test captions that name the attribute (NaN when none do). */
  accuracy: number;
  chance: number;
  /** Captions naming the attribute in the probe's train / test sets. */
  train: number;
  test: number;
}

export interface TextProbeReport {
  probe: string;
  perAttribute: Record<string, TextProbeRow>;
  /** Means over attributes with test captions (and at least two train values). */
  mean: { accuracy: number; chance: number };
}

/** Row indices naming head h (with a known value) and their class indices. */
function rowsOf(set: ProbeSet, head: Head): { rows: number[]; labels: number[] } {
  const index = new Map(head.values.map((v, i) => [v, i]));
  const rows: number[] = [];
  const labels: number[] = [];
  set.named.forEach((n, r) => {
    const c = n[head.name] === undefined ? undefined : index.get(n[head.name]);
    if (c !== undefined) {
      rows.push(r);
      labels.push(c);
    }
  });
  return { rows, labels };
}

function gather(set: ProbeSet, rows: number[]): tf.Tensor2D {
  const out = new Float32Array(rows.length * set.dim);
  rows.forEach((r, k) => out.set(set.vectors.subarray(r * set.dim, (r + 1) * set.dim), k * set.dim));
  return tf.tensor2d(out, [rows.length, set.dim]);
}

/** Fits one softmax regression per head on `train` and scores it on `test`. Deterministic (zero init, full batch). */
export async function textProbe(heads: readonly Head[], train: ProbeSet, test: ProbeSet, opts: Partial<TextProbeOptions> = {}): Promise<TextProbeReport> {
  const o = { ...TEXT_PROBE_DEFAULTS, ...opts };
  if (train.dim !== test.dim) throw new RangeError(`probe sets differ in dimension (${train.dim} vs ${test.dim})`);
  const perAttribute: Record<string, TextProbeRow> = {};
  for (const head of heads) {
    const tr = rowsOf(train, head);
    const te = rowsOf(test, head);
    const row: TextProbeRow = { accuracy: Number.NaN, chance: 1 / head.values.length, train: tr.rows.length, test: te.rows.length };
    perAttribute[head.name] = row;
    if (tr.rows.length < 2 || te.rows.length === 0 || new Set(tr.labels).size < 2) continue;
    const K = head.values.length;
    const x = gather(train, tr.rows);
    const y = tf.tidy(() => tf.oneHot(tf.tensor1d(tr.labels, 'int32'), K).toFloat());
    const w = tf.tidy(() => tf.variable(tf.zeros([train.dim, K])));
    const b = tf.tidy(() => tf.variable(tf.zeros([K])));
    const opt = tf.train.adam(o.lr);
    try {
      for (let e = 0; e < o.epochs; e++) {
        tf.tidy(() => {
          opt.minimize(() => tf.losses.softmaxCrossEntropy(y, tf.add(tf.matMul(x, w), b)) as tf.Scalar);
        });
      }
      const xt = gather(test, te.rows);
      const pred = tf.tidy(() => tf.argMax(tf.add(tf.matMul(xt, w), b), 1));
      const p = await pred.data();
      tf.dispose([xt, pred]);
      let ok = 0;
      te.labels.forEach((l, k) => (ok += Number(p[k] === l)));
      row.accuracy = ok / te.labels.length;
    } finally {
      tf.dispose([x, y, w, b]);
      opt.dispose();
    }
  }
  const scored = Object.values(perAttribute).filter((r) => Number.isFinite(r.accuracy));
  const mean = (f: (r: TextProbeRow) => number) => (scored.length ? scored.reduce((s, r) => s + f(r), 0) / scored.length : Number.NaN);
  return {
    probe: `linear softmax probe per attribute on sentence vectors (${o.epochs} full-batch Adam steps, lr ${o.lr}), trained on captions of train images, scored on captions of the evaluated split`,
    perAttribute,
    mean: { accuracy: mean((r) => r.accuracy), chance: mean((r) => r.chance) },
  };
}
