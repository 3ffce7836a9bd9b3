// Training-step time, one replica (this thread) against data-parallel replicas on every core (ParallelStep,
// worker threads), at 64x64, batch 16, nf 8/16/32 by default. When a Python with PyTorch is found, the
// reference step of bench/torch_step.py (same networks, hinge + MA-GP, Adam) is timed in the same run, after
// the tfjs measurements (never beside them), with 1 thread and with as many threads as replicas.
// Usage: npm run bench:train-parallel [-- --backend wasm --size 64 --batch 16 --nfs 8,16,32 --reps 3
//        --workers N --conv-runtime auto|onnx|backend --torch auto|off --python PATH]
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import { parseBackendChoice, selectBackend } from '../src/model/backend.js';
import { parseConvRuntimeChoice, useConvRuntime } from '../src/model/conv-runtime.js';
import { parseGeneratorConfig } from '../src/model/config.js';
import { createGenerator } from '../src/model/generator.js';
import { createConditionalHead, createDiscriminator } from '../src/model/discriminator.js';
import { Rng } from '../src/model/sampling.js';
import { DFGANStep, type StepOptions, type TrainStep } from '../src/training/dfgan-step.js';
import { ParallelStep } from '../src/training/parallel/index.js';

const { values } = parseArgs({
  options: {
    backend: { type: 'string', default: 'auto' },
    'conv-runtime': { type: 'string', default: 'auto' },
    size: { type: 'string', default: '64' },
    batch: { type: 'string', default: '16' },
    nfs: { type: 'string', default: '8,16,32' },
    reps: { type: 'string', default: '3' },
    workers: { type: 'string', default: String(availableParallelism()) },
    torch: { type: 'string', default: 'auto' },
    python: { type: 'string' },
  },
});
const info = await selectBackend(parseBackendChoice(values.backend!));
const convs = await useConvRuntime(parseConvRuntimeChoice(values['conv-runtime']!));
const size = Number(values.size);
const batch = Number(values.batch);
const reps = Number(values.reps);
const workers = Number(values.workers);
const nfs = values.nfs!.split(',').map(Number);
const OPTS: StepOptions = { lrG: 1e-4, lrD: 4e-4, beta1: 0, beta2: 0.9 };

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/**
 * CPU seconds used so far by each thread of this process (Linux /proc; empty elsewhere). Other programs on a
 * shared machine stretch wall times, but hardly the CPU time a replica needs: the busiest replica's CPU time
 * per step is the step time the parallel run approaches on otherwise idle cores.
 */
function threadCpu(): Map<string, number> {
  const out = new Map<string, number>();
  try {
    for (const tid of readdirSync('/proc/self/task')) {
      try {
        const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
        const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        out.set(tid, (Number(f[11]) + Number(f[12])) / 100); // utime + stime, in clock ticks of 1/100 s
      } catch {
        // the thread ended
      }
    }
  } catch {
    // no /proc
  }
  return out;
}

/**
 * Median step times of one replica and of `replicas` replicas at one nf. The two steps alternate (one of each
 * per round, after a warm-up step each, which also boots and syncs the workers) so that both see the same load
 * from whatever else runs on the machine.
 */
interface Timing {
  one: number;
  many: number;
  /** Main-thread CPU s per 1-replica step, and the busiest thread's CPU s per parallel step (0: unknown). */
  oneCpu: number;
  manyCpu: number;
}

async function measure(nf: number, replicas: number): Promise<Timing> {
  const cfg = parseGeneratorConfig({ imageSize: size, nf });
  const nets = () => ({ g: createGenerator(cfg, { seed: 1 }), d: createDiscriminator(cfg, { seed: 2 }), c: createConditionalHead(cfg, { seed: 3 }) });
  const a = nets();
  const b = nets();
  const single: TrainStep = new DFGANStep(a.g, a.d, a.c, OPTS);
  const par: TrainStep | undefined =
    replicas > 1 ? new ParallelStep(b.g, b.d, b.c, OPTS, undefined, undefined, undefined, { workers: replicas }) : undefined;
  const images = tf.randomUniform([batch, size, size, 3], -1, 1, 'float32', 1) as tf.Tensor4D;
  const s = tf.randomNormal([batch, cfg.condDim], 0, 1, 'float32', 2) as tf.Tensor2D;
  const z = tf.randomNormal([batch, cfg.zDim], 0, 1, 'float32', 3) as tf.Tensor2D;
  const time = async (step: TrainStep, i: number) => {
    const c0 = threadCpu();
    const t0 = performance.now();
    await step.run(images, s, z, new Rng(i));
    const wall = (performance.now() - t0) / 1000;
    const c1 = threadCpu();
    const used = [...c1].map(([tid, v]) => [tid, v - (c0.get(tid) ?? 0)] as const);
    const main = used.find(([tid]) => tid === String(process.pid))?.[1] ?? 0;
    return { wall, main, busiest: Math.max(0, ...used.map(([, v]) => v)) };
  };
  try {
    await time(single, 0);
    if (par) await time(par, 0);
    const one: Array<Awaited<ReturnType<typeof time>>> = [];
    const many: Array<Awaited<ReturnType<typeof time>>> = [];
    for (let i = 1; i <= reps; i++) {
      one.push(await time(single, i));
      if (par) many.push(await time(par, i));
    }
    const m = par ? many : one;
    return {
      one: median(one.map((t) => t.wall)),
      many: median(m.map((t) => t.wall)),
      oneCpu: median(one.map((t) => t.main)),
      manyCpu: median(m.map((t) => (par ? t.busiest : t.main))),
    };
  } finally {
    tf.dispose([images, s, z]);
    single.dispose();
    await par?.dispose();
    for (const n of [a, b]) for (const m of [n.g, n.d, n.c]) m.dispose();
  }
}

