// The TextToImage service's handlers: proto messages in, the shared generation path, proto messages out.
import * as grpc from '@grpc/grpc-js';
import { DfganError, toDfganError } from '../../errors.js';
import type { Logger } from '../../logger.js';
import type { GenerationService, RunContext } from '../generation.js';
import type { Method, Metrics } from '../metrics.js';
import type { RequestParser } from '../request.js';
import { toServiceError } from './errors.js';

/** A Prompt message as proto-loader gives it (absent optionals are undefined). */
export interface PromptMessage {
  text?: string;
  n?: number;
  seed?: number;
  noise?: 'truncation' | 'untruncated';
  truncation?: number;
  untruncated?: boolean;
}

export interface HandlerDeps {
  service: GenerationService;
  metrics: Metrics;
  log: Logger;
  parsePrompt: RequestParser;
  parseStreamPrompt: RequestParser;
  maxImagesPerStream: number;
}

/** The Prompt as the shared request schema reads it; proto3 cannot tell '' from absent, so text defaults to ''. */
function fromPrompt(p: PromptMessage | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = { text: p?.text ?? '' };
  if (p?.n !== undefined) out.n = p.n;
  if (p?.seed !== undefined) out.seed = p.seed;
  if (p?.noise === 'truncation') out.truncation = p.truncation;
  else if (p?.noise === 'untruncated' && p.untruncated) out.truncation = null;
  return out;
}

/** The call's cancellation and deadline as the generation path takes them. */
function contextOf(call: grpc.ServerUnaryCall<unknown, unknown> | grpc.ServerWritableStream<unknown, unknown>): RunContext {
  const abort = new AbortController();
  const deadlineMs = Number(call.getDeadline());
  call.on('cancelled', () => {
    // grpc-js cancels a call whose deadline passed; that is a timeout, not the client giving up.
    const timedOut = Number.isFinite(deadlineMs) && Date.now() >= deadlineMs - 1;
    abort.abort(timedOut ? new DfganError('TIMEOUT', 'the deadline passed') : new DfganError('CANCELLED', 'the client cancelled the call'));
  });
  return {
    signal: abort.signal,
    deadline: Number.isFinite(deadlineMs) ? performance.now() + (deadlineMs - Date.now()) : undefined,
  };
}

function failed(deps: HandlerDeps, end: (code: DfganError['code']) => void, err: unknown, method: Method): Partial<grpc.StatusObject> {
  const e = toDfganError(err);
  end(e.code);
  if (e.kind === 'internal') deps.log.error({ err, method }, `internal error: ${e.message}`);
  return toServiceError(e);
}

/** An error about prompt i of a streaming call, saying which. */
function inPrompt(i: number, err: unknown): DfganError {
  const e = toDfganError(err);
  return new DfganError(e.code, `prompts[${i}]: ${e.message}`, { details: e.details });
}

const asBuffer = (png: Uint8Array) => Buffer.from(png.buffer, png.byteOffset, png.byteLength);

export function textToImageHandlers(deps: HandlerDeps): grpc.UntypedServiceImplementation {
  const { service, metrics } = deps;

  const Generate: grpc.handleUnaryCall<PromptMessage, unknown> = async (call, callback) => {
    const end = metrics.startRequest('grpc', 'generate');
    try {
      service.assertAccepting();
      const spec = deps.parsePrompt(fromPrompt(call.request));
      const r = await service.run([spec], contextOf(call));
      const item = r.items[0];
      callback(null, {
        model: r.model.name,
        version: r.model.version,
        images: item.images.map((img) => ({ seed: img.seed, png: asBuffer(img.png) })),
        words: item.words,
        dropped: item.dropped,
      });
      end('OK');
    } catch (err) {
      callback(failed(deps, end, err, 'generate'));
    }
  };

  const GenerateStream: grpc.handleServerStreamingCall<{ prompts?: PromptMessage[] }, unknown> = async (call) => {
    const end = metrics.startRequest('grpc', 'generate_stream');
    try {
      service.assertAccepting();
      const prompts = call.request.prompts ?? [];
      if (prompts.length === 0) throw new DfganError('INVALID_ARGUMENT', 'prompts: give at least one prompt');
      const specs = prompts.map((p, i) => {
        try {
          return deps.parseStreamPrompt(fromPrompt(p));
        } catch (err) {
          throw inPrompt(i, err);
        }
      });
      const total = specs.reduce((n, s) => n + s.seeds.length, 0);
      if (total > deps.maxImagesPerStream) {
        throw new DfganError('INVALID_ARGUMENT', `the call asks for ${total} images; at most ${deps.maxImagesPerStream} per call`);
      }
      await service.run(specs, {
        ...contextOf(call),
        onImage: (img, model) => {
          call.write({ prompt: img.item, index: img.index, seed: img.seed, png: asBuffer(img.png), model: model.name, version: model.version });
        },
      });
      call.end();
      end('OK');
    } catch (err) {
      // The generation path names a refused caption by its place in `details.item`.
      const item = err instanceof DfganError ? err.details?.item : undefined;
      call.emit('error', failed(deps, end, typeof item === 'number' ? inPrompt(item, err) : err, 'generate_stream'));
    }
  };

  return { Generate, GenerateStream } as grpc.UntypedServiceImplementation;
}
