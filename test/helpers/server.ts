// Servers and clients for tests: every server listens on 127.0.0.1 port 0 and logs nothing.
import * as grpc from '@grpc/grpc-js';
import { createLogger } from '../../src/logger.js';
import { parseServeConfig, type ServeOptionKey } from '../../src/server/config.js';
import type { Engine } from '../../src/server/engine/engine.js';
import { textToImageClient } from '../../src/server/grpc/proto.js';
import { startServer, type RunningServer } from '../../src/server/main.js';

export const silentLog = createLogger('silent');

export async function startTestServer(
  checkpoint: string,
  options: Partial<Record<ServeOptionKey, unknown>> = {},
  engine?: Engine,
): Promise<RunningServer> {
  const config = parseServeConfig({ host: '127.0.0.1', httpPort: 0, grpcPort: 0, checkpoint, backend: process.env.DFGAN_TEST_BACKEND ?? 'auto', ...options });
  const server = await startServer(config, { log: silentLog, engine });
  try {
    await server.loaded;
  } catch (err) {
    await server.shutdown();
    throw err;
  }
  return server;
}

export type GrpcClient = grpc.Client & Record<string, (...args: unknown[]) => unknown>;

export function grpcClient(port: number): GrpcClient {
  const Client = textToImageClient();
  return new Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as unknown as GrpcClient;
}

/** A unary call as a promise; rejects with the ServiceError. */
export function unary<T = Record<string, unknown>>(client: GrpcClient, method: string, request: unknown, options: grpc.CallOptions = {}): Promise<T> {
  return new Promise((resolve, reject) => {
    (client[method] as (r: unknown, m: grpc.Metadata, o: grpc.CallOptions, cb: (e: grpc.ServiceError | null, r: T) => void) => void)(
      request,
      new grpc.Metadata(),
      options,
      (err, res) => (err ? reject(err) : resolve(res)),
    );
  });
}

/** Every message of a server-streaming call, in arrival order; rejects with the ServiceError. */
export function collectStream<T = Record<string, unknown>>(client: GrpcClient, method: string, request: unknown, options: grpc.CallOptions = {}): Promise<T[]> {
  return new Promise((resolve, reject) => {
    const call = (client[method] as (r: unknown, m: grpc.Metadata, o: grpc.CallOptions) => grpc.ClientReadableStream<T>)(request, new grpc.Metadata(), options);
    const out: T[] = [];
    call.on('data', (m: T) => out.push(m));
    call.on('error', reject);
    call.on('end', () => resolve(out));
  });
}

/** Polls until `cond` holds (or fails after `timeoutMs`). */
export async function waitFor(cond: () => boolean | Promise<boolean>, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const t0 = Date.now();
  while (!(await cond())) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
