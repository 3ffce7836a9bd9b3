import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { useTestBackend } from '../../helpers/backend.js';
import { createTextEncoder } from '../../../src/model/text/encoder.js';
import { parseTextEncoderConfig } from '../../../src/model/config.js';
import { DfganError } from '../../../src/errors.js';

const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

/**
 * Plain-JS LSTM over one unpadded sequence, PyTorch semantics (gates i, f, g, o; zero initial state), with
 * weights in the tfjs layout: wih [E, 4H], whh [H, 4H], bias [4H]. Returns h after every step (in input order).
 */
function lstmRef(xs: number[][], wih: Float32Array, whh: Float32Array, bias: Float32Array, H: number): number[][] {
  const E = xs[0].length;
  let h = new Array<number>(H).fill(0);
  let c = new Array<number>(H).fill(0);
  const out: number[][] = [];
  for (const x of xs) {
    const g = new Array<number>(4 * H);
    for (let j = 0; j < 4 * H; j++) {
      let s = bias[j];
      for (let e = 0; e < E; e++) s += x[e] * wih[e * 4 * H + j];
      for (let k = 0; k < H; k++) s += h[k] * whh[k * 4 * H + j];
      g[j] = s;
    }
    const cNew = new Array<number>(H);
    const hNew = new Array<number>(H);
    for (let k = 0; k < H; k++) {
      const i = sigmoid(g[k]);
      const f = sigmoid(g[H + k]);
      const gg = Math.tanh(g[2 * H + k]);
      const o = sigmoid(g[3 * H + k]);
      cNew[k] = f * c[k] + i * gg;
      hNew[k] = o * Math.tanh(cNew[k]);
    }
    c = cNew;
    h = hNew;
    out.push(h);
  }
  return out;
}

/** Bidirectional reference for one caption: words [T, 2H] and sentence [2H]. */
function birnnRef(ids: number[], p: Map<string, Float32Array>, E: number, H: number): { words: number[][]; sentence: number[] } {
  const emb = p.get('encoder.weight')!;
  const xs = ids.map((id) => Array.from(emb.subarray(id * E, (id + 1) * E)));
  const fw = lstmRef(xs, p.get('rnn.weight_ih_l0')!, p.get('rnn.weight_hh_l0')!, p.get('rnn.bias_l0')!, H);
  const bwRev = lstmRef(
    [...xs].reverse(),
    p.get('rnn.weight_ih_l0_reverse')!,
    p.get('rnn.weight_hh_l0_reverse')!,
    p.get('rnn.bias_l0_reverse')!,
    H,
  );
  const bw = [...bwRev].reverse();
  return {
    words: fw.map((h, t) => [...h, ...bw[t]]),
    sentence: [...fw[fw.length - 1], ...bw[0]],
  };
}

function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < actual.length; i++) {
    assert.ok(Math.abs(actual[i] - expected[i]) <= tol, `${what}[${i}]: ${actual[i]} vs ${expected[i]}`);
  }
}

