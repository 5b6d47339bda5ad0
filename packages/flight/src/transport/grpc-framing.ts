/**
 * gRPC message framing over HTTP/2 DATA: each message is a 1-byte compressed flag, a 4-byte
 * big-endian length and the message. The reader reassembles messages from DATA chunks with one
 * copy, placing FlightData bodies on an 8-byte boundary so Arrow can view them in place.
 */
import { gunzipSync, inflateSync } from 'node:zlib';
import { FlightError, GrpcStatus } from '../errors.ts';

const PREFIX_BYTES = 5;
/** Bytes of a message collected before its layout is read to place the body (headers are small). */
const LAYOUT_PROBE_BYTES = 64 * 1024;
const FLIGHT_DATA_BODY_TAG = [0xc2, 0x3e]; // field 1000, wire type 2

/**
 * Offset of the data_body bytes inside a serialized FlightData prefix, or -1 when the body
 * field does not start within `bytes`. Walks the top-level fields: 1, 2, 3 and 1000 are all
 * length-delimited.
 */
export function flightDataBodyOffset(bytes: Uint8Array): number {
  const cursor = { position: 0 };
  while (cursor.position < bytes.length) {
    const keyStart = cursor.position;
    const key = readVarint(bytes, cursor);
    if (key === undefined || key % 8 !== 2) return -1;
    const length = readVarint(bytes, cursor);
    if (length === undefined) return -1;
    if (bytes[keyStart] === FLIGHT_DATA_BODY_TAG[0] && bytes[keyStart + 1] === FLIGHT_DATA_BODY_TAG[1]) return cursor.position;
    cursor.position += length;
  }
  return -1;
}

/** A varint at cursor.position, or undefined when it is cut off by the end of `bytes`. */
function readVarint(bytes: Uint8Array, cursor: { position: number }): number | undefined {
  let value = 0;
  for (let shift = 0; shift < 64 && cursor.position < bytes.length; shift += 7) {
    const byte = bytes[cursor.position++];
    value += (byte & 0x7f) * 2 ** shift;
    if (byte < 0x80) return value;
  }
  return undefined;
}

export interface MessageReaderOptions {
  /** Largest message accepted, in bytes; -1 for no limit. */
  messageBytesMax: number;
  /** `grpc-encoding` of the request, for messages with the compressed flag. */
  encoding: string | undefined;
  /** Place FlightData bodies on 8-byte boundaries. */
  alignFlightDataBody: boolean;
  /**
   * Pushed chunks are valid only during push() (a reused read buffer): what must outlive the
   * call is copied.
   */
  transientChunks?: boolean;
}

/** Incremental reader: push DATA chunks, get complete messages. */
export class GrpcMessageReader {
  private prefix = Buffer.alloc(PREFIX_BYTES);
  private prefixFilled = 0;
  private messageLength = 0;
  private compressed = false;
  /** Chunks of the current message while its layout is unknown. */
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private target: Uint8Array | null = null;
  private targetFilled = 0;

  constructor(private readonly options: MessageReaderOptions) {}

  /** Returns every message completed by `chunk`. */
  push(chunk: Buffer): Uint8Array[] {
    const out: Uint8Array[] = [];
    let offset = 0;
    while (offset < chunk.length) {
      if (this.prefixFilled < PREFIX_BYTES) {
        const take = Math.min(PREFIX_BYTES - this.prefixFilled, chunk.length - offset);
        chunk.copy(this.prefix, this.prefixFilled, offset, offset + take);
        this.prefixFilled += take;
        offset += take;
        if (this.prefixFilled === PREFIX_BYTES) this.startMessage(out);
        continue;
      }
      const take = Math.min(this.messageLength - this.received(), chunk.length - offset);
      this.accept(chunk.subarray(offset, offset + take));
      offset += take;
      if (this.received() === this.messageLength) out.push(this.finishMessage());
    }
    return out;
  }

  /**
   * Memory for up to `max` next bytes of the message being assembled (its body, once laid
   * out), for a caller that reads them there itself; undefined when the next bytes must come
   * through push().
   */
  directTarget(max: number): Uint8Array | undefined {
    if (!this.target || this.compressed) return undefined;
    const left = this.messageLength - this.targetFilled;
    return left > 0 ? this.target.subarray(this.targetFilled, this.targetFilled + Math.min(left, max)) : undefined;
  }

  /** `bytes` were written into the last directTarget(); returns the message they completed, if any. */
  landed(bytes: number): Uint8Array[] {
    this.targetFilled += bytes;
    if (this.targetFilled > this.messageLength) throw new FlightError(GrpcStatus.INTERNAL, 'direct read past the end of a message');
    return this.targetFilled === this.messageLength ? [this.finishMessage()] : [];
  }

