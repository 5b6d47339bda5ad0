/**
 * The one registry of errors a client can see. Each code has a gRPC status and a message
 * template; `docs/errors.md` documents the same table and a test keeps the two in step.
 * Anything thrown that is not built here is reported as INTERNAL by the Flight layer.
 */
import { FlightError, GrpcStatus } from '@longbow/flight';

interface ErrorSpec {
  status: GrpcStatus;
  /** Message template; `{0}`, `{1}`... are replaced by the arguments. */
  template: string;
  /** One line for docs/errors.md: when the error happens. */
  when: string;
}

export const ERRORS = {
  INVALID_DESCRIPTOR: { status: GrpcStatus.INVALID_ARGUMENT, template: 'invalid descriptor: {0}', when: 'The FlightDescriptor does not name a dataset (no path, empty name, CMD descriptor).' },
  INVALID_DATASET_NAME: { status: GrpcStatus.INVALID_ARGUMENT, template: 'invalid dataset name: {0}', when: 'A dataset name is empty, too long, or has control characters.' },
  DATASET_NOT_FOUND: { status: GrpcStatus.NOT_FOUND, template: 'dataset not found: {0}', when: 'A ticket, descriptor or action names a dataset that does not exist.' },
  INVALID_SCHEMA: { status: GrpcStatus.INVALID_ARGUMENT, template: 'invalid schema: {0}', when: 'A new dataset\'s schema breaks a schema rule (vector or id column type, metric).' },
  SCHEMA_MISMATCH: { status: GrpcStatus.INVALID_ARGUMENT, template: 'schema mismatch: {0}', when: 'A DoPut schema differs from the dataset\'s, other than new nullable columns at the end.' },
  MISSING_SCHEMA: { status: GrpcStatus.INVALID_ARGUMENT, template: 'missing schema: {0}', when: 'A DoPut stream ends without a schema message (a batch before the schema is MALFORMED_FLIGHT_DATA).' },
  MALFORMED_FLIGHT_DATA: { status: GrpcStatus.INVALID_ARGUMENT, template: 'malformed FlightData: {0}', when: 'A FlightData message cannot be decoded or does not fit its schema.' },
  MALFORMED_REQUEST: { status: GrpcStatus.INVALID_ARGUMENT, template: 'malformed request: {0}', when: 'A request message cannot be decoded, or a unary call sent no or several messages (raised by the Flight layer).' },
  COMPRESSION_UNSUPPORTED: { status: GrpcStatus.UNIMPLEMENTED, template: 'compressed IPC bodies are not supported: {0}', when: 'A record batch uses IPC body compression (LZ4/ZSTD).' },
  INVALID_TICKET: { status: GrpcStatus.INVALID_ARGUMENT, template: 'invalid ticket: {0}', when: 'A DoGet ticket is empty, bad JSON, or has unknown or mistyped fields.' },
  INVALID_FILTER: { status: GrpcStatus.INVALID_ARGUMENT, template: 'invalid filter: {0}', when: 'A filter names an unknown column or operator, or its value does not fit the column.' },
  UNKNOWN_COLUMN: { status: GrpcStatus.INVALID_ARGUMENT, template: 'unknown column: {0}', when: 'A ticket asks for a column the dataset does not have.' },
  INVALID_CRITERIA: { status: GrpcStatus.INVALID_ARGUMENT, template: 'invalid criteria: {0}', when: 'A ListFlights criteria expression is not the documented JSON.' },
  ID_COLUMN_MISSING: { status: GrpcStatus.INVALID_ARGUMENT, template: 'no id column: {0}', when: 'A delete (or a lookup by id) names a dataset without an `id` column.' },
  INVALID_ID: { status: GrpcStatus.INVALID_ARGUMENT, template: 'invalid id: {0}', when: 'An id does not fit the dataset\'s id column: a string for an integer column (other than digits), a number for a utf8 column, a fraction, out of range.' },
  INVALID_ACTION_BODY: { status: GrpcStatus.INVALID_ARGUMENT, template: 'invalid action body: {0}', when: 'A DoAction body is not what the action expects.' },
  UNKNOWN_ACTION: { status: GrpcStatus.UNIMPLEMENTED, template: 'unknown action: {0}', when: 'DoAction with a type that ListActions does not list.' },
  UNIMPLEMENTED: { status: GrpcStatus.UNIMPLEMENTED, template: '{0} is not implemented by this server', when: 'An RPC this server does not offer (raised by the Flight layer).' },
  NOT_IMPLEMENTED: { status: GrpcStatus.UNIMPLEMENTED, template: 'not implemented: {0}', when: 'A request uses a feature this configuration does not offer (force_snapshot with LONGBOW_WAL_SYNC=off).' },
  INVALID_SEARCH: { status: GrpcStatus.INVALID_ARGUMENT, template: 'invalid search: {0}', when: 'A search request is malformed: k < 1, a query vector with NaN/Inf or the wrong dimension, a dataset without a vector column, unknown fields.' },
  ID_NOT_FOUND: { status: GrpcStatus.NOT_FOUND, template: 'id not found: {0}', when: 'VectorSearchByID names an id that no live row of the dataset has.' },
  MEMORY_LIMIT: { status: GrpcStatus.RESOURCE_EXHAUSTED, template: 'memory limit exceeded: {0}', when: 'Storing the batch would take memory use over LONGBOW_MAX_MEMORY; nothing of the batch is kept.' },
  UNAUTHENTICATED: { status: GrpcStatus.UNAUTHENTICATED, template: 'unauthenticated: {0}', when: 'LONGBOW_AUTH_TOKEN is set and the call has no or a wrong bearer token.' },
  SHUTTING_DOWN: { status: GrpcStatus.UNAVAILABLE, template: 'server is shutting down', when: 'A call arrives after shutdown began; retry against the restarted server (raised by the Flight layer).' },
  WAL_UNAVAILABLE: { status: GrpcStatus.UNAVAILABLE, template: 'write-ahead log unavailable: {0}', when: 'The write-ahead log could not write or fsync; the write was not acknowledged and the server stops. Its outcome is unknown, as with any failed commit: after a restart the batch is there whole or not at all.' },
  SNAPSHOT_FAILED: { status: GrpcStatus.INTERNAL, template: 'snapshot failed: {0}', when: 'force_snapshot could not write the snapshot (disk full, permissions); the previous snapshot and the log are kept.' },
  DATA_LOSS: { status: GrpcStatus.DATA_LOSS, template: 'data loss: {0}', when: 'A file of the server (WAL segment, snapshot) is corrupt; the server refuses to start and names the file (and offset).' },
  INTERNAL: { status: GrpcStatus.INTERNAL, template: 'internal error', when: 'Anything unexpected; the details are in the server log, never in the reply.' },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERRORS;

/** Builds the client-facing error for `code`, filling the template with `args`. */
export function longbowError(code: ErrorCode, ...args: (string | number)[]): FlightError {
  const spec: ErrorSpec = ERRORS[code];
  const message = spec.template.replace(/\{(\d+)\}/g, (_, index: string) => String(args[Number(index)] ?? ''));
  return new FlightError(spec.status, message, code);
}
