import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DfganError } from '../src/errors.js';
import { unpickle, type PickleValue } from '../src/pickle.js';
import { pickleStrList } from './training/data/fixtures.js';

const dir = join(import.meta.dirname, 'fixtures', 'pickle');
const fixture = (name: string) => new Uint8Array(readFileSync(join(dir, name)));

const KEYS = [
  '001.Black_footed_Albatross/Black_Footed_Albatross_0046_18',
  '002.Laysan_Albatross/Laysan_Albatross_0002_1027',
  'caf\u00e9 \u00fcn\u00efcode \u2713 \u{1F426}',
  'back\\slash\nnew line',
];

function refused(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof DfganError, `expected DfganError, got ${err}`);
    assert.equal(err.code, 'INVALID_ARGUMENT');
    assert.match(err.message, pattern);
    return true;
  });
}

for (const p of [0, 2, 4, 5]) {
  test(`protocol ${p}: list of str`, () => {
    assert.deepEqual(unpickle(fixture(`list-p${p}.pickle`)), KEYS);
  });

  test(`protocol ${p}: dict of plain values, with shared references kept shared`, () => {
    const d = unpickle(fixture(`dict-p${p}.pickle`)) as Map<PickleValue, PickleValue>;
    assert.ok(d instanceof Map);
    assert.equal(d.get('name'), 'cub');
    assert.equal(d.get('count'), 3);
    assert.equal(d.get('big'), 2n ** 70n);
    assert.equal(d.get('neg'), -5);
    assert.equal(d.get('negbig'), -(2 ** 40));
    assert.equal(d.get('pi'), 3.5);
    assert.equal(d.get('none'), null);
    assert.deepEqual(d.get('flags'), [true, false]);
    assert.deepEqual(d.get('nested'), [1, [2, 3.25]]);
    assert.equal(d.get(7), 'int key');
    assert.deepEqual(d.get('empty'), []);
    assert.deepEqual(d.get('a'), [1, 2]);
    assert.equal(d.get('a'), d.get('b'), 'memoised object is shared');
    assert.equal(d.size, 13);
  });
}

test('protocol 5: bytes, set, frozenset, bytearray', () => {
  const d = unpickle(fixture('extras-p5.pickle')) as Map<PickleValue, PickleValue>;
  assert.deepEqual(d.get('bytes'), Uint8Array.of(0, 255));
  assert.deepEqual(d.get('set'), new Set([1, 2, 3]));
  assert.deepEqual(d.get('frozen'), new Set([4]));
  assert.deepEqual(d.get('ba'), Uint8Array.from([0x61, 0x62]));
});

test('Python 2 protocol-2 list of str (SHORT_BINSTRING, memo GET)', () => {
  const bytes = fixture('py2-list-p2.pickle');
  assert.deepEqual(unpickle(bytes, { py2StrEncoding: 'latin1' }), ['abc\u00e9d', 'xyz', 'abc\u00e9d']);
  assert.deepEqual(unpickle(bytes), ['abc\ufffdd', 'xyz', 'abc\ufffdd']);
  const raw = unpickle(bytes, { py2StrEncoding: 'bytes' }) as Uint8Array[];
  assert.deepEqual(raw[1], new TextEncoder().encode('xyz'));
});

test('the fixture writer used by the data set tests produces a list pickle', () => {
  assert.deepEqual(unpickle(pickleStrList(['a/b', 'c\u00e9'])), ['a/b', 'c\u00e9']);
});

test('globals are refused, naming module.name, before anything runs', () => {
  refused(() => unpickle(fixture('evil-global-p0.pickle')), /refusing pickle global os\.system \(opcode GLOBAL\)/);
  // pickle.dumps of an object whose __reduce__ returns os.system (posix.system on Linux).
  refused(() => unpickle(fixture('evil-reduce-p2.pickle')), /refusing pickle global posix\.system \(opcode GLOBAL\)/);
  refused(() => unpickle(fixture('evil-reduce-p4.pickle')), /refusing pickle global posix\.system \(opcode STACK_GLOBAL\)/);
  refused(() => unpickle(fixture('evil-global-p0.pickle'), { source: 'x/filenames.pickle' }), /^x\/filenames\.pickle: refusing/);
});