  /** True when the stream ended between messages. */
  get idle(): boolean {
    return this.prefixFilled === 0;
  }

  private received(): number {
    return this.target ? this.targetFilled : this.pendingBytes;
  }

  private startMessage(out: Uint8Array[]): void {
    const flag = this.prefix[0];
    if (flag > 1) throw new FlightError(GrpcStatus.INTERNAL, `bad gRPC message flag ${flag}`);
    this.compressed = flag === 1;
    this.messageLength = this.prefix.readUInt32BE(1);
    const max = this.options.messageBytesMax;
    if (max >= 0 && this.messageLength > max) {
      throw new FlightError(GrpcStatus.RESOURCE_EXHAUSTED, `received message larger than max (${this.messageLength} vs ${max})`);
    }
    if (this.messageLength === 0) out.push(this.finishMessage());
    else if (!this.options.alignFlightDataBody || this.compressed) this.allocate(0);
  }

  private allocate(pad: number): void {
    // Not zero-filled: every byte of the view is written before the message is handed on.
    const buffer = Buffer.allocUnsafeSlow(this.messageLength + pad);
    this.target = new Uint8Array(buffer.buffer, buffer.byteOffset + pad, this.messageLength);
    this.targetFilled = 0;
  }

  private accept(bytes: Buffer): void {
    if (this.target) {
      this.target.set(bytes, this.targetFilled);
      this.targetFilled += bytes.length;
      return;
    }
    this.pending.push(this.options.transientChunks ? Buffer.from(bytes) : bytes);
    this.pendingBytes += bytes.length;
    // Placed as soon as the body's offset is known (the rest may then be read straight into
    // place, see directTarget), or once the probe length shows there is no body field.
    const bodyOffset = flightDataBodyOffset(this.pendingHead());
    if (bodyOffset >= 0 || this.pendingBytes >= Math.min(LAYOUT_PROBE_BYTES, this.messageLength)) this.placeBody(bodyOffset);
  }

  /** The bytes of the message received so far, while its layout is unknown. */
  private pendingHead(): Buffer {
    if (this.pending.length > 1) this.pending = [Buffer.concat(this.pending)];
    return this.pending[0];
  }

  /** Chooses the start padding that puts the body on an 8-byte boundary, then copies in. */
  private placeBody(bodyOffset = flightDataBodyOffset(this.pendingHead())): void {
    const pad = bodyOffset < 0 ? 0 : (8 - (bodyOffset % 8)) % 8;
    this.allocate(pad);
    const pending = this.pending;
    this.pending = [];
    this.pendingBytes = 0;
    for (const bytes of pending) this.accept(bytes);
  }

  private finishMessage(): Uint8Array {
    let message: Uint8Array;
    if (this.messageLength === 0) message = new Uint8Array(0);
    else {
      if (!this.target) this.placeBody();
      message = this.target!;
    }
    this.target = null;
    this.targetFilled = 0;
    this.prefixFilled = 0;
    return this.compressed ? this.decompress(message) : message;
  }

  private decompress(message: Uint8Array): Uint8Array {
    const encoding = this.options.encoding ?? 'identity';
    try {
      if (encoding === 'gzip') return gunzipSync(message);
      if (encoding === 'deflate') return inflateSync(message);
    } catch (error) {
      throw new FlightError(GrpcStatus.INTERNAL, `cannot decompress message (${(error as Error).message})`);
    }
    throw new FlightError(GrpcStatus.UNIMPLEMENTED, `unsupported grpc-encoding "${encoding}"`);
  }
}

/** The 5-byte prefix of an uncompressed message of `length` bytes. */
export function messagePrefix(length: number): Buffer {
  const prefix = Buffer.allocUnsafe(PREFIX_BYTES);
  prefix[0] = 0;
  prefix.writeUInt32BE(length, 1);
  return prefix;
}

/** Percent-encodes a grpc-message value (bytes outside printable ASCII, and '%'). */
export function encodeGrpcMessage(message: string): string {
  let out = '';
  for (const byte of Buffer.from(message, 'utf8')) {
    if (byte >= 0x20 && byte <= 0x7e && byte !== 0x25) out += String.fromCharCode(byte);
    else out += `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** Milliseconds in a grpc-timeout header (`100m`, `5S`, ...), or undefined. */
export function parseGrpcTimeout(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const match = /^(\d{1,8})([HMSmun])$/.exec(value);
  if (!match) return undefined;
  const unitMs: Record<string, number> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 1e-3, n: 1e-6 };
  return Number(match[1]) * unitMs[match[2]];
}
