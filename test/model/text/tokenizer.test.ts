import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { tokenize } from '../../../src/model/text/tokenizer.js';

// Expected values were produced with Python 3.11:
//   [t.encode('ascii','ignore').decode() for t in re.findall(r'\w+', s.replace('\ufffd\ufffd',' ').lower())]
// with empty tokens dropped (AttnGAN's load_captions).
const GOLDEN: Array<[string, string[]]> = [
  ['This bird is red.', ['this', 'bird', 'is', 'red']],
  ['A small, yellow-breasted bird; white wings!', ['a', 'small', 'yellow', 'breasted', 'bird', 'white', 'wings']],
  ["the bird's beak", ['the', 'bird', 's', 'beak']],
  ['the bird\u2019s beak', ['the', 'bird', 's', 'beak']],
  ['wing-tip and tail-feathers', ['wing', 'tip', 'and', 'tail', 'feathers']],
  ['2 birds on 1 branch, 3.5cm', ['2', 'birds', 'on', '1', 'branch', '3', '5cm']],
  ['snake_case__word and _', ['snake_case__word', 'and', '_']],
  ['tab\tseparated\nnew line\r\nend', ['tab', 'separated', 'new', 'line', 'end']],
  ['UPPER Case MiXeD', ['upper', 'case', 'mixed']],
  ['a caf\u00e9 bird', ['a', 'caf', 'bird']],
  ['na\u00efve \u00fcber', ['nave', 'ber']],
  ['red bird \u{1F426} flying', ['red', 'bird', 'flying']],
  ['bird\u{1F426}tail', ['bird', 'tail']],
  ['grey\ufffd\ufffdwings', ['grey', 'wings']],
  ['grey\ufffdwings', ['grey', 'wings']],
  ['', []],
  ['   \t\n ', []],
  ['!!! ... ??? -- ,;:', []],
  ['\u00e9\u00e8\u00ea \u4e2d\u6587', []],
  // Combining marks are not \w in Python: "a" + U+0301 + "b" splits (unlike a precomposed letter).
  ['a\u0301b', ['a', 'b']],
  ['cafe\u0301', ['cafe']],
  // Python's lower() maps U+0130 to "i" + U+0307 (a mark), which then splits the word.
  ['\u0130stanbul', ['i', 'stanbul']],
  // Non-ASCII letters and numbers glue words together before being stripped.
  ['x\u00b2y', ['xy']],
  ['\u2167 v', ['v']],
  ['\u212a', ['k']],
  ['the bird has a white belly\n', ['the', 'bird', 'has', 'a', 'white', 'belly']],
];

describe('tokenize', () => {
  for (const [input, expected] of GOLDEN) {
    it(`tokenizes ${JSON.stringify(input)}`, () => {
      assert.deepEqual(tokenize(input), expected);
    });
  }

  it('returns only non-empty lower-case ASCII word tokens', () => {
    const toks = tokenize('Ünïcödé — MIXED_case 42 \u00bd \u0663 ok');
    for (const t of toks) assert.match(t, /^[a-z0-9_]+$/);
  });
});
