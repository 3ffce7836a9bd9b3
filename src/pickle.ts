// A restricted unpickler for plain data (protocols 0-5). It understands None, bools, ints, floats, str, bytes,
// lists, tuples, dicts, sets and the memo/framing opcodes, and nothing else: every opcode that would look up or
// call Python code (GLOBAL, STACK_GLOBAL, REDUCE, BUILD, INST, OBJ, NEWOBJ, NEWOBJ_EX, EXT*, PERSID) is refused
// with INVALID_ARGUMENT before anything happens, unless the caller opts in through the hooks below. Nothing is
// ever executed.
//
// Extension hooks, all off by default (PyTorch files use them, see src/model/torch/):
// - `allowGlobals` maps 'module.name' to a JS function. An allowed GLOBAL/STACK_GLOBAL pushes a handle, and
//   REDUCE / NEWOBJ / INST / OBJ applied to such a handle call the function with the argument tuple. Any other
//   global stays refused, naming it.
// - `persistentLoad` resolves PERSID / BINPERSID ids (PyTorch's references to tensor storages).
// - `build` decides BUILD (setting an object's state): it is asked for each BUILD and must apply the state itself
//   and return true, or return false to refuse. Without it BUILD is refused.
// The hooks are plain JS functions: whatever they do is the caller's choice; the unpickler itself runs nothing.
import { DfganError } from './errors.js';

/** What a plain-data pickle decodes to. */
export type PickleValue =
  | null
  | boolean
  | number
  | bigint
  | string
  | Uint8Array
  | PickleValue[]
  | Map<PickleValue, PickleValue>
  | Set<PickleValue>
  | PickleGlobal
  | PickleObject;

/**
 * Base class of objects that only the caller's hooks create (e.g. tensors made by an allow-listed global).
 * Plain-data pickles never contain one.
 */
export abstract class PickleObject {}

/** Stand-in for an allow-listed Python global on the stack (only exists while unpickling). */
export class PickleGlobal {
  constructor(
    readonly name: string,
    readonly fn: (args: PickleValue[]) => PickleValue,
  ) {}
}

export interface UnpickleOptions {
  /** Named in error messages (usually the file path). */
  source?: string;
  /**
   * How Python 2 `str` (STRING, BINSTRING, SHORT_BINSTRING) is decoded: 'utf8' (default; invalid bytes become
   * U+FFFD), 'latin1' (as Python's pickle.load(encoding='latin1')) or 'bytes' (kept as Uint8Array).
   */
  py2StrEncoding?: 'utf8' | 'latin1' | 'bytes';
  /** 'module.name' -> constructor/function that REDUCE/NEWOBJ/INST/OBJ may call. Empty by default. */
  allowGlobals?: ReadonlyMap<string, (args: PickleValue[]) => PickleValue>;
  /** Resolves a persistent id (PERSID: its text line; BINPERSID: the object popped). Absent: both refused. */
  persistentLoad?: (pid: PickleValue) => PickleValue;
  /**
   * Handles BUILD: apply `state` to `target` and return true, or return false to refuse it (the error names
   * the target's kind). Absent: BUILD is refused.
   */
  build?: (target: PickleValue, state: PickleValue) => boolean;
}

const HIGHEST_PROTOCOL = 5;

