// `dfgan export-onnx`: the generator of a checkpoint as an ONNX file (opset 17, dynamic batch) for ONNX Runtime
// or any other runtime. Reads and verifies the weights without tfjs; the file appears whole or not at all.
import { rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { DfganError } from '../errors.js';
import { parseGeneratorConfig } from '../model/config.js';
import { readManifest, readWeightSet, resolveCheckpointDir, writeFileSynced } from '../model/checkpoint/index.js';
import { exportGeneratorOnnx, ONNX_INPUTS, ONNX_OPSET, ONNX_OUTPUT } from '../model/onnx/export-generator.js';

export interface ExportOnnxArgs {
  checkpoint: string;
  out: string;
  overwrite: boolean;
}

export interface ExportOnnxResult {
  file: string;
  bytes: number;
  opset: number;
  checkpoint: string;
  step: number;
  inputs: Record<string, string>;
  output: string;
}

export async function runExportOnnx(args: ExportOnnxArgs): Promise<ExportOnnxResult> {
  const file = resolve(args.out);
  const existing = await stat(file).catch(() => undefined);
  if (existing?.isDirectory()) throw new DfganError('INVALID_ARGUMENT', `--out ${file} is a folder; give a file name such as generator.onnx`);
  if (existing && !args.overwrite) throw new DfganError('INVALID_ARGUMENT', `--out ${file} exists (pass --overwrite to replace it)`);
  const parent = await stat(dirname(file)).catch(() => undefined);
  if (!parent?.isDirectory()) throw new DfganError('INVALID_ARGUMENT', `--out: folder ${dirname(file)} does not exist`);

  const dir = await resolveCheckpointDir(args.checkpoint);
  const { manifest, version } = await readManifest(dir);
  const config = parseGeneratorConfig(manifest.generator);
  const weights = await readWeightSet(dir, manifest, 'generator');
  if (!weights) throw new DfganError('CHECKPOINT_INVALID', `checkpoint ${dir} has no generator weights`);
  let bytes: Uint8Array;
  try {
    bytes = exportGeneratorOnnx(config, weights, { name: manifest.name, step: manifest.step, version });
  } catch (err) {
    throw new DfganError('CHECKPOINT_INVALID', `checkpoint ${dir}: ${(err as Error).message}`, { cause: err });
  }
  const tmp = join(dirname(file), `.${basename(file)}.${process.pid}.tmp`);
  try {
    await writeFileSynced(tmp, bytes);
    await rename(tmp, file);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  return { file, bytes: bytes.length, opset: ONNX_OPSET, checkpoint: dir, step: manifest.step, inputs: { ...ONNX_INPUTS }, output: ONNX_OUTPUT };
}
