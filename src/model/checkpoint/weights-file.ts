// A network's weights on disk: its tensors as little-endian float32 (or IEEE half precision, which halves a
// served model's bytes), concatenated in the manifest's order. In memory they are always float32.
import { Float16Array, getFloat16 } from '@petamoriken/float16';
import { DfganError } from '../../errors.js';
import type { WeightDtype, WeightsEntry } from './manifest.js';

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const BYTES: Record<WeightDtype, number> = { float32: 4, float16: 2 };

/** float16 bit pattern -> its float32 value, for all 65,536 patterns (reading through a table is 50x faster). */
let halfTable: Float32Array | undefined;
function halfToFloat(): Float32Array {
  if (!halfTable) {
    const view = new DataView(new Uint16Array(1).buffer);
    halfTable = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) {
      view.setUint16(0, h, true);
      halfTable[h] = getFloat16(view, 0, true);
    }
  }
  return halfTable;
}

export function encodeWeights(values: Map<string, Float32Array>, specs: Array<{ name: string; shape: number[] }>, dtype: WeightDtype = 'float32'): Uint8Array {
  const total = specs.reduce((n, s) => n + s.shape.reduce((a, b) => a * b, 1), 0);
  const out = new Float32Array(total);
  let offset = 0;
  for (const s of specs) {
    const v = values.get(s.name);
    if (!v) throw new DfganError('INTERNAL', `no value for weight ${s.name}`);
    out.set(v, offset);
    offset += v.length;
  }
  if (!LITTLE_ENDIAN) throw new DfganError('INTERNAL', 'big-endian hosts are not supported');
  if (dtype === 'float16') {
    const big = out.findIndex((v) => Number.isFinite(v) && Math.abs(v) > 65504);
    if (big >= 0) throw new DfganError('INVALID_ARGUMENT', `a weight (${out[big]}) is beyond float16's range (65504); keep this network in float32`);
    return new Uint8Array(new Float16Array(out).buffer); // rounds to nearest, ties to even
  }
  return new Uint8Array(out.buffer);
}

export function decodeWeights(bytes: Uint8Array, entry: WeightsEntry, where: string): Map<string, Float32Array> {
  const total = entry.params.reduce((n, s) => n + s.shape.reduce((a, b) => a * b, 1), 0);
  const size = BYTES[entry.dtype];
  if (bytes.byteLength !== total * size) {
    throw new DfganError('CHECKPOINT_INVALID', `${where}: holds ${bytes.byteLength} bytes, its manifest describes ${total * size} (${total} ${entry.dtype})`);
  }
  const all = new Float32Array(total);
  if (entry.dtype === 'float16') {
    const half = new Uint16Array(total);
    new Uint8Array(half.buffer).set(bytes); // aligned copy (file buffers may start at any offset)
    const table = halfToFloat();
    for (let i = 0; i < total; i++) all[i] = table[half[i]];
  } else {
    // Copy into an aligned buffer (file buffers may start at any offset).
    new Uint8Array(all.buffer).set(bytes);
  }
  const out = new Map<string, Float32Array>();
  let offset = 0;
  for (const s of entry.params) {
    const n = s.shape.reduce((a, b) => a * b, 1);
    out.set(s.name, all.subarray(offset, offset + n));
    offset += n;
  }
  return out;
}
