// Every error the project raises on purpose has a code from this catalogue. The catalogue says whether the
// caller or the system is at fault and how each transport reports it, so HTTP and gRPC map errors in one place.

/** gRPC status numbers used by the catalogue (from grpc's status.proto). */
export const GrpcStatus = {
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  FAILED_PRECONDITION: 9,
  RESOURCE_EXHAUSTED: 8,
  CANCELLED: 1,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  UNIMPLEMENTED: 12,
} as const;

/**
 * 'user': the input was wrong and retrying it unchanged fails again; 'unavailable': the server cannot take the
 * request now (overload, draining, loading, out of time) and a later retry may succeed; 'internal': our fault or
 * the environment's.
 */
export type ErrorKind = 'user' | 'unavailable' | 'internal';

interface CodeSpec {
  kind: ErrorKind;
  http: number;
  grpc: number;
  /** Seconds a client should wait before retrying (HTTP `Retry-After`, gRPC `retry-after` metadata). */
  retryAfterS?: number;
}

export const ERROR_CODES = {
  // Input given by a caller (CLI flag, request field, file handed to a command).
  INVALID_ARGUMENT: { kind: 'user', http: 400, grpc: GrpcStatus.INVALID_ARGUMENT },
  EMPTY_TEXT: { kind: 'user', http: 400, grpc: GrpcStatus.INVALID_ARGUMENT },
  NO_KNOWN_WORDS: { kind: 'user', http: 400, grpc: GrpcStatus.INVALID_ARGUMENT },
  BAD_NPY: { kind: 'user', http: 400, grpc: GrpcStatus.INVALID_ARGUMENT },
  UNKNOWN_BACKEND: { kind: 'user', http: 400, grpc: GrpcStatus.INVALID_ARGUMENT },
  INVALID_CONFIG: { kind: 'user', http: 400, grpc: GrpcStatus.INVALID_ARGUMENT },
  TEXT_TOO_LONG: { kind: 'user', http: 400, grpc: GrpcStatus.INVALID_ARGUMENT },
  // Requests to the server, as sent on the wire.
  MALFORMED_REQUEST: { kind: 'user', http: 400, grpc: GrpcStatus.INVALID_ARGUMENT },
  PAYLOAD_TOO_LARGE: { kind: 'user', http: 413, grpc: GrpcStatus.RESOURCE_EXHAUSTED },
  UNSUPPORTED_MEDIA_TYPE: { kind: 'user', http: 415, grpc: GrpcStatus.INVALID_ARGUMENT },
  NOT_ACCEPTABLE: { kind: 'user', http: 406, grpc: GrpcStatus.INVALID_ARGUMENT },
  NOT_FOUND: { kind: 'user', http: 404, grpc: GrpcStatus.NOT_FOUND },
  // The client gave up (disconnected or cancelled the call); 499 is the de facto "client closed request".
  CANCELLED: { kind: 'user', http: 499, grpc: GrpcStatus.CANCELLED },
  // The server cannot take the request now.
  QUEUE_FULL: { kind: 'unavailable', http: 503, grpc: GrpcStatus.UNAVAILABLE, retryAfterS: 1 },
  DRAINING: { kind: 'unavailable', http: 503, grpc: GrpcStatus.UNAVAILABLE, retryAfterS: 5 },
  MODEL_NOT_READY: { kind: 'unavailable', http: 503, grpc: GrpcStatus.UNAVAILABLE, retryAfterS: 5 },
  TIMEOUT: { kind: 'unavailable', http: 504, grpc: GrpcStatus.DEADLINE_EXCEEDED },
  // Checkpoints on disk.
  CHECKPOINT_NOT_FOUND: { kind: 'user', http: 404, grpc: GrpcStatus.NOT_FOUND },
  CHECKPOINT_INVALID: { kind: 'user', http: 422, grpc: GrpcStatus.FAILED_PRECONDITION },
  CHECKPOINT_VERSION: { kind: 'user', http: 422, grpc: GrpcStatus.FAILED_PRECONDITION },
  // Environment.
  BACKEND_UNAVAILABLE: { kind: 'internal', http: 500, grpc: GrpcStatus.FAILED_PRECONDITION },
  ENGINE_UNAVAILABLE: { kind: 'internal', http: 500, grpc: GrpcStatus.FAILED_PRECONDITION },
  INTERNAL: { kind: 'internal', http: 500, grpc: GrpcStatus.INTERNAL },
} as const satisfies Record<string, CodeSpec>;

export type ErrorCode = keyof typeof ERROR_CODES;

export class DfganError extends Error {
  readonly code: ErrorCode;
  readonly details?: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; details?: Record<string, unknown> }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'DfganError';
    this.code = code;
    this.details = options?.details;
  }

  get kind(): ErrorKind {
    return ERROR_CODES[this.code].kind;
  }
}

/** Any thrown value as a DfganError; unknown faults become INTERNAL with the original as cause. */
export function toDfganError(err: unknown): DfganError {
  if (err instanceof DfganError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new DfganError('INTERNAL', message, { cause: err });
}

export function httpStatusOf(err: DfganError): number {
  return ERROR_CODES[err.code].http;
}

export function grpcStatusOf(err: DfganError): number {
  return ERROR_CODES[err.code].grpc;
}

export function retryAfterOf(err: DfganError): number | undefined {
  const spec: CodeSpec = ERROR_CODES[err.code];
  return spec.retryAfterS;
}
