// Parsers for command-line values: each rejects bad input with a coded error naming the flag.
import { DfganError } from '../errors.js';

export function intArg(flag: string, min: number, max: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^-?\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < min || n > max) {
      throw new DfganError('INVALID_ARGUMENT', `${flag} must be an integer in [${min}, ${max}], got "${value}"`);
    }
    return n;
  };
}

export function floatArg(flag: string, min: number, max: number, opts: { exclusiveMin?: boolean } = {}) {
  return (value: string): number => {
    const n = Number(value);
    const low = opts.exclusiveMin ? n > min : n >= min;
    if (value.trim() === '' || !Number.isFinite(n) || !low || n > max) {
      throw new DfganError('INVALID_ARGUMENT', `${flag} must be a number in ${opts.exclusiveMin ? '(' : '['}${min}, ${max}], got "${value}"`);
    }
    return n;
  };
}

export function choiceArg<T extends string>(flag: string, choices: readonly T[]) {
  return (value: string): T => {
    if ((choices as readonly string[]).includes(value)) return value as T;
    throw new DfganError('INVALID_ARGUMENT', `${flag} must be one of ${choices.join(', ')}, got "${value}"`);
  };
}
