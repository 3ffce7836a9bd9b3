// The gRPC server: TextToImage, grpc.health.v1 and reflection. Built from its dependencies, not bound: the
// caller binds it (port 0 in tests).
import * as grpc from '@grpc/grpc-js';
import { HealthImplementation } from 'grpc-health-check';
import { ReflectionService } from '@grpc/reflection';
import type { Logger } from '../../logger.js';
import type { ServeConfig } from '../config.js';
import type { GenerationService } from '../generation.js';
import type { Metrics } from '../metrics.js';
import { createRequestParser } from '../request.js';
import { textToImageHandlers } from './handlers.js';
import { SERVICE_NAME, packageDefinition, textToImageClient } from './proto.js';

export interface GrpcServerDeps {
  config: Pick<ServeConfig, 'maxTextLength' | 'maxImagesPerRequest' | 'maxImagesPerStream' | 'maxBodyBytes'>;
  service: GenerationService;
  metrics: Metrics;
  log: Logger;
}

export interface GrpcServer {
  server: grpc.Server;
  /** Reports SERVING or NOT_SERVING on grpc.health.v1 for the whole server and for TextToImage. */
  setServing(serving: boolean): void;
}

export function createGrpcServer(deps: GrpcServerDeps): GrpcServer {
  const { config } = deps;
  // Requests are small; a message over the HTTP body limit is refused by grpc-js (RESOURCE_EXHAUSTED).
  const server = new grpc.Server({ 'grpc.max_receive_message_length': config.maxBodyBytes });
  server.addService(
    textToImageClient().service,
    textToImageHandlers({
      ...deps,
      parsePrompt: createRequestParser({ maxTextLength: config.maxTextLength, maxImages: config.maxImagesPerRequest }),
      parseStreamPrompt: createRequestParser({ maxTextLength: config.maxTextLength, maxImages: config.maxImagesPerStream }),
      maxImagesPerStream: config.maxImagesPerStream,
    }),
  );
  const health = new HealthImplementation({ '': 'NOT_SERVING', [SERVICE_NAME]: 'NOT_SERVING' });
  health.addToServer(server);
  new ReflectionService(packageDefinition()).addToServer(server);
  return {
    server,
    setServing(serving) {
      const status = serving ? 'SERVING' : 'NOT_SERVING';
      health.setStatus('', status);
      health.setStatus(SERVICE_NAME, status);
    },
  };
}
