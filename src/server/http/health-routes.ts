// KServe v2 (Open Inference Protocol) health and metadata endpoints: 200 means yes, 503 means not now, 404 names
// a model this server does not serve.
import { basename } from 'node:path';
import express, { type Router } from 'express';
import { DfganError } from '../../errors.js';
import { PACKAGE_VERSION } from '../../version.js';
import type { ModelInfo } from '../engine/engine.js';
import type { GenerationService } from '../generation.js';
import type { ModelHost } from '../model-host.js';

function modelNamed(host: ModelHost, name: string): ModelInfo {
  const info = host.info;
  if (!info) throw new DfganError('MODEL_NOT_READY', 'no model is loaded yet');
  if (info.name !== name) throw new DfganError('NOT_FOUND', `no model named "${name}" here; this server serves "${info.name}"`);
  return info;
}

export function healthRoutes(deps: { service: GenerationService; host: ModelHost }): Router {
  const { service, host } = deps;
  return express
    .Router()
    .get('/v2', (_req, res) => {
      res.json({ name: 'dfgan', version: PACKAGE_VERSION, extensions: [] });
    })
    .get('/v2/health/live', (_req, res) => {
      res.json({ live: true });
    })
    .get('/v2/health/ready', (_req, res) => {
      res.status(service.ready ? 200 : 503).json({ ready: service.ready });
    })
    .get('/v2/models/:name', (req, res) => {
      const info = modelNamed(host, req.params.name);
      res.json({
        name: info.name,
        versions: [info.version],
        platform: `dfgan_${info.engine}`,
        inputs: [
          { name: 'text', datatype: 'BYTES', shape: [1] },
          { name: 'seed', datatype: 'UINT32', shape: [-1] },
        ],
        outputs: [{ name: 'image', datatype: 'BYTES', shape: [-1], parameters: { content_type: 'image/png', width: info.imageSize, height: info.imageSize } }],
        version: info.version,
        step: info.step,
        checkpoint: basename(info.dir),
        imageSize: info.imageSize,
        engine: info.engine,
        backend: info.backend,
        ...(info.fallback ? { fallback: info.fallback } : {}),
      });
    })
    .get('/v2/models/:name/ready', (req, res) => {
      const info = modelNamed(host, req.params.name);
      res.status(service.ready ? 200 : 503).json({ name: info.name, version: info.version, ready: service.ready });
    });
}
