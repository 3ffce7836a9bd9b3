// Compute backend selection, in one place. `auto` takes the fastest that loads on this host:
// tfjs-node-gpu (CUDA), tfjs-node (native TensorFlow CPU), wasm (XNNPACK, SIMD), then the pure-JS cpu backend.
import * as tf from '@tensorflow/tfjs-core';
// tfjs-core's Node build registers no gradient functions; the umbrella package registers them (and cpu).
import '@tensorflow/tfjs';
import { DfganError } from '../errors.js';

export const BACKEND_CHOICES = ['auto', 'node-gpu', 'node', 'wasm', 'cpu'] as const;
export type BackendChoice = (typeof BACKEND_CHOICES)[number];
export type ConcreteBackend = Exclude<BackendChoice, 'auto'>;

const AUTO_ORDER: ConcreteBackend[] = ['node-gpu', 'node', 'wasm', 'cpu'];

export interface BackendInfo {
  /** The choice that was made (never 'auto'). */
  name: ConcreteBackend;
  /** tfjs's own backend name ('tensorflow', 'wasm', 'cpu'). */
  tfBackend: string;
  /** Why earlier candidates of 'auto' were passed over. */
  skipped: Array<{ name: ConcreteBackend; reason: string }>;
}

export function parseBackendChoice(value: string): BackendChoice {
  if ((BACKEND_CHOICES as readonly string[]).includes(value)) return value as BackendChoice;
  throw new DfganError('UNKNOWN_BACKEND', `unknown backend "${value}"; valid choices: ${BACKEND_CHOICES.join(', ')}`);
}

async function activate(name: ConcreteBackend): Promise<string> {
  switch (name) {
    case 'node-gpu':
      // Optional dependencies: absent where libtensorflow could not be downloaded at install time.
      await import('@tensorflow/tfjs-node-gpu' as string);
      return setTf('tensorflow');
    case 'node':
      await import('@tensorflow/tfjs-node' as string);
      return setTf('tensorflow');
    case 'wasm': {
      await import('@tensorflow/tfjs-backend-wasm');
      const { registerWasmKernels } = await import('./wasm-kernels.js');
      registerWasmKernels();
      return setTf('wasm');
    }
    case 'cpu':
      await import('@tensorflow/tfjs-backend-cpu');
      return setTf('cpu');
  }
}

async function setTf(tfName: string): Promise<string> {
  const ok = await tf.setBackend(tfName);
  if (!ok) throw new Error(`tfjs could not initialise the ${tfName} backend`);
  await tf.ready();
  return tfName;
}

function reasonOf(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  return msg.split('\n')[0].slice(0, 200);
}

let active: ConcreteBackend | undefined;

/**
 * The concrete backend in use: the last choice selectBackend made, else inferred from tfjs's current backend
 * ('tensorflow' counts as 'node'). Worker threads select this same one so every replica computes alike.
 */
export function activeBackend(): ConcreteBackend {
  if (active) return active;
  const tfName = tf.getBackend();
  return tfName === 'tensorflow' ? 'node' : tfName === 'wasm' ? 'wasm' : 'cpu';
}

/** Activates the chosen backend (or the first that loads for 'auto') and reports what runs. */
export async function selectBackend(choice: BackendChoice = 'auto'): Promise<BackendInfo> {
  const candidates = choice === 'auto' ? AUTO_ORDER : [choice];
  const skipped: BackendInfo['skipped'] = [];
  for (const name of candidates) {
    try {
      const tfBackend = await activate(name);
      active = name;
      return { name, tfBackend, skipped };
    } catch (err) {
      skipped.push({ name, reason: reasonOf(err) });
    }
  }
  const detail = skipped.map((s) => `${s.name}: ${s.reason}`).join('; ');
  throw new DfganError('BACKEND_UNAVAILABLE', `no usable backend (${detail}); valid choices: ${BACKEND_CHOICES.join(', ')}`);
}
