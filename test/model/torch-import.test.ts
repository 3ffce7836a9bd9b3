// Importing the official DF-GAN / DAMSM PyTorch files: the imported networks give PyTorch's outputs (fixtures of
// tools/make_torch_fixtures.py, PyTorch 1.13), and every mismatch between file and network is a clear error.
import { before, describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { DfganError } from '../../src/errors.js';
import { parseNpy } from '../../src/model/npy.js';
import { loadCheckpoint, type LoadedCheckpoint } from '../../src/model/checkpoint/index.js';
import { createGenerator } from '../../src/model/generator.js';
import { createDiscriminator } from '../../src/model/discriminator.js';
import { runImport, type ImportArgs } from '../../src/cli/import.js';
import { readTorchFile } from '../../src/model/torch/serialization.js';
import { TorchTensor } from '../../src/model/torch/tensor.js';
import {
  convertDfganNetwork,
  damsmVocabulary,
  dfganStatesOf,
  generatorConfigOf,
  stateDictOf,
  unusedDiscriminatorWeights,
  type StateDict,
} from '../../src/model/torch/official.js';
import { useTestBackend } from '../helpers/backend.js';
import { tempDir } from '../helpers/tmp.js';
import { makeCheckpoint } from '../helpers/fixtures.js';

const FIX = join(import.meta.dirname, '..', 'fixtures', 'torch');
const fx = (name: string) => join(FIX, name);
const index = JSON.parse(readFileSync(fx('index.json'), 'utf8'));
const npy = (name: string) => parseNpy(new Uint8Array(readFileSync(fx(name))), name);
const TOL = 1e-4;

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length, 'same number of values');
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

function expectClose(t: TestContext, what: string, got: ArrayLike<number>, want: ArrayLike<number>): void {
  const d = maxAbsDiff(got, want);
  t.diagnostic(`${what}: max abs diff ${d.toExponential(2)} over ${want.length} values`);
  assert.ok(d <= TOL, `${what}: max abs diff ${d} > ${TOL}`);
}

function refused(p: Promise<unknown> | (() => unknown), pattern: RegExp, code = 'INVALID_ARGUMENT') {
  const check = (err: unknown) => {
    assert.ok(err instanceof DfganError, `expected DfganError, got ${err}`);
    assert.equal(err.code, code);
    assert.match(err.message, pattern);
    return true;
  };
  return typeof p === 'function' ? assert.throws(p, check) : assert.rejects(p, check);
}

/** NHWC tensor -> NCHW values. */
async function nchw(x: tf.Tensor4D): Promise<Float32Array> {
  const t = tf.transpose(x, [0, 3, 1, 2]);
  const v = (await t.data()) as Float32Array;
  t.dispose();
  return v;
}

let root: string;
let ck64dir: string;
const base = (over: Partial<ImportArgs> = {}): ImportArgs => ({
  generator: fx('state_epoch_064.pth'),
  textEncoder: fx('text_encoder.pth'),
  captions: fx('captions_DAMSM.pickle'),
  size: 64,
  out: join(root, `out-${Math.random().toString(36).slice(2)}`),
  name: 'imported',
  discriminator: true,
  overwrite: false,
  ...over,
});

before(async () => {
  await useTestBackend();
  root = await tempDir('dfgan-torch-import-');
  ck64dir = join(root, 'cub64');
  const r = await runImport(base({ out: ck64dir }));
  assert.deepEqual(r.networks, ['generator', 'textEncoder', 'discriminator', 'head']);
  // NetD's last block has in == out: its unused 1x1 conv is checked and dropped, nothing else.
  assert.deepEqual(r.dropped, ['netD.DBlocks.3.conv_s.weight', 'netD.DBlocks.3.conv_s.bias']);
});

