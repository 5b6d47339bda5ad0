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
/** Bodies from this size on are placed on a page boundary (see placeBody). */
const PAGE_PLACED_BODY_BYTES_MIN = 1 << 20;
const PAGE_BYTES = 4096;
/**
 * Where glibc puts the data of a large (mmap'd) allocation: 16 bytes past a page boundary.
 * An assumption used only to choose padding; nothing depends on it for correctness.
 */
const LARGE_ALLOCATION_PAGE_OFFSET = 16;

/** Where the data_body field sits in a serialized FlightData: its tag, its bytes and their length. */
interface BodyLayout { keyStart: number; offset: number; length: number }

/**
 * Where the data_body field sits in a serialized FlightData prefix, or undefined when the field
 * does not start within `bytes`. Walks the top-level fields: 1, 2, 3 and 1000 are all
 * length-delimited.
 */
export function flightDataBodyLayout(bytes: Uint8Array): BodyLayout | undefined {
  const cursor = { position: 0 };
  while (cursor.position < bytes.length) {
    const keyStart = cursor.position;
    const key = readVarint(bytes, cursor);
    if (key === undefined || key % 8 !== 2) return undefined;
    const length = readVarint(bytes, cursor);
    if (length === undefined) return undefined;
    if (bytes[keyStart] === FLIGHT_DATA_BODY_TAG[0] && bytes[keyStart + 1] === FLIGHT_DATA_BODY_TAG[1]) {
      return { keyStart, offset: cursor.position, length };
    }
    cursor.position += length;
  }
  return undefined;
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

/**
 * Sees each message as it arrives (FlightData requests): every message reaches exactly one of
 * the two calls, in order.
 */
export interface MessageWatcher {
  /**
   * A message whose last field is a FlightData body has its other fields in: `head` holds their
   * bytes (valid only during the call), `body` is the memory the body lands in (the complete
   * message's body views it). Returns a callback told how many body bytes have landed, or
   * undefined.
   */
  bodyStarted(head: Uint8Array, body: Uint8Array): ((landed: number) => void) | undefined;
  /** Any other message, complete (decompressed), just before it is returned. */
  messageCompleted(message: Uint8Array): void;
  /** Whether a body of `bodyBytes` should land in a SharedArrayBuffer (another thread reads it). */
  sharedBody?(bodyBytes: number): boolean;
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
  /** Set by the transport to see messages as they arrive; a watcher that throws is dropped. */
  watcher: MessageWatcher | undefined;
  /** Whether the current message went to watcher.bodyStarted. */
  private watched = false;
  private bodyProgress: ((landed: number) => void) | undefined;
  private bodyStart = 0;

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
    this.reportProgress();
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

  private allocate(pad: number, shared = false): void {
    if (shared) {
      this.target = new Uint8Array(new SharedArrayBuffer(this.messageLength + pad), pad, this.messageLength);
    } else {
      // Not zero-filled: every byte of the view is written before the message is handed on.
      const buffer = Buffer.allocUnsafeSlow(this.messageLength + pad);
      this.target = new Uint8Array(buffer.buffer, buffer.byteOffset + pad, this.messageLength);
    }
    this.targetFilled = 0;
  }

  private accept(bytes: Buffer): void {
    if (this.target) {
      this.target.set(bytes, this.targetFilled);
      this.targetFilled += bytes.length;
      this.reportProgress();
      return;
    }
    // Only the probe's worth is kept aside (copied, when chunks are transient): the rest of the
    // chunk goes straight to the message's memory once the layout is known.
    const probe = bytes.subarray(0, Math.max(1, Math.min(bytes.length, LAYOUT_PROBE_BYTES - this.pendingBytes)));
    this.pending.push(this.options.transientChunks ? Buffer.from(probe) : probe);
    this.pendingBytes += probe.length;
    // Placed as soon as the body's offset is known (the rest may then be read straight into
    // place, see directTarget), or once the probe length shows there is no body field.
    const layout = flightDataBodyLayout(this.pendingHead());
    if (layout || this.pendingBytes >= Math.min(LAYOUT_PROBE_BYTES, this.messageLength)) this.placeBody(layout);
    if (probe.length < bytes.length) this.accept(bytes.subarray(probe.length));
  }

  /** The bytes of the message received so far, while its layout is unknown. */
  private pendingHead(): Buffer {
    if (this.pending.length > 1) this.pending = [Buffer.concat(this.pending)];
    return this.pending[0];
  }

  /**
   * Chooses the start padding that puts the body on an 8-byte boundary, then copies in. A large
   * body is put where its memory most likely starts on a page, so that the write-ahead log can
   * write it with direct I/O without copying it first (the kernel checks; it is copied if not).
   */
  private placeBody(layout: BodyLayout | undefined): void {
    const bodyOffset = layout?.offset ?? -1;
    let pad = bodyOffset < 0 ? 0 : (8 - (bodyOffset % 8)) % 8;
    const bodyBytes = bodyOffset < 0 ? 0 : this.messageLength - bodyOffset;
    if (bodyBytes >= PAGE_PLACED_BODY_BYTES_MIN) {
      // Both page offsets are multiples of 8, so the body stays 8-byte aligned in its buffer.
      pad = (PAGE_BYTES - ((LARGE_ALLOCATION_PAGE_OFFSET + bodyOffset) % PAGE_BYTES)) % PAGE_BYTES;
    }
    let shared = false;
    if (bodyBytes > 0 && !this.compressed) this.callWatcher((watcher) => { shared = watcher.sharedBody?.(bodyBytes) === true; });
    this.allocate(pad, shared);
    if (layout && this.watcher && !this.compressed) this.watchBody(layout);
    const pending = this.pending;
    this.pending = [];
    this.pendingBytes = 0;
    for (const bytes of pending) this.accept(bytes);
  }

  private finishMessage(): Uint8Array {
    // A message with bytes was placed by accept() at the latest when its last byte came.
    const message = this.messageLength === 0 ? new Uint8Array(0) : this.target!;
    this.target = null;
    this.targetFilled = 0;
    this.prefixFilled = 0;
    const complete = this.compressed ? this.decompress(message) : message;
    if (!this.watched) this.callWatcher((watcher) => watcher.messageCompleted(complete));
    this.watched = false;
    this.bodyProgress = undefined;
    return complete;
  }

  /** Tells the watcher about a body that ends the message, once its other fields are in. */
  private watchBody(layout: BodyLayout): void {
    if (layout.offset + layout.length !== this.messageLength) return; // fields after the body: seen complete
    const head = this.pendingHead();
    this.watched = true;
    this.bodyStart = layout.offset;
    const body = this.target!.subarray(layout.offset, this.messageLength);
    this.callWatcher((watcher) => { this.bodyProgress = watcher.bodyStarted(head.subarray(0, layout.keyStart), body); });
  }

  private reportProgress(): void {
    const progress = this.bodyProgress;
    if (progress && this.targetFilled > this.bodyStart) this.callWatcher(() => progress(this.targetFilled - this.bodyStart));
  }

  private callWatcher(call: (watcher: MessageWatcher) => void): void {
    const watcher = this.watcher;
    if (!watcher) return;
    try {
      call(watcher);
    } catch {
      this.watcher = undefined; // a watcher is an optimisation: the messages flow on without it
      this.bodyProgress = undefined;
    }
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
