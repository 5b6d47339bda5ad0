/**
 * FlightData messages <-> Arrow IPC stream bytes (the encapsulated format: continuation
 * marker, metadata length, flatbuffer Message padded to 8 bytes, body). Used to persist what
 * a DoPut received without re-encoding it, and to read it back through the same decoder.
 */
import { Message } from 'apache-arrow/ipc/metadata/message';
import { FlightError, GrpcStatus } from '../errors.ts';
import type { FlightData } from '../protocol.ts';
import { alignTo8, flightDataParts } from './flight-data.ts';

const CONTINUATION_MARKER = 0xffffffff;
const EMPTY = new Uint8Array(0);
const PADDING = new Uint8Array(8);

/** The IPC stream bytes of `messages` as pieces (bodies are not copied). Metadata-only messages are skipped. */
export function ipcStreamPieces(messages: readonly FlightData[]): Uint8Array[] {
  const pieces: Uint8Array[] = [];
  for (const message of messages) {
    if (message.dataHeader.byteLength === 0) continue;
    pieces.push(...ipcMessageHeaderPieces(message.dataHeader));
    pieces.push(...flightDataParts({ dataHeader: EMPTY, appMetadata: EMPTY, dataBody: message.dataBody }).body);
  }
  return pieces;
}

/**
 * A message's encapsulation up to its body: continuation marker, metadata length, the header
 * and zeros up to `metadataBytes` (a multiple of 8, at least the header's length; the IPC format
 * lets metadata run past its flatbuffer, and readers skip by the length). `header` is not copied.
 */
export function ipcMessageHeaderPieces(header: Uint8Array, metadataBytes = (header.byteLength + 7) & ~7): Uint8Array[] {
  const prefix = new Uint8Array(8);
  const view = new DataView(prefix.buffer);
  view.setUint32(0, CONTINUATION_MARKER, true);
  view.setInt32(4, metadataBytes, true);
  const padding = metadataBytes - header.byteLength;
  if (padding === 0) return [prefix, header];
  return [prefix, header, padding <= PADDING.length ? PADDING.subarray(0, padding) : new Uint8Array(padding)];
}

function corrupt(reason: string): FlightError {
  return new FlightError(GrpcStatus.DATA_LOSS, `corrupt IPC stream: ${reason}`, 'DATA_LOSS');
}

/** Splits IPC stream bytes back into FlightData messages (headers are views; bodies 8-byte aligned). */
export function splitIpcStream(bytes: Uint8Array): FlightData[] {
  const out: FlightData[] = [];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let position = 0;
  while (position < bytes.byteLength) {
    if (position + 8 > bytes.byteLength) throw corrupt(`truncated message prefix at ${position}`);
    if (view.getUint32(position, true) !== CONTINUATION_MARKER) throw corrupt(`missing continuation marker at ${position}`);
    const headerLength = view.getInt32(position + 4, true);
    if (headerLength === 0) break; // end-of-stream marker
    const headerStart = position + 8;
    if (headerLength < 0 || headerStart + headerLength > bytes.byteLength) throw corrupt(`header length ${headerLength} at ${position}`);
    const header = bytes.subarray(headerStart, headerStart + headerLength);
    let bodyLength: number;
    try {
      bodyLength = Number(Message.decode(header).bodyLength);
    } catch (error) {
      throw corrupt(`unreadable header at ${position} (${(error as Error).message})`);
    }
    const bodyStart = headerStart + headerLength;
    if (bodyStart + bodyLength > bytes.byteLength) throw corrupt(`body of ${bodyLength} bytes at ${bodyStart} runs past the end`);
    out.push({ dataHeader: header, appMetadata: EMPTY, dataBody: alignTo8(bytes.subarray(bodyStart, bodyStart + bodyLength)) });
    position = bodyStart + bodyLength;
  }
  return out;
}
