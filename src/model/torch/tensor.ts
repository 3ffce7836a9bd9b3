// Tensors read from a PyTorch file: a storage (raw little-endian bytes of one dtype), an element offset, a shape
// and strides, as torch._utils._rebuild_tensor_v2 receives them. Values are copied out on demand, in row-major
// (C) order whatever the strides.
import { DfganError } from '../../errors.js';
import { PickleObject } from '../../pickle.js';

export type TorchDtype = 'float32' | 'float16' | 'float64' | 'int64';

export const ELEMENT_SIZE: Record<TorchDtype, number> = { float32: 4, float16: 2, float64: 8, int64: 8 };

/** PyTorch's legacy storage classes (the type named in every storage reference) -> dtype. */
export const STORAGE_TYPES: Record<string, TorchDtype> = {
  'torch.FloatStorage': 'float32',
  'torch.HalfStorage': 'float16',
  'torch.DoubleStorage': 'float64',
  'torch.LongStorage': 'int64',
};

export class TorchStorage extends PickleObject {
  private data?: Uint8Array;

  /**
   * `numel` elements of `dtype`; the bytes arrive later (`setData`) in the legacy layout, where they follow the
   * pickle. A legacy storage view has a `root` and an element `offset` into it instead.
   */
  constructor(
    readonly key: string,
    readonly dtype: TorchDtype,
    readonly numel: number,
    readonly source: string,
    readonly root?: TorchStorage,
    readonly offset = 0,
  ) {
    super();
  }

  setData(bytes: Uint8Array): void {
    const want = this.numel * ELEMENT_SIZE[this.dtype];
    if (bytes.length !== want) {
      throw new DfganError('INVALID_ARGUMENT', `${this.source}: storage ${this.key} holds ${bytes.length} bytes, its reference says ${this.numel} ${this.dtype} (${want} bytes)`);
    }
    this.data = bytes;
  }

  get hasData(): boolean {
    return this.root ? this.root.hasData : this.data !== undefined;
  }

  /** The storage's bytes. */
  bytes(): Uint8Array {
    if (this.root) {
      const size = ELEMENT_SIZE[this.dtype];
      return this.root.bytes().subarray(this.offset * size, (this.offset + this.numel) * size);
    }
    if (!this.data) throw new DfganError('INVALID_ARGUMENT', `${this.source}: storage ${this.key} has no data`);
    return this.data;
  }
}

export class TorchTensor extends PickleObject {
  constructor(
    readonly storage: TorchStorage,
    readonly storageOffset: number,
    readonly shape: readonly number[],
    readonly stride: readonly number[],
    readonly requiresGrad = false,
  ) {
    super();
    const where = `${storage.source}: tensor on storage ${storage.key}`;
    if (shape.length !== stride.length) throw new DfganError('INVALID_ARGUMENT', `${where}: shape [${shape}] and stride [${stride}] differ in rank`);
    if (![storageOffset, ...shape, ...stride].every((v) => Number.isSafeInteger(v) && v >= 0)) {
      throw new DfganError('INVALID_ARGUMENT', `${where}: bad offset, shape or stride (${storageOffset}, [${shape}], [${stride}])`);
    }
    if (this.numel > 0) {
      const last = shape.reduce((acc, n, i) => acc + (n - 1) * stride[i], storageOffset);
      if (last >= storage.numel) {
        throw new DfganError('INVALID_ARGUMENT', `${where}: shape [${shape}] with stride [${stride}] at offset ${storageOffset} reaches element ${last}, past the storage's ${storage.numel}`);
      }
    }
  }

  get dtype(): TorchDtype {
    return this.storage.dtype;
  }

  get numel(): number {
    return this.shape.reduce((a, b) => a * b, 1);
  }

  isContiguous(): boolean {
    let expected = 1;
    for (let i = this.shape.length - 1; i >= 0; i--) {
      if (this.shape[i] !== 1 && this.stride[i] !== expected) return false;
      expected *= this.shape[i];
    }
    return true;
  }

  /** Storage element index of every tensor element, in row-major order. */
  private indices(): Float64Array {
    const n = this.numel;
    const out = new Float64Array(n);
    const rank = this.shape.length;
    const idx = new Array<number>(rank).fill(0);
    let at = this.storageOffset;
    for (let i = 0; i < n; i++) {
      out[i] = at;
      for (let d = rank - 1; d >= 0; d--) {
        idx[d]++;
        at += this.stride[d];
        if (idx[d] < this.shape[d]) break;
        at -= this.stride[d] * this.shape[d];
        idx[d] = 0;
      }
    }
    return out;
  }

  /** Values as float32 in row-major order (float16/64 converted; int64 must fit a float exactly). */
  toFloat32(): Float32Array {
    const n = this.numel;
    const out = new Float32Array(n);
    const bytes = this.storage.bytes();
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const contiguous = this.isContiguous();
    const base = this.storageOffset;
    const at = contiguous ? undefined : this.indices();
    const pos = (i: number) => (at ? at[i] : base + i);
    switch (this.dtype) {
      case 'float32':
        if (contiguous) {
          for (let i = 0; i < n; i++) out[i] = view.getFloat32((base + i) * 4, true);
        } else {
          for (let i = 0; i < n; i++) out[i] = view.getFloat32(pos(i) * 4, true);
        }
        break;
      case 'float16':
        for (let i = 0; i < n; i++) out[i] = halfToFloat(view.getUint16(pos(i) * 2, true));
        break;
      case 'float64':
        for (let i = 0; i < n; i++) out[i] = view.getFloat64(pos(i) * 8, true);
        break;
      case 'int64':
        for (let i = 0; i < n; i++) out[i] = Number(view.getBigInt64(pos(i) * 8, true));
        break;
    }
    return out;
  }

  /** Values of an int64 tensor in row-major order. */
  toBigInt64(): BigInt64Array {
    if (this.dtype !== 'int64') throw new DfganError('INVALID_ARGUMENT', `${this.storage.source}: tensor is ${this.dtype}, not int64`);
    const bytes = this.storage.bytes();
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const at = this.indices();
    return BigInt64Array.from(at, (p) => view.getBigInt64(p * 8, true));
  }
}

/** IEEE 754 half -> number. */
export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 0x1f) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}