describe('imported networks give the PyTorch outputs', () => {
  let ck: LoadedCheckpoint;
  before(async () => {
    ck = await loadCheckpoint(ck64dir, { withDiscriminator: true });
  });

  test('checkpoint: configs read from the files, vocabulary from ixtoword, provenance in the manifest', () => {
    assert.deepEqual({ ...ck.generator.config }, { imageSize: 64, nf: index.nf, zDim: index.zDim, condDim: index.condDim, headProjection: false, fcSentence: false });
    assert.equal(ck.textEncoder.config.vocabSize, index.textEncoder.vocabSize);
    assert.equal(ck.textEncoder.config.embeddingDim, index.embeddingDim);
    assert.equal(ck.textEncoder.config.hiddenPerDirection, index.hiddenPerDirection);
    assert.equal(ck.textEncoder.config.sentenceScale, 1);
    assert.equal(ck.vocab.words[0], '<end>');
    assert.equal(ck.vocab.words[1], 'this');
    const info = ck.manifest.info as { createdBy: string; importedFrom: { generator: { epoch: number; layout: string; content: string } } };
    assert.equal(info.createdBy, 'dfgan import');
    assert.deepEqual(
      { epoch: info.importedFrom.generator.epoch, layout: info.importedFrom.generator.layout, content: info.importedFrom.generator.content },
      { epoch: 7, layout: 'zip', content: 'training-state' },
    );
  });

  test('64x64 generator (training state, non-contiguous fc.weight, offset fc.bias): image equals PyTorch', async (t) => {
    const z = npy(index.g64.z);
    const s = npy(index.g64.sentence);
    const want = npy(index.g64.image);
    const x = ck.generator.apply(tf.tensor2d(z.data, z.shape as [number, number]), tf.tensor2d(s.data, s.shape as [number, number]));
    assert.deepEqual(x.shape, [2, 64, 64, 3]);
    expectClose(t, 'G 64', await nchw(x), want.data);
    x.dispose();
  });

  test('NetD + NetC (float16 conv_img.bias, unused conv_s dropped): features and logits equal PyTorch', async (t) => {
    const img = npy(index.g64.image);
    const s = npy(index.g64.sentence);
    const [features, logits] = tf.tidy(() => {
      const x = tf.transpose(tf.tensor4d(img.data, img.shape as [number, number, number, number]), [0, 2, 3, 1]) as tf.Tensor4D;
      const f = ck.discriminator!.apply(x);
      return [f, ck.head!.apply(f, tf.tensor2d(s.data, s.shape as [number, number]))];
    });
    expectClose(t, 'D features', await nchw(features as tf.Tensor4D), npy(index.g64.features).data);
    expectClose(t, 'D/C logits', (await logits.data()) as Float32Array, npy(index.g64.logits).data);
    tf.dispose([features, logits]);
  });

  test('text encoder (legacy layout): sentence and word vectors equal PyTorch for fixed token ids', async (t) => {
    const enc = ck.textEncoder.encodeIds(index.textEncoder.ids);
    expectClose(t, 'sentence', (await enc.sentence.data()) as Float32Array, npy(index.textEncoder.sentence).data);
    // PyTorch words_emb is [B, 2H, T]; ours [B, T, 2H].
    const words = tf.transpose(enc.words, [0, 2, 1]);
    expectClose(t, 'words', (await words.data()) as Float32Array, npy(index.textEncoder.words).data);
    tf.dispose([enc.sentence, enc.words, words]);
  });

  test('a caption end to end (tokenizer, DAMSM vocabulary, text encoder, generator) equals PyTorch', async (t) => {
    const cap = ck.vocab.encode(index.g64.caption, ck.textEncoder.config.maxWords);
    assert.deepEqual(cap.ids, index.g64.captionIds);
    const z = npy(index.g64.z);
    const enc = ck.textEncoder.encodeIds([cap.ids]);
    const x = ck.generator.apply(tf.tensor2d(z.data.slice(0, index.zDim), [1, index.zDim]), enc.sentence);
    expectClose(t, 'caption -> image', await nchw(x), npy(index.g64.captionImage).data);
    tf.dispose([x, enc.sentence, enc.words]);
  });
});

test('256x256 generator saved through DataParallel (`module.`), text encoder from another checkpoint: equals PyTorch', async (t) => {
  const out = join(root, 'g256');
  const r = await runImport(base({ generator: fx('netG_256_module.pth'), textEncoder: undefined, captions: undefined, textFrom: ck64dir, size: 256, out }));
  assert.deepEqual(r.networks, ['generator', 'textEncoder']);
  assert.equal(r.generator.imageSize, 256);
  const ck = await loadCheckpoint(out);
  try {
    const z = npy(index.g256.z);
    const s = npy(index.g256.sentence);
    const x = ck.generator.apply(tf.tensor2d(z.data, z.shape as [number, number]), tf.tensor2d(s.data, s.shape as [number, number]));
    const full = await nchw(x);
    x.dispose();
    const sub: number[] = index.g256.subsample;
    const picked: number[] = [];
    for (let c = 0; c < 3; c++) for (const i of sub) for (const j of sub) picked.push(full[(c * 256 + i) * 256 + j]);
    expectClose(t, 'G 256 (subsampled rows/columns)', picked, npy(index.g256.imageSubsample).data);
    const means = [0, 1, 2].map((c) => full.subarray(c * 65536, (c + 1) * 65536).reduce((a, b) => a + b, 0) / 65536);
    expectClose(t, 'G 256 channel means', means, index.g256.channelMeans);
  } finally {
    ck.dispose();
  }
});

