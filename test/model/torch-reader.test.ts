// The PyTorch file reader (zip and legacy layouts) and the unpickler hooks it uses, on fixtures written by
// tools/make_torch_fixtures.py with PyTorch 1.13: dtypes, strides, offsets, shared storages, hostile pickles,
// truncated and altered files.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { DfganError } from '../../src/errors.js';
import { PickleObject, unpickle, type PickleValue } from '../../src/pickle.js';
import { readTorchFile } from '../../src/model/torch/serialization.js';
import { TorchTensor, halfToFloat } from '../../src/model/torch/tensor.js';
import { ZipArchive, crc32 } from '../../src/model/torch/zip.js';

const dir = join(import.meta.dirname, '..', 'fixtures', 'torch');
const fixture = (name: string) => new Uint8Array(readFileSync(join(dir, name)));
const index = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8'));

function refused(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof DfganError, `expected DfganError, got ${err}`);
    assert.equal(err.code, 'INVALID_ARGUMENT');
    assert.match(err.message, pattern);
    return true;
  });
}

function tensors(name: string): Map<string, TorchTensor> {
  const f = readTorchFile(fixture(name), name);
  assert.ok(f.value instanceof Map);
  return f.value as Map<string, TorchTensor>;
}

const base = Array.from({ length: 24 }, (_, i) => i / 8 - 1); // torch.arange(24).view(4, 6) / 8 - 1

for (const [name, layout] of [
  ['tensors.pth', 'zip'],
  ['tensors_legacy.pth', 'legacy'],
] as const) {
  test(`${name}: ${layout} layout, every dtype, stride and offset case`, () => {
    assert.equal(readTorchFile(fixture(name), name).layout, layout);
    const t = tensors(name);
    assert.deepEqual([...t.keys()], ['f32', 'f16', 'f64', 'i64', 'transposed', 'sliced', 'scalar', 'shared_a', 'shared_b', 'empty']);
    const f32 = t.get('f32')!;
    assert.equal(f32.dtype, 'float32');
    assert.deepEqual(f32.shape, [4, 6]);
    assert.deepEqual([...f32.toFloat32()], base);
    assert.equal(t.get('f16')!.dtype, 'float16');
    assert.deepEqual([...t.get('f16')!.toFloat32()], base);
    assert.equal(t.get('f64')!.dtype, 'float64');
    assert.deepEqual([...t.get('f64')!.toFloat32()], base.map((v) => Math.fround(v / 3)));
    const i64 = t.get('i64')!;
    assert.equal(i64.dtype, 'int64');
    assert.deepEqual([...i64.toBigInt64()], [0n, -1n, 2n ** 40n, -(2n ** 40n), 7n]);
    assert.deepEqual([...i64.toFloat32()], [0, -1, 2 ** 40, -(2 ** 40), 7]);

    const tr = t.get('transposed')!;
    assert.deepEqual(tr.shape, [6, 4]);
    assert.deepEqual(tr.stride, [1, 6]);
    assert.equal(tr.isContiguous(), false);
    assert.deepEqual([...tr.toFloat32()], Array.from({ length: 24 }, (_, k) => base[(k % 4) * 6 + Math.floor(k / 4)]));
    const sl = t.get('sliced')!;
    assert.equal(sl.storageOffset, 6);
    assert.deepEqual(sl.stride, [6, 2]);
    assert.deepEqual([...sl.toFloat32()], [base[6], base[8], base[10], base[12], base[14], base[16]]);
    const sc = t.get('scalar')!;
    assert.deepEqual(sc.shape, []);
    assert.deepEqual([...sc.toFloat32()], [3.25]);
    const a = t.get('shared_a')!;
    const b = t.get('shared_b')!;
    assert.equal(a.storage, b.storage, 'two views keep one storage');
    assert.deepEqual([a.storageOffset, b.storageOffset], [2, 4]);
    assert.equal(a.toFloat32()[2], b.toFloat32()[0]);
    assert.ok(Math.abs(b.toFloat32()[0] - (-2 + (4 * 4) / 9)) < 1e-6);
    assert.deepEqual(t.get('empty')!.shape, [0, 3]);
    assert.equal(t.get('empty')!.toFloat32().length, 0);
  });
}

test('the legacy and zip layouts of the same tensors agree exactly', () => {
  const z = tensors('tensors.pth');
  const l = tensors('tensors_legacy.pth');
  for (const [k, v] of z) {
    assert.deepEqual(l.get(k)!.shape, v.shape, k);
    assert.deepEqual(l.get(k)!.toFloat32(), v.toFloat32(), k);
  }
});

test('a Python 2 / PyTorch 0.3 legacy file: str keys, _rebuild_tensor v1, storage views, OrderedDict items', () => {
  const py2 = tensors('text_encoder_py2.pth');
  const py3 = tensors('text_encoder.pth');
  assert.deepEqual([...py2.keys()], [...py3.keys()]);
  for (const [k, v] of py3) assert.deepEqual(py2.get(k)!.toFloat32(), v.toFloat32(), k);
  // One LSTM weight comes through legacy view metadata: a storage that is a window on another.
  const viaView = py2.get('rnn.weight_hh_l0_reverse')!;
  assert.ok(viaView.storage.root, 'the view storage keeps its root');
  assert.equal(viaView.storage.root, py2.get('rnn.weight_ih_l0')!.storage);
});

