// A training replica in a worker thread: G, D, C and their Adam optimizers, built from the main thread's spec
// and weights. It computes the gradients of its shard and applies the averaged gradients it is sent, so every
// replica holds the same weights after every step. Requests are handled strictly in arrival order.
import { parentPort } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs-core';
import { selectBackend } from '../../model/backend.js';
import { useConvRuntime } from '../../model/conv-runtime.js';
import { createGenerator, type Generator } from '../../model/generator.js';
import { createConditionalHead, createDiscriminator, type ConditionalHead, type Discriminator } from '../../model/discriminator.js';
import { DFGANStep, type StepDraws } from '../dfgan-step.js';
import { HingeLoss } from '../losses/hinge.js';
import { MatchingAwareGradientPenalty } from '../losses/ma-gp.js';
import { DiffAugment } from '../diff-augment.js';
import { layoutOf, packInto, unpack, type ParamLayout } from './flat.js';
import type { DGradsReply, GGradsReply, ReadReply, Reply, ReplicaSpec, Request } from './protocol.js';

interface Replica {
  spec: ReplicaSpec;
  g: Generator;
  d: Discriminator;
  c: ConditionalHead;
  step: DFGANStep;
  gLayout: ParamLayout;
  dLayout: ParamLayout;
  /** The shard of the step in progress, between its D and G gradients. */
  shard?: { sentences: tf.Tensor2D; z: tf.Tensor2D; draws: StepDraws };
  dCalls: number;
}

const port = parentPort;
if (!port) throw new Error('worker.ts runs as a worker thread');

let replica: Replica | undefined;
let poisoned: string | undefined;

async function init(spec: ReplicaSpec): Promise<void> {
  await selectBackend(spec.backend);
  await useConvRuntime(spec.convRuntime);
  const g = createGenerator(spec.config, { seed: 0 });
  const d = createDiscriminator(spec.config, { seed: 0 });
  const c = createConditionalHead(spec.config, { seed: 0 });
  const step = new DFGANStep(
    g,
    d,
    c,
    spec.step,
    new HingeLoss(spec.hinge),
    new MatchingAwareGradientPenalty(spec.magp),
    new DiffAugment(spec.augment),
  );
  const gLayout = layoutOf(step.gParams());
  const dLayout = layoutOf(step.dParams());
  if (gLayout.names.join('\n') !== spec.gNames.join('\n') || dLayout.names.join('\n') !== spec.dNames.join('\n')) {
    throw new Error('the worker replica has other parameters than the main thread');
  }
  replica = { spec, g, d, c, step, gLayout, dLayout, dCalls: 0 };
}

function need(): Replica {
  if (!replica) throw new Error('worker not initialised');
  return replica;
}

function injectFault(r: Replica): void {
  const f = r.spec.fault;
  if (!f || f.atStep !== r.dCalls || f.kind === 'uncaught') return;
  if (f.kind === 'throw') throw new Error(`injected fault at step ${f.atStep}`);
  if (f.kind === 'exit') process.exit(3);
}

async function handle(req: Request): Promise<unknown> {
  switch (req.type) {
    case 'init':
      await init(req.spec);
      return null;
    case 'sync': {
      const r = need();
      r.g.params.assign(req.weights.g);
      r.d.params.assign(req.weights.d);
      r.c.params.assign(req.weights.c);
      if (!(r.step.optG.restore(req.optimizer) && r.step.optD.restore(req.optimizer))) throw new Error('optimizer state does not fit the replica');
      return null;
    }
    case 'dGrads': {
      const r = need();
      injectFault(r);
      r.dCalls += 1;
      const { batch, draws } = req;
      const { imageSize, condDim, zDim } = r.spec.config;
      const images = tf.tensor4d(req.images, [batch, imageSize, imageSize, 3]);
      const sentences = tf.tensor2d(req.sentences, [batch, condDim]);
      const counterfactuals = req.counterfactuals ? tf.tensor2d(req.counterfactuals, [batch, condDim]) : undefined;
      const z = tf.tensor2d(req.z, [batch, zDim]);
      try {
        const out = r.step.dGrads(images, sentences, z, draws, counterfactuals);
        const present = packInto(r.dLayout, out.grads, r.spec.buffers.dGrads);
        const terms = Array.from(out.terms.dataSync());
        tf.dispose([...out.grads.values(), out.terms]);
        r.shard = { sentences, z, draws };
        const value: DGradsReply = { present, terms };
        return value;
      } catch (err) {
        tf.dispose([sentences, z]);
        throw err;
      } finally {
        images.dispose();
        counterfactuals?.dispose();
      }
    }
    case 'applyD': {
      // Apply the averaged D gradient, then G's gradients of this shard through the updated D.
      const r = need();
      const shard = r.shard;
      if (!shard) throw new Error('applyD without a shard in progress');
      r.shard = undefined;
      try {
        const avg = unpack(r.dLayout, r.spec.buffers.dAvg, req.present);
        r.step.applyD(avg);
        tf.dispose([...avg.values()]);
        const out = r.step.gGrads(shard.sentences, shard.z, shard.draws);
        const present = packInto(r.gLayout, out.grads, r.spec.buffers.gGrads);
        const loss = out.loss.dataSync()[0];
        tf.dispose([...out.grads.values(), out.loss]);
        const value: GGradsReply = { present, loss };
        return value;
      } finally {
        tf.dispose([shard.sentences, shard.z]);
      }
    }
    case 'applyG': {
      const r = need();
      const avg = unpack(r.gLayout, r.spec.buffers.gAvg, req.present);
      r.step.applyG(avg);
      tf.dispose([...avg.values()]);
      return tf.memory().numTensors;
    }
    case 'read': {
      const r = need();
      const value: ReadReply = {
        weights: { g: await r.g.params.read(), d: await r.d.params.read(), c: await r.c.params.read() },
        optimizer: new Map([...(await r.step.optG.read()), ...(await r.step.optD.read())]),
        tensors: tf.memory().numTensors,
      };
      return value;
    }
  }
}

let queue: Promise<void> = Promise.resolve();
let dReceived = 0;
port.on('message', (req: Request) => {
  if (req.type === 'dGrads') {
    // 'uncaught' fault: thrown by the listener itself, outside any request (the thread dies with an 'error').
    const f = replica?.spec.fault;
    if (f?.kind === 'uncaught' && f.atStep === dReceived) throw new Error(`injected uncaught fault at step ${f.atStep}`);
    dReceived += 1;
  }
  queue = queue.then(async () => {
    let reply: Reply;
    if (poisoned) {
      reply = { id: req.id, ok: false, error: `an earlier request failed: ${poisoned}` };
    } else {
      try {
        reply = { id: req.id, ok: true, value: await handle(req) };
      } catch (err) {
        const e = err instanceof Error ? err : new Error(String(err));
        poisoned = `${req.type}: ${e.message}`;
        reply = { id: req.id, ok: false, error: poisoned, stack: e.stack };
      }
    }
    port.postMessage(reply);
  });
});