test('the Python 2 / PyTorch 0.3 text encoder file imports to the same weights', async () => {
  const out = join(root, 'py2');
  await runImport(base({ textEncoder: fx('text_encoder_py2.pth'), discriminator: false, out }));
  const a = await loadCheckpoint(out);
  const b = await loadCheckpoint(ck64dir);
  try {
    const wa = await a.textEncoder.params.read();
    const wb = await b.textEncoder.params.read();
    for (const [k, v] of wb) assert.deepEqual(wa.get(k), v, k);
    assert.equal(a.manifest.networks.discriminator, undefined, '--no-discriminator leaves NetD/NetC out');
  } finally {
    a.dispose();
    b.dispose();
  }
});

describe('mismatches are refused with errors naming the file and the weight', () => {
  const states = () => dfganStatesOf(readTorchFile(new Uint8Array(readFileSync(fx('state_epoch_064.pth'))), 'f.pth'), 'f.pth');
  const cfg = () => generatorConfigOf(states().netG, 'f.pth', { size: 64 });
  const gSpecs = () => {
    const g = createGenerator(cfg());
    const s = g.params.specs();
    g.dispose();
    return s;
  };
  const convertG = (sd: StateDict) => convertDfganNetwork(sd, gSpecs(), { what: "model['netG']", model: 'the 64px nf 2 generator', source: 'f.pth' });

  test('--size and --nf are checked against the file', async () => {
    await refused(runImport(base({ size: 128 })), /state_epoch_064\.pth: the generator has 4 G_Blocks: a 64px model, not --size 128/);
    await refused(runImport(base({ nf: 32 })), /the generator has nf 2 \(fc\.weight \[256, 12\]\), not --nf 32/);
  });

  test('a missing weight, a left-over weight and a wrong shape', () => {
    const sd = new Map(states().netG);
    sd.delete('GBlocks.1.fuse2.affine1.fc_beta.linear2.bias');
    refused(() => convertG(sd), /^f\.pth: model\['netG'\] lacks 1 weight\(s\) of the 64px nf 2 generator: GBlocks\.1\.fuse2\.affine1\.fc_beta\.linear2\.bias$/);
    const extra = new Map(states().netG);
    extra.set('GBlocks.9.c1.weight', extra.get('GBlocks.0.c1.weight')!);
    extra.set('lin.weight', extra.get('fc.weight')!);
    refused(() => convertG(extra), /has 2 weight\(s\) that the 64px nf 2 generator does not have: GBlocks\.9\.c1\.weight, lin\.weight/);
    const shape = new Map(states().netG);
    shape.set('GBlocks.1.c1.weight', shape.get('GBlocks.1.c2.weight')!);
    refused(() => convertG(shape), /GBlocks\.1\.c1\.weight has shape \[8, 8, 3, 3\]; the 64px nf 2 generator needs \[8, 16, 3, 3\]/);
  });

  test("NetD's unused 1x1 convs are dropped only where in == out, and only with the right shape", () => {
    const g = cfg();
    const d = createDiscriminator(g);
    const specs = d.params.specs();
    d.dispose();
    const conv = (sd: StateDict) =>
      convertDfganNetwork(sd, specs, { what: "model['netD']", model: 'D', source: 'f.pth', dropUnused: unusedDiscriminatorWeights(g) });
    assert.deepEqual(conv(states().netD!).dropped, ['DBlocks.3.conv_s.weight', 'DBlocks.3.conv_s.bias']);
    const without = new Map(states().netD!);
    without.delete('DBlocks.3.conv_s.weight');
    without.delete('DBlocks.3.conv_s.bias');
    assert.deepEqual(conv(without).dropped, [], 'a file without them is fine too');
    const wrong = new Map(states().netD!);
    wrong.set('DBlocks.3.conv_s.bias', wrong.get('conv_img.bias')!);
    refused(() => conv(wrong), /DBlocks\.3\.conv_s\.bias has shape \[2\]; D needs \[16\]/);
  });

  test('state dict shapes: `module.` on some keys only, non-tensors, other objects', () => {
    const sd = states().netG;
    const t = sd.get('fc.bias')!;
    refused(() => stateDictOf(new Map<string, TorchTensor>([['module.a', t], ['b', t]]), 'netG', 'f.pth'), /only some names carry the DataParallel prefix/);
    refused(() => stateDictOf(new Map([['a', 1]]), 'netG', 'f.pth'), /^f\.pth: netG: a is not a tensor$/);
    const opt = readTorchFile(new Uint8Array(readFileSync(fx('tensors.pth'))), 't.pth');
    assert.ok(opt.value instanceof Map);
    refused(() => generatorConfigOf(dfganStatesOf(opt, 't.pth').netG, 't.pth', { size: 64 }), /no 2-d fc\.weight: not a DF-GAN NetG/);
  });

  test('the text encoder must fit the vocabulary and the generator', async () => {
    await refused(runImport(base({ captions: undefined })), /--text-encoder and --captions go together/);
    await refused(runImport(base({ textEncoder: undefined, captions: undefined })), /needs the text encoder the generator was trained with/);
    const other = await makeCheckpoint(root, { size: 64, nf: 2, discriminator: false, name: 'other' });
    await refused(runImport(base({ textEncoder: undefined, captions: undefined, textFrom: other })), /gives 256-d sentence vectors but the generator .* takes 20/);
    const small = join(root, 'small.pickle');
    await writeFile(small, pickleOf([[], [], new Map<unknown, unknown>([[0, '<end>'], [1, 'a']]), new Map<unknown, unknown>([['<end>', 0], ['a', 1]])]));
    await refused(runImport(base({ captions: small })), /small\.pickle has 2 words but the text encoder .*text_encoder\.pth embeds 23: they are not from the same DAMSM model/);
    await refused(runImport(base({ generator: fx('text_encoder.pth') })), /neither a generator state dict nor a DF-GAN training state|no 2-d fc\.weight/);
    await refused(runImport(base({ generator: fx('evil_zip.pth') })), /evil_zip\.pth: refusing pickle global posix\.system/);
    await refused(runImport(base({ generator: join(root, 'nope.pth') })), /--generator: cannot read .*nope\.pth \(ENOENT\)/);
  });

  test('DAMSM captions pickles: ixtoword/wordtoix are checked', () => {
    const ok = damsmVocabulary(new Uint8Array(readFileSync(fx('captions_DAMSM.pickle'))), 'c');
    assert.equal(ok.size, index.textEncoder.vocabSize);
    assert.equal(ok.indexOf('wings'), 9);
    const v = (ix: Map<unknown, unknown>, wi: Map<unknown, unknown>) => () => damsmVocabulary(pickleOf([[], [], ix, wi]), 'c.pickle');
    refused(v(new Map([[0, 'x'], [1, 'a']]), new Map([['x', 0], ['a', 1]])), /^c\.pickle: ixtoword\[0\] is "x", not <end>/);
    refused(v(new Map([[0, '<end>'], [2, 'a']]), new Map([['<end>', 0], ['a', 2]])), /ixtoword has key 2; keys must be 0\.\.1/);
    refused(v(new Map([[0, '<end>'], [1, 'a']]), new Map([['<end>', 0], ['a', 0]])), /wordtoix\["a"\] = 0 disagrees with ixtoword/);
    refused(() => damsmVocabulary(pickleOf([1, 2]), 'c.pickle'), /is not \[train_captions, test_captions, ixtoword, wordtoix\]/);
  });
});

/** A protocol-2 pickle of small ints, short str, lists and dicts (enough for captions pickles in tests). */
function pickleOf(v: unknown): Uint8Array {
  const out: number[] = [0x80, 2];
  const put = (x: unknown): void => {
    if (typeof x === 'number') out.push(0x4b, x);
    else if (typeof x === 'string') {
      const b = new TextEncoder().encode(x);
      out.push(0x58, b.length, 0, 0, 0, ...b);
    } else if (Array.isArray(x)) {
      out.push(0x5d);
      for (const i of x) (put(i), out.push(0x61));
    } else if (x instanceof Map) {
      out.push(0x7d);
      for (const [k, val] of x) (put(k), put(val), out.push(0x73));
    } else throw new Error(`cannot pickle ${String(x)}`);
  };
  put(v);
  out.push(0x2e);
  return Uint8Array.from(out);
}
