// A small reader for the zip archives PyTorch writes (torch.save since 1.6): the central directory, zip64
// included, entries STORED (as PyTorch writes them) or DEFLATEd (as a re-zipped file may be), each checked
// against its CRC-32 and sizes. Damaged or truncated archives are INVALID_ARGUMENT errors naming the file.
import { inflateRawSync } from 'node:zlib';
import { DfganError } from '../../errors.js';

export interface ZipEntry {
  name: string;
  method: number;
  crc32: number;
  compressedSize: number;
  size: number;
  /** Offset of the entry's local header. */
  headerOffset: number;
}

const SIG_EOCD = 0x06054b50;
const SIG_ZIP64_LOCATOR = 0x07064b50;
const SIG_ZIP64_EOCD = 0x06064b50;
const SIG_CENTRAL = 0x02014b50;
const SIG_LOCAL = 0x04034b50;

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

export function crc32(data: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < data.length; i++) c = CRC_TABLE[(c ^ data[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** Whether `bytes` begins like a zip archive (a local file header, or the end record of an empty one). */
export function looksLikeZip(bytes: Uint8Array): boolean {
  if (bytes.length < 4) return false;
  const sig = (bytes[0] | (bytes[1] << 8) | (bytes[2] << 16) | (bytes[3] << 24)) >>> 0;
  return sig === SIG_LOCAL || sig === SIG_EOCD;
}

export class ZipArchive {
  readonly entries: ReadonlyMap<string, ZipEntry>;
  private readonly view: DataView;

  constructor(
    private readonly bytes: Uint8Array,
    private readonly source: string,
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.entries = this.readCentralDirectory();
  }

  private fail(why: string): never {
    throw new DfganError('INVALID_ARGUMENT', `${this.source}: ${why}`);
  }

  private u16(at: number): number {
    return this.view.getUint16(at, true);
  }

  private u32(at: number): number {
    return this.view.getUint32(at, true);
  }

  private u64(at: number): number {
    const v = this.view.getBigUint64(at, true);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) this.fail(`zip field ${v} too large`);
    return Number(v);
  }

  private findEocd(): number {
    const n = this.bytes.length;
    const stop = Math.max(0, n - 22 - 0xffff);
    for (let i = n - 22; i >= stop; i--) {
      if (this.u32(i) === SIG_EOCD && i + 22 + this.u16(i + 20) === n) return i;
    }
    return this.fail('not a complete zip archive: no end-of-central-directory record (the file is truncated or not a zip)');
  }

  private readCentralDirectory(): Map<string, ZipEntry> {
    if (this.bytes.length < 22) this.fail(`not a complete zip archive: only ${this.bytes.length} bytes`);
    const eocd = this.findEocd();
    let count = this.u16(eocd + 10);
    let cdSize = this.u32(eocd + 12);
    let cdOffset = this.u32(eocd + 16);
    if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
      const loc = eocd - 20;
      if (loc < 0 || this.u32(loc) !== SIG_ZIP64_LOCATOR) this.fail('zip64 archive without its zip64 locator');
      const rec = this.u64(loc + 8);
      if (rec + 56 > this.bytes.length || this.u32(rec) !== SIG_ZIP64_EOCD) this.fail('zip64 end record missing or damaged');
      count = this.u64(rec + 32);
      cdSize = this.u64(rec + 40);
      cdOffset = this.u64(rec + 48);
    }
    if (cdOffset + cdSize > this.bytes.length) this.fail('zip central directory lies past the end of the file (truncated)');
    const out = new Map<string, ZipEntry>();
    let p = cdOffset;
    for (let i = 0; i < count; i++) {
      if (p + 46 > cdOffset + cdSize || this.u32(p) !== SIG_CENTRAL) this.fail(`zip central directory entry ${i} is damaged`);
      const flags = this.u16(p + 8);
      const method = this.u16(p + 10);
      const crc = this.u32(p + 16);
      let compressedSize = this.u32(p + 20);
      let size = this.u32(p + 24);
      const nameLen = this.u16(p + 28);
      const extraLen = this.u16(p + 30);
      const commentLen = this.u16(p + 32);
      let headerOffset = this.u32(p + 42);
      if (p + 46 + nameLen + extraLen + commentLen > cdOffset + cdSize) this.fail(`zip central directory entry ${i} is damaged`);
      const name = new TextDecoder('utf-8').decode(this.bytes.subarray(p + 46, p + 46 + nameLen));
      // zip64 extended information: the 64-bit values, in this order, for the fields saturated above.
      let e = p + 46 + nameLen;
      const eEnd = e + extraLen;
      while (e + 4 <= eEnd) {
        const id = this.u16(e);
        const len = this.u16(e + 2);
        if (id === 0x0001) {
          let q = e + 4;
          if (size === 0xffffffff) (size = this.u64(q)), (q += 8);
          if (compressedSize === 0xffffffff) (compressedSize = this.u64(q)), (q += 8);
          if (headerOffset === 0xffffffff) headerOffset = this.u64(q);
        }
        e += 4 + len;
      }
      if (flags & 1) this.fail(`zip entry ${name} is encrypted`);
      if (out.has(name)) this.fail(`zip entry ${name} appears twice`);
      out.set(name, { name, method, crc32: crc, compressedSize, size, headerOffset });
      p += 46 + nameLen + extraLen + commentLen;
    }
    return out;
  }

  has(name: string): boolean {
    return this.entries.has(name);
  }

  /** The entry's bytes (a view into the archive when STORED), checked against its size and CRC-32. */
  read(name: string): Uint8Array {
    const e = this.entries.get(name);
    if (!e) this.fail(`zip entry ${name} is missing`);
    const h = e.headerOffset;
    if (h + 30 > this.bytes.length || this.u32(h) !== SIG_LOCAL) this.fail(`zip entry ${name}: local header damaged or missing (truncated file?)`);
    const start = h + 30 + this.u16(h + 26) + this.u16(h + 28);
    if (start + e.compressedSize > this.bytes.length) this.fail(`zip entry ${name} runs past the end of the file (truncated)`);
    const raw = this.bytes.subarray(start, start + e.compressedSize);
    let data: Uint8Array;
    if (e.method === 0) {
      data = raw;
    } else if (e.method === 8) {
      try {
        data = new Uint8Array(inflateRawSync(raw));
      } catch (err) {
        throw new DfganError('INVALID_ARGUMENT', `${this.source}: zip entry ${name} does not inflate (${(err as Error).message})`, { cause: err });
      }
    } else {
      this.fail(`zip entry ${name} uses compression method ${e.method}; only stored (0) and deflate (8) are read`);
    }
    if (data.length !== e.size) this.fail(`zip entry ${name} has ${data.length} bytes, its directory says ${e.size}`);
    if (crc32(data) !== e.crc32) this.fail(`zip entry ${name} fails its CRC-32 check (the file is altered or corrupt)`);
    return data;
  }
}