describe('text encoder', () => {
  before(async () => {
    await useTestBackend();
  });

  it('has the DAMSM parameters, shapes and count', () => {
    const V = 17;
    const enc = createTextEncoder(parseTextEncoderConfig({ vocabSize: V }));
    try {
      assert.deepEqual(enc.params.specs(), [
        { name: 'encoder.weight', shape: [V, 300] },
        { name: 'rnn.weight_ih_l0', shape: [300, 512] },
        { name: 'rnn.weight_hh_l0', shape: [128, 512] },
        { name: 'rnn.bias_l0', shape: [512] },
        { name: 'rnn.weight_ih_l0_reverse', shape: [300, 512] },
        { name: 'rnn.weight_hh_l0_reverse', shape: [128, 512] },
        { name: 'rnn.bias_l0_reverse', shape: [512] },
      ]);
      assert.equal(enc.params.count(), V * 300 + 2 * (300 * 512 + 128 * 512 + 512));
      assert.equal(enc.config.maxWords, 18);
    } finally {
      enc.dispose();
    }
  });

  it('initialises within the PyTorch/AttnGAN bounds, deterministically per seed', async () => {
    const cfg = parseTextEncoderConfig({ vocabSize: 20, embeddingDim: 8, hiddenPerDirection: 16 });
    const a = createTextEncoder(cfg, { seed: 7 });
    const b = createTextEncoder(cfg, { seed: 7 });
    const c = createTextEncoder(cfg, { seed: 8 });
    try {
      const pa = await a.params.read();
      const pb = await b.params.read();
      const pc = await c.params.read();
      const maxAbs = (x: Float32Array) => x.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
      assert.ok(maxAbs(pa.get('encoder.weight')!) <= 0.1);
      assert.ok(maxAbs(pa.get('rnn.weight_ih_l0')!) <= 0.25);
      assert.ok(maxAbs(pa.get('rnn.weight_hh_l0_reverse')!) <= 0.25);
      assert.ok(maxAbs(pa.get('rnn.bias_l0')!) <= 0.5);
      assert.ok(maxAbs(pa.get('rnn.bias_l0')!) > 0.25 * 0.5, 'bias spread like a sum of two draws');
      for (const [name, v] of pa) {
        assert.deepEqual(v, pb.get(name), `${name} same seed`);
        assert.notDeepEqual(v, pc.get(name), `${name} other seed`);
      }
    } finally {
      a.dispose();
      b.dispose();
      c.dispose();
    }
  });

  it('returns sentence [B, 2H] and words [B, T, 2H] with T the longest caption', () => {
    const enc = createTextEncoder(parseTextEncoderConfig({ vocabSize: 30 }));
    try {
      const { sentence, words } = enc.encodeIds([[1, 2, 3], [4, 5, 6, 7, 8], [9]]);
      assert.deepEqual(sentence.shape, [3, 256]);
      assert.deepEqual(words.shape, [3, 5, 256]);
      assert.equal(sentence.dtype, 'float32');
      tf.dispose([sentence, words]);
    } finally {
      enc.dispose();
    }
  });

  it('gives a caption the same encoding alone and padded in a batch', async () => {
    const enc = createTextEncoder(parseTextEncoderConfig({ vocabSize: 30 }), { seed: 3 });
    try {
      const cap = [5, 9, 2];
      const alone = enc.encodeIds([cap]);
      const batch = enc.encodeIds([[1, 2, 3, 4, 5, 6, 7], cap, [0, 29]]);
      const sAlone = await alone.sentence.data();
      const sBatch = await batch.sentence.data();
      assertClose(sBatch.subarray(256, 512), sAlone, 1e-5, 'sentence');
      const wAlone = await alone.words.data();
      const wBatch = await batch.words.data();
      // Row 1 of the batch: 3 real positions equal to the lone encoding, then 4 padded positions of zeros.
      assertClose(wBatch.subarray(7 * 256, 7 * 256 + 3 * 256), wAlone, 1e-5, 'words');
      assert.ok(wBatch.subarray(7 * 256 + 3 * 256, 14 * 256).every((v) => v === 0), 'padded word features are zero');
      // The backward half of the sentence is not zero: it ran from position len-1, not from the padding.
      assert.ok(sAlone.subarray(128).some((v) => v !== 0));
      tf.dispose([alone.sentence, alone.words, batch.sentence, batch.words]);
    } finally {
      enc.dispose();
    }
  });

  it('matches a plain-JS bidirectional LSTM on tiny dims', async () => {
    const E = 3;
    const H = 2;
    const enc = createTextEncoder(parseTextEncoderConfig({ vocabSize: 6, embeddingDim: E, hiddenPerDirection: H }), { seed: 11 });
    try {
      // Larger weights than the init so the non-linearities are exercised away from zero.
      const scaled = new Map<string, Float32Array>();
      for (const [name, v] of await enc.params.read()) scaled.set(name, v.map((x) => x * (name === 'encoder.weight' ? 15 : 3)));
      enc.params.assign(scaled);
      const p = await enc.params.read();

      const batch = [[1, 2, 3, 4], [5], [0, 3, 3], [2, 1]];
      const T = 4;
      const out = enc.encodeIds(batch);
      const s = await out.sentence.data();
      const w = await out.words.data();
      batch.forEach((ids, b) => {
        const ref = birnnRef(ids, p, E, H);
        assertClose(s.subarray(b * 2 * H, (b + 1) * 2 * H), ref.sentence, 1e-5, `sentence ${b}`);
        for (let t = 0; t < T; t++) {
          const got = w.subarray((b * T + t) * 2 * H, (b * T + t + 1) * 2 * H);
          const want = t < ids.length ? ref.words[t] : new Array<number>(2 * H).fill(0);
          assertClose(got, want, 1e-5, `words ${b},${t}`);
        }
      });
      // The states reached saturation-free, non-trivial values.
      assert.ok(s.some((v) => Math.abs(v) > 0.05));
      tf.dispose([out.sentence, out.words]);
    } finally {
      enc.dispose();
    }
  });

  it('differentiates through the LSTM (finite differences on a recurrent weight)', async () => {
    const enc = createTextEncoder(parseTextEncoderConfig({ vocabSize: 6, embeddingDim: 3, hiddenPerDirection: 2 }), { seed: 5 });
    try {
      const whh = enc.params.get('rnn.weight_hh_l0_reverse');
      const loss = () =>
        tf.tidy(() => {
          const { sentence, words } = enc.encodeIds([[1, 2, 3], [4, 5]]);
          return tf.add(tf.sum(tf.square(sentence)), tf.sum(words)) as tf.Scalar;
        });
      const { value, grads } = tf.variableGrads(loss, [whh]);
      const g = await grads[whh.name].data();
      tf.dispose([value, grads[whh.name]]);

      const base = await whh.data();
      const idx = 5;
      const eps = 1e-2;
      const at = async (delta: number) => {
        const v = Float32Array.from(base);
        v[idx] += delta;
        tf.tidy(() => whh.assign(tf.tensor(v, whh.shape)));
        const l = loss();
        const x = (await l.data())[0];
        l.dispose();
        return x;
      };
      const fd = ((await at(eps)) - (await at(-eps))) / (2 * eps);
      tf.tidy(() => whh.assign(tf.tensor(base, whh.shape)));
      assert.ok(Math.abs(fd - g[idx]) <= 1e-2 * Math.max(1, Math.abs(fd)), `grad ${g[idx]} vs finite difference ${fd}`);
    } finally {
      enc.dispose();
    }
  });

  it('rejects bad ids', () => {
    const enc = createTextEncoder(parseTextEncoderConfig({ vocabSize: 5, embeddingDim: 4, hiddenPerDirection: 2 }));
    try {
      const bad = (err: unknown) => err instanceof DfganError && err.code === 'INVALID_ARGUMENT';
      assert.throws(() => enc.encodeIds([]), bad);
      assert.throws(() => enc.encodeIds([[1], []]), bad);
      assert.throws(() => enc.encodeIds([[1, 5]]), bad);
      assert.throws(() => enc.encodeIds([[-1]]), bad);
      assert.throws(() => enc.encodeIds([[1.5]]), bad);
    } finally {
      enc.dispose();
    }
  });

  it('leaks no tensors over repeated calls, and dispose frees every weight', () => {
    const before0 = tf.memory().numTensors;
    const enc = createTextEncoder(parseTextEncoderConfig({ vocabSize: 40, embeddingDim: 16, hiddenPerDirection: 8 }));
    const warm = enc.encodeIds([[1, 2]]);
    tf.dispose([warm.sentence, warm.words]);
    const start = tf.memory().numTensors;
    for (let i = 0; i < 5; i++) {
      const { sentence, words } = enc.encodeIds([[1, 2, 3], [4], [5, 6, 7, 8, 9, 10]]);
      assert.equal(tf.memory().numTensors, start + 2);
      tf.dispose([sentence, words]);
    }
    assert.equal(tf.memory().numTensors, start);
    enc.dispose();
    assert.equal(tf.memory().numTensors, before0);
    assert.throws(() => enc.encodeIds([[1]]), (err: unknown) => err instanceof DfganError);
  });
});
