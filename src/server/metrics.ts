// Prometheus metrics of the server, on a registry of its own. Labels are low-cardinality by construction
// (transport, method, error code, reason, result; never a caption, seed or request id) and every labelled
// series a dashboard needs is exported at zero from the start.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { ErrorCode } from '../errors.js';
import type { BatcherHooks } from './batcher.js';
import type { ModelInfo } from './engine/engine.js';
import type { ModelHostHooks } from './model-host.js';

export type Transport = 'http' | 'grpc';
export type Method = 'generate' | 'generate_stream';
export type Outcome = 'OK' | ErrorCode;

const ROUTES: Array<[Transport, Method]> = [
  ['http', 'generate'],
  ['grpc', 'generate'],
  ['grpc', 'generate_stream'],
];

/** The outcomes a generation request can have on the wire. */
const REQUEST_OUTCOMES: Outcome[] = [
  'OK',
  'INVALID_ARGUMENT',
  'EMPTY_TEXT',
  'NO_KNOWN_WORDS',
  'TEXT_TOO_LONG',
  'MALFORMED_REQUEST',
  'PAYLOAD_TOO_LARGE',
  'UNSUPPORTED_MEDIA_TYPE',
  'NOT_ACCEPTABLE',
  'CANCELLED',
  'QUEUE_FULL',
  'DRAINING',
  'MODEL_NOT_READY',
  'TIMEOUT',
  'INTERNAL',
];

/** Requests the server turned away or dropped without serving them, by why. */
const REJECTION_REASONS: Partial<Record<Outcome, string>> = {
  QUEUE_FULL: 'queue_full',
  DRAINING: 'draining',
  MODEL_NOT_READY: 'not_ready',
  TIMEOUT: 'timeout',
  CANCELLED: 'cancelled',
};

const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
const WAIT_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
const RELOAD_BUCKETS = [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];

/** Every size up to 16, then powers of two: the distribution users ask for stays readable at any max. */
export function batchSizeBuckets(maxBatchSize: number): number[] {
  const out: number[] = [];
  for (let b = 1; b <= Math.min(maxBatchSize, 16); b++) out.push(b);
  for (let b = 32; b < maxBatchSize; b *= 2) out.push(b);
  if (out[out.length - 1] !== maxBatchSize) out.push(maxBatchSize);
  return out;
}

export class Metrics {
  readonly registry = new Registry();
  private readonly requestDuration: Histogram<'transport' | 'method'>;
  private readonly requests: Counter<'transport' | 'method' | 'code'>;
  private readonly rejections: Counter<'reason'>;
  private readonly inFlight: Gauge<'transport'>;
  private readonly queueDepth: Gauge;
  private readonly queueWait: Histogram;
  private readonly batchDuration: Histogram;
  private readonly batchSize: Histogram;
  private readonly images: Counter;
  private readonly cacheLookups: Counter<'result'>;
  private readonly modelInfo: Gauge<'name' | 'version' | 'engine' | 'backend'>;
  private readonly reloads: Counter<'result'>;
  private readonly reloadDuration: Histogram<'result'>;

