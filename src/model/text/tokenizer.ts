// Caption tokenizer of AttnGAN/DF-GAN (datasets.py, `load_captions`), reproduced character for character:
//
//   cap = cap.replace("\ufffd\ufffd", " ")
//   tokens = RegexpTokenizer(r'\w+').tokenize(cap.lower())
//   tokens = [t.encode('ascii', 'ignore').decode('ascii') for t in tokens]; keep the non-empty ones
//
// Python 3's `\w` on str is "isalnum() or underscore": Unicode letters (L*) and numbers (Nd, Nl, No) plus
// '_'. It does NOT include combining marks (M*), so "a\u0301b" splits into ["a", "b"]; `[\p{L}\p{N}_]`
// is the same class (checked over every code point; Node's newer Unicode tables only add characters that are
// unassigned in Python 3.11's, and those are non-ASCII, so they are dropped anyway).

const WORD_RUN = /[\p{L}\p{N}_]+/gu;
// Everything outside 7-bit ASCII (Python's encode('ascii', 'ignore') drops exactly these code points).
const NON_ASCII = /[^\x00-\x7f]/gu;

/**
 * Splits a caption into AttnGAN tokens: lower-cased runs of Unicode word characters with every non-ASCII
 * character removed, empty results dropped. E.g. "A bird's wing-tip, café!" -> ["a", "bird", "s", "wing",
 * "tip", "caf"].
 */
export function tokenize(caption: string): string[] {
  const text = caption.replaceAll('\ufffd\ufffd', ' ').toLowerCase();
  const out: string[] = [];
  for (const m of text.matchAll(WORD_RUN)) {
    const t = m[0].replace(NON_ASCII, '');
    if (t.length > 0) out.push(t);
  }
  return out;
}
