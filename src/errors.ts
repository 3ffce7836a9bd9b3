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

interface CodeSpec {
  /** 'user': the input was wrong and retrying it unchanged fails again; 'internal': our fault or environment. */
  kind: 'user' | 'internal';
  http: number;
  grpc: number;
}

export const ERROR_CODES = {
  // Input given by a caller (CLI flag, request field, file handed to a command).
  INVALID_ARGUMENT: { kind: 'user', http: 400, grpc: GrpcStatus.INVALID_ARGUMENT },
  EMPTY_TEXT: { kind: 'user', http: 400, grpc: GrpcStatus.INVALID_ARGUMENT },
  NO_KNOWN_WORDS: { kind: 'user', http: 400, grpc: GrpcStatus.INVALID_ARGUMENT },
  BAD_NPY: { kind: 'user', http: 400, grpc: GrpcStatus.INVALID_ARGUMENT },
  UNKNOWN_BACKEND: { kind: 'user', http: 400, grpc: GrpcStatus.INVALID_ARGUMENT },
  INVALID_CONFIG: { kind: 'user', http: 400, grpc: GrpcStatus.INVALID_ARGUMENT },
  // Checkpoints on disk.
  CHECKPOINT_NOT_FOUND: { kind: 'user', http: 404, grpc: GrpcStatus.NOT_FOUND },
  CHECKPOINT_INVALID: { kind: 'user', http: 422, grpc: GrpcStatus.FAILED_PRECONDITION },
  CHECKPOINT_VERSION: { kind: 'user', http: 422, grpc: GrpcStatus.FAILED_PRECONDITION },
  // Environment.
  BACKEND_UNAVAILABLE: { kind: 'internal', http: 500, grpc: GrpcStatus.FAILED_PRECONDITION },
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

  get kind(): 'user' | 'internal' {
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
