// Reads files written by torch.save, in both layouts, without running any of the code a pickle can name:
//
// - zip (PyTorch >= 1.6): `<folder>/data.pkl` holds the object pickle, each storage is `<folder>/data/<key>`;
//   storage references are persistent ids ('storage', StorageType, key, location, numel).
// - legacy single stream (older files, and `_use_new_zipfile_serialization=False`): pickles of the magic number,
//   the protocol version and the system info, then the object pickle with references ('storage', StorageType,
//   root_key, location, numel, view_metadata), then a pickle of the storage keys, then for each key an int64
//   element count and the raw bytes.
//
// The object pickle is decoded by the restricted unpickler with a fixed allow-list: the tensor/parameter
// rebuild functions, the four storage types of float32/float16/float64/int64, and collections.OrderedDict (whose
// `_metadata` attribute may arrive through BUILD). Any other global is refused with an error naming it. Tensors
// come back as TorchTensor objects inside plain Maps and arrays.
import { DfganError } from '../../errors.js';
import { PickleGlobal, type PickleValue, type UnpickleOptions, unpickleAt } from '../../pickle.js';
import { ELEMENT_SIZE, STORAGE_TYPES, TorchStorage, TorchTensor } from './tensor.js';
import { looksLikeZip, ZipArchive } from './zip.js';

export const LEGACY_MAGIC = 0x1950a86a20f9469cfc6cn;
export const LEGACY_PROTOCOL = 1001;

export interface TorchFile {
  /** The saved object (dicts as Maps, tuples and lists as arrays, tensors as TorchTensor). */
  value: PickleValue;
  layout: 'zip' | 'legacy';
}

function bad(source: string, why: string): DfganError {
  return new DfganError('INVALID_ARGUMENT', `${source}: ${why}`);
}

const isInt = (v: PickleValue): v is number => typeof v === 'number' && Number.isSafeInteger(v);
const intList = (v: PickleValue): v is number[] => Array.isArray(v) && v.every(isInt);

/** The allow-list and hooks shared by both layouts; `storage` turns a persistent id into a storage. */
function torchUnpickleOptions(source: string, storage: (pid: PickleValue[]) => TorchStorage): UnpickleOptions {
  const orderedDicts = new WeakSet<Map<PickleValue, PickleValue>>();

  const rebuildTensor = (name: string, args: PickleValue[], min: number, max: number): TorchTensor => {
    if (args.length < min || args.length > max) throw bad(source, `${name} called with ${args.length} arguments`);
    const [st, offset, size, stride, requiresGrad] = args;
    if (!(st instanceof TorchStorage) || !isInt(offset) || !intList(size) || !intList(stride)) {
      throw bad(source, `${name} called with arguments that are not (storage, offset, size, stride)`);
    }
    return new TorchTensor(st, offset, size, stride, requiresGrad === true);
  };
  const rebuildParameter = (name: string, args: PickleValue[], n: number): TorchTensor => {
    if (args.length !== n || !(args[0] instanceof TorchTensor)) throw bad(source, `${name} called with unexpected arguments`);
    if (n === 4) {
      const state = args[3];
      if (!(state === null || (state instanceof Map && state.size === 0))) throw bad(source, `${name}: a parameter with Python attributes is not supported`);
    }
    return args[0];
  };
  const globals = new Map<string, (args: PickleValue[]) => PickleValue>([
    ['torch._utils._rebuild_tensor_v2', (a) => rebuildTensor('torch._utils._rebuild_tensor_v2', a, 6, 7)],
    ['torch._utils._rebuild_tensor', (a) => rebuildTensor('torch._utils._rebuild_tensor', a, 4, 4)],
    ['torch._utils._rebuild_parameter', (a) => rebuildParameter('torch._utils._rebuild_parameter', a, 3)],
    ['torch._utils._rebuild_parameter_with_state', (a) => rebuildParameter('torch._utils._rebuild_parameter_with_state', a, 4)],
    [
      'collections.OrderedDict',
      (a) => {
        const m = new Map<PickleValue, PickleValue>();
        // Python 3 pickles OrderedDict() and adds the items with SETITEMS; Python 2.7 passes [[k, v], ...].
        if (a.length > 1) throw bad(source, 'collections.OrderedDict called with more than one argument');
        if (a.length === 1) {
          const items = a[0];
          if (!Array.isArray(items)) throw bad(source, 'collections.OrderedDict called with a non-list argument');
          for (const kv of items) {
            if (!Array.isArray(kv) || kv.length !== 2) throw bad(source, 'collections.OrderedDict item is not a (key, value) pair');
            m.set(kv[0], kv[1]);
          }
        }
        orderedDicts.add(m);
        return m;
      },
    ],
  ]);
  for (const name of Object.keys(STORAGE_TYPES)) {
    globals.set(name, () => {
      throw bad(source, `${name} may only appear in a storage reference, not be called`);
    });
  }

  return {
    source,
    py2StrEncoding: 'latin1',
    allowGlobals: globals,
    persistentLoad: (pid) => {
      if (!Array.isArray(pid) || pid[0] !== 'storage') throw bad(source, 'unknown persistent id (not a storage reference)');
      return storage(pid);
    },
    // state_dict() carries a `_metadata` attribute (module versions), pickled as OrderedDict state. It is
    // accepted on OrderedDicts only, checked for shape and dropped: no weight depends on it.
    build: (target, state) =>
      target instanceof Map &&
      orderedDicts.has(target) &&
      state instanceof Map &&
      [...state.keys()].every((k) => k === '_metadata') &&
      [...state.values()].every((v) => v instanceof Map || v === null),
  };
}

