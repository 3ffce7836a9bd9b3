// Composes the inference server from its parts, starts it listening, and stops it gracefully: report not ready,
// refuse new work, finish what was accepted, stop listening; or give up after the shutdown timeout.
import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { DfganError } from '../errors.js';
import type { Logger } from '../logger.js';
import { Batcher } from './batcher.js';
import { warmupBatchSizes, type ServeConfig } from './config.js';
import { createEngine, type Engine } from './engine/index.js';
import { GenerationService } from './generation.js';
import { createGrpcServer } from './grpc/server.js';
import { createHttpApp } from './http/app.js';
import { Metrics } from './metrics.js';
import { ModelHost } from './model-host.js';

export interface ServerDeps {
  log: Logger;
  /** The runtime to load checkpoints with; by default the one the configuration names. */
  engine?: Engine;
}

export interface RunningServer {
  readonly httpPort: number;
  readonly grpcPort: number;
  readonly host: ModelHost;
  readonly service: GenerationService;
  readonly batcher: Batcher;
  readonly metrics: Metrics;
  /** Settles when the first model is loaded and warmed up (the server is ready), or failed to load. */
  readonly loaded: Promise<void>;
  /** Graceful stop (idempotent). `forced`: the timeout ran out and remaining work was cut off. */
  shutdown(): Promise<{ forced: boolean }>;
}

function listenHttp(server: HttpServer, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

function bindGrpc(server: grpc.Server, port: number, host: string): Promise<number> {
  const address = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
  return new Promise((resolve, reject) => {
    server.bindAsync(address, grpc.ServerCredentials.createInsecure(), (err, bound) => (err ? reject(err) : resolve(bound)));
  });
}

export async function startServer(config: ServeConfig, deps: ServerDeps): Promise<RunningServer> {
  const { log } = deps;
  const metrics = new Metrics({ maxBatchSize: config.maxBatchSize });
  const host = new ModelHost(
    deps.engine ?? createEngine(config),
    { checkpoint: config.checkpoint, warmupBatchSizes: warmupBatchSizes(config.maxBatchSize), watch: config.watch, pollMs: config.reloadPollMs },
    log,
    metrics.hostHooks,
  );
  const batcher = new Batcher(config, metrics.batcherHooks);
  const service = new GenerationService(host, batcher, config.requestTimeoutMs);
  const grpcServer = createGrpcServer({ config, service, metrics, log });
  const httpServer = createServer(createHttpApp({ config, service, host, metrics, log }));

  const sync = () => {
    grpcServer.setServing(service.ready);
    metrics.setModel(host.info);
  };
  host.on('change', sync);

  // Listen first and load the model after: while it loads, the server is live but not ready, and says so.
  let httpPort: number;
  let grpcPort: number;
  try {
    httpPort = await listenHttp(httpServer, config.httpPort, config.host);
    grpcPort = await bindGrpc(grpcServer.server, config.grpcPort, config.host);
  } catch (err) {
    httpServer.close();
    grpcServer.server.forceShutdown();
    throw err;
  }
  sync();
  log.info({ http: httpPort, grpc: grpcPort, host: config.host }, `listening: HTTP ${httpPort}, gRPC ${grpcPort}; ready once the model is loaded`);
  const loaded = host.start();
  loaded.catch(() => undefined); // the caller awaits it; this only keeps a failure from counting as unhandled

  let stopping: Promise<{ forced: boolean }> | undefined;
  const shutdown = () => {
    stopping ??= (async () => {
      log.info({ queued: batcher.queueDepth }, 'shutting down: refusing new requests, finishing accepted ones');
      service.startDraining();
      sync();
      const finished = (async () => {
        await batcher.drain();
        await service.idle();
        // Only now stop listening: until the accepted work was answered, both servers stayed up to say "not ready"
        // and to refuse new requests with DRAINING, which a load balancer understands better than a refused connection.
        const httpClosed = new Promise<void>((resolve) => httpServer.close(() => resolve()));
        httpServer.closeIdleConnections();
        const grpcClosed = new Promise<void>((resolve) => grpcServer.server.tryShutdown(() => resolve()));
        await Promise.all([httpClosed, grpcClosed]);
        return false;
      })();
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(true), config.shutdownTimeoutMs);
      });
      const forced = await Promise.race([finished, timedOut]);
      clearTimeout(timer);
      if (forced) {
        log.warn({ queued: batcher.queueDepth, timeoutMs: config.shutdownTimeoutMs }, 'shutdown timed out; cutting off the remaining work');
        batcher.abort(new DfganError('DRAINING', 'the server shut down before this request was done'));
        httpServer.close();
        httpServer.closeAllConnections();
        grpcServer.server.forceShutdown();
      }
      await host.close({ force: forced });
      log.info({ forced }, 'stopped');
      return { forced };
    })();
    return stopping;
  };

  return { httpPort, grpcPort, host, service, batcher, metrics, loaded, shutdown };
}
