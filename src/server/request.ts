// A generation request as both transports accept it: validated once here into a plain spec, so HTTP and gRPC
// refuse the same inputs with the same codes.
import { randomInt } from 'node:crypto';
import { z } from 'zod';
import { DfganError } from '../errors.js';
import { DEFAULT_TRUNCATION, MAX_SEED, type Truncation } from '../model/sampling.js';

export interface GenerateSpec {
  text: string;
  /** One image per seed; image i of a request gets seed + i. */
  seeds: number[];
  truncation: Truncation;
}

export interface RequestLimits {
  maxTextLength: number;
  maxImages: number;
}

export type RequestParser = (input: unknown) => GenerateSpec;

export function createRequestParser(limits: RequestLimits): RequestParser {
  const schema = z
    .object({
      text: z.string(),
      n: z.number().int().min(1).max(limits.maxImages).default(1),
      seed: z.number().int().min(0).max(MAX_SEED).optional(),
      truncation: z.number().gt(0).lte(1).nullable().default(DEFAULT_TRUNCATION),
    })
    .strict();

  return (input) => {
    if (typeof input !== 'object' || input === null || Array.isArray(input)) {
      throw new DfganError('INVALID_ARGUMENT', 'the request must be an object like {"text": "a red bird", "n": 1, "seed": 42}');
    }
    const r = schema.safeParse(input);
    if (!r.success) {
      const issues = r.error.issues.map((i) => `${i.path.join('.') || 'request'}: ${i.message}`).join('; ');
      throw new DfganError('INVALID_ARGUMENT', issues);
    }
    const { text, n, seed, truncation } = r.data;
    if (text.length > limits.maxTextLength) {
      throw new DfganError('TEXT_TOO_LONG', `text has ${text.length} characters; at most ${limits.maxTextLength} are accepted`);
    }
    const base = seed ?? randomInt(0, MAX_SEED - n + 2);
    if (base + n - 1 > MAX_SEED) throw new DfganError('INVALID_ARGUMENT', `seed ${base} + ${n} images runs past ${MAX_SEED}`);
    return { text, seeds: Array.from({ length: n }, (_, i) => base + i), truncation };
  };
}
