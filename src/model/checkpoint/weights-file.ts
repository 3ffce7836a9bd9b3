// A network's weights on disk: its tensors as little-endian float32, concatenated in the manifest's order.
import { DfganError } from '../../errors.js';
import type { WeightsEntry } from './manifest.js';

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

export function encodeWeights(values: Map<string, Float32Array>, specs: Array<{ name: string; shape: number[] }>): Uint8Array {
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
  return new Uint8Array(out.buffer);
}

export function decodeWeights(bytes: Uint8Array, entry: WeightsEntry, where: string): Map<string, Float32Array> {
  const total = entry.params.reduce((n, s) => n + s.shape.reduce((a, b) => a * b, 1), 0);
  if (bytes.byteLength !== total * 4) {
    throw new DfganError('CHECKPOINT_INVALID', `${where}: holds ${bytes.byteLength} bytes, its manifest describes ${total * 4}`);
  }
  // Copy into an aligned buffer (file buffers may start at any offset).
  const all = new Float32Array(total);
  new Uint8Array(all.buffer).set(bytes);
  const out = new Map<string, Float32Array>();
  let offset = 0;
  for (const s of entry.params) {
    const n = s.shape.reduce((a, b) => a * b, 1);
    out.set(s.name, all.subarray(offset, offset + n));
    offset += n;
  }
  return out;
}
