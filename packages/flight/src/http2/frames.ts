/**
 * HTTP/2 frames (RFC 9113 sections 4 and 6) for our HTTP/2 connections: the constants, small
 * frame builders, and an incremental reader that hands DATA payloads on as they arrive,
 * without waiting for (or copying into) a whole frame.
 */
import assert from 'node:assert/strict';

export const FRAME_HEADER_BYTES = 9;
/** The client connection preface (RFC 9113 3.4). */
export const CONNECTION_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
/** A peer's window before its SETTINGS or WINDOW_UPDATE say otherwise. */
export const DEFAULT_WINDOW_BYTES = 65_535;
/** A peer's largest frame before its SETTINGS say otherwise, and the smallest allowed. */
export const DEFAULT_FRAME_BYTES_MAX = 16_384;
/** The largest window or window increment HTTP/2 allows. */
export const WINDOW_BYTES_LIMIT = 2 ** 31 - 1;

export const FrameType = {
  DATA: 0, HEADERS: 1, PRIORITY: 2, RST_STREAM: 3, SETTINGS: 4, PUSH_PROMISE: 5, PING: 6, GOAWAY: 7,
  WINDOW_UPDATE: 8, CONTINUATION: 9,
} as const;

export const FrameFlag = { END_STREAM: 0x1, ACK: 0x1, END_HEADERS: 0x4, PADDED: 0x8, PRIORITY: 0x20 } as const;

export const Setting = {
  HEADER_TABLE_SIZE: 1, ENABLE_PUSH: 2, MAX_CONCURRENT_STREAMS: 3, INITIAL_WINDOW_SIZE: 4, MAX_FRAME_SIZE: 5,
  MAX_HEADER_LIST_SIZE: 6,
} as const;

export const Http2ErrorCode = {
  NO_ERROR: 0, PROTOCOL_ERROR: 1, INTERNAL_ERROR: 2, FLOW_CONTROL_ERROR: 3, STREAM_CLOSED: 5, FRAME_SIZE_ERROR: 6,
  REFUSED_STREAM: 7, CANCEL: 8, COMPRESSION_ERROR: 9, ENHANCE_YOUR_CALM: 11,
} as const;

/** A connection-level protocol failure: the connection is closed with GOAWAY(code). */
export class Http2ProtocolError extends Error {
  constructor(readonly code: number, message: string) {
    super(message);
    this.name = 'Http2ProtocolError';
  }
}

export function frameHeader(length: number, type: number, flags: number, streamId: number): Buffer {
  const header = Buffer.allocUnsafe(FRAME_HEADER_BYTES);
  header.writeUIntBE(length, 0, 3);
  header[3] = type;
  header[4] = flags;
  header.writeUInt32BE(streamId, 5);
  return header;
}

export function frame(type: number, flags: number, streamId: number, payload: Uint8Array = new Uint8Array(0)): Buffer {
  return Buffer.concat([frameHeader(payload.length, type, flags, streamId), payload]);
}

export function settingsFrame(entries: ReadonlyArray<readonly [number, number]>): Buffer {
  const payload = Buffer.allocUnsafe(entries.length * 6);
  entries.forEach(([id, value], index) => {
    payload.writeUInt16BE(id, index * 6);
    payload.writeUInt32BE(value, index * 6 + 2);
  });
  return frame(FrameType.SETTINGS, 0, 0, payload);
}

export function windowUpdateFrame(streamId: number, increment: number): Buffer {
  const payload = Buffer.allocUnsafe(4);
  payload.writeUInt32BE(increment, 0);
  return frame(FrameType.WINDOW_UPDATE, 0, streamId, payload);
}

export function rstStreamFrame(streamId: number, code: number): Buffer {
  const payload = Buffer.allocUnsafe(4);
  payload.writeUInt32BE(code, 0);
  return frame(FrameType.RST_STREAM, 0, streamId, payload);
}

export function goAwayFrame(lastStreamId: number, code: number): Buffer {
  const payload = Buffer.allocUnsafe(8);
  payload.writeUInt32BE(lastStreamId, 0);
  payload.writeUInt32BE(code, 4);
  return frame(FrameType.GOAWAY, 0, 0, payload);
}

/** What the reader hands on. DATA arrives as start, pieces, end; every other frame whole. */
export interface FrameHandler {
  dataStart(streamId: number, frameBytes: number): void;
  dataPiece(streamId: number, piece: Buffer): void;
  dataEnd(streamId: number, flags: number): void;
  frame(type: number, flags: number, streamId: number, payload: Buffer): void;
}

/**
 * Incremental frame reader: push socket chunks, frames come out through the handler. An
 * unpadded DATA frame's payload is passed on piece by piece as subarrays of the chunks, valid
 * only until push() returns (the chunk may be a reused read buffer); other frames (small) are
 * gathered whole, as copies, first.
 */
export class FrameReader {
  private readonly header = Buffer.alloc(FRAME_HEADER_BYTES);
  private headerFilled = 0;
  private type = 0;
  private flags = 0;
  private streamId = 0;
  private remaining = 0;
  private streaming = false;
  private gathered: Buffer[] = [];

