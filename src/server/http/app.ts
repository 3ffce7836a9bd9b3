// The HTTP API as an express app. Built from its dependencies; the caller decides where it listens.
import express, { type Express } from 'express';
import { DfganError } from '../../errors.js';
import type { Logger } from '../../logger.js';
import type { ServeConfig } from '../config.js';
import type { GenerationService } from '../generation.js';
import type { Metrics } from '../metrics.js';
import type { ModelHost } from '../model-host.js';
import { createRequestParser } from '../request.js';
import { errorHandler } from './errors.js';
import { generateRoute } from './generate-route.js';
import { healthRoutes } from './health-routes.js';

export interface HttpAppDeps {
  config: Pick<ServeConfig, 'maxTextLength' | 'maxImagesPerRequest' | 'maxBodyBytes'>;
  service: GenerationService;
  host: ModelHost;
  metrics: Metrics;
  log: Logger;
}

export function createHttpApp(deps: HttpAppDeps): Express {
  const { config, service, host, metrics, log } = deps;
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  const parse = createRequestParser({ maxTextLength: config.maxTextLength, maxImages: config.maxImagesPerRequest });
  app.use(generateRoute({ service, metrics, parse, maxBodyBytes: config.maxBodyBytes }));
  app.use(healthRoutes({ service, host }));
  app.get('/metrics', async (_req, res) => {
    res.type(metrics.contentType()).send(await metrics.text());
  });
  app.use((req) => {
    throw new DfganError('NOT_FOUND', `no route ${req.method} ${req.path}`);
  });
  app.use(errorHandler(log));
  return app;
}
