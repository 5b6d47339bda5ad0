/**
 * Hand-written protobuf codec for FlightData, the data-plane message.
 *
 * Decoding never copies header, metadata or body bytes except to move a body that does not
 * start on an 8-byte boundary (Arrow buffers are read through typed arrays, which need
 * aligned offsets). Encoding writes each body chunk straight into the output message.
 *
 * Wire layout (proto3): 1 flight_descriptor (message), 2 data_header (bytes),
 * 3 app_metadata (bytes), 1000 data_body (bytes). Unknown fields are skipped.
 */
import { codecs, type FlightData, type FlightDescriptor, type ScatteredBody } from '../protocol.ts';
import { FlightError, GrpcStatus } from '../errors.ts';

const WIRE_VARINT = 0;
const WIRE_FIXED64 = 1;
const WIRE_LENGTH_DELIMITED = 2;
const WIRE_FIXED32 = 5;

const FIELD_DESCRIPTOR = 1;
const FIELD_HEADER = 2;
const FIELD_APP_METADATA = 3;
const FIELD_BODY = 1000;

const EMPTY = new Uint8Array(0);

function malformed(reason: string): FlightError {
  return new FlightError(GrpcStatus.INVALID_ARGUMENT, `malformed FlightData: ${reason}`, 'MALFORMED_FLIGHT_DATA');
}

function varintLength(value: number): number {
  let length = 1;
  while (value >= 0x80) {
    value = Math.floor(value / 128);
    length += 1;
  }
  return length;
}

function writeVarint(out: Uint8Array, position: number, value: number): number {
  while (value >= 0x80) {
    out[position++] = (value % 128) | 0x80;
    value = Math.floor(value / 128);
  }
  out[position++] = value;
  return position;
}

function fieldLength(field: number, byteLength: number): number {
  return varintLength(field * 8 + WIRE_LENGTH_DELIMITED) + varintLength(byteLength) + byteLength;
}

function writeFieldPrefix(out: Uint8Array, position: number, field: number, byteLength: number): number {
  position = writeVarint(out, position, field * 8 + WIRE_LENGTH_DELIMITED);
  return writeVarint(out, position, byteLength);
}

function bodyLength(body: Uint8Array | ScatteredBody): number {
  return body.byteLength;
}

/**
 * FlightData serialized as pieces: `head` holds every field but the body's bytes (descriptor,
 * header, metadata, the body's tag and length); `body` lists the body's bytes in order, zero
 * padding included, without copying them. Transports that can write several buffers send
 * these as they are; `encodeFlightData` joins them.
 */
export interface FlightDataParts {
  head: Buffer;
  body: Uint8Array[];
  byteLength: number;
}

const ZERO_PADDING = new Uint8Array(64);

function zeros(length: number): Uint8Array {
  return length <= ZERO_PADDING.length ? ZERO_PADDING.subarray(0, length) : new Uint8Array(length);
}

function bodyPieces(body: Uint8Array | ScatteredBody): Uint8Array[] {
  if (body instanceof Uint8Array) return body.byteLength > 0 ? [body] : [];
  const pieces: Uint8Array[] = [];
  let written = 0;
  for (const chunk of body.chunks) {
    if (chunk.offset > written) pieces.push(zeros(chunk.offset - written));
    pieces.push(chunk.bytes);
    written = chunk.offset + chunk.bytes.byteLength;
  }
  if (body.byteLength > written) pieces.push(zeros(body.byteLength - written));
  return pieces;
}

export function flightDataParts(data: FlightData): FlightDataParts {
  const descriptor = data.flightDescriptor ? codecs.FlightDescriptor.encode(data.flightDescriptor) : undefined;
  const bodyBytes = bodyLength(data.dataBody);
  let headLength = 0;
  if (descriptor) headLength += fieldLength(FIELD_DESCRIPTOR, descriptor.byteLength);
  if (data.dataHeader.byteLength > 0) headLength += fieldLength(FIELD_HEADER, data.dataHeader.byteLength);
  if (data.appMetadata.byteLength > 0) headLength += fieldLength(FIELD_APP_METADATA, data.appMetadata.byteLength);
  if (bodyBytes > 0) headLength += fieldLength(FIELD_BODY, bodyBytes) - bodyBytes;

  const head = Buffer.allocUnsafe(headLength);
  let position = 0;
  if (descriptor) {
    position = writeFieldPrefix(head, position, FIELD_DESCRIPTOR, descriptor.byteLength);
    head.set(descriptor, position);
    position += descriptor.byteLength;
  }
  if (data.dataHeader.byteLength > 0) {
    position = writeFieldPrefix(head, position, FIELD_HEADER, data.dataHeader.byteLength);
    head.set(data.dataHeader, position);
    position += data.dataHeader.byteLength;
  }
  if (data.appMetadata.byteLength > 0) {
    position = writeFieldPrefix(head, position, FIELD_APP_METADATA, data.appMetadata.byteLength);
    head.set(data.appMetadata, position);
    position += data.appMetadata.byteLength;
  }
  if (bodyBytes > 0) writeFieldPrefix(head, position, FIELD_BODY, bodyBytes);
  return { head, body: bodyBytes > 0 ? bodyPieces(data.dataBody) : [], byteLength: headLength + bodyBytes };
}

