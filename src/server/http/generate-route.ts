// POST /generate: a caption (and n, seed, truncation) in JSON; images back as JSON with base64 PNGs, or as a raw
// PNG when the client accepts only image/png and asks for one image.
import express, { type RequestHandler, type Router } from 'express';
import { DfganError } from '../../errors.js';
import type { GenerationService } from '../generation.js';
import type { Metrics, Outcome } from '../metrics.js';
import type { RequestParser } from '../request.js';

export interface GenerateRouteDeps {
  service: GenerationService;
  metrics: Metrics;
  parse: RequestParser;
  maxBodyBytes: number;
}

const base64 = (png: Uint8Array) => Buffer.from(png.buffer, png.byteOffset, png.byteLength).toString('base64');

export function generateRoute(deps: GenerateRouteDeps): Router {
  const { service, metrics, parse } = deps;

  // Counts every generation request, whatever refused it; the error handler records the code in res.locals.
  const track: RequestHandler = (_req, res, next) => {
    const end = metrics.startRequest('http', 'generate');
    res.on('close', () => end((res.locals.outcome as Outcome | undefined) ?? (res.writableFinished ? 'OK' : 'CANCELLED')));
    next();
  };

  const admit: RequestHandler = (req, _res, next) => {
    service.assertAccepting();
    if (req.is('application/json') !== 'application/json') {
      throw new DfganError('UNSUPPORTED_MEDIA_TYPE', `send the request as JSON with Content-Type: application/json (got ${req.get('content-type') ?? 'none'})`);
    }
    next();
  };

  const generate: RequestHandler = async (req, res) => {
    const spec = parse(req.body);
    const want = req.accepts(['application/json', 'image/png']);
    if (!want) throw new DfganError('NOT_ACCEPTABLE', 'this endpoint answers application/json or image/png');
    if (want === 'image/png' && spec.seeds.length !== 1) {
      throw new DfganError('NOT_ACCEPTABLE', `an image/png reply holds one image, but n is ${spec.seeds.length}; ask for n = 1 or accept application/json`);
    }
    const abort = new AbortController();
    res.on('close', () => {
      if (!res.writableEnded) abort.abort();
    });
    const r = await service.run([spec], { signal: abort.signal });
    const item = r.items[0];
    res.set('X-Dfgan-Model', r.model.name).set('X-Dfgan-Model-Version', r.model.version);
    if (want === 'image/png') {
      const img = item.images[0];
      res.set('X-Dfgan-Seed', String(img.seed)).type('image/png').send(Buffer.from(img.png.buffer, img.png.byteOffset, img.png.byteLength));
      return;
    }
    res.json({
      model: { name: r.model.name, version: r.model.version, step: r.model.step },
      words: item.words,
      dropped: item.dropped,
      images: item.images.map((img) => ({ seed: img.seed, b64_png: base64(img.png) })),
    });
  };

  return express
    .Router()
    .post('/generate', track, admit, express.json({ limit: deps.maxBodyBytes, type: 'application/json' }), generate);
}