function storageType(source: string, v: PickleValue): (typeof STORAGE_TYPES)[string] {
  if (!(v instanceof PickleGlobal) || !(v.name in STORAGE_TYPES)) throw bad(source, 'storage reference without a known storage type');
  return STORAGE_TYPES[v.name];
}

function storageKey(source: string, v: PickleValue): string {
  if (typeof v === 'string') return v;
  if (isInt(v)) return String(v);
  throw bad(source, 'storage reference with a key that is not a string');
}

function readZip(bytes: Uint8Array, source: string): TorchFile {
  const zip = new ZipArchive(bytes, source);
  const pkl = [...zip.entries.keys()].filter((n) => /^[^/]+\/data\.pkl$/.test(n));
  if (pkl.length !== 1) {
    throw bad(source, pkl.length === 0 ? 'zip archive without <folder>/data.pkl: not a file written by torch.save' : 'zip archive with several data.pkl records');
  }
  const folder = pkl[0].slice(0, -'data.pkl'.length);
  if (zip.has(`${folder}byteorder`)) {
    const order = new TextDecoder().decode(zip.read(`${folder}byteorder`)).trim();
    if (order !== 'little') throw bad(source, `tensors are stored ${order}-endian; only little-endian files are read`);
  }
  const storages = new Map<string, TorchStorage>();
  const opts = torchUnpickleOptions(source, (pid) => {
    if (pid.length !== 5) throw bad(source, `storage reference with ${pid.length} fields (a zip-layout file has 5)`);
    const dtype = storageType(source, pid[1]);
    const key = storageKey(source, pid[2]);
    const numel = pid[4];
    if (!isInt(numel) || numel < 0) throw bad(source, `storage ${key} has a bad element count`);
    let st = storages.get(key);
    if (!st) {
      st = new TorchStorage(key, dtype, numel, source);
      const record = `${folder}data/${key}`;
      if (!zip.has(record)) throw bad(source, `storage ${key} is referenced but the archive has no ${record}`);
      st.setData(zip.read(record));
      storages.set(key, st);
    } else if (st.dtype !== dtype || st.numel !== numel) {
      throw bad(source, `storage ${key} is referenced with two different types or sizes`);
    }
    return st;
  });
  const { value } = unpickleAt(zip.read(pkl[0]), 0, opts);
  return { value, layout: 'zip' };
}

