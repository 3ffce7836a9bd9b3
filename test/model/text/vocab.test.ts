import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Vocabulary, END_TOKEN } from '../../../src/model/text/vocab.js';
import { DfganError } from '../../../src/errors.js';

function hasCode(code: string) {
  return (err: unknown) => err instanceof DfganError && err.code === code;
}

describe('Vocabulary', () => {
  it('builds from captions: <end> first, then by descending frequency, ties alphabetical', () => {
    const v = Vocabulary.buildFromCaptions(['The bird is red.', 'A red bird!', 'the RED wing', 'zebra apple']);
    // red x3; bird, the x2; a, apple, is, wing, zebra x1
    assert.deepEqual(v.words, [END_TOKEN, 'red', 'bird', 'the', 'a', 'apple', 'is', 'wing', 'zebra']);
    assert.equal(v.size, 9);
    assert.equal(v.indexOf('red'), 1);
    assert.equal(v.indexOf(END_TOKEN), 0);
    assert.equal(v.indexOf('missing'), undefined);
    assert.equal(v.wordAt(0), END_TOKEN);
    assert.equal(v.wordAt(8), 'zebra');
    assert.equal(v.wordAt(9), undefined);
    assert.equal(v.wordAt(-1), undefined);
  });

  it('builds the same vocabulary whatever the caption order', () => {
    const caps = ['a b c', 'c b', 'd', 'b'];
    const a = Vocabulary.buildFromCaptions(caps);
    const b = Vocabulary.buildFromCaptions([...caps].reverse());
    assert.deepEqual(a.words, b.words);
    assert.equal(a.hash(), b.hash());
  });

  it('an empty caption list gives only <end>', () => {
    assert.deepEqual(Vocabulary.buildFromCaptions([]).words, [END_TOKEN]);
  });

  it('validates fromWords', () => {
    assert.throws(() => Vocabulary.fromWords([]), hasCode('INVALID_ARGUMENT'));
    assert.throws(() => Vocabulary.fromWords(['bird', END_TOKEN]), hasCode('INVALID_ARGUMENT'));
    assert.throws(() => Vocabulary.fromWords([END_TOKEN, 'bird', 'bird']), hasCode('INVALID_ARGUMENT'));
    assert.throws(() => Vocabulary.fromWords([END_TOKEN, '']), hasCode('INVALID_ARGUMENT'));
    assert.throws(() => Vocabulary.fromWords([END_TOKEN, 3 as unknown as string]), hasCode('INVALID_ARGUMENT'));
    assert.throws(() => Vocabulary.fromWords([END_TOKEN, END_TOKEN]), hasCode('INVALID_ARGUMENT'));
    assert.deepEqual(Vocabulary.fromWords([END_TOKEN, 'b', 'a']).words, [END_TOKEN, 'b', 'a']);
  });

  it('keeps its word list immutable', () => {
    const src = [END_TOKEN, 'a', 'b'];
    const v = Vocabulary.fromWords(src);
    src.push('c');
    assert.equal(v.size, 3);
    assert.throws(() => (v.words as string[]).push('d'));
  });

  it('hash is stable, hex sha256, and sensitive to order and content', () => {
    const a = Vocabulary.fromWords([END_TOKEN, 'bird', 'red']);
    const again = Vocabulary.fromWords([END_TOKEN, 'bird', 'red']);
    const swapped = Vocabulary.fromWords([END_TOKEN, 'red', 'bird']);
    const more = Vocabulary.fromWords([END_TOKEN, 'bird', 'red', 'wing']);
    assert.match(a.hash(), /^[0-9a-f]{64}$/);
    assert.equal(a.hash(), again.hash());
    assert.notEqual(a.hash(), swapped.hash());
    assert.notEqual(a.hash(), more.hash());
    // Canonical form: sha256 of JSON.stringify(words).
    // sha256('["<end>","bird","red"]'), pinned so the canonical form cannot drift silently.
    assert.equal(a.hash(), '4322f55312abe3c009d87bbbdf0b76d147fe470d3d49db99cb53787a51b460e6');
  });

  it('round-trips through JSON', () => {
    const v = Vocabulary.buildFromCaptions(['a small bird', 'a big bird']);
    const text = JSON.stringify(v);
    const back = Vocabulary.fromJSON(JSON.parse(text));
    assert.deepEqual(back.words, v.words);
    assert.equal(back.hash(), v.hash());
    assert.throws(() => Vocabulary.fromJSON(null), hasCode('CHECKPOINT_INVALID'));
    assert.throws(() => Vocabulary.fromJSON({ words: 'a' }), hasCode('CHECKPOINT_INVALID'));
    assert.throws(() => Vocabulary.fromJSON({ words: ['a', END_TOKEN] }), hasCode('CHECKPOINT_INVALID'));
    assert.throws(() => Vocabulary.fromJSON([END_TOKEN]), hasCode('CHECKPOINT_INVALID'));
  });

  describe('encode', () => {
    const v = Vocabulary.fromWords([END_TOKEN, 'this', 'bird', 'is', 'red', 'with', 'white', 'wings', 'end']);

    it('maps known words to ids in caption order', () => {
      assert.deepEqual(v.encode('This bird is RED!', 18), { ids: [1, 2, 3, 4], words: ['this', 'bird', 'is', 'red'], dropped: [] });
    });

    it('drops unknown words and reports them', () => {
      const r = v.encode('this tiny bird is bright red, really', 18);
      assert.deepEqual(r.ids, [1, 2, 3, 4]);
      assert.deepEqual(r.words, ['this', 'bird', 'is', 'red']);
      assert.deepEqual(r.dropped, ['tiny', 'bright', 'really']);
    });

    it('keeps the first maxWords known words', () => {
      const r = v.encode('this bird is red with white wings', 3);
      assert.deepEqual(r.ids, [1, 2, 3]);
      assert.deepEqual(r.words, ['this', 'bird', 'is']);
      assert.deepEqual(r.dropped, []);
      const r2 = v.encode('zzz this qqq bird is', 2);
      assert.deepEqual(r2.words, ['this', 'bird']);
      assert.deepEqual(r2.dropped, ['zzz', 'qqq']);
    });

    it('a literal "end" is an ordinary word, never the <end> token', () => {
      assert.deepEqual(v.encode('<end>', 18).ids, [8]);
    });

    it('throws EMPTY_TEXT for a caption without tokens', () => {
      for (const cap of ['', '   ', '?!.,', '\u00e9\u00e8']) {
        assert.throws(() => v.encode(cap, 18), hasCode('EMPTY_TEXT'), JSON.stringify(cap));
      }
    });

    it('throws NO_KNOWN_WORDS naming the unknown words', () => {
      assert.throws(
        () => v.encode('a blue parrot', 18),
        (err: unknown) => {
          assert.ok(err instanceof DfganError);
          assert.equal(err.code, 'NO_KNOWN_WORDS');
          assert.match(err.message, /"blue"/);
          assert.match(err.message, /"parrot"/);
          assert.equal(err.kind, 'user');
          return true;
        },
      );
    });

    it('rejects a bad maxWords', () => {
      assert.throws(() => v.encode('bird', 0), hasCode('INVALID_ARGUMENT'));
      assert.throws(() => v.encode('bird', 1.5), hasCode('INVALID_ARGUMENT'));
    });
  });
});