// Opcode byte -> name, for messages.
const OPCODE_NAMES: Record<number, string> = {
  0x28: 'MARK', 0x2e: 'STOP', 0x30: 'POP', 0x31: 'POP_MARK', 0x32: 'DUP', 0x46: 'FLOAT', 0x49: 'INT',
  0x4a: 'BININT', 0x4b: 'BININT1', 0x4c: 'LONG', 0x4d: 'BININT2', 0x4e: 'NONE', 0x50: 'PERSID',
  0x51: 'BINPERSID', 0x52: 'REDUCE', 0x53: 'STRING', 0x54: 'BINSTRING', 0x55: 'SHORT_BINSTRING',
  0x56: 'UNICODE', 0x58: 'BINUNICODE', 0x61: 'APPEND', 0x62: 'BUILD', 0x63: 'GLOBAL', 0x64: 'DICT',
  0x7d: 'EMPTY_DICT', 0x65: 'APPENDS', 0x67: 'GET', 0x68: 'BINGET', 0x69: 'INST', 0x6a: 'LONG_BINGET',
  0x6c: 'LIST', 0x5d: 'EMPTY_LIST', 0x6f: 'OBJ', 0x70: 'PUT', 0x71: 'BINPUT', 0x72: 'LONG_BINPUT',
  0x73: 'SETITEM', 0x74: 'TUPLE', 0x29: 'EMPTY_TUPLE', 0x75: 'SETITEMS', 0x47: 'BINFLOAT', 0x80: 'PROTO',
  0x81: 'NEWOBJ', 0x82: 'EXT1', 0x83: 'EXT2', 0x84: 'EXT4', 0x85: 'TUPLE1', 0x86: 'TUPLE2', 0x87: 'TUPLE3',
  0x88: 'NEWTRUE', 0x89: 'NEWFALSE', 0x8a: 'LONG1', 0x8b: 'LONG4', 0x42: 'BINBYTES', 0x43: 'SHORT_BINBYTES',
  0x8c: 'SHORT_BINUNICODE', 0x8d: 'BINUNICODE8', 0x8e: 'BINBYTES8', 0x8f: 'EMPTY_SET', 0x90: 'ADDITEMS',
  0x91: 'FROZENSET', 0x92: 'NEWOBJ_EX', 0x93: 'STACK_GLOBAL', 0x94: 'MEMOIZE', 0x95: 'FRAME',
  0x96: 'BYTEARRAY8', 0x97: 'NEXT_BUFFER', 0x98: 'READONLY_BUFFER',
};

const utf8 = new TextDecoder('utf-8');
const utf8Strict = new TextDecoder('utf-8', { fatal: true });

/** Decodes a plain-data pickle. Throws DfganError('INVALID_ARGUMENT') on anything else or on damaged input. */
export function unpickle(bytes: Uint8Array, options: UnpickleOptions = {}): PickleValue {
  return new Unpickler(bytes, options).run();
}

/**
 * Decodes the pickle that starts at byte `offset` of `bytes` (a stream of several pickles, as PyTorch's legacy
 * format writes) and returns its value and the offset just past its STOP.
 */
export function unpickleAt(bytes: Uint8Array, offset: number, options: UnpickleOptions = {}): { value: PickleValue; end: number } {
  const u = new Unpickler(bytes, options, offset);
  const value = u.run();
  return { value, end: u.position };
}

class Unpickler {
  private pos = 0;
  private stack: PickleValue[] = [];
  private marks: number[] = [];
  private memo = new Map<number, PickleValue>();
  private readonly view: DataView;
  private readonly src: string;
  private opStart = 0;
  private op = 0;

  constructor(
    private readonly data: Uint8Array,
    private readonly opts: UnpickleOptions,
    start = 0,
  ) {
    this.view = new DataView(data.buffer, data.byteOffset, data.byteLength);
    this.src = opts.source ? `${opts.source}: ` : '';
    this.pos = start;
  }

  get position(): number {
    return this.pos;
  }

  private fail(msg: string): never {
    throw new DfganError('INVALID_ARGUMENT', `${this.src}${msg} (pickle byte ${this.opStart})`);
  }

  private opName(op = this.op): string {
    return OPCODE_NAMES[op] ?? `0x${op.toString(16).padStart(2, '0')}`;
  }

  private need(n: number): void {
    if (n < 0 || this.pos + n > this.data.length) this.fail(`truncated pickle in ${this.opName()}`);
  }

  private u8(): number {
    this.need(1);
    return this.data[this.pos++];
  }

  private u16(): number {
    this.need(2);
    const v = this.view.getUint16(this.pos, true);
    this.pos += 2;
    return v;
  }

  private u32(): number {
    this.need(4);
    const v = this.view.getUint32(this.pos, true);
    this.pos += 4;
    return v;
  }

  private i32(): number {
    this.need(4);
    const v = this.view.getInt32(this.pos, true);
    this.pos += 4;
    return v;
  }