function readLegacy(bytes: Uint8Array, source: string): TorchFile {
  const plain: UnpickleOptions = { source, py2StrEncoding: 'latin1' };
  let pos = 0;
  const next = (opts: UnpickleOptions = plain) => {
    const r = unpickleAt(bytes, pos, opts);
    pos = r.end;
    return r.value;
  };
  let magic: PickleValue;
  try {
    magic = next();
  } catch (err) {
    throw bad(source, `not a PyTorch file: neither a zip archive nor a torch.save stream (${(err as Error).message})`);
  }
  if (magic !== LEGACY_MAGIC) throw bad(source, 'not a PyTorch file: a pickle, but not one written by torch.save (no magic number)');
  const protocol = next();
  if (protocol !== LEGACY_PROTOCOL) throw bad(source, `unsupported torch.save protocol version ${String(protocol)}`);
  const sysInfo = next();
  if (!(sysInfo instanceof Map) || sysInfo.get('little_endian') !== true) {
    throw bad(source, 'the file was written on a big-endian machine (or its system info is damaged); only little-endian files are read');
  }

  const roots = new Map<string, TorchStorage>();
  const views = new Map<string, TorchStorage>();
  const opts = torchUnpickleOptions(source, (pid) => {
    if (pid.length !== 6) throw bad(source, `storage reference with ${pid.length} fields (a legacy file has 6)`);
    const dtype = storageType(source, pid[1]);
    const key = storageKey(source, pid[2]);
    const numel = pid[4];
    if (!isInt(numel) || numel < 0) throw bad(source, `storage ${key} has a bad element count`);
    let root = roots.get(key);
    if (!root) roots.set(key, (root = new TorchStorage(key, dtype, numel, source)));
    else if (root.dtype !== dtype || root.numel !== numel) throw bad(source, `storage ${key} is referenced with two different types or sizes`);
    const view = pid[5];
    if (view === null) return root;
    if (!Array.isArray(view) || view.length !== 3 || !isInt(view[1]) || !isInt(view[2])) throw bad(source, `storage ${key} has malformed view metadata`);
    const viewKey = storageKey(source, view[0]);
    const [offset, size] = [view[1], view[2]];
    if (offset < 0 || size < 0 || offset + size > numel) throw bad(source, `storage view ${viewKey} lies outside storage ${key}`);
    let v = views.get(viewKey);
    if (!v) views.set(viewKey, (v = new TorchStorage(viewKey, dtype, size, source, root, offset)));
    return v;
  });
  const value = next(opts);
  const keys = next();
  if (!Array.isArray(keys) || !keys.every((k) => typeof k === 'string' || isInt(k))) throw bad(source, 'the list of storage keys is damaged');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (const k of keys) {
    const key = storageKey(source, k);
    const st = roots.get(key);
    if (!st) throw bad(source, `storage ${key} has data but no tensor refers to it`);
    if (pos + 8 > bytes.length) throw bad(source, `storage ${key}: the file ends before its data (truncated)`);
    const numel = Number(view.getBigInt64(pos, true));
    if (numel !== st.numel) throw bad(source, `storage ${key} has ${numel} elements in the data section, ${st.numel} in its reference`);
    const len = numel * ELEMENT_SIZE[st.dtype];
    if (pos + 8 + len > bytes.length) throw bad(source, `storage ${key}: the file ends inside its data (truncated)`);
    st.setData(bytes.subarray(pos + 8, pos + 8 + len));
    pos += 8 + len;
  }
  for (const st of roots.values()) if (!st.hasData) throw bad(source, `storage ${st.key} is referenced but has no data`);
  if (pos !== bytes.length) throw bad(source, `${bytes.length - pos} unexpected bytes after the last storage`);
  return { value, layout: 'legacy' };
}

/** Decodes the bytes of a torch.save file; `source` (usually the path) is named in every error. */
export function readTorchFile(bytes: Uint8Array, source: string): TorchFile {
  if (bytes.length === 0) throw bad(source, 'the file is empty');
  if (looksLikeZip(bytes)) return readZip(bytes, source);
  if (bytes.length >= 262 && new TextDecoder('latin1').decode(bytes.subarray(257, 262)) === 'ustar') {
    throw bad(source, 'a tar archive: the torch.save format of PyTorch before 0.1.10 is not supported');
  }
  return readLegacy(bytes, source);
}
