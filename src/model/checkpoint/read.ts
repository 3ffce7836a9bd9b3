// Loads a checkpoint folder and refuses anything partial, altered or from an unknown format version.
import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { DfganError } from '../../errors.js';
import { parseGeneratorConfig, parseTextEncoderConfig, sentenceDim } from '../config.js';
import { createGenerator, type Generator } from '../generator.js';
import { createConditionalHead, createDiscriminator, type ConditionalHead, type Discriminator } from '../discriminator.js';
import { createTextEncoder, type TextEncoder } from '../text/encoder.js';
import { Vocabulary } from '../text/vocab.js';
import type { ParamStore } from '../params.js';
import { decodeWeights } from './weights-file.js';
import { FORMAT_VERSION, LATEST_FILE, MANIFEST_FILE, type Manifest, ManifestSchema, type NetworkName } from './manifest.js';

export interface LoadedCheckpoint {
  dir: string;
  manifest: Manifest;
  /** Short content id of this checkpoint (sha256 of its manifest, which holds every file's sha256). */
  version: string;
  generator: Generator;
  textEncoder: TextEncoder;
  vocab: Vocabulary;
  discriminator?: Discriminator;
  head?: ConditionalHead;
  dispose(): void;
}

function invalid(dir: string, why: string, cause?: unknown): DfganError {
  return new DfganError('CHECKPOINT_INVALID', `checkpoint ${dir}: ${why}`, { cause });
}

async function isFile(path: string): Promise<boolean> {
  return stat(path).then(
    (s) => s.isFile(),
    () => false,
  );
}

/**
 * A checkpoint folder itself, or a root whose `latest` file names one. Errors name what was looked for.
 */
export async function resolveCheckpointDir(path: string): Promise<string> {
  const p = resolve(path);
  if (await isFile(join(p, MANIFEST_FILE))) return p;
  if (await isFile(join(p, LATEST_FILE))) {
    const name = (await readFile(join(p, LATEST_FILE), 'utf8')).trim();
    if (!name || name.includes('/') || name.includes('\\') || name.startsWith('.')) {
      throw invalid(p, `${LATEST_FILE} holds "${name}", not the name of a checkpoint folder`);
    }
    const dir = join(p, name);
    if (!(await isFile(join(dir, MANIFEST_FILE)))) {
      throw new DfganError('CHECKPOINT_NOT_FOUND', `checkpoint root ${p}: ${LATEST_FILE} points at ${name}, which has no ${MANIFEST_FILE}`);
    }
    return dir;
  }
  throw new DfganError('CHECKPOINT_NOT_FOUND', `no checkpoint at ${p} (neither ${MANIFEST_FILE} nor a ${LATEST_FILE} pointer)`);
}

export async function readManifest(dir: string): Promise<{ manifest: Manifest; version: string }> {
  let raw: Buffer;
  try {
    raw = await readFile(join(dir, MANIFEST_FILE));
  } catch (err) {
    throw new DfganError('CHECKPOINT_NOT_FOUND', `checkpoint ${dir}: cannot read ${MANIFEST_FILE}`, { cause: err });
  }
  let json: unknown;
  try {
    json = JSON.parse(raw.toString('utf8'));
  } catch (err) {
    throw invalid(dir, `${MANIFEST_FILE} is not valid JSON`, err);
  }
  const version = (json as { formatVersion?: unknown })?.formatVersion;
  if (typeof version === 'number' && version > FORMAT_VERSION) {
    throw new DfganError('CHECKPOINT_VERSION', `checkpoint ${dir} has format version ${version}; this dfgan reads up to ${FORMAT_VERSION}`);
  }
  const r = ManifestSchema.safeParse(json);
  if (!r.success) {
    const issues = r.error.issues.slice(0, 5).map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    throw invalid(dir, `${MANIFEST_FILE} does not describe a dfgan checkpoint (${issues})`);
  }
  const m = r.data;
  for (const entry of Object.values(m.networks)) {
    if (entry && !m.files[entry.file]) throw invalid(dir, `weights file ${entry.file} has no checksum in the manifest`);
  }
  if (!m.files[m.vocab.file]) throw invalid(dir, `${m.vocab.file} has no checksum in the manifest`);
  return { manifest: m, version: createHash('sha256').update(raw).digest('hex').slice(0, 12) };
}

