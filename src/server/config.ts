// The server's configuration: one zod schema, built from one table that also names each option's flag and
// environment variable, parsed once at the entry point and handed down frozen.
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { DfganError } from '../errors.js';
import { BACKEND_CHOICES } from '../model/backend.js';
import { MAX_IMAGES_PER_CALL } from '../model/text-to-image.js';
import { ENGINE_KINDS } from './engine/engine.js';

/** The bundled model: a checkpoint root whose `latest` names the current folder. */
export const DEFAULT_CHECKPOINT = fileURLToPath(new URL('../../models/synth-birds-64', import.meta.url));

/** Flag and environment values arrive as strings; numbers must be whole strings of digits, never ''. */
const toNumber = (v: unknown) => (typeof v === 'string' && v.trim() !== '' ? Number(v) : v);
const toBoolean = (v: unknown) => {
  if (typeof v !== 'string') return v;
  const s = v.trim().toLowerCase();
  return ['true', '1', 'yes', 'on'].includes(s) ? true : ['false', '0', 'no', 'off'].includes(s) ? false : v;
};
const int = (min: number, max: number) => z.preprocess(toNumber, z.number().int().min(min).max(max));
const bool = () => z.preprocess(toBoolean, z.boolean());

interface OptionSpec {
  schema: z.ZodType;
  default: unknown;
  /** Placeholder in `--flag <value>`. */
  value: string;
  doc: string;
}

/**
 * Every option of `dfgan serve`. Key `fooBar` is the flag `--foo-bar` and the variable `DFGAN_FOO_BAR`
 * (`backend` is the CLI's global `--backend` / `DFGAN_BACKEND`).
 */
export const SERVE_OPTIONS = {
  host: { schema: z.string().min(1), default: '0.0.0.0', value: 'addr', doc: 'address both servers listen on' },
  httpPort: { schema: int(0, 65535), default: 8080, value: 'port', doc: 'HTTP port (0: any free port)' },
  grpcPort: { schema: int(0, 65535), default: 8081, value: 'port', doc: 'gRPC port (0: any free port)' },
  checkpoint: {
    schema: z.string().min(1),
    default: DEFAULT_CHECKPOINT,
    value: 'dir',
    doc: 'checkpoint folder, or a root whose `latest` file names one (watched for new checkpoints); by default the bundled model',
  },
  engine: {
    schema: z.enum(ENGINE_KINDS),
    default: 'auto',
    value: 'name',
    doc: `generator runtime (${ENGINE_KINDS.join(', ')}); auto: ONNX Runtime (CUDA provider when present, else CPU) when it loads, else tfjs`,
  },
  backend: {
    schema: z.enum(BACKEND_CHOICES),
    default: 'auto',
    value: 'name',
    doc: `tfjs backend (${BACKEND_CHOICES.join(', ')}): runs the text encoder, and the generator under the tfjs engine`,
  },
  onnxThreads: { schema: int(0, 1024), default: 0, value: 'n', doc: 'ONNX Runtime threads on CPU (0: all cores)' },
  maxBatchSize: { schema: int(1, MAX_IMAGES_PER_CALL), default: 8, value: 'n', doc: 'most images the model runs at once' },
  maxQueueDelayMs: {
    schema: int(0, 10_000),
    default: 0,
    value: 'ms',
    doc: 'longest the oldest queued image may wait for a batch to fill while the model is idle (0: run at once; batches still form while the model is busy)',
  },
  maxQueueSize: { schema: int(1, 1_000_000), default: 256, value: 'n', doc: 'images that may wait; beyond it requests are refused at once (503 / UNAVAILABLE)' },
  requestTimeoutMs: { schema: int(1, 3_600_000), default: 30_000, value: 'ms', doc: 'longest a request may take, queue included (504 / DEADLINE_EXCEEDED)' },
  maxImagesPerRequest: { schema: int(1, MAX_IMAGES_PER_CALL), default: 10, value: 'n', doc: 'largest `n` of one caption (HTTP and unary gRPC)' },
  maxImagesPerStream: { schema: int(1, 100_000), default: 256, value: 'n', doc: 'most images of one streaming gRPC call (at most --max-queue-size)' },
  maxTextLength: { schema: int(1, 100_000), default: 1000, value: 'chars', doc: 'longest caption, in characters' },
  maxBodyBytes: { schema: int(64, 64 * 1024 * 1024), default: 64 * 1024, value: 'bytes', doc: 'largest HTTP body and gRPC request message' },
  embeddingCacheSize: { schema: int(0, 1_000_000), default: 1024, value: 'n', doc: 'caption embeddings kept per model (LRU; 0: none)' },
  watch: { schema: bool(), default: true, value: 'bool', doc: "watch a checkpoint root's `latest` with fs.watch" },
  reloadPollMs: { schema: int(0, 86_400_000), default: 2000, value: 'ms', doc: "also re-read a root's `latest` this often (0: never); catches what fs.watch misses" },
  shutdownTimeoutMs: {
    schema: int(0, 3_600_000),
    default: 30_000,
    value: 'ms',
    doc: 'on SIGTERM, how long queued and running work may take before the process exits anyway',
  },
} as const satisfies Record<string, OptionSpec>;

export type ServeOptionKey = keyof typeof SERVE_OPTIONS;

type Shape = { [K in ServeOptionKey]: z.ZodDefault<(typeof SERVE_OPTIONS)[K]['schema']> };
const shape = Object.fromEntries(
  Object.entries(SERVE_OPTIONS).map(([k, o]) => [k, (o.schema as z.ZodType).default(o.default as never).describe(o.doc)]),
) as unknown as Shape;

export const ServeConfigSchema = z
  .object(shape)
  .strict()
  .refine((c) => c.maxImagesPerStream <= c.maxQueueSize, {
    path: ['maxImagesPerStream'],
    message: 'must not exceed maxQueueSize (a stream is queued whole)',
  })
  .refine((c) => c.maxImagesPerRequest <= c.maxQueueSize, {
    path: ['maxImagesPerRequest'],
    message: 'must not exceed maxQueueSize',
  });

export type ServeConfig = Readonly<z.infer<typeof ServeConfigSchema>>;

export function flagOf(key: ServeOptionKey): string {
  return '--' + key.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase());
}

export function envOf(key: ServeOptionKey): string {
  return 'DFGAN_' + key.replace(/[A-Z]/g, (c) => '_' + c).toUpperCase();
}

/** Validates raw option values (strings from flags or the environment, or typed values) into a frozen config. */
export function parseServeConfig(input: Partial<Record<ServeOptionKey, unknown>>): ServeConfig {
  const present = Object.fromEntries(Object.entries(input).filter(([, v]) => v !== undefined));
  const r = ServeConfigSchema.safeParse(present);
  if (!r.success) {
    const issues = r.error.issues
      .map((i) => {
        const key = i.path[0] as ServeOptionKey | undefined;
        const where = key && key in SERVE_OPTIONS ? `${flagOf(key)} (${envOf(key)})` : i.path.join('.') || '(root)';
        return `${where}: ${i.message}`;
      })
      .join('; ');
    throw new DfganError('INVALID_CONFIG', `invalid server configuration: ${issues}`);
  }
  return Object.freeze(r.data);
}

/** Batch sizes warmed up before a model serves: powers of two below the largest, and the largest. */
export function warmupBatchSizes(maxBatchSize: number): number[] {
  const sizes = new Set<number>();
  for (let b = 1; b < maxBatchSize; b *= 2) sizes.add(b);
  sizes.add(maxBatchSize);
  return [...sizes];
}
