// Evaluation while training (`train --eval-every N`): the checkpoint saved at step N is scored by `dfgan eval` on
// a sample of the test split, one line per evaluation goes to logs/eval.jsonl, and eval.svg / fid.svg plot the
// trend. A small DF-GAN on CPU needs tens of thousands of steps, and the losses say little about whether images
// follow their captions; attribute accuracy and FID seen as it trains do.
import { appendFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DfganError } from '../errors.js';
import type { Logger } from '../logger.js';
import { readManifest, resolveCheckpointDir } from '../model/checkpoint/index.js';
import { evaluate, type EvalReport } from './eval/evaluate.js';
import { parseEvalConfig } from './eval/eval-config.js';
import { lossPlotSvg, type Series } from './plot.js';
import { readLogLines } from './run-folder.js';

export interface TrainEvalOptions {
  /** Run folder (logs/eval.jsonl, eval.svg and fid.svg go here). */
  out: string;
  data: string;
  /** Generated images per evaluation (test images, cycled when more). */
  images: number;
  /** Checkpoint with DAMSM encoders for R-precision; without one R-precision is left out. */
  damsm?: string;
  /** Real test images for the discriminator check (synth-birds; 0 or absent: none). */
  discriminatorCheck?: number;
  /** Model name, for the plot titles. */
  name: string;
}

/** One line of logs/eval.jsonl. */
export interface EvalLine {
  step: number;
  time: string;
  images: number;
  fid: number;
  rPrecision: number | null;
  /** Mean over attributes of generated images (null when the data has no attribute labels). */
  attributeAccuracy: number | null;
  /** The same pairs scored on the real images: the ceiling. */
  attributeAccuracyReal: number | null;
  perAttribute: Record<string, number>;
  /** Mean of the discriminator check (null when not asked for or unavailable), and per attribute. */
  discriminatorCheck: number | null;
  discriminatorCheckPerAttribute: Record<string, number>;
  seconds: number;
}

const SERIES: Array<[keyof EvalLine, string]> = [
  ['attributeAccuracy', 'attribute accuracy'],
  ['attributeAccuracyReal', 'ceiling (real images)'],
  ['rPrecision', 'R-precision'],
  ['discriminatorCheck', 'D caption check'],
];

export function evalLineOf(step: number, r: EvalReport): EvalLine {
  const attrs = r.attributes.available ? r.attributes : undefined;
  return {
    step,
    time: r.evaluatedAt,
    images: r.sampling.images,
    fid: r.fid.value,
    rPrecision: r.rPrecision.available ? r.rPrecision.value : null,
    attributeAccuracy: attrs ? attrs.mean.generated : null,
    attributeAccuracyReal: attrs ? attrs.mean.real : null,
    perAttribute: attrs ? Object.fromEntries(Object.entries(attrs.perAttribute).map(([k, v]) => [k, v.generated])) : {},
    discriminatorCheck: r.discriminatorCheck?.available ? r.discriminatorCheck.mean : null,
    discriminatorCheckPerAttribute: r.discriminatorCheck?.available ? (r.discriminatorCheck.accuracy as Record<string, number>) : {},
    seconds: r.seconds,
  };
}

export class TrainEvaluator {
  private readonly logPath: string;
  private lines: EvalLine[] = [];

  constructor(
    private readonly opts: TrainEvalOptions,
    private readonly log: Logger,
  ) {
    this.logPath = join(opts.out, 'logs', 'eval.jsonl');
  }

  /**
   * Checks what can be checked before training starts, so a wrong --eval-damsm fails now rather than at the first
   * evaluation an hour in.
   */
  async validate(): Promise<void> {
    if (!this.opts.damsm) return;
    const dir = await resolveCheckpointDir(this.opts.damsm);
    const { manifest } = await readManifest(dir);
    if (!manifest.networks.imageEncoder) {
      throw new DfganError('INVALID_ARGUMENT', `--eval-damsm ${this.opts.damsm} has no DAMSM image encoder; pass a \`dfgan pretrain-text\` checkpoint`);
    }
  }

  /** Reads the lines of earlier evaluations up to `upTo` (a resumed run recomputes the ones after it). */
  async resume(upTo: number): Promise<void> {
    const byStep = new Map<number, EvalLine>();
    for (const line of await readLogLines(this.logPath, upTo)) byStep.set(line.step, line as unknown as EvalLine);
    this.lines = [...byStep.values()].sort((a, b) => a.step - b.step);
  }

  /**
   * Scores the checkpoint at `dir` (saved at `step`), logs and plots it. An evaluation that fails is logged and
   * training goes on: hours of training are worth more than one point of the trend.
   */
  async run(step: number, dir: string): Promise<EvalLine | undefined> {
    try {
      return await this.evaluate(step, dir);
    } catch (err) {
      this.log.error({ err, step, checkpoint: dir }, `evaluation at step ${step} failed; training goes on`);
      return undefined;
    }
  }

  private async evaluate(step: number, dir: string): Promise<EvalLine> {
    const cfg = parseEvalConfig({
      checkpoint: dir,
      data: this.opts.data,
      nImages: this.opts.images,
      realFloor: false,
      ...(this.opts.damsm ? { damsm: this.opts.damsm } : {}),
      ...(this.opts.discriminatorCheck ? { discriminatorCheck: this.opts.discriminatorCheck } : {}),
    });
    const report = await evaluate(cfg, { log: this.log });
    const line = evalLineOf(step, report);
    await appendFile(this.logPath, JSON.stringify(line) + '\n');
    this.lines = [...this.lines.filter((l) => l.step !== step), line];
    this.log.info(
      { step, fid: line.fid, rPrecision: line.rPrecision, discriminatorCheck: line.discriminatorCheck, attributeAccuracy: line.attributeAccuracy, ceiling: line.attributeAccuracyReal, seconds: line.seconds },
      `eval at step ${step}: FID ${line.fid.toFixed(1)}` +
        (line.attributeAccuracy !== null ? `, attribute accuracy ${line.attributeAccuracy.toFixed(3)} (ceiling ${line.attributeAccuracyReal!.toFixed(3)})` : '') +
        (line.rPrecision !== null ? `, R-precision ${line.rPrecision.toFixed(3)}` : '') +
        (line.discriminatorCheck !== null ? `, D caption check ${line.discriminatorCheck.toFixed(3)}` : ''),
    );
    await this.plot();
    return line;
  }

  private async plot(): Promise<void> {
    const series: Series[] = SERIES.map(([key, name]) => ({
      name,
      points: this.lines.filter((l) => typeof l[key] === 'number').map((l) => [l.step, l[key] as number] as [number, number]),
    }));
    const n = this.lines[this.lines.length - 1]?.images ?? this.opts.images;
    // smoothing 1: each point as measured.
    await writeFile(join(this.opts.out, 'eval.svg'), lossPlotSvg(series, { title: `${this.opts.name}: evaluation during training (${n} test images)`, smoothing: 1 }));
    const fid: Series[] = [{ name: 'FID', points: this.lines.map((l) => [l.step, l.fid] as [number, number]) }];
    await writeFile(join(this.opts.out, 'fid.svg'), lossPlotSvg(fid, { title: `${this.opts.name}: FID during training (${n} test images)`, smoothing: 1 }));
  }
}
