export { tokenize } from './tokenizer.js';
export { Vocabulary, END_TOKEN, type EncodedCaption, type VocabularyJSON } from './vocab.js';
export { createTextEncoder, type TextEncoder, type TextEncoding } from './encoder.js';
