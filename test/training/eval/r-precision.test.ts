import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../../../src/model/sampling.js';
import { candidateScores, drawCandidates, rPrecisionFromScores, topOneCredit } from '../../../src/training/eval/r-precision.js';

describe('R-precision', () => {
  test('a perfect scorer gets 1', () => {
    const rng = new Rng(1);
    const rows = Array.from({ length: 200 }, () => {
      const r = Array.from({ length: 100 }, () => rng.uniform());
      r[0] = 2;
      return r;
    });
    const p = rPrecisionFromScores(rows);
    assert.equal(p.value, 1);
    assert.equal(p.foldStd, 0);
    assert.equal(p.candidates, 100);
    assert.equal(p.folds, 10);
  });

  test('a random scorer gets about 1/100, a constant one exactly 1/100', () => {
    const rng = new Rng(2);
    const rows = Array.from({ length: 5000 }, () => Array.from({ length: 100 }, () => rng.uniform()));
    const p = rPrecisionFromScores(rows);
    assert.ok(Math.abs(p.value - 0.01) < 0.005, `random: ${p.value}`);
    const flat = rPrecisionFromScores(Array.from({ length: 10 }, () => new Array(100).fill(0.5)));
    assert.ok(Math.abs(flat.value - 0.01) < 1e-12, `constant: ${flat.value}`);
    assert.equal(topOneCredit([1, 0, 1, 1]), 1 / 3);
    assert.equal(topOneCredit([NaN, 0]), 0);
  });

  test('cosine scoring: image features equal to their sentence vectors rank first; random ones at chance', () => {
    const rng = new Rng(3);
    const P = 400;
    const D = 16;
    const owners = Array.from({ length: P }, (_, j) => Math.floor(j / 4)); // 4 captions per image
    const texts = owners.map((_, j) => `caption ${j}`);
    const sentences = Float32Array.from({ length: P * D }, () => rng.normal());
    const N = 300;
    const trueCaption = Array.from({ length: N }, (_, k) => (k * 7) % P);
    const cands = trueCaption.map((p) => drawCandidates(p, owners[p], { owners, texts }, 99, rng));
    const perfect = new Float32Array(N * D);
    trueCaption.forEach((p, k) => perfect.set(sentences.subarray(p * D, (p + 1) * D), k * D));
    assert.equal(rPrecisionFromScores(candidateScores(perfect, sentences, D, cands)).value, 1);
    const random = Float32Array.from({ length: N * D }, () => rng.normal());
    const r = rPrecisionFromScores(candidateScores(random, sentences, D, cands)).value;
    assert.ok(r < 0.05, `random features: ${r}`);
  });

  test('candidates: the true caption first, then distinct captions of other images with other texts', () => {
    const rng = new Rng(4);
    const owners = Array.from({ length: 300 }, (_, j) => j % 30);
    const texts = owners.map((o, j) => (j % 2 ? 'same text' : `text ${j}`));
    const c = drawCandidates(2, owners[2], { owners, texts }, 99, rng);
    assert.equal(c.length, 100);
    assert.equal(c[0], 2);
    assert.equal(new Set(c).size, 100);
    for (const j of c.slice(1)) {
      assert.notEqual(owners[j], owners[2]);
      assert.notEqual(texts[j], texts[2]);
    }
    assert.throws(() => drawCandidates(0, 0, { owners: [0, 1, 2], texts: ['a', 'b', 'c'] }, 99, rng), /only 2 mismatched/);
  });
});
