// synth-birds: procedural CUB-like bird pictures with known attributes and CUB-style captions.
export * from './attributes.js';
export * from './render.js';
export * from './captions.js';
export * from './write.js';