function findPython(): string | undefined {
  if (values.torch === 'off') return undefined;
  const candidates = values.python ? [values.python] : ['python3', '/usr/bin/python3'];
  return candidates.find((p) => spawnSync(p, ['-c', 'import torch'], { stdio: 'ignore' }).status === 0);
}

interface TorchRow {
  nf: number;
  threads: number;
  step_s: number;
  cpu_s: number;
}

function torchTimes(python: string): TorchRow[] {
  const script = fileURLToPath(new URL('./torch_step.py', import.meta.url));
  const threads = [...new Set([1, workers])].join(',');
  const r = spawnSync(python, [script, '--size', String(size), '--batch', String(batch), '--nfs', nfs.join(','), '--reps', String(reps), '--threads', threads], {
    encoding: 'utf8',
    // One OpenMP thread pool sized by torch.set_num_threads; no busy-waiting workers between ops.
    env: { ...process.env, OMP_WAIT_POLICY: 'PASSIVE' },
  });
  if (r.status !== 0) {
    console.error(`# PyTorch reference failed: ${r.stderr.trim().split('\n').at(-1)}`);
    return [];
  }
  return r.stdout
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as TorchRow);
}

const load0 = loadavg()[0];
const rows: Array<Timing & { nf: number }> = [];
for (const nf of nfs) {
  const t = await measure(nf, workers);
  rows.push({ nf, ...t });
  console.error(`# nf ${nf}: 1 replica ${t.one.toFixed(3)} s (CPU ${t.oneCpu.toFixed(2)}), ${workers} replicas ${t.many.toFixed(3)} s (busiest thread CPU ${t.manyCpu.toFixed(2)})`);
}
const python = findPython();
const torch = python ? torchTimes(python) : [];
const load1 = loadavg()[0];
const torchAt = (nf: number, threads: number) => torch.find((r) => r.nf === nf && r.threads === threads);

console.log(
  `# training step: backend ${info.name}, convolutions on ${convs.name === 'onnx' ? 'ONNX Runtime' : info.name}, ${size}x${size}, batch ${batch}, ${workers} replicas on ${availableParallelism()} cores, ` +
    `median of ${reps} steps after a warm-up, 1-replica and parallel steps alternating; load average ${load0.toFixed(2)} before, ${load1.toFixed(2)} after`,
);
const head = ['nf', '1 replica: step s', `${workers} replicas: step s`, 'speed-up', `images/s (${workers})`, 'CPU-bound speed-up'];
if (torch.length) {
  head.push('PyTorch 1 thread: step s', `PyTorch ${workers} threads: step s`, `tfjs ${workers} / PyTorch ${workers}`, 'tfjs / PyTorch best', 'tfjs / PyTorch, CPU s on 1 core');
}
console.log(`| ${head.join(' | ')} |`);
console.log(`|${head.map(() => '---').join('|')}|`);
for (const r of rows) {
  const cpu = r.oneCpu > 0 && r.manyCpu > 0 ? `${(r.oneCpu / r.manyCpu).toFixed(2)}x` : '-';
  const cells = [String(r.nf), r.one.toFixed(3), r.many.toFixed(3), `${(r.one / r.many).toFixed(2)}x`, (batch / r.many).toFixed(1), cpu];
  if (torch.length) {
    const t1 = torchAt(r.nf, 1);
    const tw = torchAt(r.nf, workers);
    cells.push(
      t1?.step_s.toFixed(3) ?? '-',
      tw?.step_s.toFixed(3) ?? '-',
      tw ? `${(r.many / tw.step_s).toFixed(1)}x` : '-',
      t1 || tw ? `${(r.many / Math.min(t1?.step_s ?? Infinity, tw?.step_s ?? Infinity)).toFixed(1)}x` : '-',
      t1 && r.oneCpu > 0 ? `${(r.oneCpu / t1.cpu_s).toFixed(1)}x` : '-',
    );
  }
  console.log(`| ${cells.join(' | ')} |`);
}
console.log(
  '# CPU-bound speed-up: CPU seconds of the 1-replica step over those of the busiest thread of the parallel step, i.e. ' +
    'the speed-up on otherwise idle cores; wall-clock columns include whatever else the machine was running',
);
if (torch.length) console.log('# tfjs / PyTorch, CPU s on 1 core: CPU seconds of one tfjs replica with the whole batch over those of PyTorch with 1 thread');
if (!python && values.torch !== 'off') console.log('# no Python with PyTorch found (Debian: apt-get install python3-torch); reference column left out');
