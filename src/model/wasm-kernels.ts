// Placeholder: filled in with the wasm kernels the project registers (Conv2DBackpropFilter, fast
// Conv2DBackpropInput, UnsortedSegmentSum).
export function registerWasmKernels(): void {}