/** Reads one file of the checkpoint and checks its size and sha256 against the manifest. */
async function readVerified(dir: string, m: Manifest, file: string): Promise<Buffer> {
  const expect = m.files[file];
  if (!expect || file.includes('/') || file.includes('\\')) throw invalid(dir, `file ${file} is not listed in the manifest`);
  let data: Buffer;
  try {
    data = await readFile(join(dir, file));
  } catch (err) {
    throw invalid(dir, `missing file ${file}`, err);
  }
  if (data.byteLength !== expect.bytes) {
    throw invalid(dir, `${file} has ${data.byteLength} bytes, the manifest says ${expect.bytes} (truncated or replaced)`);
  }
  const sha = createHash('sha256').update(data).digest('hex');
  if (sha !== expect.sha256) throw invalid(dir, `${file} fails its sha256 check (altered or corrupt)`);
  return data;
}

/** Checks every file the manifest lists, without building networks. */
export async function verifyCheckpoint(path: string): Promise<Manifest> {
  const dir = await resolveCheckpointDir(path);
  const { manifest } = await readManifest(dir);
  for (const file of Object.keys(manifest.files)) await readVerified(dir, manifest, file);
  return manifest;
}

async function fill(dir: string, m: Manifest, key: NetworkName, store: ParamStore): Promise<void> {
  const entry = m.networks[key]!;
  const expected = store.specs();
  const listed = entry.params;
  const same =
    expected.length === listed.length &&
    expected.every((s, i) => s.name === listed[i].name && s.shape.join(',') === listed[i].shape.join(','));
  if (!same) throw invalid(dir, `${entry.file} does not hold the ${key} its config describes (names or shapes differ)`);
  const values = decodeWeights(await readVerified(dir, m, entry.file), entry, `checkpoint ${dir}: ${entry.file}`);
  store.assign(values);
}

export interface LoadOptions {
  /** Also load the discriminator and head (for training); they are left on disk by default. */
  withDiscriminator?: boolean;
}

/** Reads a named weight set of the checkpoint as it is stored (e.g. the optimizer state), verified. */
export async function readWeightSet(dir: string, m: Manifest, key: NetworkName): Promise<Map<string, Float32Array> | undefined> {
  const entry = m.networks[key];
  if (!entry) return undefined;
  return decodeWeights(await readVerified(dir, m, entry.file), entry, `checkpoint ${dir}: ${entry.file}`);
}

export async function loadCheckpoint(path: string, opts: LoadOptions = {}): Promise<LoadedCheckpoint> {
  const dir = await resolveCheckpointDir(path);
  const { manifest: m, version } = await readManifest(dir);
  const gCfg = parseGeneratorConfig(m.generator);
  const tCfg = parseTextEncoderConfig(m.textEncoder);
  if (sentenceDim(tCfg) !== gCfg.condDim) {
    throw invalid(dir, `text encoder gives ${sentenceDim(tCfg)}-d sentences, the generator takes ${gCfg.condDim}`);
  }
  let vocabJson: unknown;
  const vocabBytes = await readVerified(dir, m, m.vocab.file);
  try {
    vocabJson = JSON.parse(vocabBytes.toString('utf8'));
  } catch (err) {
    throw invalid(dir, `${m.vocab.file} is not valid JSON`, err);
  }
  const vocab = Vocabulary.fromJSON(vocabJson);
  if (vocab.hash() !== m.vocab.hash || vocab.size !== m.vocab.size || vocab.size !== tCfg.vocabSize) {
    throw invalid(dir, `vocabulary (${vocab.size} words) does not match the manifest (${m.vocab.size}) or the text encoder (${tCfg.vocabSize})`);
  }
  if (opts.withDiscriminator && (!m.networks.discriminator || !m.networks.head)) {
    throw invalid(dir, 'this checkpoint has no discriminator (it holds weights for generation only)');
  }

  const owned: Array<{ dispose(): void }> = [];
  try {
    const generator = createGenerator(gCfg);
    owned.push(generator);
    await fill(dir, m, 'generator', generator.params);
    const textEncoder = createTextEncoder(tCfg);
    owned.push(textEncoder);
    await fill(dir, m, 'textEncoder', textEncoder.params);
    let discriminator: Discriminator | undefined;
    let head: ConditionalHead | undefined;
    if (opts.withDiscriminator) {
      discriminator = createDiscriminator(gCfg);
      owned.push(discriminator);
      await fill(dir, m, 'discriminator', discriminator.params);
      head = createConditionalHead(gCfg);
      owned.push(head);
      await fill(dir, m, 'head', head.params);
    }
    return {
      dir,
      manifest: m,
      version,
      generator,
      textEncoder,
      vocab,
      discriminator,
      head,
      dispose() {
        for (const o of owned) o.dispose();
      },
    };
  } catch (err) {
    for (const o of owned) o.dispose();
    throw err;
  }
}