test('a state_dict with `_metadata` (BUILD on an OrderedDict) reads; optimizer state with a 0-d step reads', () => {
  const f = readTorchFile(fixture('state_epoch_064.pth'), 'state');
  const root = f.value as Map<string, PickleValue>;
  assert.equal(root.get('epoch'), index.g64.epoch);
  const opt = (root.get('optimizers') as Map<string, PickleValue>).get('optimizer_D') as Map<string, PickleValue>;
  const st = (opt.get('state') as Map<PickleValue, PickleValue>).get(0) as Map<string, PickleValue>;
  const step = st.get('step');
  assert.ok(step instanceof TorchTensor);
  assert.deepEqual([...step.toFloat32()], [1]);
  const groups = opt.get('param_groups') as Array<Map<string, PickleValue>>;
  assert.deepEqual(groups[0].get('betas'), [0, 0.9]);
  const netD = (root.get('model') as Map<string, PickleValue>).get('netD') as Map<string, TorchTensor>;
  assert.equal(netD.get('conv_img.bias')!.dtype, 'float16');
});

test('half floats decode exactly', () => {
  assert.equal(halfToFloat(0x3c00), 1);
  assert.equal(halfToFloat(0xc000), -2);
  assert.equal(halfToFloat(0x7bff), 65504);
  assert.equal(halfToFloat(0x0001), 2 ** -24);
  assert.equal(halfToFloat(0x7c00), Infinity);
  assert.ok(Number.isNaN(halfToFloat(0x7e00)));
});

test('a pickle that names os.system is refused by name, in both layouts, and nothing runs', () => {
  const marker = index.evil.marker as string;
  rmSync(marker, { force: true });
  refused(() => readTorchFile(fixture('evil_zip.pth'), 'evil_zip.pth'), /^evil_zip\.pth: refusing pickle global posix\.system/);
  refused(() => readTorchFile(fixture('evil_legacy.pth'), 'evil_legacy.pth'), /^evil_legacy\.pth: refusing pickle global posix\.system/);
  assert.equal(existsSync(marker), false);
});

test('a whole pickled nn.Module (not a state dict) is refused, naming its class', () => {
  refused(() => readTorchFile(fixture('whole_module.pth'), 'whole_module.pth'), /refusing pickle global torch\.nn\.modules\.linear\.Linear/);
});

test('truncated files give errors that say so', () => {
  const zip = fixture('state_epoch_064.pth');
  refused(() => readTorchFile(zip.subarray(0, zip.length - 10), 'cut.pth'), /^cut\.pth: not a complete zip archive/);
  refused(() => readTorchFile(zip.subarray(0, 1000), 'cut.pth'), /not a complete zip archive/);
  const legacy = fixture('text_encoder.pth');
  refused(() => readTorchFile(legacy.subarray(0, legacy.length - 100), 'cut.pth'), /^cut\.pth: storage \S+: the file ends inside its data \(truncated\)/);
  refused(() => readTorchFile(legacy.subarray(0, 300), 'cut.pth'), /^cut\.pth: truncated pickle|ended without STOP/);
  refused(() => readTorchFile(new Uint8Array(0), 'empty.pth'), /the file is empty/);
  const extra = new Uint8Array(legacy.length + 3);
  extra.set(legacy);
  refused(() => readTorchFile(extra, 'x.pth'), /3 unexpected bytes after the last storage/);
});

test('altered files fail the zip CRC check, naming the entry', () => {
  const zip = fixture('netG_256_module.pth');
  // Flip one byte inside a storage record and one inside data.pkl.
  const entry = new ZipArchive(zip, 'x').entries.get('netG_256_module/data/3')!;
  const dv = new DataView(zip.buffer, zip.byteOffset);
  const dataAt = entry.headerOffset + 30 + dv.getUint16(entry.headerOffset + 26, true) + dv.getUint16(entry.headerOffset + 28, true);
  const altered = Uint8Array.from(zip);
  altered[dataAt + 5] ^= 0x40;
  refused(() => readTorchFile(altered, 'a.pth'), /^a\.pth: zip entry netG_256_module\/data\/3 fails its CRC-32 check \(the file is altered or corrupt\)/);
  const pkl = Uint8Array.from(zip);
  pkl[200] ^= 0x01;
  refused(() => readTorchFile(pkl, 'b.pth'), /zip entry netG_256_module\/data\.pkl fails its CRC-32 check/);
  assert.equal(crc32(new TextEncoder().encode('123456789')), 0xcbf43926);
});

test('a plain pickle or another file is not taken for a PyTorch file', () => {
  refused(() => readTorchFile(fixture('captions_DAMSM.pickle'), 'c.pickle'), /^c\.pickle: not a PyTorch file: a pickle, but not one written by torch\.save/);
  refused(() => readTorchFile(new TextEncoder().encode('hello world'), 'h.txt'), /^h\.txt: not a PyTorch file/);
});

test('unpickler hooks: persistent ids and BUILD only with a hook; the hook decides', () => {
  class Ref extends PickleObject {
    constructor(readonly id: PickleValue) {
      super();
    }
  }
  // PROTO 2, SHORT_BINUNICODE 'k', BINPERSID, STOP
  const persid = Uint8Array.of(0x80, 2, 0x8c, 1, 0x6b, 0x51, 0x2e);
  refused(() => unpickle(persid), /refusing pickle opcode BINPERSID/);
  const r = unpickle(persid, { persistentLoad: (id) => new Ref(id) });
  assert.ok(r instanceof Ref && r.id === 'k');
  // EMPTY_DICT, EMPTY_DICT, BUILD, STOP
  const build = Uint8Array.of(0x80, 2, 0x7d, 0x7d, 0x62, 0x2e);
  refused(() => unpickle(build), /refusing pickle opcode BUILD/);
  refused(() => unpickle(build, { build: () => false }), /refusing pickle opcode BUILD on a dict/);
  const seen: PickleValue[] = [];
  assert.deepEqual(unpickle(build, { build: (t, s) => (seen.push(t, s), true) }), new Map());
  assert.equal(seen.length, 2);
});