test('the allow-list hook resolves a named global, and REDUCE calls it with the argument tuple', () => {
  const calls: PickleValue[][] = [];
  const allowGlobals = new Map([['os.system', (args: PickleValue[]) => (calls.push(args), `ran ${String(args[0])}`)]]);
  assert.equal(unpickle(fixture('evil-global-p0.pickle'), { allowGlobals }), 'ran echo pwned');
  assert.deepEqual(calls, [['echo pwned']]);
  // Other globals stay refused.
  refused(() => unpickle(fixture('evil-reduce-p4.pickle'), { allowGlobals }), /posix\.system/);
});

test('object-building and persistent-id opcodes are refused by name', () => {
  // EMPTY_DICT EMPTY_DICT BUILD STOP
  refused(() => unpickle(Uint8Array.of(0x80, 2, 0x7d, 0x7d, 0x62, 0x2e)), /refusing pickle opcode BUILD/);
  // MARK NONE OBJ -> OBJ on a non-global
  refused(() => unpickle(Uint8Array.of(0x28, 0x4e, 0x6f, 0x2e)), /refusing pickle opcode OBJ/);
  // NONE EMPTY_TUPLE REDUCE
  refused(() => unpickle(Uint8Array.of(0x4e, 0x29, 0x52, 0x2e)), /refusing pickle opcode REDUCE/);
  // NONE EMPTY_TUPLE NEWOBJ
  refused(() => unpickle(Uint8Array.of(0x80, 2, 0x4e, 0x29, 0x81, 0x2e)), /refusing pickle opcode NEWOBJ/);
  // PERSID "1\n"
  refused(() => unpickle(new TextEncoder().encode('P1\n.')), /refusing pickle opcode PERSID/);
  // INST os\nsystem\n
  refused(() => unpickle(new TextEncoder().encode('(S"x"\nios\nsystem\n.')), /refusing pickle global os\.system \(opcode INST\)/);
  // EXT1 1
  refused(() => unpickle(Uint8Array.of(0x80, 2, 0x82, 1, 0x2e)), /refusing pickle opcode EXT1/);
});

test('damaged pickles are INVALID_ARGUMENT, not crashes', () => {
  const good = fixture('list-p2.pickle');
  refused(() => unpickle(good.subarray(0, 40)), /truncated|ended without STOP/);
  refused(() => unpickle(Uint8Array.of(0x80, 9, 0x4e, 0x2e)), /unsupported pickle protocol 9/);
  refused(() => unpickle(Uint8Array.of(0xff)), /unknown pickle opcode 0xff/);
  refused(() => unpickle(Uint8Array.of(0x61, 0x2e)), /stack underflow in APPEND/);
  refused(() => unpickle(Uint8Array.of(0x4e, 0x4e, 0x2e)), /items left on the stack/);
  refused(() => unpickle(Uint8Array.of(0x68, 3, 0x2e)), /memo key 3 not found/);
  refused(() => unpickle(Uint8Array.of(0x58, 0xff, 0xff, 0xff, 0x7f)), /truncated pickle in BINUNICODE/);
  refused(() => unpickle(new Uint8Array(0)), /without STOP/);
});

test('protocol-0 text opcodes: STRING escapes, INT/LONG/FLOAT, POP_MARK', () => {
  const enc = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0));
  assert.equal(unpickle(enc("S'a\\'b\\n\\x41\\101'\n.")), "a'b\nAA");
  assert.equal(unpickle(enc('I-12\n.')), -12);
  assert.equal(unpickle(enc('I01\n.')), true);
  assert.equal(unpickle(enc('L123456789012345678901234567890L\n.')), 123456789012345678901234567890n);
  assert.equal(unpickle(enc('F-1.5e-3\n.')), -1.5e-3);
  assert.equal(unpickle(enc('(I1\nI2\n1N.')), null);
  assert.equal(unpickle(enc('Vx\\u00e9\\U0001f426\n.')), 'x\u00e9\u{1F426}');
});
