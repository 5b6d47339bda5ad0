import { Metadata, status as GrpcStatus, type StatusObject } from '@grpc/grpc-js';

export { GrpcStatus };

/** Trailer that carries an application error code (e.g. `SCHEMA_MISMATCH`) next to the status. */
export const ERROR_CODE_TRAILER = 'longbow-error-code';

/**
 * An error that is meant to reach the peer: a gRPC status code, a message safe to show, and
 * optionally an application error code sent in the `longbow-error-code` trailer.
 * Anything thrown by a handler that is not a FlightError is reported as INTERNAL with a
 * generic message (see server.ts); its details go to the log only.
 */
export class FlightError extends Error {
  readonly code: GrpcStatus;
  readonly errorCode: string | undefined;

  constructor(code: GrpcStatus, message: string, errorCode?: string) {
    super(message);
    this.name = 'FlightError';
    this.code = code;
    this.errorCode = errorCode;
  }

  toStatus(): Partial<StatusObject> {
    const metadata = new Metadata();
    if (this.errorCode !== undefined) metadata.set(ERROR_CODE_TRAILER, this.errorCode);
    return { code: this.code, details: this.message, metadata };
  }

  /** Rebuilds a FlightError from an error raised by a grpc-js client call. */
  static fromGrpc(error: unknown): FlightError {
    if (error instanceof FlightError) return error;
    const candidate = error as { code?: unknown; details?: unknown; message?: unknown; metadata?: unknown };
    const code = typeof candidate.code === 'number' ? (candidate.code as GrpcStatus) : GrpcStatus.UNKNOWN;
    const details = typeof candidate.details === 'string' ? candidate.details
      : typeof candidate.message === 'string' ? candidate.message : String(error);
    let errorCode: string | undefined;
    if (candidate.metadata instanceof Metadata) {
      const values = candidate.metadata.get(ERROR_CODE_TRAILER);
      if (values.length > 0) errorCode = String(values[0]);
    }
    return new FlightError(code, details, errorCode);
  }
}

/** Name of a gRPC status code, e.g. `NOT_FOUND`. */
export function statusName(code: GrpcStatus): string {
  return GrpcStatus[code] ?? `STATUS_${code}`;
}