/** Serializes FlightData into one buffer; the body is copied exactly once, into place. */
export function encodeFlightData(data: FlightData): Buffer {
  const parts = flightDataParts(data);
  if (parts.body.length === 0) return parts.head;
  const out = Buffer.allocUnsafe(parts.byteLength);
  out.set(parts.head, 0);
  let position = parts.head.byteLength;
  for (const piece of parts.body) {
    out.set(piece, position);
    position += piece.byteLength;
  }
  return out;
}

/** Flattens a body into one contiguous buffer (copies only a scattered body). */
export function contiguousBody(body: Uint8Array | ScatteredBody): Uint8Array {
  if (body instanceof Uint8Array) return body;
  const out = new Uint8Array(body.byteLength);
  for (const chunk of body.chunks) out.set(chunk.bytes, chunk.offset);
  return out;
}

interface Cursor { bytes: Uint8Array; position: number }

function readVarint(cursor: Cursor): number {
  let result = 0;
  let multiplier = 1;
  for (let i = 0; i < 10; i++) {
    if (cursor.position >= cursor.bytes.byteLength) throw malformed('truncated varint');
    const byte = cursor.bytes[cursor.position++];
    result += (byte & 0x7f) * multiplier;
    if (byte < 0x80) {
      if (!Number.isSafeInteger(result)) throw malformed('varint out of range');
      return result;
    }
    multiplier *= 128;
  }
  throw malformed('varint longer than 10 bytes');
}

function readLengthDelimited(cursor: Cursor): Uint8Array {
  const length = readVarint(cursor);
  const end = cursor.position + length;
  if (end > cursor.bytes.byteLength) throw malformed(`field of ${length} bytes runs past the end of the message`);
  const view = cursor.bytes.subarray(cursor.position, end);
  cursor.position = end;
  return view;
}

function skipField(cursor: Cursor, wireType: number): void {
  switch (wireType) {
    case WIRE_VARINT: readVarint(cursor); return;
    case WIRE_FIXED64: cursor.position += 8; break;
    case WIRE_LENGTH_DELIMITED: readLengthDelimited(cursor); return;
    case WIRE_FIXED32: cursor.position += 4; break;
    default: throw malformed(`unsupported wire type ${wireType}`);
  }
  if (cursor.position > cursor.bytes.byteLength) throw malformed('truncated field');
}

/** Returns `bytes` if it starts on an 8-byte boundary, else an aligned copy. */
export function alignTo8(bytes: Uint8Array): Uint8Array {
  if (bytes.byteOffset % 8 === 0) return bytes;
  const aligned = new Uint8Array(bytes.byteLength);
  aligned.set(bytes);
  return aligned;
}

/** Parses a serialized FlightData. Throws FlightError(INVALID_ARGUMENT) on malformed input. */
export function decodeFlightData(bytes: Uint8Array): FlightData {
  const cursor: Cursor = { bytes, position: 0 };
  let flightDescriptor: FlightDescriptor | undefined;
  let dataHeader: Uint8Array = EMPTY;
  let appMetadata: Uint8Array = EMPTY;
  let dataBody: Uint8Array = EMPTY;
  while (cursor.position < bytes.byteLength) {
    const key = readVarint(cursor);
    const field = Math.floor(key / 8);
    const wireType = key % 8;
    const isBytes = wireType === WIRE_LENGTH_DELIMITED;
    if (field === FIELD_BODY && isBytes) dataBody = readLengthDelimited(cursor);
    else if (field === FIELD_HEADER && isBytes) dataHeader = readLengthDelimited(cursor);
    else if (field === FIELD_APP_METADATA && isBytes) appMetadata = readLengthDelimited(cursor);
    else if (field === FIELD_DESCRIPTOR && isBytes) flightDescriptor = decodeDescriptor(readLengthDelimited(cursor));
    else skipField(cursor, wireType);
  }
  return { flightDescriptor, dataHeader, appMetadata, dataBody: alignTo8(dataBody) };
}

function decodeDescriptor(bytes: Uint8Array): FlightDescriptor {
  try {
    return codecs.FlightDescriptor.decode(bytes);
  } catch (error) {
    throw malformed(`bad flight_descriptor (${(error as Error).message})`);
  }
}