  constructor(opts: { maxBatchSize: number }) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    this.requestDuration = new Histogram({
      name: 'dfgan_request_duration_seconds',
      help: 'Time from receiving a generation request to its reply, by transport and method',
      labelNames: ['transport', 'method'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.requests = new Counter({
      name: 'dfgan_requests_total',
      help: 'Generation requests answered, by transport, method and outcome code (OK or an error code)',
      labelNames: ['transport', 'method', 'code'],
      registers,
    });
    this.rejections = new Counter({
      name: 'dfgan_rejections_total',
      help: 'Generation requests turned away or dropped unserved, by reason (queue_full, draining, not_ready, timeout, cancelled)',
      labelNames: ['reason'],
      registers,
    });
    this.inFlight = new Gauge({ name: 'dfgan_in_flight_requests', help: 'Generation requests accepted and not yet answered', labelNames: ['transport'], registers });
    this.queueDepth = new Gauge({ name: 'dfgan_queue_depth_images', help: 'Images waiting for a batch', registers });
    this.queueWait = new Histogram({ name: 'dfgan_queue_wait_seconds', help: 'Time each image waited in the queue before its batch started', buckets: WAIT_BUCKETS, registers });
    this.batchDuration = new Histogram({ name: 'dfgan_batch_duration_seconds', help: 'Execution time of one batch on the model (encode, generate, PNG)', buckets: LATENCY_BUCKETS, registers });
    this.batchSize = new Histogram({ name: 'dfgan_batch_size_images', help: 'Images per batch run on the model', buckets: batchSizeBuckets(opts.maxBatchSize), registers });
    this.images = new Counter({ name: 'dfgan_images_generated_total', help: 'Images the model generated', registers });
    this.cacheLookups = new Counter({ name: 'dfgan_embedding_cache_lookups_total', help: 'Caption embedding lookups per image, by result (hit, miss)', labelNames: ['result'], registers });
    this.modelInfo = new Gauge({ name: 'dfgan_model_info', help: 'The model being served (value 1)', labelNames: ['name', 'version', 'engine', 'backend'], registers });
    this.reloads = new Counter({ name: 'dfgan_model_reloads_total', help: 'Attempts to swap in a new checkpoint, by result (success, failure)', labelNames: ['result'], registers });
    this.reloadDuration = new Histogram({ name: 'dfgan_model_reload_duration_seconds', help: 'Time to load, verify and warm up a new checkpoint', labelNames: ['result'], buckets: RELOAD_BUCKETS, registers });

    for (const [transport, method] of ROUTES) {
      this.requestDuration.zero({ transport, method });
      for (const code of REQUEST_OUTCOMES) this.requests.inc({ transport, method, code }, 0);
    }
    for (const transport of ['http', 'grpc'] as const) this.inFlight.set({ transport }, 0);
    for (const reason of Object.values(REJECTION_REASONS)) this.rejections.inc({ reason }, 0);
    for (const result of ['hit', 'miss']) this.cacheLookups.inc({ result }, 0);
    for (const result of ['success', 'failure']) {
      this.reloads.inc({ result }, 0);
      this.reloadDuration.zero({ result });
    }
  }

  /** Counts a request in flight; call the returned function once with its outcome when it has been answered. */
  startRequest(transport: Transport, method: Method): (outcome: Outcome) => void {
    const t0 = performance.now();
    this.inFlight.inc({ transport });
    let done = false;
    return (outcome) => {
      if (done) return;
      done = true;
      this.inFlight.dec({ transport });
      this.requestDuration.observe({ transport, method }, (performance.now() - t0) / 1000);
      this.requests.inc({ transport, method, code: outcome });
      const reason = REJECTION_REASONS[outcome];
      if (reason) this.rejections.inc({ reason });
    };
  }

  readonly batcherHooks: BatcherHooks = {
    queueDepth: (rows) => this.queueDepth.set(rows),
    queueWait: (seconds) => this.queueWait.observe(seconds),
    batch: ({ size, output }) => {
      this.batchSize.observe(size);
      this.batchDuration.observe(output.seconds);
      this.images.inc(size);
      this.cacheLookups.inc({ result: 'hit' }, output.cacheHits);
      this.cacheLookups.inc({ result: 'miss' }, output.cacheMisses);
    },
  };

  readonly hostHooks: ModelHostHooks = {
    reload: (result, seconds) => {
      this.reloads.inc({ result });
      this.reloadDuration.observe({ result }, seconds);
    },
  };

  /** Shows the served model in dfgan_model_info (one series; none while no model is loaded). */
  setModel(info: ModelInfo | undefined): void {
    this.modelInfo.reset();
    if (info) this.modelInfo.set({ name: info.name, version: info.version, engine: info.engine, backend: info.backend }, 1);
  }

  contentType(): string {
    return this.registry.contentType;
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }
}
