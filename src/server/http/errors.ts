// HTTP error replies: every failure becomes `{error: {code, message}}` with the status the catalogue gives its
// code. Errors of express's body parser are translated here into catalogue codes.
import type { ErrorRequestHandler, Response } from 'express';
import { DfganError, httpStatusOf, retryAfterOf, toDfganError } from '../../errors.js';
import type { Logger } from '../../logger.js';

interface BodyParserError {
  type?: string;
  status?: number;
  limit?: number;
}

/** Any error raised while handling a request, as a catalogue error. */
export function toHttpError(err: unknown): DfganError {
  if (err instanceof DfganError) return err;
  const bp = err as BodyParserError;
  switch (bp?.type) {
    case 'entity.too.large':
      return new DfganError('PAYLOAD_TOO_LARGE', `the request body is larger than ${bp.limit} bytes`);
    case 'entity.parse.failed':
      return new DfganError('MALFORMED_REQUEST', `the body is not valid JSON (${(err as Error).message})`);
    case 'encoding.unsupported':
    case 'charset.unsupported':
      return new DfganError('UNSUPPORTED_MEDIA_TYPE', (err as Error).message);
    case 'request.aborted':
      return new DfganError('CANCELLED', 'the client aborted the request');
  }
  if (typeof bp?.status === 'number' && bp.status >= 400 && bp.status < 500) {
    return new DfganError('MALFORMED_REQUEST', (err as Error).message);
  }
  return toDfganError(err);
}

export function sendError(res: Response, e: DfganError): void {
  const retryAfter = retryAfterOf(e);
  if (retryAfter !== undefined) res.set('Retry-After', String(retryAfter));
  // Internal faults are the operator's business (logged in full); the client learns only that it was not its fault.
  const message = e.kind === 'internal' ? 'internal error; the server log has the details' : e.message;
  res.status(httpStatusOf(e)).json({ error: { code: e.code, message, ...(e.kind !== 'internal' && e.details ? { details: e.details } : {}) } });
}

export function errorHandler(log: Logger): ErrorRequestHandler {
  return (err, req, res, _next) => {
    const e = toHttpError(err);
    res.locals.outcome = e.code;
    if (e.kind === 'internal') log.error({ err, path: req.path }, `internal error: ${e.message}`);
    // A client that went away has nothing left to read.
    if (res.headersSent || res.destroyed) return;
    sendError(res, e);
  };
}