  private u64(): number {
    this.need(8);
    const v = this.view.getBigUint64(this.pos, true);
    this.pos += 8;
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) this.fail(`length ${v} too large in ${this.opName()}`);
    return Number(v);
  }

  private take(n: number): Uint8Array {
    this.need(n);
    const out = this.data.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  /** Text argument of protocol-0 opcodes: bytes up to (not including) the next '\n'. */
  private line(): string {
    const end = this.data.indexOf(0x0a, this.pos);
    if (end < 0) this.fail(`truncated pickle in ${this.opName()} (no newline)`);
    const s = latin1(this.data.subarray(this.pos, end));
    this.pos = end + 1;
    return s;
  }

  private push(v: PickleValue): void {
    this.stack.push(v);
  }

  /** Items below the innermost MARK are out of reach until that MARK is consumed (as in CPython). */
  private fence(): number {
    return this.marks.length > 0 ? this.marks[this.marks.length - 1] : 0;
  }

  private pop(): PickleValue {
    if (this.stack.length <= this.fence()) this.fail(`stack underflow in ${this.opName()}`);
    return this.stack.pop() as PickleValue;
  }

  private top(): PickleValue {
    if (this.stack.length <= this.fence()) this.fail(`stack underflow in ${this.opName()}`);
    return this.stack[this.stack.length - 1];
  }

  /** Everything pushed since the innermost MARK, which is consumed. */
  private popMark(): PickleValue[] {
    const m = this.marks.pop();
    if (m === undefined) this.fail(`${this.opName()} without MARK`);
    return this.stack.splice(m);
  }

  private memoPut(idx: number): void {
    this.memo.set(idx, this.top());
  }

  private memoGet(idx: number): void {
    if (!this.memo.has(idx)) this.fail(`memo key ${idx} not found in ${this.opName()}`);
    this.push(this.memo.get(idx) as PickleValue);
  }

  private py2str(b: Uint8Array): PickleValue {
    switch (this.opts.py2StrEncoding ?? 'utf8') {
      case 'bytes':
        return Uint8Array.from(b);
      case 'latin1':
        return latin1(b);
      default:
        return utf8.decode(b);
    }
  }

  private unicode(b: Uint8Array): string {
    try {
      return utf8Strict.decode(b);
    } catch {
      // Python writes lone surrogates with 'surrogatepass'; keep going with replacement characters.
      return utf8.decode(b);
    }
  }

  private refuseGlobal(name: string): never {
    this.fail(`refusing pickle global ${name} (opcode ${this.opName()}); only plain data is accepted`);
  }

  private global(module: string, name: string): void {
    const full = `${module}.${name}`;
    const fn = this.opts.allowGlobals?.get(full);
    if (!fn) this.refuseGlobal(full);
    this.push(new PickleGlobal(full, fn));
  }

  private call(callable: PickleValue, args: PickleValue): PickleValue {
    if (!(callable instanceof PickleGlobal)) this.fail(`refusing pickle opcode ${this.opName()}: callable is not an allowed global`);
    if (!Array.isArray(args)) this.fail(`${this.opName()} arguments are not a tuple`);
    return callable.fn(args);
  }

  private long(b: Uint8Array): number | bigint {
    if (b.length === 0) return 0;
    let v = 0n;
    for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]);
    if (b[b.length - 1] & 0x80) v -= 1n << BigInt(8 * b.length);
    return intOf(v);
  }

  run(): PickleValue {
    const d = this.data;
    while (true) {
      this.opStart = this.pos;
      if (this.pos >= d.length) this.fail('pickle ended without STOP');
      const op = (this.op = d[this.pos++]);
      switch (op) {
        case 0x80: {
          // PROTO
          const p = this.u8();
          if (p > HIGHEST_PROTOCOL) this.fail(`unsupported pickle protocol ${p}`);
          break;
        }
        case 0x95: // FRAME: a length hint only; the data that follows is read as usual.
          this.u64();
          break;
        case 0x2e: {
          // STOP
          const v = this.pop();
          if (this.stack.length !== 0 || this.marks.length !== 0) this.fail('pickle STOP with items left on the stack');
          if (v instanceof PickleGlobal) this.fail(`pickle result is a bare global ${v.name}`);
          return v;
        }
        case 0x28: // MARK
          this.marks.push(this.stack.length);
          break;
        case 0x30: // POP
          if (this.marks.length > 0 && this.stack.length <= this.fence()) {
            this.marks.pop(); // CPython: POP with nothing above the MARK pops the MARK.
          } else {
            this.pop();
          }
          break;
        case 0x31: // POP_MARK
          this.popMark();
          break;
        case 0x32: // DUP
          this.push(this.top());
          break;

        // Scalars.
        case 0x4e:
          this.push(null);
          break;
        case 0x88:
          this.push(true);
          break;
        case 0x89:
          this.push(false);
          break;
        case 0x49: {
          // INT (text): also True/False as I01/I00.
          const s = this.line();
          if (s === '01') this.push(true);
          else if (s === '00') this.push(false);
          else this.push(this.parseInt(s));
          break;
        }
        case 0x4c: {
          // LONG (text, trailing 'L' in Python 2)
          const s = this.line();
          this.push(this.parseInt(s.endsWith('L') ? s.slice(0, -1) : s));
          break;
        }
        case 0x4a:
          this.push(this.i32());
          break;
        case 0x4b:
          this.push(this.u8());
          break;
        case 0x4d:
          this.push(this.u16());
          break;
        case 0x8a:
          this.push(this.long(this.take(this.u8())));
          break;
        case 0x8b: {
          const n = this.i32();
          if (n < 0) this.fail('negative LONG4 length');
          this.push(this.long(this.take(n)));
          break;
        }
        case 0x46: {
          // FLOAT (text repr)
          const s = this.line().trim();
          const v = parseFloatRepr(s);
          if (v === undefined) this.fail(`bad FLOAT ${JSON.stringify(s)}`);
          this.push(v);
          break;
        }
        case 0x47: {
          this.need(8);
          this.push(this.view.getFloat64(this.pos, false));
          this.pos += 8;
          break;
        }

        // Strings and bytes.
        case 0x53: {
          // STRING: a Python 2 repr, quoted.
          const s = this.line();
          const m = /^(['"])(.*)\1\s*$/s.exec(s);
          if (!m) this.fail('STRING argument is not a quoted string');
          this.push(this.py2str(escapeDecode(m[2], (msg) => this.fail(msg))));
          break;
        }
        case 0x54: {
          const n = this.i32();
          if (n < 0) this.fail('negative BINSTRING length');
          this.push(this.py2str(this.take(n)));
          break;
        }
        case 0x55:
          this.push(this.py2str(this.take(this.u8())));
          break;
        case 0x56:
          // UNICODE: raw-unicode-escape text.
          this.push(rawUnicodeEscapeDecode(this.line()));
          break;
        case 0x58:
          this.push(this.unicode(this.take(this.u32())));
          break;
        case 0x8c:
          this.push(this.unicode(this.take(this.u8())));
          break;
        case 0x8d:
          this.push(this.unicode(this.take(this.u64())));
          break;
        case 0x42:
          this.push(Uint8Array.from(this.take(this.u32())));
          break;
        case 0x43:
          this.push(Uint8Array.from(this.take(this.u8())));
          break;
        case 0x8e:
        case 0x96: // BYTEARRAY8
          this.push(Uint8Array.from(this.take(this.u64())));
          break;

        // Containers.
        case 0x5d:
          this.push([]);
          break;
        case 0x6c: // LIST
          this.push(this.popMark());
          break;
        case 0x29:
          this.push([]);
          break;
        case 0x74: // TUPLE
          this.push(this.popMark());
          break;
        case 0x85: {
          const a = this.pop();
          this.push([a]);
          break;
        }
        case 0x86: {
          const b = this.pop();
          const a = this.pop();
          this.push([a, b]);
          break;
        }
        case 0x87: {
          const c = this.pop();
          const b = this.pop();
          const a = this.pop();
          this.push([a, b, c]);
          break;
        }
        case 0x7d:
          this.push(new Map());
          break;
        case 0x64: {
          // DICT
          const items = this.popMark();
          if (items.length % 2) this.fail('DICT with an odd number of items');
          const m = new Map<PickleValue, PickleValue>();
          for (let i = 0; i < items.length; i += 2) m.set(items[i], items[i + 1]);
          this.push(m);
          break;
        }
        case 0x8f:
          this.push(new Set());
          break;
        case 0x91: // FROZENSET
          this.push(new Set(this.popMark()));
          break;
        case 0x61: {
          // APPEND
          const v = this.pop();
          this.listOf(this.top()).push(v);
          break;
        }
        case 0x65: {
          // APPENDS
          const items = this.popMark();
          this.listOf(this.top()).push(...items);
          break;
        }
        case 0x73: {
          // SETITEM
          const v = this.pop();
          const k = this.pop();
          this.dictOf(this.top()).set(k, v);
          break;
        }
        case 0x75: {
          // SETITEMS
          const items = this.popMark();
          if (items.length % 2) this.fail('SETITEMS with an odd number of items');
          const m = this.dictOf(this.top());
          for (let i = 0; i < items.length; i += 2) m.set(items[i], items[i + 1]);
          break;
        }
        case 0x90: {
          // ADDITEMS
          const items = this.popMark();
          const s = this.top();
          if (!(s instanceof Set)) this.fail('ADDITEMS target is not a set');
          for (const v of items) s.add(v);
          break;
        }

        // Memo.
        case 0x70: {
          const s = this.line();
          if (!/^\d+$/.test(s)) this.fail(`bad PUT index ${JSON.stringify(s)}`);
          this.memoPut(Number(s));
          break;
        }
        case 0x71:
          this.memoPut(this.u8());
          break;
        case 0x72:
          this.memoPut(this.u32());
          break;
        case 0x94:
          this.memoPut(this.memo.size);
          break;
        case 0x67: {
          const s = this.line();
          if (!/^\d+$/.test(s)) this.fail(`bad GET index ${JSON.stringify(s)}`);
          this.memoGet(Number(s));
          break;
        }
        case 0x68:
          this.memoGet(this.u8());
          break;
        case 0x6a:
          this.memoGet(this.u32());
          break;

        // Code: refused unless allow-listed.
        case 0x63: {
          // GLOBAL
          const module = this.line();
          const name = this.line();
          this.global(module, name);
          break;
        }
        case 0x93: {
          // STACK_GLOBAL
          const name = this.pop();
          const module = this.pop();
          if (typeof module !== 'string' || typeof name !== 'string') this.fail('STACK_GLOBAL operands are not strings');
          this.global(module, name);
          break;
        }
        case 0x69: {
          // INST module\nname\n with args since MARK
          const module = this.line();
          const name = this.line();
          const args = this.popMark();
          this.global(module, name);
          this.push(this.call(this.pop(), args));
          break;
        }
        case 0x6f: {
          // OBJ: MARK cls args...
          const items = this.popMark();
          if (items.length === 0) this.fail('OBJ without a class');
          this.push(this.call(items[0], items.slice(1)));
          break;
        }
        case 0x52: {
          // REDUCE
          const args = this.pop();
          const fn = this.pop();
          this.push(this.call(fn, args));
          break;
        }
        case 0x81: {
          // NEWOBJ
          const args = this.pop();
          const cls = this.pop();
          this.push(this.call(cls, args));
          break;
        }
        case 0x50: // PERSID
          if (!this.opts.persistentLoad) this.refuseOpcode();
          this.push(this.persistent(this.line()));
          break;
        case 0x51: {
          // BINPERSID
          if (!this.opts.persistentLoad) this.refuseOpcode();
          this.push(this.persistent(this.pop()));
          break;
        }
        case 0x62: {
          // BUILD
          if (!this.opts.build) this.refuseOpcode();
          const state = this.pop();
          const target = this.top();
          if (!this.opts.build(target, state)) this.fail(`refusing pickle opcode BUILD on ${kindOf(target)}`);
          break;
        }
        case 0x92: // NEWOBJ_EX
        case 0x82: // EXT1
        case 0x83: // EXT2
        case 0x84: // EXT4
        case 0x97: // NEXT_BUFFER
        case 0x98: // READONLY_BUFFER
          this.fail(`refusing pickle opcode ${this.opName()}; only plain data is accepted`);
        default:
          this.fail(`unknown pickle opcode 0x${op.toString(16).padStart(2, '0')}`);
      }
    }
  }

  private refuseOpcode(): never {
    this.fail(`refusing pickle opcode ${this.opName()}; only plain data is accepted`);
  }

  private persistent(pid: PickleValue): PickleValue {
    if (pid instanceof PickleGlobal) this.fail(`${this.opName()} id is a bare global ${pid.name}`);
    return this.opts.persistentLoad!(pid);
  }

  private listOf(v: PickleValue): PickleValue[] {
    if (!Array.isArray(v)) this.fail(`${this.opName()} target is not a list`);
    return v;
  }

  private dictOf(v: PickleValue): Map<PickleValue, PickleValue> {
    if (!(v instanceof Map)) this.fail(`${this.opName()} target is not a dict`);
    return v;
  }

  private parseInt(s: string): number | bigint {
    const t = s.trim();
    if (!/^[+-]?\d+$/.test(t)) this.fail(`bad ${this.opName()} value ${JSON.stringify(s)}`);
    return intOf(BigInt(t));
  }
}

/** A short description of a value's kind, for messages. */
function kindOf(v: PickleValue): string {
  if (v === null) return 'None';
  if (Array.isArray(v)) return 'a list or tuple';
  if (v instanceof Map) return 'a dict';
  if (v instanceof Set) return 'a set';
  if (v instanceof Uint8Array) return 'bytes';
  if (v instanceof PickleGlobal) return `the global ${v.name}`;
  if (v instanceof PickleObject) return `a ${v.constructor.name}`;
  return `a ${typeof v}`;
}

function intOf(v: bigint): number | bigint {
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}

function latin1(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i < b.length; i += 8192) s += String.fromCharCode(...b.subarray(i, i + 8192));
  return s;
}

