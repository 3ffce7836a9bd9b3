// Messages between a ParallelStep (main thread) and its worker replicas. Every request carries an id and gets
// exactly one reply with that id; a failed request poisons the worker (its replica may be half-updated).
// Gradients do not travel in messages: each worker writes its shard's gradients into its own shared buffers and
// reads the average from buffers shared by all; a message only says that a buffer is ready (postMessage orders
// the writes before it for the receiver), with the mask of parameters that have a gradient.
import type { ConcreteBackend } from '../../model/backend.js';
import type { ConvRuntime } from '../../model/conv-runtime.js';
import type { GeneratorConfig } from '../../model/config.js';
import type { DiffAugmentOptions } from '../diff-augment.js';
import type { HingeOptions } from '../losses/hinge.js';
import type { StepDraws, StepOptions } from '../dfgan-step.js';

/** Test hook: make a worker fail at its n-th D-gradient request (0-based). */
export interface FaultInjection {
  atStep: number;
  /** 'throw': the request throws; 'exit': the thread exits (code 3); 'uncaught': an exception outside any request. */
  kind: 'throw' | 'exit' | 'uncaught';
}

/** Everything a worker needs to build a replica identical to the main thread's (weights come with 'sync'). */
export interface ReplicaSpec {
  index: number;
  backend: ConcreteBackend;
  /** Where the replica's convolutions run: as on the main thread, so replicas compute alike. */
  convRuntime: ConvRuntime;
  config: GeneratorConfig;
  step: StepOptions;
  hinge: HingeOptions;
  magp: { k: number; p: number };
  augment: DiffAugmentOptions;
  /** Parameter order of the flat gradients, checked against the worker's own. */
  gNames: string[];
  dNames: string[];
  fault?: FaultInjection;
  buffers: SharedBuffers;
}

/** Float32 views of SharedArrayBuffers, allocated once by the main thread. */
export interface SharedBuffers {
  /** This worker's gradients of its shard (written by the worker, read by the main thread). */
  dGrads: Float32Array;
  gGrads: Float32Array;
  /** The averaged gradients (written by the main thread, read by every worker). */
  dAvg: Float32Array;
  gAvg: Float32Array;
}

export interface NetworkWeights {
  g: Map<string, Float32Array>;
  d: Map<string, Float32Array>;
  c: Map<string, Float32Array>;
}

export type Request =
  | { type: 'init'; id: number; spec: ReplicaSpec }
  | { type: 'sync'; id: number; weights: NetworkWeights; optimizer: Map<string, Float32Array> }
  | { type: 'dGrads'; id: number; batch: number; images: Float32Array; sentences: Float32Array; counterfactuals?: Float32Array; z: Float32Array; draws: StepDraws }
  | { type: 'applyD'; id: number; present: Uint8Array }
  | { type: 'applyG'; id: number; present: Uint8Array }
  | { type: 'read'; id: number };

export interface DGradsReply {
  /** Which parameters have a gradient (values in the worker's dGrads buffer). */
  present: Uint8Array;
  /** D_TERMS of the shard. */
  terms: number[];
}

export interface GGradsReply {
  present: Uint8Array;
  loss: number;
}

export interface ReadReply {
  weights: NetworkWeights;
  optimizer: Map<string, Float32Array>;
  tensors: number;
}

export type Reply = { id: number; ok: true; value: unknown } | { id: number; ok: false; error: string; stack?: string };