  constructor(private readonly handler: FrameHandler, private readonly frameBytesMax: number) {}

  /** Bytes left of the unpadded DATA payload being read (0 between frames and in other frames). */
  get payloadRemaining(): number {
    return this.streaming && this.headerFilled === FRAME_HEADER_BYTES ? this.remaining : 0;
  }

  /** True between frames, before any byte of the next frame header. */
  get atFrameStart(): boolean {
    return this.headerFilled === 0;
  }

  /** The stream of that DATA payload. */
  get payloadStreamId(): number {
    return this.streamId;
  }

  /**
   * `bytes` of the current DATA payload were read straight into their reader's memory: they
   * are counted here, not passed to dataPiece(); the frame ends when its payload is complete.
   */
  skipPayload(bytes: number): void {
    assert.ok(bytes > 0 && bytes <= this.payloadRemaining, 'skipPayload within the current DATA payload');
    this.remaining -= bytes;
    if (this.remaining === 0) this.finishFrame();
  }

  push(chunk: Buffer): void {
    let offset = 0;
    while (offset < chunk.length) {
      if (this.headerFilled < FRAME_HEADER_BYTES) {
        const take = Math.min(FRAME_HEADER_BYTES - this.headerFilled, chunk.length - offset);
        chunk.copy(this.header, this.headerFilled, offset, offset + take);
        this.headerFilled += take;
        offset += take;
        if (this.headerFilled === FRAME_HEADER_BYTES) this.startFrame();
        continue;
      }
      const take = Math.min(this.remaining, chunk.length - offset);
      const piece = chunk.subarray(offset, offset + take);
      offset += take;
      this.remaining -= take;
      if (this.streaming) this.handler.dataPiece(this.streamId, piece);
      else this.gathered.push(Buffer.from(piece)); // chunks are reused after push(): keep a copy
      if (this.remaining === 0) this.finishFrame();
    }
  }

  private startFrame(): void {
    const length = this.header.readUIntBE(0, 3);
    this.type = this.header[3];
    this.flags = this.header[4];
    this.streamId = this.header.readUInt32BE(5) & 0x7fffffff;
    if (length > this.frameBytesMax) {
      throw new Http2ProtocolError(Http2ErrorCode.FRAME_SIZE_ERROR, `frame of ${length} bytes exceeds the ${this.frameBytesMax} allowed`);
    }
    this.remaining = length;
    this.streaming = this.type === FrameType.DATA && (this.flags & FrameFlag.PADDED) === 0;
    if (this.streaming) this.handler.dataStart(this.streamId, length);
    if (length === 0) this.finishFrame();
  }

  private finishFrame(): void {
    this.headerFilled = 0;
    if (this.streaming) {
      this.streaming = false;
      this.handler.dataEnd(this.streamId, this.flags);
      return;
    }
    const payload = this.gathered.length === 1 ? this.gathered[0] : Buffer.concat(this.gathered);
    this.gathered = [];
    if (this.type === FrameType.DATA) this.paddedData(payload);
    else this.handler.frame(this.type, this.flags, this.streamId, payload);
  }

  /** A padded DATA frame, gathered whole: the pad length byte and the padding count for flow control only. */
  private paddedData(payload: Buffer): void {
    const padBytes = payload.length > 0 ? payload[0] : -1;
    if (padBytes < 0 || padBytes >= payload.length) {
      throw new Http2ProtocolError(Http2ErrorCode.PROTOCOL_ERROR, 'DATA frame padding exceeds its payload');
    }
    this.handler.dataStart(this.streamId, payload.length);
    const data = payload.subarray(1, payload.length - padBytes);
    if (data.length > 0) this.handler.dataPiece(this.streamId, data);
    this.handler.dataEnd(this.streamId, this.flags);
  }
}

/**
 * The header block fragment of a HEADERS frame (padding and priority fields removed), or of
 * a CONTINUATION frame as it is.
 */
export function headerBlockFragment(type: number, flags: number, payload: Buffer): Buffer {
  if (type !== FrameType.HEADERS) return payload;
  let start = 0;
  let end = payload.length;
  if (flags & FrameFlag.PADDED) {
    if (payload.length < 1) throw new Http2ProtocolError(Http2ErrorCode.PROTOCOL_ERROR, 'HEADERS frame too short for its padding');
    start = 1;
    end -= payload[0];
  }
  if (flags & FrameFlag.PRIORITY) start += 5;
  if (start > end) throw new Http2ProtocolError(Http2ErrorCode.PROTOCOL_ERROR, 'HEADERS frame padding exceeds its payload');
  return payload.subarray(start, end);
}

/** `host:port` or `[v6]:port`, as listen addresses and gRPC authorities are written. */
export function splitAddress(address: string, what = 'address'): { host: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(address);
  if (!match) throw new Error(`bad ${what} "${address}" (expected host:port)`);
  return { host: match[1] ?? match[2], port: Number(match[3]) };
}