function parseFloatRepr(s: string): number | undefined {
  const t = s.toLowerCase();
  if (t === 'nan' || t === '-nan' || t === '+nan') return NaN;
  if (t === 'inf' || t === '+inf' || t === 'infinity') return Infinity;
  if (t === '-inf' || t === '-infinity') return -Infinity;
  if (!/^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/.test(t)) return undefined;
  return Number(t);
}

/** Python's codecs.escape_decode over a latin-1 string (the body of a protocol-0 STRING). */
function escapeDecode(s: string, fail: (msg: string) => never): Uint8Array {
  const out: number[] = [];
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c !== 0x5c) {
      out.push(c & 0xff);
      continue;
    }
    const e = s[++i];
    switch (e) {
      case undefined:
        fail('STRING ends with a backslash');
      case '\n':
        break;
      case '\\':
        out.push(0x5c);
        break;
      case "'":
        out.push(0x27);
        break;
      case '"':
        out.push(0x22);
        break;
      case 'a':
        out.push(7);
        break;
      case 'b':
        out.push(8);
        break;
      case 'f':
        out.push(12);
        break;
      case 'n':
        out.push(10);
        break;
      case 'r':
        out.push(13);
        break;
      case 't':
        out.push(9);
        break;
      case 'v':
        out.push(11);
        break;
      case 'x': {
        const h = s.slice(i + 1, i + 3);
        if (!/^[0-9a-fA-F]{2}$/.test(h)) fail('bad \\x escape in STRING');
        out.push(parseInt(h, 16));
        i += 2;
        break;
      }
      default:
        if (/[0-7]/.test(e)) {
          let j = i;
          while (j < s.length && j < i + 3 && /[0-7]/.test(s[j])) j++;
          out.push(parseInt(s.slice(i, j), 8) & 0xff);
          i = j - 1;
        } else {
          out.push(0x5c, e.charCodeAt(0) & 0xff);
        }
    }
  }
  return Uint8Array.from(out);
}

/** Python's raw_unicode_escape decoding of a latin-1 string (the argument of UNICODE). */
function rawUnicodeEscapeDecode(s: string): string {
  return s.replace(/\\(u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8})/g, (_m, g: string) => String.fromCodePoint(parseInt(g.slice(1), 16)));
}
