// NumPy .npy files of float32 (little-endian, C order): the exchange format for exact comparisons with
// other implementations (noise, sentence vectors, raw generator output).
import { DfganError } from '../errors.js';

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY

export interface NpyArray {
  shape: number[];
  data: Float32Array;
}

function bad(path: string, why: string): DfganError {
  return new DfganError('BAD_NPY', `${path}: ${why}`);
}

/** Parses a float32 .npy; anything else (other dtype, Fortran order, truncated data) is refused. */
export function parseNpy(buf: Uint8Array, path = 'npy'): NpyArray {
  if (buf.length < 10 || MAGIC.some((b, i) => buf[i] !== b)) throw bad(path, 'not a .npy file (bad magic)');
  const major = buf[6];
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let headerLen: number;
  let offset: number;
  if (major === 1) {
    headerLen = view.getUint16(8, true);
    offset = 10;
  } else if (major === 2 || major === 3) {
    if (buf.length < 12) throw bad(path, 'truncated header');
    headerLen = view.getUint32(8, true);
    offset = 12;
  } else {
    throw bad(path, `unsupported .npy version ${major}`);
  }
  if (offset + headerLen > buf.length) throw bad(path, 'truncated header');
  const header = new TextDecoder('latin1').decode(buf.subarray(offset, offset + headerLen));
  const descr = /'descr'\s*:\s*'([^']*)'/.exec(header)?.[1];
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape'\s*:\s*\(([^)]*)\)/.exec(header)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined) throw bad(path, 'malformed header');
  if (descr !== '<f4' && descr !== '=f4' && descr !== '|f4') throw bad(path, `dtype ${descr} is not float32 (expected '<f4')`);
  if (fortran === 'True') throw bad(path, 'Fortran-order arrays are not supported; save with C order');
  const shape = shapeText
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0)
    .map((s) => {
      const n = Number(s);
      if (!Number.isInteger(n) || n < 0) throw bad(path, `bad dimension "${s}"`);
      return n;
    });
  const count = shape.reduce((a, b) => a * b, 1);
  const start = offset + headerLen;
  if (buf.length - start !== count * 4) {
    throw bad(path, `data holds ${buf.length - start} bytes, shape [${shape}] needs ${count * 4}`);
  }
  const data = new Float32Array(count);
  const dv = new DataView(buf.buffer, buf.byteOffset + start, count * 4);
  for (let i = 0; i < count; i++) data[i] = dv.getFloat32(i * 4, true);
  return { shape, data };
}

/** Serialises a float32 array as .npy version 1.0. */
export function formatNpy(shape: readonly number[], data: Float32Array): Uint8Array {
  const count = shape.reduce((a, b) => a * b, 1);
  if (count !== data.length) throw new DfganError('INTERNAL', `npy: shape [${shape}] does not fit ${data.length} values`);
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': ${shapeText}, }`;
  // Pad with spaces so data starts on a 64-byte boundary; the header ends with a newline.
  const total = Math.ceil((10 + header.length + 1) / 64) * 64;
  header = header.padEnd(total - 10 - 1, ' ') + '\n';
  const out = new Uint8Array(total + count * 4);
  out.set(MAGIC, 0);
  out[6] = 1;
  out[7] = 0;
  new DataView(out.buffer).setUint16(8, header.length, true);
  out.set(new TextEncoder().encode(header), 10);
  const dv = new DataView(out.buffer, total);
  for (let i = 0; i < count; i++) dv.setFloat32(i * 4, data[i], true);
  return out;
}
