// Which code runs the convolutions of training on the wasm backend, chosen once per thread: ONNX Runtime's CPU
// kernels (src/model/onnx/conv-kernels.ts; 1.5-1.6x faster training steps at nf 16-32) or the backend's own
// (XNNPACK). The native TensorFlow backends keep theirs. Worker replicas select what their main thread selected.
import * as tf from '@tensorflow/tfjs-core';
import { DfganError } from '../errors.js';
import type { OrtConvolutions } from './onnx/conv-kernels.js';

export const CONV_RUNTIME_CHOICES = ['auto', 'onnx', 'backend'] as const;
export type ConvRuntimeChoice = (typeof CONV_RUNTIME_CHOICES)[number];
export type ConvRuntime = Exclude<ConvRuntimeChoice, 'auto'>;

export interface ConvRuntimeInfo {
  name: ConvRuntime;
  /** Why `auto` did not pick ONNX Runtime. */
  reason?: string;
}

let active: { info: ConvRuntimeInfo; convs?: OrtConvolutions } | undefined;

export function parseConvRuntimeChoice(value: string): ConvRuntimeChoice {
  if ((CONV_RUNTIME_CHOICES as readonly string[]).includes(value)) return value as ConvRuntimeChoice;
  throw new DfganError('INVALID_ARGUMENT', `unknown convolution runtime "${value}"; valid choices: ${CONV_RUNTIME_CHOICES.join(', ')}`);
}

/**
 * Selects the convolution runtime of this thread (after selectBackend). `onnx` fails with ENGINE_UNAVAILABLE
 * where it cannot run; `auto` then keeps the backend's kernels and says why. Choosing again keeps the first
 * choice unless it differs, which is an error (kernels are process-wide per thread).
 */
export async function useConvRuntime(choice: ConvRuntimeChoice): Promise<ConvRuntimeInfo> {
  const want = choice === 'auto' ? undefined : choice;
  if (active) {
    if (want && want !== active.info.name) {
      throw new DfganError('INTERNAL', `convolutions already run on ${active.info.name}; cannot switch to ${want} in this thread`);
    }
    return active.info;
  }
  if (choice === 'backend') {
    active = { info: { name: 'backend' } };
    return active.info;
  }
  let reason: string;
  if (tf.getBackend() !== 'wasm') {
    reason = `the ${tf.getBackend()} backend runs its own convolutions`;
  } else {
    try {
      // Loaded here, not at start-up: every CLI command reads this module's choices, only training needs ORT.
      const { OrtConvolutions, loadOrtConvRuntime } = await import('./onnx/conv-kernels.js');
      if (active) return useConvRuntime(choice); // chosen by a concurrent call meanwhile
      const convs = new OrtConvolutions(loadOrtConvRuntime());
      convs.register();
      active = { info: { name: 'onnx' }, convs };
      return active.info;
    } catch (err) {
      reason = err instanceof Error ? err.message : String(err);
    }
  }
  if (choice === 'onnx') throw new DfganError('ENGINE_UNAVAILABLE', `convolutions cannot run on ONNX Runtime: ${reason}`);
  active = { info: { name: 'backend', reason } };
  return active.info;
}

/** The runtime this thread selected ('backend' when none was). */
export function activeConvRuntime(): ConvRuntime {
  return active?.info.name ?? 'backend';
}
