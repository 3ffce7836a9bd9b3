// Writes a checkpoint atomically: every file goes into a temporary sibling folder, is flushed to disk, and the
// folder is renamed into place, so a reader sees a complete checkpoint or none.
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, open, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { DfganError } from '../../errors.js';
import { PACKAGE_VERSION } from '../../version.js';
import type { ParamSpec } from '../params.js';
import type { GeneratorConfig, TextEncoderConfig } from '../config.js';
import type { Vocabulary } from '../text/vocab.js';
import { encodeWeights } from './weights-file.js';
import {
  CHECKPOINT_FORMAT,
  FORMAT_VERSION,
  LATEST_FILE,
  MANIFEST_FILE,
  type Manifest,
  NETWORK_FILES,
  type NetworkName,
  VOCAB_FILE,
  type WeightDtype,
} from './manifest.js';

/** Anything that can list and read named float32 tensors (a ParamStore, the trainer's optimizer). */
export interface WeightSource {
  specs(): ParamSpec[];
  read(): Promise<Map<string, Float32Array>>;
}

export interface CheckpointContents {
  name?: string;
  step: number;
  generatorConfig: GeneratorConfig;
  textEncoderConfig: TextEncoderConfig;
  vocab: Vocabulary;
  networks: {
    generator: WeightSource;
    textEncoder: WeightSource;
    discriminator?: WeightSource;
    head?: WeightSource;
    optimizer?: WeightSource;
    imageEncoder?: WeightSource;
  };
  info?: Record<string, unknown>;
}

/** Writes a file and flushes it to disk (so a rename that follows publishes complete bytes). */
export async function writeFileSynced(path: string, data: Uint8Array | string): Promise<void> {
  const fh = await open(path, 'w');
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

async function syncDir(path: string): Promise<void> {
  // Makes the rename itself durable; some filesystems refuse to open directories, which is harmless.
  try {
    const fh = await open(path, 'r');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  } catch {
    /* best effort */
  }
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

/**
 * Moves the finished folder `tmp` to `target`, replacing what is there: a reader sees the old folder or the new
 * one, never a mix (the old one is renamed aside first, then removed).
 */
export async function replaceFolder(tmp: string, target: string): Promise<void> {
  if (await exists(target)) {
    const old = `${tmp}.old`;
    await rename(target, old);
    await rename(tmp, target);
    await rm(old, { recursive: true, force: true });
  } else {
    await rename(tmp, target);
  }
}

/** Writes `contents` as the checkpoint folder `dir` (which must not exist unless `overwrite`). Returns the manifest. */
export async function writeCheckpoint(dir: string, contents: CheckpointContents, opts: { overwrite?: boolean; weightDtype?: WeightDtype } = {}): Promise<Manifest> {
  const target = resolve(dir);
  if (!opts.overwrite && (await exists(target))) {
    throw new DfganError('INVALID_ARGUMENT', `checkpoint folder ${target} already exists`);
  }
  const parent = dirname(target);
  await mkdir(parent, { recursive: true });
  const tmp = join(parent, `.${basename(target)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
  await mkdir(tmp);
  try {
    const files: Manifest['files'] = {};
    const put = async (name: string, data: Uint8Array | string) => {
      await writeFileSynced(join(tmp, name), data);
      const bytes = typeof data === 'string' ? Buffer.from(data) : data;
      files[name] = { bytes: bytes.byteLength, sha256: createHash('sha256').update(bytes).digest('hex') };
    };
    const networks = {} as Manifest['networks'];
    for (const key of Object.keys(NETWORK_FILES) as NetworkName[]) {
      const store = contents.networks[key];
      if (!store) continue;
      const params = store.specs();
      // The optimizer's moments stay float32: resuming must continue exactly.
      const dtype = key === 'optimizer' ? 'float32' : (opts.weightDtype ?? 'float32');
      await put(NETWORK_FILES[key], encodeWeights(await store.read(), params, dtype));
      networks[key] = { file: NETWORK_FILES[key], dtype, params };
    }
    await put(VOCAB_FILE, JSON.stringify(contents.vocab.toJSON()));
    const manifest: Manifest = {
      format: CHECKPOINT_FORMAT,
      formatVersion: FORMAT_VERSION,
      packageVersion: PACKAGE_VERSION,
      name: contents.name ?? 'dfgan',
      createdAt: new Date().toISOString(),
      step: contents.step,
      generator: { ...contents.generatorConfig },
      textEncoder: { ...contents.textEncoderConfig },
      vocab: { file: VOCAB_FILE, size: contents.vocab.size, hash: contents.vocab.hash() },
      networks,
      files,
      info: contents.info ?? {},
    };
    // The manifest goes last: a folder without one is never a checkpoint.
    await writeFileSynced(join(tmp, MANIFEST_FILE), JSON.stringify(manifest, null, 2) + '\n');
    await syncDir(tmp);
    await replaceFolder(tmp, target);
    await syncDir(parent);
    return manifest;
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    throw err;
  }
}

/** Points `root/latest` at the checkpoint folder `name` (a child of root), replacing the pointer atomically. */
export async function setLatest(root: string, name: string): Promise<void> {
  if (name.includes('/') || name.includes('\\') || name.startsWith('.')) {
    throw new DfganError('INVALID_ARGUMENT', `checkpoint name "${name}" must be a plain folder name inside ${root}`);
  }
  if (!(await exists(join(root, name, MANIFEST_FILE)))) {
    throw new DfganError('CHECKPOINT_NOT_FOUND', `cannot point latest at ${join(root, name)}: no ${MANIFEST_FILE} there`);
  }
  const tmp = join(root, `.${LATEST_FILE}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
  await writeFileSynced(tmp, name + '\n');
  await rename(tmp, join(root, LATEST_FILE));
  await syncDir(root);
}
