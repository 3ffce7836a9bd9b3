export { loadCheckpoint, readManifest, readWeightSet, resolveCheckpointDir, verifyCheckpoint, type LoadedCheckpoint, type LoadOptions } from './read.js';
export { writeCheckpoint, writeFileSynced, replaceFolder, setLatest, type CheckpointContents, type WeightSource } from './write.js';
export { FORMAT_VERSION, LATEST_FILE, MANIFEST_FILE, WEIGHT_DTYPES, type Manifest, type WeightDtype } from './manifest.js';
