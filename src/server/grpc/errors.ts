// gRPC error statuses: the catalogue's status for the code, the code itself in `dfgan-error-code` metadata, and
// `retry-after` (seconds) where the catalogue has one.
import * as grpc from '@grpc/grpc-js';
import { grpcStatusOf, retryAfterOf, type DfganError } from '../../errors.js';

export function toServiceError(e: DfganError): Partial<grpc.StatusObject> {
  const metadata = new grpc.Metadata();
  metadata.set('dfgan-error-code', e.code);
  const retryAfter = retryAfterOf(e);
  if (retryAfter !== undefined) metadata.set('retry-after', String(retryAfter));
  const details = e.kind === 'internal' ? 'internal error; the server log has the details' : e.message;
  return { code: grpcStatusOf(e) as grpc.status, details, metadata };
}
