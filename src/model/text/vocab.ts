// Word <-> index table of the text encoder. Index 0 is `<end>`, the end/padding token (AttnGAN's ixtoword[0]).
import { createHash } from 'node:crypto';
import { DfganError } from '../../errors.js';
import { tokenize } from './tokenizer.js';

export const END_TOKEN = '<end>';

export interface EncodedCaption {
  /** Indices of the kept words, in caption order (never 0 for a word of a caption). */
  ids: number[];
  /** The kept words, parallel to `ids`. */
  words: string[];
  /** Tokens not in the vocabulary, in caption order (repeats kept). */
  dropped: string[];
}

export interface VocabularyJSON {
  words: string[];
}

export class Vocabulary {
  readonly words: readonly string[];
  private readonly index: ReadonlyMap<string, number>;

  private constructor(words: string[]) {
    this.words = Object.freeze(words.slice());
    this.index = new Map(words.map((w, i) => [w, i]));
  }

  /** A vocabulary with exactly this word order; `words[0]` must be `<end>`, words distinct non-empty strings. */
  static fromWords(words: readonly string[]): Vocabulary {
    if (!Array.isArray(words)) throw new DfganError('INVALID_ARGUMENT', 'vocabulary words must be an array of strings');
    if (words.length === 0 || words[0] !== END_TOKEN) {
      throw new DfganError('INVALID_ARGUMENT', `vocabulary must start with ${END_TOKEN} at index 0`);
    }
    const seen = new Set<string>();
    for (let i = 0; i < words.length; i++) {
      const w: unknown = words[i];
      if (typeof w !== 'string' || w.length === 0) {
        throw new DfganError('INVALID_ARGUMENT', `vocabulary word at index ${i} is not a non-empty string`);
      }
      if (seen.has(w)) throw new DfganError('INVALID_ARGUMENT', `vocabulary word "${w}" appears twice (index ${i})`);
      seen.add(w);
    }
    return new Vocabulary(words.slice());
  }

  /**
   * Every token of every caption, after `<end>`, most frequent first, ties in code-unit (ASCII) order, so the
   * result depends only on the multiset of tokens.
   */
  static buildFromCaptions(captions: readonly string[]): Vocabulary {
    const counts = new Map<string, number>();
    for (const c of captions) for (const t of tokenize(c)) counts.set(t, (counts.get(t) ?? 0) + 1);
    const sorted = [...counts.entries()]
      .sort(([a, na], [b, nb]) => nb - na || (a < b ? -1 : a > b ? 1 : 0))
      .map(([w]) => w);
    return Vocabulary.fromWords([END_TOKEN, ...sorted]);
  }

  /** Reads `{ words: [...] }` (as written by toJSON); malformed input is CHECKPOINT_INVALID. */
  static fromJSON(json: unknown): Vocabulary {
    const words = (json as { words?: unknown } | null)?.words;
    if (typeof json !== 'object' || json === null || !Array.isArray(words)) {
      throw new DfganError('CHECKPOINT_INVALID', 'vocabulary JSON must be an object { words: string[] }');
    }
    try {
      return Vocabulary.fromWords(words as string[]);
    } catch (err) {
      const msg = err instanceof Error ? err.message : String(err);
      throw new DfganError('CHECKPOINT_INVALID', `invalid vocabulary: ${msg}`, { cause: err });
    }
  }

  /** Number of entries, `<end>` included (the embedding's row count). */
  get size(): number {
    return this.words.length;
  }

  /** Index of `word`, or undefined when it is not in the vocabulary. */
  indexOf(word: string): number | undefined {
    return this.index.get(word);
  }

  /** Word at `index`, or undefined when out of range. */
  wordAt(index: number): string | undefined {
    return Number.isInteger(index) && index >= 0 && index < this.words.length ? this.words[index] : undefined;
  }

  /** sha256 (hex) of the canonical JSON of the word list (`JSON.stringify(words)`): identifies the exact order. */
  hash(): string {
    return createHash('sha256').update(JSON.stringify(this.words), 'utf8').digest('hex');
  }

  toJSON(): VocabularyJSON {
    return { words: this.words.slice() };
  }

  /**
   * Tokenises `caption`, drops unknown tokens (listed in `dropped`) and keeps the first `maxWords` known ones.
   * Throws EMPTY_TEXT when the caption has no token at all, NO_KNOWN_WORDS when none of its tokens is known.
   */
  encode(caption: string, maxWords: number): EncodedCaption {
    if (typeof caption !== 'string') throw new DfganError('INVALID_ARGUMENT', 'caption must be a string');
    if (!Number.isInteger(maxWords) || maxWords < 1) {
      throw new DfganError('INVALID_ARGUMENT', `maxWords must be a positive integer, got ${maxWords}`);
    }
    const tokens = tokenize(caption);
    if (tokens.length === 0) {
      throw new DfganError('EMPTY_TEXT', 'the caption contains no words (only letters, digits and _ form words)');
    }
    const ids: number[] = [];
    const words: string[] = [];
    const dropped: string[] = [];
    for (const t of tokens) {
      const i = this.index.get(t);
      // `<end>` can never come out of the tokenizer, so a known token is never index 0.
      if (i === undefined || i === 0) dropped.push(t);
      else if (ids.length < maxWords) {
        ids.push(i);
        words.push(t);
      }
    }
    if (ids.length === 0) {
      const unknown = [...new Set(dropped)];
      const shown = unknown.slice(0, 5).map((w) => `"${w}"`).join(', ');
      throw new DfganError(
        'NO_KNOWN_WORDS',
        `none of the caption's words is in the vocabulary (unknown: ${shown}${unknown.length > 5 ? `, and ${unknown.length - 5} more` : ''})`,
        { details: { unknown: unknown.slice(0, 20) } },
      );
    }
    return { ids, words, dropped };
  }
}
