/**
 * The one error type the client throws for anything the server (or the transport) refused.
 * It is a FlightError, so code that catches FlightError keeps working.
 */
import { FlightError, GrpcStatus, statusName } from '@longbow/flight';

export { GrpcStatus };

export class LongbowError extends FlightError {
  /** The server's application error code (`DATASET_NOT_FOUND`, `SCHEMA_MISMATCH`, ...), when it sent one. */
  declare readonly errorCode: string | undefined;

  constructor(code: GrpcStatus, message: string, errorCode?: string) {
    super(code, message, errorCode);
    this.name = 'LongbowError';
  }

  /** The gRPC status as a name, e.g. `NOT_FOUND`. */
  get status(): string {
    return statusName(this.code);
  }

  /** Wraps any error raised by a Flight call; a LongbowError passes through unchanged. */
  static from(error: unknown): LongbowError {
    if (error instanceof LongbowError) return error;
    const flight = FlightError.fromGrpc(error);
    const wrapped = new LongbowError(flight.code, flight.message, flight.errorCode);
    if (error instanceof Error && error.stack) wrapped.stack = error.stack;
    return wrapped;
  }
}

/** Runs `call` and turns whatever it throws into a LongbowError (errors of the caller's own input pass through). */
export async function wrapErrors<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    throw toClientError(error);
  }
}

/** A FlightError or gRPC failure becomes a LongbowError; TypeError/RangeError from input checks stay as they are. */
export function toClientError(error: unknown): unknown {
  if (error instanceof LongbowError) return error;
  if (error instanceof FlightError) return LongbowError.from(error);
  if (typeof error === 'object' && error !== null && typeof (error as { code?: unknown }).code === 'number'
    && 'details' in error) return LongbowError.from(error);
  return error;
}

/** The same stream, with every failure turned into a LongbowError. */
export async function* wrapStream<T>(stream: AsyncIterable<T>): AsyncGenerator<T> {
  try {
    yield* stream;
  } catch (error) {
    throw toClientError(error);
  }
}
